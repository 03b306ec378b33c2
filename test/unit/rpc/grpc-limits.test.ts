import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBackupService } from '../../../src/backup/local.js';
import type { Chain, ChainReadView } from '../../../src/chain/chain.js';
import { RemoteBackupService } from '../../../src/rpc/grpc/backup-client.js';
import { checkOperatorAddress, OperatorServer } from '../../../src/rpc/grpc/server.js';
import { UserError } from '../../../src/util/errors.js';
import { isLoopbackHost } from '../../../src/util/net.js';
import { silentLogger } from '../../../src/util/log.js';
import { until } from '../../helpers/until.js';

/**
 * A chain of 1000 blocks of 64 KB each, as far as export is concerned (the real export pipeline reads
 * it through LocalBackupService), counting the read views (LevelDB snapshots) opened and released.
 */
function bigChain() {
  const counts = { opened: 0, released: 0, blocksRead: 0 };
  const hash = new Uint8Array(32).fill(7);
  const chain = {
    chainId: 100n,
    genesisHash: new Uint8Array(32),
    openReadView(): ChainReadView {
      counts.opened++;
      let closed = false;
      return {
        blocks: {
          headHash: async () => hash,
          blockNumber: async () => 1000n,
          storedBlocks: async function* (from: bigint, to: bigint) {
            for (let n = from; n <= to; n++)
              yield (counts.blocksRead++, { number: n, hash, blockRlp: new Uint8Array(64 * 1024).fill(1), receiptsRlp: new Uint8Array(0) });
          },
        },
        state: {},
        close: async () => {
          if (!closed) counts.released++;
          closed = true;
        },
      } as unknown as ChainReadView;
    },
  } as unknown as Chain;
  return { service: new LocalBackupService(chain), counts };
}

const servers: OperatorServer[] = [];
const sessions: http2.ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
});

async function start(limits: { maxStreams: number; streamIdleTimeoutMs: number }) {
  const { service, counts } = bigChain();
  const server = new OperatorServer(service, silentLogger(), limits);
  servers.push(server);
  const port = await server.listen('127.0.0.1:0');
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  sessions.push(session);
  return { address: `127.0.0.1:${port}`, counts, session };
}

/**
 * An Export call whose client never reads: its response stream is left paused, so HTTP/2 flow control
 * stops the node after one window (a paused @grpc/grpc-js client would go on reading into memory).
 */
function unreadExport(session: http2.ClientHttp2Session) {
  const req = session.request({ ':method': 'POST', ':path': '/basalt.operator.v1.Operator/Export', 'content-type': 'application/grpc', te: 'trailers' });
  req.on('error', () => undefined);
  const msg = Buffer.concat([Buffer.from([0x1a, 4]), Buffer.from('none')]); // compression: "none"
  req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]));
  const headers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('response', resolve));
  const closed = new Promise<number>((resolve) => req.on('close', () => resolve(req.rstCode ?? 0)));
  return { req, headers, closed };
}

/** An Import call whose client sends nothing after its headers (the request left open). */
function silentImport(session: http2.ClientHttp2Session) {
  const req = session.request({ ':method': 'POST', ':path': '/basalt.operator.v1.Operator/Import', 'content-type': 'application/grpc', te: 'trailers' });
  req.on('error', () => undefined);
  const headers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('response', resolve));
  const closed = new Promise<number>((resolve) => req.on('close', () => resolve(req.rstCode ?? 0)));
  return { req, headers, closed };
}

describe('operator API stream limits', () => {
  it('refuses export and snapshot calls beyond --grpc-max-streams with one RESOURCE_EXHAUSTED line, and takes new ones once a slot is free', async () => {
    const { address, counts, session } = await start({ maxStreams: 2, streamIdleTimeoutMs: 0 });
    const a = unreadExport(session);
    const b = unreadExport(session);
    await until(() => counts.opened === 2, 'two exports running');
    expect((await a.headers)[':status']).toBe(200);

    const client = new RemoteBackupService(address);
    const refused = await client.export({ compression: 'none' }, { write: async () => undefined }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(UserError);
    expect((refused as UserError).code).toBe('RESOURCE_EXHAUSTED');
    expect((refused as UserError).message).toMatch(/^the node is already serving 2 export\/snapshot\/import streams \(--grpc-max-streams\)[^\n]*$/);
    const snap = await client.snapshot({ compression: 'none' }, { write: async () => undefined }).catch((err: unknown) => err);
    expect((snap as UserError).code).toBe('RESOURCE_EXHAUSTED');
    expect(counts.opened, 'a refused call opens no LevelDB snapshot').toBe(2);

    a.req.close(http2.constants.NGHTTP2_CANCEL); // the client gives up on one
    await until(() => counts.released === 1, 'the cancelled export released its view');
    const c = unreadExport(session);
    const h = await c.headers;
    expect(h['grpc-status'], 'accepted: a normal response, not a trailers-only refusal').toBeUndefined();
    await until(() => counts.opened === 3, 'the new export started');
    expect(counts.opened - counts.released).toBe(2);
    b.req.close(http2.constants.NGHTTP2_CANCEL);
    c.req.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => counts.released === 3, 'every view released');
  });

  it('holds one message per unread stream: the producer waits instead of filling memory', async () => {
    const { counts, session } = await start({ maxStreams: 4, streamIdleTimeoutMs: 0 });
    const a = unreadExport(session);
    await a.headers;
    await until(() => counts.blocksRead > 0, 'export started');
    await new Promise((r) => setTimeout(r, 500)); // ample time to run ahead, if it could
    // 64 KB blocks, 256 KB messages: one message in flight (4 blocks) plus the read-ahead (8) and the
    // message being assembled. grpc-js's own buffer (16 messages before `write` returns false) would
    // have let 64 blocks (4 MB) through.
    expect(counts.blocksRead).toBeLessThanOrEqual(20);
    a.req.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => counts.released === 1, 'released');
  });

  it('cancels a stream whose client read nothing for --grpc-stream-idle-timeout, releasing its LevelDB snapshot and its slot', async () => {
    const { counts, session } = await start({ maxStreams: 1, streamIdleTimeoutMs: 300 });
    const a = unreadExport(session);
    await a.headers;
    expect(await a.closed, 'reset with RST_STREAM CANCEL').toBe(http2.constants.NGHTTP2_CANCEL);
    await until(() => counts.released === 1, 'the view released');
    expect(counts.opened).toBe(1);
    const b = unreadExport(session); // the slot is free again
    expect((await b.headers)['grpc-status']).toBeUndefined();
    await until(() => counts.opened === 2, 'a new export started');
    expect(await b.closed).toBe(http2.constants.NGHTTP2_CANCEL);
    await until(() => counts.released === 2, 'its view released too');
  });
});

describe('isLoopbackHost', () => {
  it('refuses a reachable address whose callers no client certificate authenticates (plain text or TLS alone) in one line, unless --grpc-insecure', async () => {
    const tls = { cert: '/nonexistent/server.pem', key: '/nonexistent/server.key' };
    const server = new OperatorServer(bigChain().service, silentLogger(), { maxStreams: 1, streamIdleTimeoutMs: 1000, tls });
    await expect(server.listen('0.0.0.0:0')).rejects.toThrow(
      /^--grpc-address 0\.0\.0\.0:0 is reachable from other machines and TLS without client certificates authenticates no caller \(anyone who can reach it could vote, add or remove peers, import blocks\): add --grpc-tls-client-ca or pass --grpc-insecure$/,
    );
    expect(() => checkOperatorAddress('10.1.2.3:9632', { tls })).toThrow(/TLS without client certificates authenticates no caller/);
    expect(() => checkOperatorAddress('[::]:9632', {})).toThrow(
      /has no authentication: serve it with TLS \(--grpc-tls-cert, --grpc-tls-key, --grpc-tls-client-ca\) or pass --grpc-insecure$/,
    );
    for (const ok of [{ tls: { ...tls, clientCa: '/nonexistent/ca.pem' } }, { tls, insecure: true }, { insecure: true }])
      expect(() => checkOperatorAddress('10.1.2.3:9632', ok)).not.toThrow();
    expect(() => checkOperatorAddress('127.0.0.1:9632', { tls })).not.toThrow();
    expect(() => checkOperatorAddress('[::1]:9632', {})).not.toThrow();
  });

  it('tells loopback listen addresses from reachable ones', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.1', '192.168.1.5', 'example.com', '::ffff:10.0.0.1', '128.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('takes an IPv6 zone as the interface it names, without throwing', () => {
    expect(isLoopbackHost('[fe80::1%eth0]')).toBe(false);
    expect(isLoopbackHost('fe80::1%eth0')).toBe(false);
    expect(isLoopbackHost('::1%lo')).toBe(true);
  });

  it('an import takes a slot too, and one whose client sends nothing for the idle timeout is cut, freeing it', async () => {
    const { counts, session } = await start({ maxStreams: 1, streamIdleTimeoutMs: 300 });
    const silent = silentImport(session);
    await new Promise((r) => setTimeout(r, 100)); // its handler runs (no headers come before the first answer)
    const refused = unreadExport(session); // every slot taken by the import
    expect((await refused.headers)['grpc-status']).toBe('8'); // RESOURCE_EXHAUSTED
    expect(counts.opened).toBe(0);
    expect(await silent.closed, 'reset with RST_STREAM CANCEL').toBe(http2.constants.NGHTTP2_CANCEL);
    const next = unreadExport(session); // the slot is free again
    expect((await next.headers)['grpc-status']).toBeUndefined();
    await until(() => counts.opened === 1, 'an export started');
    next.req.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => counts.released === 1, 'released');
  });
});
