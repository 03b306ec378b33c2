import dns from 'node:dns';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addressKey } from '../../../src/util/net.js';
import type { Chain } from '../../../src/chain/chain.js';
import { MAX_BATCH_RESPONSE_BYTES, RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { MAX_FILTERS_PER_ADDRESS } from '../../../src/rpc/jsonrpc/filters.js';
import { filterMethods } from '../../../src/rpc/jsonrpc/methods/eth-filters.js';
import { JsonRpcServer, MAX_JSON_DEPTH, MAX_PIPELINED_REQUESTS } from '../../../src/rpc/jsonrpc/server.js';
import type { TxPool } from '../../../src/txpool/txpool.js';
import { silentLogger } from '../../../src/util/log.js';
import { until } from '../../helpers/until.js';

const LIMIT = 16_384;
let server: JsonRpcServer;
let url: string;
let port: number;

beforeAll(async () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  let deep: unknown = 1;
  for (let i = 0; i < 20_000; i++) deep = [deep];
  server = new JsonRpcServer({
    methods: {
      echo: (p) => p,
      ping: () => 'pong',
      cyclic: () => cyclic,
      deep: () => deep,
      throwsOddly: () => {
        throw {
          toString: () => {
            throw new Error('no');
          },
        };
      },
    },
    logger: silentLogger(),
    maxBodyBytes: LIMIT,
    maxBatch: 3,
  });
  port = (await server.listen('127.0.0.1', 0)).port;
  url = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await server?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: each test reads the answer's own shape
async function post(body: string): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: await res.json() };
}
const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
const ping = { status: 200, json: { jsonrpc: '2.0', id: 1, result: 'pong' } };
const pingBody = '{"jsonrpc":"2.0","id":1,"method":"ping"}';

describe('JSON-RPC against hostile requests', () => {
  it('refuses a deeply nested id or param with -32600 and keeps serving', async () => {
    const deepId = await post(`{"jsonrpc":"2.0","id":${nested(5000)},"method":"ping"}`);
    expect(deepId).toEqual({
      status: 200,
      json: { jsonrpc: '2.0', id: null, error: { code: -32600, message: `invalid request: JSON nested deeper than ${MAX_JSON_DEPTH} levels` } },
    });
    // the request object is one level, params another: this is exactly at the limit, one more is refused
    const atLimit = nested(MAX_JSON_DEPTH - 2);
    expect((await post(`{"jsonrpc":"2.0","id":1,"method":"echo","params":[${atLimit}]}`)).json.result).toEqual([JSON.parse(atLimit)]);
    expect((await post(`{"jsonrpc":"2.0","id":1,"method":"echo","params":[${nested(MAX_JSON_DEPTH - 1)}]}`)).json.error.code).toBe(-32600);
    // brackets inside strings are data, not nesting
    expect((await post(`{"jsonrpc":"2.0","id":"${'[{'.repeat(500)}\\"]","method":"ping"}`)).json.result).toBe('pong');
    expect(await post(pingBody)).toEqual(ping);
  });

  it('accepts string, number and null ids and refuses others with id null', async () => {
    for (const id of ['"a"', '7', 'null']) expect((await post(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`)).json.id).toEqual(JSON.parse(id));
    for (const id of ['{"a":1}', '[1]', 'true']) {
      expect((await post(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`)).json).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32600, message: 'invalid request: id must be a string, a number or null' },
      });
    }
  });

  it('answers -32603 for results that cannot be encoded and for odd throws, per request in a batch', async () => {
    const r = await post(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'cyclic' },
        { jsonrpc: '2.0', id: 2, method: 'deep' },
        { jsonrpc: '2.0', id: 3, method: 'ping' },
      ]),
    );
    expect(r.json.map((x: { id: number }) => x.id)).toEqual([1, 2, 3]);
    expect(r.json[0].error.code).toBe(-32603);
    expect(r.json[1].error.code).toBe(-32603);
    expect(r.json[2].result).toBe('pong');
    expect((await post('{"jsonrpc":"2.0","id":4,"method":"throwsOddly"}')).json).toMatchObject({ id: 4, error: { code: -32603 } });
    expect(await post(pingBody)).toEqual(ping);
  });

  it('bounds batches', async () => {
    const batch = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })));
    expect((await post(batch(3))).json).toHaveLength(3);
    expect((await post(batch(4))).json).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'batch of 4 exceeds the limit of 3' } });
  });

  it("stops running a batch's requests once its answers pass the response bound (geth's 25 MB): the rest get -32005 with their ids", async () => {
    let runs = 0;
    const d = new RpcDispatcher({
      methods: {
        big: () => {
          runs++;
          return 'x'.repeat(1_000_000);
        },
      },
      logger: silentLogger(),
    });
    const text = JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'big' })));
    const answers = JSON.parse(await d.handleText(text)) as { id: number; result?: string; error?: { code: number; message: string } }[];
    expect(answers).toHaveLength(40);
    // answers of ~1 MB: the 25th passes 25 MB (MAX_BATCH_RESPONSE_BYTES); it was run, none after it
    expect(MAX_BATCH_RESPONSE_BYTES).toBe(25_000_000);
    expect(runs).toBe(25);
    expect(answers.slice(0, runs).every((a) => a.result?.length === 1_000_000)).toBe(true);
    expect(answers.slice(runs).map((a) => [a.id, a.error?.code])).toEqual(Array.from({ length: 40 - runs }, (_, i) => [runs + i, -32005]));
    expect(answers.at(-1)!.error!.message).toMatch(/batch response too large/);
  });

  it("stops running a batch's requests once its client has gone (HTTP)", async () => {
    let runs = 0;
    const slowServer = new JsonRpcServer({
      methods: {
        slow: async () => {
          runs++;
          await new Promise((r) => setTimeout(r, 300));
          return 'done';
        },
      },
      logger: silentLogger(),
    });
    const { port: slowPort } = await slowServer.listen('127.0.0.1', 0);
    try {
      const body = JSON.stringify(Array.from({ length: 3 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'slow' })));
      const socket = connect(slowPort, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      await new Promise((r) => setTimeout(r, 100)); // the first request is running
      socket.destroy();
      await new Promise((r) => setTimeout(r, 1200)); // the time all three would take
      expect(runs).toBe(1);
    } finally {
      await slowServer.close();
    }
  });

  it('answers 413 with a JSON-RPC error to a body over the limit, declared or streamed, and stays up', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'echo', params: ['x'.repeat(LIMIT)] });
    const declared = await post(big);
    expect(declared).toEqual({ status: 413, json: { jsonrpc: '2.0', id: null, error: { code: -32600, message: `request body exceeds ${LIMIT} bytes` } } });
    // chunked: no length up front, so the limit is found while reading
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let body = '';
          res
            .setEncoding('utf8')
            .on('data', (d: string) => (body += d))
            .on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write('x'.repeat(LIMIT / 2));
      req.end();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: { code: -32600 } });
    expect(await post(pingBody)).toEqual(ping);
  });

  it('survives malformed HTTP and clients that vanish mid-request', async () => {
    const reply = await new Promise<string>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => sock.write('NOT HTTP AT ALL\r\n\r\n'));
      let got = '';
      sock
        .setEncoding('utf8')
        .on('data', (d: string) => (got += d))
        .on('close', () => resolve(got))
        .on('error', () => undefined);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    await new Promise<void>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"jsonrpc"');
        setTimeout(() => (sock.resetAndDestroy(), resolve()), 50);
      });
    });
    expect(await post(pingBody)).toEqual(ping);
  });

  it('drops an answer its client has not read within the write timeout, with the connection, and keeps serving', async () => {
    const size = 32 * 1024 * 1024; // well past what the kernel's socket buffers take
    const slow = new JsonRpcServer({ methods: { big: () => 'x'.repeat(size), ping: () => 'pong' }, logger: silentLogger(), writeTimeoutMs: 200 });
    const { port: slowPort } = await slow.listen('127.0.0.1', 0);
    try {
      const client = await unreadRequest(slowPort, '{"jsonrpc":"2.0","id":1,"method":"big"}');
      await new Promise((r) => setTimeout(r, 2000));
      // What it gets once it reads: what the kernel held when the node dropped the connection, not the answer.
      const got = await within(readToClose(client), 5000);
      expect(got).not.toBe('still open');
      expect(got).toBeLessThan(size);
      expect(await askPing(slowPort)).toContain('"result":"pong"');
    } finally {
      await slow.close();
    }
  });

  it('drops the unread answers held longest once all unread answers together pass their bound', async () => {
    const size = 32 * 1024 * 1024;
    const bounded = new JsonRpcServer({ methods: { big: () => 'x'.repeat(size) }, logger: silentLogger(), maxUnsentBytes: 40 * 1024 * 1024 });
    const { port: boundedPort } = await bounded.listen('127.0.0.1', 0);
    try {
      const first = await unreadRequest(boundedPort, '{"jsonrpc":"2.0","id":1,"method":"big"}');
      await new Promise((r) => setTimeout(r, 500));
      const second = await unreadRequest(boundedPort, '{"jsonrpc":"2.0","id":2,"method":"big"}');
      await new Promise((r) => setTimeout(r, 500));
      const got = await within(readToClose(first), 5000);
      expect(got).not.toBe('still open');
      expect(got).toBeLessThan(size);
      const whole = readToClose(second);
      expect(await within(whole, 3000)).toBe('still open'); // keep-alive: whole answer, connection kept
      second.destroy();
      expect(await whole).toBeGreaterThan(size);
    } finally {
      await bounded.close();
    }
  });

  it("past the bound on unread answers, the address holding the most loses its largest: many unread answers of one client do not push out another's slow download", async () => {
    const MiB = 1024 * 1024;
    const bounded = new JsonRpcServer({ methods: { big: ([n]) => 'x'.repeat(Number(n)) }, logger: silentLogger(), maxUnsentBytes: 40 * MiB });
    const { port: boundedPort } = await bounded.listen('127.0.0.1', 0);
    const ask = (n: number) => `{"jsonrpc":"2.0","id":1,"method":"big","params":[${n}]}`;
    try {
      const download = await unreadRequest(boundedPort, ask(20 * MiB), '127.0.0.2'); // the oldest answer held
      await new Promise((r) => setTimeout(r, 300));
      const flood: Socket[] = [];
      for (let i = 0; i < 3; i++) {
        flood.push(await unreadRequest(boundedPort, ask(12 * MiB)));
        await new Promise((r) => setTimeout(r, 300));
      }
      const whole = readToClose(download);
      expect(await within(whole, 3000)).toBe('still open'); // keep-alive: whole answer, connection kept
      download.destroy();
      expect(await whole).toBeGreaterThan(20 * MiB);
      const flooded = await Promise.all(flood.map((f) => within(readToClose(f), 3000)));
      expect(flooded.filter((got) => got !== 'still open' && got < 12 * MiB).length).toBeGreaterThan(0);
      for (const f of flood) f.destroy();
    } finally {
      await bounded.close();
    }
  });

  it('runs the requests a connection pipelines one at a time, each once the answer before it was taken, and answers them in order', async () => {
    let running = 0;
    let most = 0;
    const piped = new JsonRpcServer({
      methods: {
        slow: async () => {
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
          return 'done';
        },
      },
      logger: silentLogger(),
    });
    const { port: pipedPort } = await piped.listen('127.0.0.1', 0);
    try {
      const socket = await openSocket(pipedPort);
      const ids = Array.from({ length: MAX_PIPELINED_REQUESTS + 1 }, (_, i) => i); // one answered, the rest waiting
      socket.write(ids.map((id) => postText(`{"jsonrpc":"2.0","id":${id},"method":"slow"}`)).join(''));
      let got = '';
      socket.setEncoding('utf8').on('data', (d: string) => (got += d));
      await until(() => (got.match(/"result":"done"/g) ?? []).length === ids.length, 'every answer', 5000);
      socket.destroy();
      expect([...got.matchAll(/"id":(\d+)/g)].map((m) => Number(m[1]))).toEqual(ids);
      expect(most).toBe(1);
    } finally {
      await piped.close();
    }
  });

  it('makes no answer for a client that reads none: its next pipelined request waits until the answer before it is taken', async () => {
    const size = 16 * 1024 * 1024; // past what the kernel's socket buffers take
    let made = 0;
    const piped = new JsonRpcServer({
      methods: {
        big: () => {
          made++;
          return 'x'.repeat(size);
        },
      },
      logger: silentLogger(),
    });
    const { port: pipedPort } = await piped.listen('127.0.0.1', 0);
    try {
      const socket = await openSocket(pipedPort);
      socket.pause();
      socket.write(postText('{"jsonrpc":"2.0","id":1,"method":"big"}').repeat(4));
      await until(() => made > 0, 'the first answer', 5000);
      await new Promise((r) => setTimeout(r, 300));
      expect(made).toBe(1);
      let bytes = 0;
      socket.on('data', (d: Buffer) => (bytes += d.length));
      socket.resume();
      await until(() => bytes > 4 * size, 'every answer once the client reads', 10_000);
      expect(made).toBe(4);
      socket.destroy();
    } finally {
      await piped.close();
    }
  });

  it(`closes a connection that pipelines more than ${MAX_PIPELINED_REQUESTS} requests behind the one being answered, and keeps serving`, async () => {
    let calls = 0;
    const piped = new JsonRpcServer({
      methods: {
        slow: async () => {
          calls++;
          await new Promise((r) => setTimeout(r, 200));
          return 'done';
        },
        ping: () => 'pong',
      },
      logger: silentLogger(),
    });
    const { port: pipedPort } = await piped.listen('127.0.0.1', 0);
    try {
      const socket = await openSocket(pipedPort);
      socket.write(postText('{"jsonrpc":"2.0","id":1,"method":"slow"}').repeat(MAX_PIPELINED_REQUESTS + 2));
      expect(await within(readToClose(socket), 5000)).not.toBe('still open');
      expect(calls).toBeLessThanOrEqual(1); // the first, if it had started before the connection closed
      expect(await askPing(pipedPort)).toContain('"result":"pong"');
    } finally {
      await piped.close();
    }
  });

  it('closes connections past the cap as they come, and takes new ones once others have closed', async () => {
    const capped = new JsonRpcServer({ methods: { ping: () => 'pong' }, logger: silentLogger(), maxConnections: 2 });
    const { port: cappedPort } = await capped.listen('127.0.0.1', 0);
    try {
      const held = [await openSocket(cappedPort), await openSocket(cappedPort)];
      await new Promise((r) => setTimeout(r, 100)); // both accepted
      const third = await openSocket(cappedPort);
      expect(await within(readToClose(third), 5000)).toBe(0);
      for (const s of held) s.destroy();
      let answer = '';
      for (let i = 0; i < 50 && !answer.includes('pong'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        answer = await askPing(cappedPort);
      }
      expect(answer).toContain('"result":"pong"');
    } finally {
      await capped.close();
    }
  });

  it('one address holds at most maxConnectionsPerAddress connections beyond loopback, so other clients are still served; on loopback it is not counted', async () => {
    const exposed = new JsonRpcServer({ methods: { ping: () => 'pong' }, logger: silentLogger(), maxConnections: 8, maxConnectionsPerAddress: 3 });
    const local = new JsonRpcServer({ methods: { ping: () => 'pong' }, logger: silentLogger(), maxConnections: 8, maxConnectionsPerAddress: 3 });
    const { port: exposedPort } = await exposed.listen('0.0.0.0', 0);
    const { port: localPort } = await local.listen('127.0.0.1', 0);
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await openSocket(exposedPort));
      await new Promise((r) => setTimeout(r, 100)); // all accepted
      expect(await within(readToClose(await openSocket(exposedPort)), 5000)).toBe(0); // its address is full
      expect(await askPing(exposedPort, '127.0.0.2')).toContain('"result":"pong"'); // another client is served
      held.shift()!.destroy();
      let answer = '';
      for (let i = 0; i < 50 && !answer.includes('pong'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        answer = await askPing(exposedPort);
      }
      expect(answer).toContain('"result":"pong"');
      for (let i = 0; i < 5; i++) held.push(await openSocket(localPort));
      expect(await askPing(localPort)).toContain('"result":"pong"');
    } finally {
      for (const s of held) s.destroy();
      await exposed.close();
      await local.close();
    }
  });

  it('counts by the address a name bound, not the name: localhost is uncounted where it is 127.0.0.1, counted where it maps to 0.0.0.0', async () => {
    const server = () => new JsonRpcServer({ methods: { ping: () => 'pong' }, logger: silentLogger(), maxConnections: 8, maxConnectionsPerAddress: 1 });
    const held: Socket[] = [];
    const local = server();
    const mapped = server();
    try {
      const { port: localPort } = await local.listen('localhost', 0); // this machine's resolver: loopback
      held.push(await openSocket(localPort));
      expect(await askPing(localPort)).toContain('"result":"pong"');
      // As a hosts file with `0.0.0.0 localhost` would make it: Node's listen resolves the name through dns.lookup.
      const lookup = vi
        .spyOn(dns, 'lookup')
        .mockImplementation(((_host: string, cb: (err: null, address: string, family: number) => void) => cb(null, '0.0.0.0', 4)) as never);
      let mappedPort: number;
      try {
        mappedPort = (await mapped.listen('localhost', 0)).port;
      } finally {
        lookup.mockRestore();
      }
      held.push(await openSocket(mappedPort));
      await new Promise((r) => setTimeout(r, 100)); // accepted
      expect(await within(readToClose(await openSocket(mappedPort)), 5000)).toBe(0); // its address is full
    } finally {
      for (const s of held) s.destroy();
      await local.close();
      await mapped.close();
    }
  });

  it(`beyond loopback, one address installs at most ${MAX_FILTERS_PER_ADDRESS} filters (-32005), again once it uninstalls one; another address still can; on loopback it is not counted`, async () => {
    const methods = () =>
      filterMethods({ chain: { head: { number: 0n } } as unknown as Chain, txpool: { onAdded: () => () => undefined } as unknown as TxPool });
    const exposed = new JsonRpcServer({ methods: methods(), logger: silentLogger() });
    const local = new JsonRpcServer({ methods: methods(), logger: silentLogger() });
    const { port: exposedPort } = await exposed.listen('0.0.0.0', 0);
    const { port: localPort } = await local.listen('127.0.0.1', 0);
    const one = '{"jsonrpc":"2.0","id":1,"method":"eth_newBlockFilter"}';
    const all = `[${Array(MAX_FILTERS_PER_ADDRESS).fill(one).join(',')}]`;
    try {
      const ids = ((await postFrom(exposedPort, all)) as { result: string }[]).map((a) => a.result);
      expect(ids.every((id) => /^0x/.test(id))).toBe(true);
      expect(await postFrom(exposedPort, one)).toMatchObject({
        error: { code: -32005, message: `too many filters from your address (limit ${MAX_FILTERS_PER_ADDRESS}): uninstall some` },
      });
      expect(await postFrom(exposedPort, one, '127.0.0.2')).toMatchObject({ result: expect.stringMatching(/^0x/) });
      expect(await postFrom(exposedPort, `{"jsonrpc":"2.0","id":1,"method":"eth_uninstallFilter","params":["${ids[0]}"]}`)).toMatchObject({ result: true });
      expect(await postFrom(exposedPort, one)).toMatchObject({ result: expect.stringMatching(/^0x/) });
      await postFrom(localPort, all);
      expect(await postFrom(localPort, one)).toMatchObject({ result: expect.stringMatching(/^0x/) });
    } finally {
      await exposed.close();
      await local.close();
    }
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped one by its IPv4 address', () => {
    expect(addressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:DB8:1:2:0:0:0:7%eth0')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1');
  });
});

/** `p`'s value, or 'still open' when it has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'still open'> {
  return Promise.race([p, new Promise<'still open'>((r) => setTimeout(() => r('still open'), ms))]);
}

/** A connection from `from` (another loopback address stands for another client). */
async function openSocket(to: number, from = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port: to, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  return socket;
}

/** POST `body` from `from` (another loopback address stands for another client); the JSON answer. */
function postFrom(to: number, body: string, from = '127.0.0.1'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: to, localAddress: from, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let got = '';
      res.setEncoding('utf8').on('data', (d: string) => (got += d));
      res.on('end', () => resolve(JSON.parse(got)));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The raw HTTP/1.1 text of a POST of `body`. */
function postText(body: string): string {
  return `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** A POST on a raw connection whose client does not read (until readToClose). */
async function unreadRequest(to: number, body: string, from = '127.0.0.1'): Promise<Socket> {
  const socket = await openSocket(to, from);
  socket.pause();
  socket.write(postText(body));
  return socket;
}

/** Read what the connection delivers until it closes; the bytes read. */
function readToClose(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    socket.on('data', (d: Buffer) => (bytes += d.length));
    socket.once('close', () => resolve(bytes));
    socket.resume();
  });
}

/** One ping on a fresh connection: the raw HTTP answer ('' when the connection was closed first). */
async function askPing(to: number, from = '127.0.0.1'): Promise<string> {
  const socket = await openSocket(to, from);
  return new Promise((resolve) => {
    let got = '';
    socket.setEncoding('utf8').on('data', (d: string) => {
      got += d;
      if (got.includes('pong')) socket.destroy();
    });
    socket.once('close', () => resolve(got));
    socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${pingBody.length}\r\n\r\n${pingBody}`);
  });
}
