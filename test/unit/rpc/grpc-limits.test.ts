import { promises as dns } from 'node:dns';
import http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalBackupService } from '../../../src/backup/local.js';
import type { BackupService, ImportSummary } from '../../../src/backup/types.js';
import { MAX_PENDING_BACKUP_NOW, type BackupNow, type StreamLimits } from '../../../src/rpc/grpc/backup-handlers.js';
import type { ImportEvent__Output } from '../../../src/rpc/grpc/generated/basalt/operator/v1/ImportEvent.js';
import { operatorClient } from '../../../src/rpc/grpc/proto.js';
import type { Chain, ChainReadView } from '../../../src/chain/chain.js';
import { RemoteBackupService } from '../../../src/rpc/grpc/backup-client.js';
import { checkOperatorAddress, MAX_GRPC_STREAMS_PER_CONNECTION, OperatorServer } from '../../../src/rpc/grpc/server.js';
import { BasaltNode, type NodeOptions } from '../../../src/node/node.js';
import { UserError } from '../../../src/util/errors.js';
import { isLoopbackHost } from '../../../src/util/net.js';
import { silentLogger } from '../../../src/util/log.js';
import { until } from '../../helpers/until.js';

/**
 * A chain of `blocks` blocks (1000) of 64 KB each, as far as export is concerned (the real export pipeline reads
 * it through LocalBackupService), counting the read views (LevelDB snapshots) opened and released.
 */
function bigChain(blocks = 1000) {
  const counts = { opened: 0, released: 0, blocksRead: 0 };
  const hash = new Uint8Array(32).fill(7);
  const chain = {
    chainId: 100n,
    genesisHash: new Uint8Array(32),
    head: { number: 0n }, // an import reads it first (to make what it imports durable at its end)
    openReadView(): ChainReadView {
      counts.opened++;
      let closed = false;
      return {
        blocks: {
          headHash: async () => hash,
          blockNumber: async () => BigInt(blocks),
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

async function start(limits: StreamLimits, opts: { blocks?: number; import?: BackupService['import']; backupNow?: BackupNow } = {}) {
  const { service: local, counts } = bigChain(opts.blocks);
  const service: BackupService = {
    status: () => local.status(),
    export: (req, sink, observer) => local.export(req, sink, observer),
    snapshot: (req, sink, observer) => local.snapshot(req, sink, observer),
    import: opts.import ?? ((source, observer) => local.import(source, observer)),
  };
  const server = new OperatorServer(service, silentLogger(), limits, undefined, opts.backupNow);
  servers.push(server);
  const port = await server.listen('127.0.0.1:0');
  const connect = () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => undefined);
    sessions.push(session);
    return session;
  };
  return { address: `127.0.0.1:${port}`, counts, session: connect(), connect };
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

/**
 * An Export call whose client reads about `bytes` every `everyMs` and nothing in between (its response
 * paused: HTTP/2 flow control holds the node), then everything once `readAll` is called.
 */
function pacedExport(session: http2.ClientHttp2Session, bytes: number, everyMs: number) {
  const e = unreadExport(session);
  let budget = 0;
  let read = 0;
  e.req.on('data', (c: Buffer) => {
    read += c.length;
    budget -= c.length;
    if (budget <= 0) e.req.pause();
  });
  e.req.pause();
  const timer = setInterval(() => {
    budget = bytes;
    e.req.resume();
  }, everyMs);
  const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => e.req.on('trailers', resolve));
  void e.closed.then(() => clearInterval(timer));
  return {
    ...e,
    trailers,
    read: () => read,
    readAll() {
      clearInterval(timer);
      budget = Number.POSITIVE_INFINITY;
      e.req.resume();
    },
  };
}

/** A call's status as its trailers carry it (grpc-message is percent-encoded). */
const statusOf = (t: http2.IncomingHttpHeaders) => ({ code: t['grpc-status'], message: decodeURIComponent(String(t['grpc-message'] ?? '')) });

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

describe('operator API call limits', () => {
  /** A unary call on `session` whose request is left open: grpc-js waits for its message, the stream stays open. */
  const openCall = (session: http2.ClientHttp2Session, path: string) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    req.on('error', () => undefined);
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => {
      req.on('response', (h) => h['grpc-status'] !== undefined && resolve(h)); // trailers-only
      req.on('trailers', resolve);
    });
    return { req, trailers };
  };
  const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

  it(`refuses a BackupNow beyond ${MAX_PENDING_BACKUP_NOW} waiting for their backup with RESOURCE_EXHAUSTED at once, and takes calls again once they are answered`, async () => {
    let waiting = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const backupNow: BackupNow = async () => {
      waiting++;
      await held;
      return [];
    };
    const { address } = await start({ maxStreams: 1, streamIdleTimeoutMs: 0 }, { backupNow });
    const client = operatorClient(address);
    try {
      const call = () =>
        new Promise<grpc.ServiceError | null>((resolve) => {
          client.BackupNow({ archive: false }, (err) => resolve(err));
        });
      const pending = Array.from({ length: MAX_PENDING_BACKUP_NOW }, call);
      await until(() => waiting === MAX_PENDING_BACKUP_NOW, 'every call waiting for the held backup');
      let refused: grpc.ServiceError | null | undefined;
      void call().then((err) => (refused = err));
      // Answered, or (were it let through) waiting with the others.
      await until(() => refused !== undefined || waiting > MAX_PENDING_BACKUP_NOW, 'the next call answered');
      expect(refused?.code).toBe(8); // RESOURCE_EXHAUSTED
      expect(refused?.details).toBe(
        `the node already holds ${MAX_PENDING_BACKUP_NOW} backup now calls waiting for their backup: try again when the backup in progress has finished`,
      );
      expect(waiting, 'the refused call never reached the scheduler').toBe(MAX_PENDING_BACKUP_NOW);
      release();
      expect(await Promise.all(pending)).toEqual(Array(MAX_PENDING_BACKUP_NOW).fill(null));
      expect(await call(), 'a place again').toBeNull();
    } finally {
      client.close();
    }
  });

  it(`lets one connection have ${MAX_GRPC_STREAMS_PER_CONNECTION} calls open at once: the next waits in the client until one ends`, async () => {
    const { session } = await start({ maxStreams: 1, streamIdleTimeoutMs: 0 });
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    const open = Array.from({ length: MAX_GRPC_STREAMS_PER_CONNECTION }, () => openCall(session, '/basalt.operator.v1.Operator/Status'));
    // A BackupNow sent whole: this node takes no backups, so it would be answered FAILED_PRECONDITION at once.
    const next = openCall(session, '/basalt.operator.v1.Operator/BackupNow');
    next.req.end(EMPTY_MESSAGE);
    let answered = false;
    void next.trailers.then(() => (answered = true));
    // A ping sent after it is acknowledged only after the server has read everything before it: the
    // call's HEADERS, had they been sent, would have left the client's queue by then.
    await new Promise((resolve) => session.ping(resolve));
    expect(session.state.outboundQueueSize, "the call's HEADERS wait in the client's queue").toBeGreaterThan(0);
    expect(answered).toBe(false);
    open[0]!.req.close(http2.constants.NGHTTP2_CANCEL); // one ends: the waiting call goes out
    expect((await next.trailers)['grpc-status']).toBe('9'); // FAILED_PRECONDITION: it reached the node
    for (const o of open) o.req.close(http2.constants.NGHTTP2_CANCEL);
  });
});

describe('operator API stream rate floor (--grpc-stream-min-rate)', () => {
  /** 256 KiB/s over windows of 1 s of waiting for the client (the default is 64 KiB/s over 2 min). */
  const minRate = { minBytesPerSecond: 256 * 1024, windowMs: 1000 };
  const TOO_SLOW =
    /^the client (reads|sends) too slowly: \d+ bytes in the last 1\.0 s of waiting, below the floor of 262144 bytes\/s \(--grpc-stream-min-rate\); the call was ended to free its stream slot$/;

  it('ends an export whose client reads below the floor with RESOURCE_EXHAUSTED, releasing its read view and its slot; one reading above it runs to its end', async () => {
    // 100 blocks of 64 KB: 6.4 MB, which the healthy client (128 KB every 50 ms, 10x the floor) takes
    // in 2.2 s (two windows) at least. Each client on a connection of its own.
    const { counts, session, connect } = await start({ maxStreams: 2, streamIdleTimeoutMs: 30_000, streamMinRate: minRate }, { blocks: 100 });
    const began = Date.now();
    const healthy = pacedExport(connect(), 128 * 1024, 50);
    // 4 KB every 250 ms (at most a 16 KB frame: 64 KB/s): a message of 256 KB every 4 s and more, under the idle timeout
    const slow = pacedExport(connect(), 4 * 1024, 250);
    await until(() => counts.opened === 2, 'both exports running');
    expect((await unreadExport(session).headers)['grpc-status'], 'every slot taken').toBe('8');

    await until(() => counts.released === 1, 'the slow export cut', 5_000);
    expect(Date.now() - began, 'not before a window of waiting').toBeGreaterThanOrEqual(1000);
    const next = unreadExport(session); // its slot is free again
    expect((await next.headers)['grpc-status']).toBeUndefined();
    await until(() => counts.opened === 3, 'a new export started');

    slow.readAll(); // what was queued for it, then its status
    const cut = statusOf(await slow.trailers);
    expect(cut.code).toBe('8'); // RESOURCE_EXHAUSTED
    expect(cut.message).toMatch(TOO_SLOW);
    expect(cut.message).toMatch(/^the client reads/);

    const done = statusOf(await healthy.trailers);
    expect(done, `the healthy client read the whole export (${healthy.read()} bytes in ${Date.now() - began} ms)`).toEqual({ code: '0', message: 'OK' });
    healthy.readAll(); // the last bytes, left buffered when the trailers came
    await healthy.closed;
    expect(healthy.read()).toBeGreaterThan(100 * 64 * 1024);
    expect(Date.now() - began, 'it ran for two windows and more').toBeGreaterThanOrEqual(2_000);
    next.req.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => counts.released === 3, 'every view released');
  });

  it('ends an import whose client sends below the floor with RESOURCE_EXHAUSTED, reporting nothing imported, and frees its slot; one sending above it completes', async () => {
    const finished: number[] = [];
    const importer = async (source: AsyncIterable<Uint8Array>): Promise<ImportSummary> => {
      let bytes = 0;
      for await (const c of source) bytes += c.length;
      finished.push(bytes);
      return { startBlock: 1n, endBlock: 1n, imported: 1n, skipped: 0n, bytes, digest: '0x', durationMs: 0, head: 1n };
    };
    const { address, counts, session } = await start({ maxStreams: 2, streamIdleTimeoutMs: 30_000, streamMinRate: minRate }, { import: importer });
    const client = operatorClient(address);
    try {
      /** An Import call from a gRPC client sending `bytes` every `everyMs`, `times` times (then it ends), or until it is ended. */
      const paced = (bytes: number, everyMs: number, times = Number.POSITIVE_INFINITY) => {
        const call = client.Import();
        const events: ImportEvent__Output[] = [];
        call.on('data', (ev: ImportEvent__Output) => events.push(ev));
        const status = new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
          call.on('error', resolve);
          call.on('status', (st: grpc.StatusObject) => st.code === 0 && resolve(st));
        });
        let sent = 0;
        const timer = setInterval(() => {
          if (sent++ < times) call.write({ data: Buffer.alloc(bytes, 1) });
          else {
            clearInterval(timer);
            call.end();
          }
        }, everyMs);
        void status.finally(() => clearInterval(timer));
        return { status, events };
      };
      const began = Date.now();
      const healthy = paced(64 * 1024, 50, 50); // 1.3 MB/s for 2.5 s
      const slow = paced(1, 100); // a byte every 100 ms, well inside the idle timeout

      const cut = await Promise.race([slow.status, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5_000))]);
      expect(cut, 'the slow import ended within 5 s').toBeDefined();
      expect(Date.now() - began, 'not before a window of waiting').toBeGreaterThanOrEqual(1000);
      expect(cut!.code).toBe(8); // RESOURCE_EXHAUSTED
      expect((cut as grpc.ServiceError).details).toMatch(TOO_SLOW);
      expect((cut as grpc.ServiceError).details).toMatch(/^the client sends/);
      expect(
        slow.events.filter((e) => e.summary),
        'no summary: nothing is reported imported',
      ).toEqual([]);

      const next = unreadExport(session); // its slot is free again
      expect((await next.headers)['grpc-status']).toBeUndefined();
      await until(() => counts.opened === 1, 'an export started');
      next.req.close(http2.constants.NGHTTP2_CANCEL);

      expect((await healthy.status).code, 'the healthy import completed').toBe(0);
      expect(healthy.events.at(-1)?.summary?.bytes).toBe(String(50 * 64 * 1024));
      expect(finished).toEqual([50 * 64 * 1024]);
      await until(() => counts.released === 1, 'released');
    } finally {
      client.close();
    }
  });
});

describe('isLoopbackHost', () => {
  it('refuses a reachable address whose callers no client certificate authenticates (plain text or TLS alone) in one line, unless --grpc-insecure', async () => {
    const tls = { cert: '/nonexistent/server.pem', key: '/nonexistent/server.key' };
    const server = new OperatorServer(bigChain().service, silentLogger(), { maxStreams: 1, streamIdleTimeoutMs: 1000, tls });
    await expect(server.listen('0.0.0.0:0')).rejects.toThrow(
      /^--grpc-address 0\.0\.0\.0:0 is reachable from other machines and TLS without client certificates authenticates no caller \(anyone who can reach it could vote, add or remove peers, import blocks\): add --grpc-tls-client-ca or pass --grpc-insecure$/,
    );
    await expect(checkOperatorAddress('10.1.2.3:9632', { tls })).rejects.toThrow(/TLS without client certificates authenticates no caller/);
    await expect(checkOperatorAddress('[::]:9632', {})).rejects.toThrow(
      /has no authentication: serve it with TLS \(--grpc-tls-cert, --grpc-tls-key, --grpc-tls-client-ca\) or pass --grpc-insecure$/,
    );
    for (const ok of [{ tls: { ...tls, clientCa: '/nonexistent/ca.pem' } }, { tls, insecure: true }, { insecure: true }])
      await expect(checkOperatorAddress('10.1.2.3:9632', ok)).resolves.toBe(true);
    await expect(checkOperatorAddress('127.0.0.1:9632', { tls })).resolves.toBe(false);
    await expect(checkOperatorAddress('[::1]:9632', {})).resolves.toBe(false);
  });

  it('takes a host name as loopback only if every address it resolves to is: a localhost mapped to 0.0.0.0 or a LAN address is refused', async () => {
    const refused = /^--grpc-address localhost:9632 is reachable from other machines and the operator API has no authentication/;
    const lookup = vi.spyOn(dns, 'lookup');
    try {
      // As a hosts file with `0.0.0.0 localhost`, or one that adds a LAN address to it, would make it.
      lookup.mockResolvedValue([{ address: '0.0.0.0', family: 4 }] as never);
      await expect(checkOperatorAddress('localhost:9632', {})).rejects.toThrow(refused);
      await expect(new OperatorServer(bigChain().service, silentLogger(), { maxStreams: 1, streamIdleTimeoutMs: 1000 }).listen('localhost:0')).rejects.toThrow(
        /^--grpc-address localhost:0 is reachable from other machines/,
      );
      lookup.mockResolvedValue([
        { address: '127.0.0.1', family: 4 },
        { address: '192.168.1.5', family: 4 },
      ] as never);
      await expect(checkOperatorAddress('localhost:9632', {})).rejects.toThrow(refused);
      // The ibft JSON-RPC namespace, loopback only as well, is refused before anything is written.
      const node = (at: Partial<NodeOptions>) => BasaltNode.start({ logger: silentLogger(), jsonrpcApis: ['eth', 'ibft'], ...at } as NodeOptions);
      await expect(node({ jsonrpc: { host: 'localhost', port: 0 } })).rejects.toThrow(
        /^--jsonrpc-api ibft casts this validator's votes .*not --jsonrpc localhost:0/,
      );
      await expect(node({ ws: { host: 'localhost', port: 0 } })).rejects.toThrow(/^--jsonrpc-api ibft casts this validator's votes .*not --ws localhost:0/);
      lookup.mockRejectedValue(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' }));
      await expect(checkOperatorAddress('nowhere.invalid:9632', {})).rejects.toThrow(/^--grpc-address nowhere\.invalid:9632 is reachable from other machines/);
      lookup.mockResolvedValue([
        { address: '127.0.0.1', family: 4 },
        { address: '::1', family: 6 },
      ] as never);
      await expect(checkOperatorAddress('localhost:9632', {})).resolves.toBe(false);
      // Past the ibft check (localhost is loopback now): the gRPC address is the next one refused.
      await expect(node({ jsonrpc: { host: 'localhost', port: 0 }, grpcAddress: '0.0.0.0:0' })).rejects.toThrow(/^--grpc-address 0\.0\.0\.0:0 is reachable/);
      expect(lookup).toHaveBeenCalledWith('localhost', { all: true });
    } finally {
      lookup.mockRestore();
    }
    await expect(checkOperatorAddress('localhost:9632', {})).resolves.toBe(false); // this machine's own resolver
  });

  it('tells loopback listen addresses from reachable ones', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
    // A name, localhost too, is loopback only once resolved (listensOnLoopbackOnly).
    for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.1', '192.168.1.5', 'example.com', 'localhost', '::ffff:10.0.0.1', '128.0.0.1'])
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
