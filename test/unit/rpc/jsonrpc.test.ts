import { join } from 'node:path';
import { markNothingSigned } from '../../../src/consensus/ibft/core/sign-journal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonRpcProvider } from 'ethers';
import { createPublicClient, http } from 'viem';
import { BasaltNode } from '../../../src/node/node.js';
import { JsonRpcServer } from '../../../src/rpc/jsonrpc/server.js';
import { writeKeyFile, LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH } from '../../../src/keys/keyfile.js';
import { silentLogger } from '../../../src/util/log.js';
import { testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';

let node: BasaltNode;
let url: string;

beforeAll(async () => {
  const dataDir = join(tempDir(), 'node');
  writeKeyFile(join(dataDir, VALIDATOR_KEY_PATH), testKey(0));
  writeKeyFile(join(dataDir, LIBP2P_KEY_PATH), testKey(9));
  markNothingSigned(join(dataDir, 'consensus')); // keys made here (secrets init writes it)
  const { genesis } = testGenesis(1);
  node = await BasaltNode.start({ dataDir, genesis, seal: true, blockTimeMs: 100, jsonrpc: { host: '127.0.0.1', port: 0 }, logger: silentLogger() });
  url = `http://127.0.0.1:${node.jsonRpcAddress!.port}`;
  await new Promise<void>((resolve) => {
    const check = () => (node.chain.head.number >= 3n ? resolve() : setTimeout(check, 50));
    check();
  });
});
afterAll(async () => {
  await node?.stop();
});

async function post(body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: res.headers.get('content-type') === 'application/json' ? await res.json() : await res.text() };
}

describe('JSON-RPC with real clients', () => {
  it('ethers reads chain ID, head and blocks', async () => {
    const provider = new JsonRpcProvider(url, undefined, { staticNetwork: true });
    expect((await provider.getNetwork()).chainId).toBe(100n);
    const n = await provider.getBlockNumber();
    expect(n).toBeGreaterThanOrEqual(3);
    const block = await provider.getBlock(2);
    expect(block?.number).toBe(2);
    const parent = await provider.getBlock(1);
    expect(block?.parentHash).toBe(parent?.hash);
    const stored = await node.chain.blockByNumber(2n);
    expect(block?.stateRoot).toBeDefined();
    expect(block?.gasLimit).toBe(stored!.header.gasLimit);
    provider.destroy();
  });

  it('viem reads chain ID, head and blocks (by number and tag)', async () => {
    const client = createPublicClient({ transport: http(url) });
    expect(await client.getChainId()).toBe(100);
    const latest = await client.getBlock({ blockTag: 'latest' });
    expect(latest.number).toBeGreaterThanOrEqual(3n);
    const genesis = await client.getBlock({ blockNumber: 0n });
    expect(genesis.hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await client.getBlock({ blockTag: 'earliest' })).hash).toBe(genesis.hash);
  });
});

describe('JSON-RPC protocol', () => {
  it('answers batches in order, with per-request errors', async () => {
    const r = await post(
      JSON.stringify([
        { jsonrpc: '2.0', id: 1, method: 'eth_chainId' },
        { jsonrpc: '2.0', id: 2, method: 'no_such_method' },
        { jsonrpc: '2.0', id: 3, method: 'eth_getBlockByNumber', params: ['banana', false] },
        // a block number past 64 bits (63 hex digits: not a hash) is no block: -32602, not an internal error
        { jsonrpc: '2.0', id: 4, method: 'eth_getBlockByNumber', params: [`0x${'f'.repeat(63)}`, false] },
        { jsonrpc: '2.0', id: 5, method: 'eth_getBlockByNumber', params: ['0xffffffffffffffff', false] },
        // a storage slot longer than 32 bytes
        { jsonrpc: '2.0', id: 6, method: 'eth_getStorageAt', params: [`0x${'11'.repeat(20)}`, `0x${'ab'.repeat(33)}`, 'latest'] },
      ]),
    );
    const out = r.json as { id: number; result?: unknown; error?: { code: number } }[];
    expect(out.map((o) => o.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out[0]!.result).toBe('0x64');
    expect(out[1]!.error?.code).toBe(-32601);
    expect(out[2]!.error?.code).toBe(-32602);
    expect(out[3]!.error?.code).toBe(-32602);
    expect(out[4]).toMatchObject({ id: 5, result: null }); // 2^64 - 1: a number, no such block
    expect(out[5]).toMatchObject({ id: 6, error: { code: -32602, message: 'slot must be at most 32 bytes' } });
  });

  it('reports parse errors, invalid requests and wrong param counts', async () => {
    expect(((await post('{oops')).json as { error: { code: number } }).error.code).toBe(-32700);
    expect(((await post('{"id":1,"method":"eth_chainId"}')).json as { error: { code: number } }).error.code).toBe(-32600);
    expect(((await post('[]')).json as { error: { code: number } }).error.code).toBe(-32600);
    const r = await post('{"jsonrpc":"2.0","id":7,"method":"eth_getBlockByNumber","params":[]}');
    expect(r.json).toMatchObject({ id: 7, error: { code: -32602 } });
  });

  it('does not treat Object.prototype names as methods', async () => {
    const r = await post('{"jsonrpc":"2.0","id":1,"method":"constructor"}');
    expect(r.json).toMatchObject({ error: { code: -32601 } });
  });

  it('rejects non-POST requests and oversized bodies', async () => {
    expect((await fetch(url)).status).toBe(405);
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: ['x'.repeat(6 * 1024 * 1024)] });
    expect((await post(big)).status).toBe(413);
  });
});

describe('JSON-RPC CORS (configured origins)', () => {
  it('answers allowed browser origins and only those', async () => {
    const { JsonRpcServer } = await import('../../../src/rpc/jsonrpc/server.js');
    const server = new JsonRpcServer({ methods: { eth_chainId: () => '0x1' }, logger: silentLogger(), cors: ['https://app.example'] });
    const { port } = await server.listen('127.0.0.1', 0);
    try {
      const pre = await fetch(`http://127.0.0.1:${port}`, { method: 'OPTIONS', headers: { origin: 'https://app.example' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
      const other = await fetch(`http://127.0.0.1:${port}`, {
        method: 'POST',
        headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}',
      });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await server.close();
    }
  });
});

describe('JSON-RPC CORS (preflights)', () => {
  it('answers allowed origins (and preflights) and gives others no CORS headers', async () => {
    const server = new JsonRpcServer({ methods: { eth_chainId: () => '0x64' }, logger: silentLogger(), cors: ['https://app.example'] });
    const { port } = await server.listen('127.0.0.1', 0);
    const at = `http://127.0.0.1:${port}`;
    try {
      const preflight = await fetch(at, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/content-type/i);
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId' });
      const ok = await fetch(at, { method: 'POST', headers: { origin: 'https://app.example', 'content-type': 'application/json' }, body });
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(await ok.json()).toEqual({ jsonrpc: '2.0', id: 1, result: '0x64' });
      const other = await fetch(at, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await server.close();
    }
  });
});
