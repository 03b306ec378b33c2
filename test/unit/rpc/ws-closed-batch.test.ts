import { EventEmitter } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Chain } from '../../../src/chain/chain.js';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { SubscriptionHub } from '../../../src/rpc/jsonrpc/subscriptions.js';
import { WsRpcServer } from '../../../src/rpc/jsonrpc/ws-server.js';
import type { TxPool } from '../../../src/txpool/txpool.js';
import { silentLogger } from '../../../src/util/log.js';
import { until } from '../../helpers/until.js';

/**
 * A batch whose connection closes while it runs: the subscriptions it asks for after the close would
 * belong to a connection whose subscriptions were already dropped, and would never be removed.
 */
const chain = new EventEmitter() as unknown as Chain;
const txpool = { onAdded: () => () => undefined } as unknown as TxPool;
const hub = new SubscriptionHub(chain, txpool, silentLogger());
let slowDone = 0;
const dispatcher = new RpcDispatcher({
  methods: {
    slow: async () => {
      await new Promise((r) => setTimeout(r, 300));
      slowDone++;
      return 'done';
    },
  },
  logger: silentLogger(),
});
const server = new WsRpcServer({ dispatcher, hub, logger: silentLogger() });

afterAll(async () => {
  await server.close();
  await hub.close();
});

describe('eth_subscribe in a batch whose connection closed', () => {
  it('subscribes nothing: the hub holds no subscription once the batch has run', async () => {
    const { port } = await server.listen('127.0.0.1', 0);
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((r) => ws.once('open', r));
    const batch = [
      { jsonrpc: '2.0', id: 0, method: 'slow' },
      ...Array.from({ length: 5 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'eth_subscribe', params: ['newHeads'] })),
    ];
    ws.send(JSON.stringify(batch));
    ws.close(); // while `slow` runs
    await until(() => slowDone === 1, 'the batch ran');
    await new Promise((r) => setTimeout(r, 100));
    expect(hub.size).toBe(0);
    // and on an open connection they are made
    const ws2 = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((r) => ws2.once('open', r));
    const answer = new Promise<string>((r) => ws2.once('message', (d) => r(d.toString())));
    ws2.send(JSON.stringify(batch));
    expect(JSON.parse(await answer)).toHaveLength(6);
    expect(hub.size).toBe(5);
    ws2.close();
    await until(() => hub.size === 0, 'dropped with its connection');
  });
});

describe('an answer larger than a WebSocket client may hold unread', () => {
  it('is an error for that request (-32005), and the client stays connected', async () => {
    const big = new RpcDispatcher({ methods: { big: () => 'x'.repeat(17 * 1024 * 1024), ping: () => 'pong' }, logger: silentLogger() });
    const s = new WsRpcServer({ dispatcher: big, hub, logger: silentLogger() });
    const { port } = await s.listen('127.0.0.1', 0);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      await new Promise((r) => ws.once('open', r));
      const next = () =>
        new Promise<{ id: number; result?: string; error?: { code: number; message: string } }>((r) => ws.once('message', (d) => r(JSON.parse(d.toString()))));
      let answer = next();
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'big' }));
      expect(await answer).toMatchObject({ id: 7, error: { code: -32005 } });
      answer = next();
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'ping' }));
      expect(await answer).toMatchObject({ id: 8, result: 'pong' });
      ws.close();
    } finally {
      await s.close();
    }
  });
});
