import { EventEmitter } from 'node:events';
import { markNothingSigned } from '../../../src/consensus/ibft/core/sign-journal.js';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { ContractFactory, JsonRpcProvider, WebSocketProvider, Wallet, type Log } from 'ethers';
import { createPublicClient, webSocket } from 'viem';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { Chain } from '../../../src/chain/chain.js';
import { BasaltNode } from '../../../src/node/node.js';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { MAX_PENDING_TXS, SubscriptionHub, type SubscriptionSink } from '../../../src/rpc/jsonrpc/subscriptions.js';
import { WsRpcServer, type WsLimits } from '../../../src/rpc/jsonrpc/ws-server.js';
import type { TxPool } from '../../../src/txpool/txpool.js';
import { writeKeyFile, LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH } from '../../../src/keys/keyfile.js';
import { silentLogger } from '../../../src/util/log.js';
import { addressOf, testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { SET_TOPIC, STORAGE_INITCODE, word } from '../../helpers/contracts.js';
import { until } from '../../helpers/until.js';

const KEY = testKey(30);
let node: BasaltNode;
let wsUrl: string;
let httpUrl: string;
const closeAfter: (() => unknown)[] = [];

beforeAll(async () => {
  const dataDir = join(tempDir(), 'node');
  writeKeyFile(join(dataDir, VALIDATOR_KEY_PATH), testKey(0));
  writeKeyFile(join(dataDir, LIBP2P_KEY_PATH), testKey(9));
  markNothingSigned(join(dataDir, 'consensus')); // keys made here (secrets init writes it)
  const { genesis } = testGenesis(1, [addressOf(KEY)]);
  node = await BasaltNode.start({
    dataDir,
    genesis,
    seal: true,
    blockTimeMs: 100,
    jsonrpc: { host: '127.0.0.1', port: 0 },
    ws: { host: '127.0.0.1', port: 0 },
    wsLimits: { maxConnections: 8, maxSubscriptions: 4, maxMessageBytes: 64 * 1024 },
    logger: silentLogger(),
  });
  wsUrl = `ws://127.0.0.1:${node.wsAddress!.port}`;
  httpUrl = `http://127.0.0.1:${node.jsonRpcAddress!.port}`;
});
afterEach(async () => {
  for (const c of closeAfter.splice(0)) await c();
});
afterAll(async () => {
  await node?.stop();
});

/** A raw client: sends requests, collects every message it receives. */
async function rawClient(): Promise<{
  ws: WebSocket;
  messages: Record<string, unknown>[];
  request(method: string, params?: unknown[]): Promise<Record<string, unknown>>;
  closed: Promise<number>;
}> {
  const ws = new WebSocket(wsUrl);
  closeAfter.push(() => ws.terminate());
  const messages: Record<string, unknown>[] = [];
  const waiters = new Map<number, (m: Record<string, unknown>) => void>();
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as Record<string, unknown>;
    messages.push(m);
    if (typeof m.id === 'number') waiters.get(m.id)?.(m);
  });
  ws.on('error', () => undefined);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let nextId = 1;
  return {
    ws,
    messages,
    closed,
    request: (method, params = []) =>
      new Promise((resolve) => {
        const id = nextId++;
        waiters.set(id, resolve);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      }),
  };
}

describe('JSON-RPC over WebSocket with real clients', () => {
  it('ethers WebSocketProvider receives new blocks and filtered logs', async () => {
    const provider = new WebSocketProvider(wsUrl, undefined, { staticNetwork: true });
    closeAfter.push(() => provider.destroy());
    expect((await provider.getNetwork()).chainId).toBe(100n);
    const blocks: number[] = [];
    await provider.on('block', (n: number) => blocks.push(n));
    await until(() => blocks.length >= 2, 'two blocks');
    expect(blocks[1]).toBeGreaterThan(blocks[0]!);

    const http = new JsonRpcProvider(httpUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    closeAfter.push(() => http.destroy());
    const wallet = new Wallet(bytesToHex(KEY), http);
    const contract = await new ContractFactory([], bytesToHex(STORAGE_INITCODE), wallet).deploy();
    await contract.waitForDeployment();
    const address = await contract.getAddress();
    const other = await new ContractFactory([], bytesToHex(STORAGE_INITCODE), wallet).deploy();
    await other.waitForDeployment();

    const logs: Log[] = [];
    await provider.on({ address, topics: [bytesToHex(SET_TOPIC)] }, (log: Log) => logs.push(log));
    await (await wallet.sendTransaction({ to: await other.getAddress(), data: word(9n) })).wait(); // other address: filtered out
    await (await wallet.sendTransaction({ to: address, data: word(42n) })).wait();
    await until(() => logs.length >= 1, 'a log');
    expect(logs.map((l) => [l.address, BigInt(l.data)])).toEqual([[address, 42n]]);
  });

  it("viem's webSocket transport watches blocks", async () => {
    const client = createPublicClient({ transport: webSocket(wsUrl) });
    const seen: bigint[] = [];
    const unwatch = client.watchBlocks({ onBlock: (b) => void seen.push(b.number) });
    closeAfter.push(async () => {
      unwatch();
      await (client.transport as unknown as { getRpcClient?: () => Promise<{ close(): void }> }).getRpcClient?.().then((c) => c.close());
    });
    await until(() => seen.length >= 2, 'two blocks from viem');
    expect(seen[1]).toBe(seen[0]! + 1n);
  });
});

describe('WebSocket subscriptions and bounds', () => {
  it('serves the same methods and hostile-input bounds as HTTP', async () => {
    const c = await rawClient();
    expect((await c.request('eth_chainId')).result).toBe('0x64');
    expect(((await c.request('eth_getBlockByNumber', ['banana'])).error as { code: number }).code).toBe(-32602);
    c.ws.send('{oops');
    c.ws.send(`${'['.repeat(100)}${']'.repeat(100)}`);
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: { x: 1 }, method: 'eth_chainId' }));
    await until(() => c.messages.length >= 5, 'three errors');
    const codes = c.messages.slice(2).map((m) => (m.error as { code: number }).code);
    expect(codes).toEqual([-32700, -32600, -32600]);
  });

  it('newHeads notifies each new block; eth_unsubscribe stops it', async () => {
    const c = await rawClient();
    const id = (await c.request('eth_subscribe', ['newHeads'])).result as string;
    expect(id).toMatch(/^0x[1-9a-f][0-9a-f]*$/);
    const heads = () =>
      c.messages.filter((m) => m.method === 'eth_subscription').map((m) => m.params as { subscription: string; result: { number: string; hash: string } });
    await until(() => heads().length >= 2, 'two heads');
    const [a, b] = heads();
    expect(a!.subscription).toBe(id);
    expect(BigInt(b!.result.number)).toBe(BigInt(a!.result.number) + 1n);
    const stored = await node.chain.blockByNumber(BigInt(a!.result.number));
    expect(a!.result.hash).toBe(bytesToHex((await import('../../../src/consensus/ibft/hash.js')).blockHash(stored!.header)));
    expect((await c.request('eth_unsubscribe', [id])).result).toBe(true);
    const n = heads().length;
    const head = node.chain.head.number;
    await until(() => node.chain.head.number >= head + 3n, 'three more blocks');
    expect(heads().length).toBe(n);
    expect((await c.request('eth_unsubscribe', [id])).result).toBe(false);
  });

  it('refuses unknown kinds, filters with a block range, and more subscriptions than the cap', async () => {
    const c = await rawClient();
    expect(((await c.request('eth_subscribe', ['syncingForever'])).error as { code: number }).code).toBe(-32602);
    expect(((await c.request('eth_subscribe', ['logs', { fromBlock: '0x0' }])).error as { code: number }).code).toBe(-32602);
    for (let i = 0; i < 4; i++) expect((await c.request('eth_subscribe', ['newPendingTransactions'])).result).toMatch(/^0x/);
    const over = (await c.request('eth_subscribe', ['newHeads'])).error as { code: number; message: string };
    expect(over.message).toMatch(/too many subscriptions on this connection \(limit 4\)/);
  });

  it('a subscription belongs to its connection: another cannot cancel it', async () => {
    const a = await rawClient();
    const b = await rawClient();
    const id = (await a.request('eth_subscribe', ['newHeads'])).result as string;
    expect((await b.request('eth_unsubscribe', [id])).result).toBe(false);
    expect((await a.request('eth_unsubscribe', [id])).result).toBe(true);
  });

  it('closes a connection whose message exceeds the size limit (1009)', async () => {
    const c = await rawClient();
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: ['x'.repeat(70 * 1024)] }));
    expect(await c.closed).toBe(1009);
    const d = await rawClient();
    expect((await d.request('eth_chainId')).result).toBe('0x64');
  });

  it('refuses connections over the cap with HTTP 503', async () => {
    const open: WebSocket[] = [];
    for (let i = 0; i < 8; i++) open.push((await rawClient()).ws);
    const refused = new WebSocket(wsUrl);
    const status = await new Promise<number>((resolve) =>
      refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).on('error', () => resolve(-1)),
    );
    expect(status).toBe(503);
    for (const ws of open) ws.terminate();
    await until(() => node.wsConnectionCount === 0, 'connections to close');
    expect((await (await rawClient()).request('eth_chainId')).result).toBe('0x64');
  });
});

describe('WebSocket fan-out and node-wide bounds', () => {
  /** A server over a chain that never moves and a pool whose additions the test announces. */
  async function lightServer(host: string, limits: Partial<WsLimits>): Promise<{ url: string; hub: SubscriptionHub; added: (hash: Uint8Array) => void }> {
    let added: (hash: Uint8Array) => void = () => undefined;
    const txpool = {
      onAdded: (l: (hash: Uint8Array) => void) => {
        added = l;
        return () => undefined;
      },
      get: () => undefined,
    } as unknown as TxPool;
    const hub = new SubscriptionHub(new EventEmitter() as unknown as Chain, txpool, silentLogger());
    const server = new WsRpcServer({ dispatcher: new RpcDispatcher({ methods: {}, logger: silentLogger() }), hub, logger: silentLogger(), limits });
    const { port } = await server.listen(host, 0);
    closeAfter.push(async () => {
      await server.close();
      await hub.close();
    });
    return { url: `ws://127.0.0.1:${port}`, hub, added: (h) => added(h) };
  }
  async function open(url: string): Promise<WebSocket | number> {
    const ws = new WebSocket(url);
    closeAfter.push(() => ws.terminate());
    return new Promise((resolve) => {
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
  }
  const subscribe = (ws: WebSocket, id: number, kind = 'newPendingTransactions') =>
    new Promise<Record<string, unknown>>((resolve) => {
      const onMessage = (d: unknown) => {
        const m = JSON.parse(String(d)) as Record<string, unknown>;
        if (m.id !== id) return;
        ws.off('message', onMessage);
        resolve(m);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'eth_subscribe', params: [kind] }));
    });

  it('one client address holds at most maxConnectionsPerAddress connections on a non-loopback listener (HTTP 429); on loopback it is not counted', async () => {
    const exposed = await lightServer('0.0.0.0', { maxConnections: 8, maxConnectionsPerAddress: 3 });
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await open(exposed.url));
    expect(held.every((w) => w instanceof WebSocket)).toBe(true);
    expect(await open(exposed.url)).toBe(429);
    (held[0] as WebSocket).close();
    await until(async () => (await open(exposed.url)) instanceof WebSocket, 'a connection once one of the address closed');
    const local = await lightServer('127.0.0.1', { maxConnections: 8, maxConnectionsPerAddress: 3 });
    for (let i = 0; i < 5; i++) expect(await open(local.url)).toBeInstanceOf(WebSocket);
  });

  it('subscriptions of all connections together are bounded (-32005) and freed when a connection closes', async () => {
    const { url, hub } = await lightServer('127.0.0.1', { maxSubscriptions: 4, maxTotalSubscriptions: 6 });
    const a = (await open(url)) as WebSocket;
    const b = (await open(url)) as WebSocket;
    for (let i = 0; i < 4; i++) expect((await subscribe(a, i)).result).toMatch(/^0x/);
    for (let i = 0; i < 2; i++) expect((await subscribe(b, i)).result).toMatch(/^0x/);
    const refused = (await subscribe(b, 9, 'newHeads')).error as { code: number; message: string };
    expect(refused).toEqual({ code: -32005, message: 'too many subscriptions on this node (limit 6): try again later' });
    a.close();
    await until(() => hub.size === 2, "the closed connection's subscriptions dropped");
    expect((await subscribe(b, 10)).result).toMatch(/^0x/);
  });

  it('a pending transaction to 50 subscriptions of a connection is encoded once and written to its socket at once; each notification arrives', async () => {
    const { url, added } = await lightServer('127.0.0.1', {});
    const ws = (await open(url)) as WebSocket;
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push((await subscribe(ws, i)).result as string);
    const got: { subscription: string; result: string }[] = [];
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { method?: string; params: { subscription: string; result: string } };
      if (m.method === 'eth_subscription') got.push(m.params);
    });
    const stringify = vi.spyOn(JSON, 'stringify');
    const writes = { n: 0 };
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
    const [write, writev] = [proto._write, proto._writev];
    proto._write = function (this: unknown, ...a: unknown[]) {
      writes.n++;
      return write.apply(this, a);
    };
    proto._writev = function (this: unknown, ...a: unknown[]) {
      writes.n++;
      return writev.apply(this, a);
    };
    const hash = Uint8Array.from({ length: 32 }, (_, i) => i);
    try {
      added(hash);
      await until(() => got.length === 50, 'every notification');
      expect(stringify).toHaveBeenCalledTimes(1);
    } finally {
      stringify.mockRestore();
      proto._write = write;
      proto._writev = writev;
    }
    expect(writes.n).toBe(1);
    expect(got.map((p) => p.subscription).sort()).toEqual([...ids].sort());
    expect(new Set(got.map((p) => p.result))).toEqual(new Set([bytesToHex(hash)]));
  });
});

describe('newPendingTransactions fan-out (hostile clients)', () => {
  /** A hub over a chain that never moves and a pool whose additions the test announces. */
  function hub(): { hub: SubscriptionHub; added: (hash: Uint8Array) => void } {
    let added: (hash: Uint8Array) => void = () => undefined;
    const txpool = {
      onAdded: (l: (hash: Uint8Array) => void) => {
        added = l;
        return () => undefined;
      },
      get: () => undefined,
    } as unknown as TxPool;
    const h = new SubscriptionHub(new EventEmitter() as unknown as Chain, txpool, silentLogger());
    closeAfter.push(() => h.close());
    return { hub: h, added: (hash) => added(hash) };
  }
  /** A sink recording what it is sent, by subscription. */
  const recorder = () => {
    const got = new Map<string, string[]>();
    const sink: SubscriptionSink = {
      notify: (id, result) => {
        const list = got.get(id) ?? [];
        got.set(id, list);
        list.push(JSON.parse(result) as string);
      },
    };
    return { sink, got, count: () => [...got.values()].reduce((n, l) => n + l.length, 0) };
  };
  const hash = (i: number) => new Uint8Array(32).fill(i % 256).map((b, j) => (j < 2 ? (i >> (8 * j)) & 0xff : b));

  it('announces a transaction to 8,192 subscriptions after the pool took it, in slices with turns of the event loop between', async () => {
    const { hub: h, added } = hub();
    const sinks = Array.from({ length: 64 }, recorder);
    for (const r of sinks) for (let i = 0; i < 128; i++) h.subscribe(r.sink, { kind: 'newPendingTransactions', full: false });
    const total = () => sinks.reduce((n, r) => n + r.count(), 0);
    added(hash(1));
    expect(total()).toBe(0); // not from within the pool's admission
    let turns = 0;
    const spin = () => {
      turns++;
      if (total() < 8192) setImmediate(spin);
    };
    setImmediate(spin);
    await until(() => total() === 8192, 'every notification');
    expect(turns).toBeGreaterThan(10); // 8,192 notifications in one go took ~7 ms of the loop a transaction
    for (const r of sinks) for (const l of r.got.values()) expect(l).toEqual([bytesToHex(hash(1))]);
  });

  it('sends the transactions of one turn together, in order; a subscription removed meanwhile gets no more', async () => {
    const { hub: h, added } = hub();
    const a = recorder();
    const b = recorder();
    h.subscribe(a.sink, { kind: 'newPendingTransactions', full: false });
    const gone = h.subscribe(b.sink, { kind: 'newPendingTransactions', full: false });
    for (let i = 0; i < 3; i++) added(hash(i));
    h.unsubscribe(b.sink, gone);
    await until(() => a.count() === 3, 'the three');
    expect([...a.got.values()]).toEqual([[0, 1, 2].map((i) => bytesToHex(hash(i)))]);
    expect(b.count()).toBe(0);
  });

  it(`holds at most ${MAX_PENDING_TXS} transactions waiting: past it the oldest are left out`, async () => {
    const { hub: h, added } = hub();
    const r = recorder();
    h.subscribe(r.sink, { kind: 'newPendingTransactions', full: false });
    for (let i = 0; i < MAX_PENDING_TXS + 10; i++) added(hash(i)); // one turn: none sent yet
    await until(() => r.count() === MAX_PENDING_TXS, 'the notifications');
    const [sent] = [...r.got.values()];
    expect(sent![0]).toBe(bytesToHex(hash(10)));
    expect(sent!.at(-1)).toBe(bytesToHex(hash(MAX_PENDING_TXS + 9)));
  });
});
