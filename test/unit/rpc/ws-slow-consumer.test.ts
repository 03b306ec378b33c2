import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { SubscriptionHub } from '../../../src/rpc/jsonrpc/subscriptions.js';
import { WsRpcServer, type WsLimits } from '../../../src/rpc/jsonrpc/ws-server.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { silentLogger } from '../../../src/util/log.js';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, privateToAddress } from '@ethereumjs/util';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { assemble, deployer } from '../../helpers/evm-asm.js';
import { until } from '../../helpers/until.js';

const KEY = testKey(52);
/** Pays the pending-transaction test's transactions (never mined). */
const PAYER = testKey(53);
let t: TestChain;
let server: WsRpcServer;
let hub: SubscriptionHub;
let url: string;

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(KEY), addressOf(PAYER)]);
  const txpool = new TxPool(t.chain);
  hub = new SubscriptionHub(t.chain, txpool, silentLogger());
  server = new WsRpcServer({
    dispatcher: new RpcDispatcher({ methods: ethMethods({ chain: t.chain, txpool }), logger: silentLogger() }),
    hub,
    logger: silentLogger(),
    limits: { maxSubscriptions: 100, maxQueuedBytes: 256 * 1024, maxQueuedMessages: 1000 },
  });
  url = `ws://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`;
});
afterAll(async () => {
  await server?.close();
  await hub?.close();
  await t?.close();
});

async function connect(to = url): Promise<WebSocket> {
  const ws = new WebSocket(to);
  ws.on('error', () => undefined);
  await new Promise((resolve) => ws.once('open', resolve));
  return ws;
}

async function subscribeNewHeads(ws: WebSocket, times: number): Promise<void> {
  const answers = new Promise<void>((resolve) => {
    let n = 0;
    const onMessage = () => {
      if (++n === times) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
  });
  for (let i = 0; i < times; i++) ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_subscribe', params: ['newHeads'] }));
  await answers;
}

describe('a WebSocket client that does not read', () => {
  it('is dropped once its queue passes the bound, while blocks keep coming and other clients keep receiving', async () => {
    const slow = await connect();
    const healthy = await connect();
    await subscribeNewHeads(slow, 100);
    await subscribeNewHeads(healthy, 1);
    let healthyHeads = 0;
    healthy.on('message', () => healthyHeads++);
    // Stop reading: the socket buffers fill (kernel, then the server's own queue) and stay full.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    expect(server.connectionCount).toBe(2);

    const start = t.chain.head.number;
    let sealed = 0;
    while (server.connectionCount > 1 && sealed < 2000) {
      await sealNext(t); // would hang or fail if publishing waited for the slow client
      sealed++;
    }
    expect(server.connectionCount).toBe(1);
    expect(hub.size).toBe(1); // the slow client's 100 subscriptions are gone, the healthy one's remains
    expect(t.chain.head.number).toBe(start + BigInt(sealed));
    for (let i = 0; i < 3; i++) await sealNext(t);
    // The healthy client got every head, including those after the drop.
    await new Promise((r) => setTimeout(r, 200));
    expect(healthyHeads).toBe(sealed + 3);
    healthy.terminate();
    slow.terminate();
  });
});

describe('a WebSocket client that reads', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  /** A server with the default limits (1,000 messages, 16 MiB), its hub and pool; closed after the test. */
  async function defaultServer(limits?: Partial<WsLimits>): Promise<{ url: string; hub: SubscriptionHub; pool: TxPool; server: WsRpcServer }> {
    const pool = new TxPool(t.chain);
    const h = new SubscriptionHub(t.chain, pool, silentLogger());
    const s = new WsRpcServer({
      dispatcher: new RpcDispatcher({ methods: ethMethods({ chain: t.chain, txpool: pool }), logger: silentLogger() }),
      hub: h,
      logger: silentLogger(),
      ...(limits ? { limits } : {}),
    });
    const at = `ws://127.0.0.1:${(await s.listen('127.0.0.1', 0)).port}`;
    cleanup.push(async () => {
      await s.close();
      await h.close();
    });
    return { url: at, hub: h, pool, server: s };
  }
  /** Subscribe `times` times; resolves with a counter of the notifications received after. */
  async function subscribe(ws: WebSocket, times: number, params: unknown[]): Promise<{ notes: () => number; closed: () => boolean }> {
    let answers = 0;
    let notes = 0;
    let closed = false;
    ws.on('close', () => (closed = true));
    ws.on('message', (m) => (String(m).includes('eth_subscription') ? notes++ : answers++));
    for (let i = 0; i < times; i++) ws.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_subscribe', params }));
    await until(() => answers === times, 'the subscriptions');
    return { notes: () => notes, closed: () => closed };
  }
  let nonce = 0n;
  const fees = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n };
  const sign = (o: { to?: string; data?: Uint8Array; gasLimit: bigint; value?: bigint }) =>
    createFeeMarket1559Tx({ nonce: nonce++, ...fees, ...o, to: o.to as `0x${string}` | undefined }, { common: t.chain.commonAt(t.chain.head.number) }).sign(
      KEY,
    );

  it('is kept through a synchronous burst of more than 1,000 messages (11 transactions to 100 pending-transaction subscriptions), and gets them all', async () => {
    const { url: at, hub: h, pool } = await defaultServer();
    const ws = await connect(at);
    cleanup.push(() => ws.terminate());
    const sub = await subscribe(ws, 100, ['newPendingTransactions']);
    let payerNonce = 0n;
    const pay = () =>
      createFeeMarket1559Tx(
        { nonce: payerNonce++, ...fees, to: addressOf(testKey(7)) as `0x${string}`, gasLimit: 21_000n, value: 1n },
        { common: t.chain.commonAt(1n) },
      ).sign(PAYER);
    await pool.add(pay()); // the sender's account is read: the adds below need no I/O
    await until(() => sub.notes() === 100, 'the first notifications');
    await Promise.all(Array.from({ length: 11 }, () => pool.add(pay()))); // one run of the event loop: 1,100 messages
    await until(() => sub.notes() === 1200 || sub.closed(), 'every notification');
    expect(sub.closed()).toBe(false);
    expect(h.size).toBe(100);
  });

  it('over a slow link (the socket takes each write 300 ms late) is kept through a burst of more than 1,000 messages, and gets them all', async () => {
    const { url: at, hub: h, pool, server: s } = await defaultServer();
    const ws = await connect(at);
    cleanup.push(() => ws.terminate());
    const sub = await subscribe(ws, 100, ['newPendingTransactions']);
    // The server's side of the connection: each write's callback (the kernel took it) 300 ms late, as
    // on a link whose send buffer fills. Bytes stay far below the 16 MiB bound.
    for (const c of (s as unknown as { connections: Set<{ ws: WebSocket }> }).connections) {
      const send = c.ws.send.bind(c.ws);
      c.ws.send = ((data: string, cb?: (err?: Error) => void) => send(data, (err?: Error) => setTimeout(() => cb?.(err), 300))) as never;
    }
    let payerNonce = 0n;
    const pay = () =>
      createFeeMarket1559Tx(
        { nonce: payerNonce++, ...fees, to: addressOf(testKey(8)) as `0x${string}`, gasLimit: 21_000n, value: 1n },
        { common: t.chain.commonAt(1n) },
      ).sign(PAYER);
    await pool.add(pay());
    await until(() => sub.notes() === 100, 'the first notifications');
    await Promise.all(Array.from({ length: 11 }, () => pool.add(pay()))); // 1,100 messages, taken 300 ms late
    await until(() => sub.notes() === 1200 || sub.closed(), 'every notification');
    await new Promise((r) => setTimeout(r, 500)); // past the callbacks and the turn-of-the-loop check
    expect(sub.closed()).toBe(false);
    expect(h.size).toBe(100);
  });

  it('whose socket takes none of its messages past the message bound for queueStallMs is dropped, though its bytes are few', async () => {
    const { url: at, pool, server: s } = await defaultServer({ maxQueuedMessages: 10, queueStallMs: 200 });
    const ws = await connect(at);
    cleanup.push(() => ws.terminate());
    const sub = await subscribe(ws, 20, ['newPendingTransactions']);
    // The server's side: no write is ever reported taken (a reader that stopped, a link that died).
    for (const c of (s as unknown as { connections: Set<{ ws: WebSocket }> }).connections) c.ws.send = (() => undefined) as never;
    let payerNonce = 0n;
    await pool.add(
      createFeeMarket1559Tx(
        { nonce: payerNonce++, ...fees, to: addressOf(testKey(9)) as `0x${string}`, gasLimit: 21_000n, value: 1n },
        { common: t.chain.commonAt(1n) },
      ).sign(PAYER),
    ); // 20 notifications, none taken
    await until(() => sub.closed(), 'the drop');
  });

  it('with a logs subscription is kept through a block of 1,500 logs, and gets every one', async () => {
    const { url: at } = await defaultServer();
    // Emits 1,500 empty LOG0s.
    const RUNTIME = assemble([
      { push: 1500n },
      { label: 'top' },
      'DUP1',
      'ISZERO',
      { ref: 'end' },
      'JUMPI',
      { push: 0n },
      { push: 0n },
      { data: Uint8Array.of(0xa0) },
      { push: 1n },
      { data: Uint8Array.of(0x90, 0x03) },
      { ref: 'top' },
      'JUMP',
      { label: 'end' },
      'STOP',
    ]);
    const emitter = bytesToHex(generateAddress(privateToAddress(KEY), nonce === 0n ? new Uint8Array(0) : Uint8Array.of(Number(nonce))));
    await sealNext(t, [sign({ data: deployer(RUNTIME), gasLimit: 300_000n })]);
    const ws = await connect(at);
    cleanup.push(() => ws.terminate());
    const sub = await subscribe(ws, 1, ['logs', { address: emitter }]);
    await sealNext(t, [sign({ to: emitter, gasLimit: 2_000_000n })]);
    await until(() => sub.notes() === 1500 || sub.closed(), 'every log');
    expect(sub.closed()).toBe(false);
  });
});
