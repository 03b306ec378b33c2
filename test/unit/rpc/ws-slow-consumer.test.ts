import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { SubscriptionHub } from '../../../src/rpc/jsonrpc/subscriptions.js';
import { WsRpcServer } from '../../../src/rpc/jsonrpc/ws-server.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { silentLogger } from '../../../src/util/log.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';

let t: TestChain;
let server: WsRpcServer;
let hub: SubscriptionHub;
let url: string;

beforeAll(async () => {
  t = await createTestChain(1);
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

async function connect(): Promise<WebSocket> {
  const ws = new WebSocket(url);
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
