import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_RESPONSE_BYTES, RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { JsonRpcServer, MAX_JSON_DEPTH } from '../../../src/rpc/jsonrpc/server.js';
import { silentLogger } from '../../../src/util/log.js';

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
});
