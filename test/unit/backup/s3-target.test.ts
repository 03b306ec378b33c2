import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { S3Target, multipartPartSize, parseS3Url } from '../../../src/backup/targets/s3.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import { withRetry } from '../../../src/backup/retry.js';
import { UserError } from '../../../src/util/errors.js';
import { S3_CREDENTIALS, startS3rver, startS3rverProcess } from '../../helpers/s3.js';
import { until } from '../../helpers/until.js';

const credentials = S3_CREDENTIALS;
let server: Awaited<ReturnType<typeof startS3rver>>;
let endpoint: string;
const dir = mkdtempSync(join(tmpdir(), 'basalt-s3-'));

beforeAll(async () => {
  server = await startS3rver(dir, ['backups']);
  endpoint = server.endpoint;
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('S3 target', () => {
  it('parses s3://bucket/prefix and refuses malformed URLs', () => {
    expect(parseS3Url('s3://my-bucket/a/b/')).toEqual({ bucket: 'my-bucket', prefix: 'a/b/' });
    expect(parseS3Url('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(() => parseS3Url('s3://UPPER/x')).toThrow(/is not s3:\/\/bucket\/prefix/);
    expect(() => parseS3Url('s3:///x')).toThrow(/is not s3:\/\/bucket\/prefix/);
  });

  it('puts a piece larger than the part size as a multipart upload, lists, gets and deletes it under the prefix', { timeout: 60_000 }, async () => {
    const t = new S3Target('s3://backups/node1', { endpoint, credentials, partSize: 5 * 1024 * 1024 });
    const body = randomBytes(6 * 1024 * 1024 + 123);
    const path = join(dir, 'piece');
    writeFileSync(path, body);
    const name = 'snapshot-000000007-t1-0badf00d.bsn';
    await t.put(name, { path, bytes: body.length });
    const other = new S3Target('s3://backups/node2', { endpoint, credentials });
    await other.put('x.bsa', { path, bytes: body.length });
    const listed = await t.list();
    expect(listed.map((e) => [e.name, e.bytes])).toEqual([[name, body.length]]);
    expect(listed[0]!.storedAt).toBeGreaterThan(Date.now() - 60_000);
    expect((await collect(t.get(name))).equals(body)).toBe(true);
    await t.delete(name);
    expect(await t.list()).toEqual([]);
    const client = new S3Client({ endpoint, credentials, forcePathStyle: true, region: 'us-east-1' });
    const pending = await client.send(new ListMultipartUploadsCommand({ Bucket: 'backups' })).catch(() => ({ Uploads: [] }));
    expect(pending.Uploads ?? []).toEqual([]); // nothing left half-uploaded
    client.destroy();
    t.close();
    other.close();
  });

  it('a piece above 10,000 parts of the configured size goes up in larger parts (whole MiB); one larger than any upload takes is refused before a byte is sent', async () => {
    const MiB = 1024 * 1024;
    const configured = 16 * MiB;
    expect(multipartPartSize(100 * MiB, configured)).toBe(configured);
    expect(multipartPartSize(10_000 * configured, configured)).toBe(configured); // exactly 10,000 parts
    expect(multipartPartSize(10_000 * configured + 1, configured)).toBe(17 * MiB);
    for (const bytes of [157 * 1024 ** 3, 200 * 1024 ** 3 + 7, 1024 ** 4, 10_000 * 512 * MiB]) {
      const size = multipartPartSize(bytes, configured);
      expect(size % MiB).toBe(0);
      expect(Math.ceil(bytes / size)).toBeLessThanOrEqual(10_000);
    }
    expect(multipartPartSize(10_000 * 512 * MiB, configured)).toBe(512 * MiB);
    expect(() => multipartPartSize(10_000 * 512 * MiB + 1, configured, 'snapshot-x.bsn')).toThrow(
      /^snapshot-x\.bsn: 5000\.0 GiB is more than one S3 upload takes here \(10000 parts of at most 512 MiB: 5000 GiB\)$/,
    );
    // The put refuses it without a request: this endpoint would fail any with a refused connection.
    const t = new S3Target('s3://backups/x', { endpoint: `http://127.0.0.1:${await closedPort()}`, credentials });
    try {
      const path = join(dir, 'tiny');
      writeFileSync(path, 'x');
      await expect(t.put('snapshot-000000001-t1-0badf00d.bsn', { path, bytes: 6 * 1024 ** 4 })).rejects.toSatisfy(
        (e) => e instanceof UserError && e.code === 'RESOURCE_EXHAUSTED' && /^snapshot-000000001-t1-0badf00d\.bsn: 6144\.0 GiB is more than/.test(e.message),
      );
    } finally {
      t.close();
    }
    expect(() => new S3Target('s3://backups/x', { partSize: MiB })).toThrow(/S3 part size 1048576 is not 5-512 MiB/);
  });

  it('lists a prefix of more keys than a page holds, page after page (a repository of many objects)', { timeout: 30_000 }, async () => {
    // s3rver's tokens need OpenSSL's legacy provider: a server of its own, run with it.
    const paging = await startS3rverProcess(join(dir, 'paged'), ['backups']);
    const t = new S3Target('s3://backups/paged', { endpoint: paging.endpoint, credentials, listPageSize: 3 });
    try {
      const path = join(dir, 'small');
      writeFileSync(path, 'x');
      const names = Array.from({ length: 8 }, (_, i) => `pack-${String(i).padStart(64, '0')}`);
      for (const name of names) await t.put(name, { path, bytes: 1 });
      // 8 keys at 3 a page: three pages, each asked with the token the one before gave.
      const send = vi.spyOn(S3Client.prototype, 'send');
      try {
        expect((await t.list()).map((e) => e.name).sort()).toEqual(names);
        expect(send.mock.calls.filter(([c]) => c instanceof ListObjectsV2Command)).toHaveLength(3);
      } finally {
        send.mockRestore();
      }
      for (const name of names) await t.delete(name);
      expect(await t.list()).toEqual([]);
    } finally {
      t.close();
      await paging.close();
    }
  });

  it('an unreachable endpoint fails each attempt; retries back off and give up with the error', { timeout: 30_000 }, async () => {
    const port = await closedPort();
    const t = new S3Target('s3://backups/x', { endpoint: `http://127.0.0.1:${port}`, credentials, requestTimeoutMs: 1000 });
    const delays: number[] = [];
    let attempts = 0;
    await expect(
      withRetry(
        () => {
          attempts++;
          return t.list();
        },
        { attempts: 4, baseDelayMs: 10, maxDelayMs: 25 },
        { onRetry: (_e, _n, d) => delays.push(d) },
      ),
    ).rejects.toThrow(/ECONNREFUSED|connect/);
    expect(attempts).toBe(4);
    expect(delays).toEqual([10, 20, 25]);
    t.close();
  });

  it('stops retrying as soon as it is aborted', async () => {
    const ac = new AbortController();
    let attempts = 0;
    const p = withRetry(
      async () => {
        attempts++;
        if (attempts === 1) setTimeout(() => ac.abort(new Error('stopping')), 5);
        throw new Error('down');
      },
      { attempts: 10, baseDelayMs: 60_000, maxDelayMs: 60_000 },
      { signal: ac.signal },
    );
    await expect(p).rejects.toThrow('stopping');
    expect(attempts).toBe(1);
  });
});

describe('an S3 upload abandoned (the node stopping)', () => {
  it('put returns only once the requests under way settled and the multipart upload was aborted, so the stop that follows cuts nothing', {
    timeout: 60_000,
  }, async () => {
    // s3rver has neither ListMultipartUploads nor AbortMultipartUpload (it answers 405), so what is seen
    // is the requests: a proxy in front of it records each one once it was answered.
    const proxy = await recordingProxy(endpoint);
    const t = new S3Target('s3://backups/abandon', { endpoint: proxy.endpoint, credentials, partSize: 5 * 1024 * 1024 });
    const path = join(dir, 'abandoned');
    const body = randomBytes(16 * 1024 * 1024 + 1);
    writeFileSync(path, body);
    try {
      const ac = new AbortController();
      const putting = t.put('snapshot-x.bsn', { path, bytes: body.length }, ac.signal);
      await until(() => proxy.started.some((l) => /^PUT \/backups\/abandon\/snapshot-x\.bsn\?.*partNumber=/.test(l)), 'a part on its way', 20_000, 5);
      ac.abort(new Error('stopping'));
      await expect(putting).rejects.toThrow();
      expect(proxy.open()).toBe(0); // nothing under way: a client destroyed now cuts nothing
      expect(proxy.answered.filter((l) => /^DELETE \/backups\/abandon\/snapshot-x\.bsn\?.*uploadId=/.test(l)).length).toBeGreaterThan(0);
      expect(await t.list()).toEqual([]);
    } finally {
      t.close();
      await proxy.close();
    }
  });
});

/** An HTTP proxy to `endpoint` that records each request as it starts and once it was answered, and counts those under way. */
async function recordingProxy(endpoint: string) {
  const to = new URL(endpoint);
  const started: string[] = [];
  const answered: string[] = [];
  let open = 0;
  const server = createHttpServer((req, res) => {
    const line = `${req.method} ${req.url}`;
    started.push(line);
    open++;
    res.once('close', () => {
      open--;
      answered.push(`${line} ${res.statusCode}`);
    });
    const up = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    up.once('error', () => res.destroy());
    req.once('close', () => !req.complete && up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    started,
    answered,
    open: () => open,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('a read from a target ends when its signal aborts (a node stopping mid back-fill)', () => {
  it('S3: a GET the server never answers ends at the abort, long before the request timeout; an aborted signal reads nothing', {
    timeout: 20_000,
  }, async () => {
    // A server that takes the connection and says nothing.
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const t = new S3Target('s3://backups/x', { endpoint: `http://127.0.0.1:${port}`, credentials, requestTimeoutMs: 60_000 });
    try {
      const ac = new AbortController();
      const began = Date.now();
      setTimeout(() => ac.abort(new Error('stopping')), 200);
      await expect(collect(t.get('segment-x', ac.signal))).rejects.toThrow();
      expect(Date.now() - began).toBeLessThan(5_000);
      await expect(collect(t.get('segment-x', AbortSignal.abort(new Error('stopped'))))).rejects.toThrow('stopped');
    } finally {
      t.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('a folder: a read with an aborted signal ends with an AbortError; without one it reads the file', async () => {
    const d = mkdtempSync(join(tmpdir(), 'basalt-target-'));
    try {
      writeFileSync(join(d, 'piece'), randomBytes(1024 * 1024));
      const t = new LocalDirTarget(d, false);
      expect((await collect(t.get('piece'))).length).toBe(1024 * 1024);
      await expect(collect(t.get('piece', AbortSignal.abort()))).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
