import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Chain } from '../../../src/chain/chain.js';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { MAX_FILTERS_PER_ADDRESS } from '../../../src/rpc/jsonrpc/filters.js';
import type { RpcMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { filterMethods } from '../../../src/rpc/jsonrpc/methods/eth-filters.js';
import { SubscriptionHub } from '../../../src/rpc/jsonrpc/subscriptions.js';
import { WS_UPGRADE_MARGIN, WsRpcServer, type WsLimits } from '../../../src/rpc/jsonrpc/ws-server.js';
import type { TxPool } from '../../../src/txpool/txpool.js';
import { silentLogger } from '../../../src/util/log.js';
import { until } from '../../helpers/until.js';

// WebSocket clients that do not play by the rules: many messages in one write, sockets that never upgrade.
const chain = Object.assign(new EventEmitter(), { head: { number: 0n } }) as unknown as Chain;
const txpool = { onAdded: () => () => undefined } as unknown as TxPool;
const hub = new SubscriptionHub(chain, txpool, silentLogger());
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c(); // clients first: a server's close waits for its connections
});
afterAll(async () => {
  await hub.close();
});

let running = 0;
let most = 0;
const methods: RpcMethods = {
  slow: async () => {
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 20));
    running--;
    return 'done';
  },
  ping: () => 'pong',
  ...filterMethods({ chain, txpool }),
};

async function server(limits: Partial<WsLimits> = {}, host = '127.0.0.1'): Promise<number> {
  const s = new WsRpcServer({ dispatcher: new RpcDispatcher({ methods, logger: silentLogger() }), hub, logger: silentLogger(), limits });
  const { port } = await s.listen(host, 0);
  cleanup.push(() => s.close());
  return port;
}

/** A connection from `from` (another loopback address stands for another client). */
async function tcp(port: number, from = '127.0.0.1'): Promise<Socket> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => undefined);
  cleanup.push(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  return socket;
}

/** A WebSocket client on a raw socket: frames written as the test likes, messages and the close frame parsed. */
async function rawWs(
  port: number,
): Promise<{ socket: Socket; send(texts: string[]): void; messages: string[]; closed: Promise<{ code: number; reason: string }> }> {
  const socket = await tcp(port);
  socket.write(
    `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const messages: string[] = [];
  let buf = Buffer.alloc(0);
  let upgraded = false;
  let onClose: (c: { code: number; reason: string }) => void = () => undefined;
  const closed = new Promise<{ code: number; reason: string }>((r) => (onClose = r));
  socket.once('close', () => onClose({ code: 1006, reason: '' }));
  const open = new Promise<void>((resolve) =>
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve();
      }
      for (;;) {
        if (buf.length < 2) return;
        let len = buf[1]! & 0x7f;
        let at = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          at = 10;
        }
        if (buf.length < at + len) return;
        const payload = buf.subarray(at, at + len);
        const opcode = buf[0]! & 0x0f;
        buf = buf.subarray(at + len);
        if (opcode === 1) messages.push(payload.toString('utf8'));
        if (opcode === 8) onClose({ code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') });
      }
    }),
  );
  await open;
  const frame = (text: string) => {
    const payload = Buffer.from(text);
    const mask = randomBytes(4);
    const head =
      payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
    return Buffer.concat([head, mask, payload.map((b, i) => b ^ mask[i % 4]!)]);
  };
  return { socket, send: (texts) => socket.write(Buffer.concat(texts.map(frame))), messages, closed };
}

const request = (id: number, method: string) => JSON.stringify({ jsonrpc: '2.0', id, method });

describe('requests of one WebSocket connection', () => {
  it('at most maxConcurrentRequests run at once, however many messages come in one write; the rest wait their turn and are all answered', async () => {
    const port = await server({ maxConcurrentRequests: 4 });
    const c = await rawWs(port);
    running = 0;
    most = 0;
    const ids = Array.from({ length: 100 }, (_, i) => i);
    c.send(ids.map((id) => request(id, 'slow')));
    await until(() => c.messages.length === ids.length, 'every answer', 10_000);
    expect(most).toBe(4);
    expect(c.messages.map((m) => (JSON.parse(m) as { id: number }).id).sort((a, b) => a - b)).toEqual(ids);
  });

  it('a connection with more than maxWaitingRequests waiting is closed (1008) with the reason', async () => {
    const port = await server({ maxConcurrentRequests: 2, maxWaitingRequests: 5 });
    const c = await rawWs(port);
    running = 0;
    most = 0;
    c.send(Array.from({ length: 20 }, (_, i) => request(i, 'slow')));
    expect(await c.closed).toEqual({ code: 1008, reason: 'too many requests at once: more than 7; await answers' });
    expect(most).toBeLessThanOrEqual(2);
  });
});

describe('sockets of the WebSocket port below the upgrade', () => {
  /** How many of `sockets` the server has not closed. */
  const openCount = (sockets: Socket[]) => sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
  /** `n` sockets from `from`, each sending an upgrade request it never finishes. */
  async function partialUpgrades(port: number, n: number, from = '127.0.0.1'): Promise<Socket[]> {
    const sockets = await Promise.all(Array.from({ length: n }, () => tcp(port, from)));
    for (const s of sockets) {
      s.on('data', () => undefined).on('end', () => s.destroy());
      s.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
    }
    return sockets;
  }

  it('holds at most maxConnections + a margin of them, closes an upgrade request not finished within upgradeTimeoutMs, and keeps an upgraded connection past it', async () => {
    const port = await server({ maxConnections: 2, upgradeTimeoutMs: 600 });
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    cleanup.push(() => client.terminate());
    await new Promise((r) => client.once('open', r));
    const partial = await partialUpgrades(port, 30);
    await until(() => openCount(partial) <= 2 + WS_UPGRADE_MARGIN - 1, 'the sockets past the bound closed', 300, 20);
    await until(() => openCount(partial) === 0, 'the unfinished upgrades closed', 3000);
    const answer = new Promise<string>((r) => client.once('message', (d) => r(d.toString())));
    client.send(request(1, 'ping'));
    expect(JSON.parse(await answer)).toMatchObject({ id: 1, result: 'pong' });
  });

  it('beyond loopback, one address holds at most maxConnectionsPerAddress + a margin of them; another address still connects', async () => {
    const port = await server({ maxConnections: 100, maxConnectionsPerAddress: 2 }, '0.0.0.0');
    const partial = await partialUpgrades(port, 30);
    await until(() => openCount(partial) <= 2 + WS_UPGRADE_MARGIN, "the address's sockets past its bound closed", 300, 20);
    const other = new WebSocket(`ws://127.0.0.1:${port}`, { localAddress: '127.0.0.2' });
    cleanup.push(() => other.terminate());
    await new Promise((resolve, reject) => other.once('open', resolve).once('error', reject));
  });
});

describe('filters over WebSocket', () => {
  it(`beyond loopback, one address installs at most ${MAX_FILTERS_PER_ADDRESS} filters (-32005); another address still can`, async () => {
    const port = await server({}, '0.0.0.0');
    type Answer = { result?: string; error?: { code: number; message: string } };
    const client = async (from: string) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, { localAddress: from });
      cleanup.push(() => ws.terminate());
      await new Promise((r) => ws.once('open', r));
      return (text: string) => {
        const answer = new Promise<Answer & Answer[]>((r) => ws.once('message', (d) => r(JSON.parse(d.toString()))));
        ws.send(text);
        return answer;
      };
    };
    const heavy = await client('127.0.0.3');
    const all = await heavy(`[${Array.from({ length: MAX_FILTERS_PER_ADDRESS }, (_, i) => request(i, 'eth_newBlockFilter')).join(',')}]`);
    expect(all.every((a) => typeof a.result === 'string')).toBe(true);
    expect((await heavy(request(0, 'eth_newBlockFilter'))).error).toEqual({
      code: -32005,
      message: `too many filters from your address (limit ${MAX_FILTERS_PER_ADDRESS}): uninstall some`,
    });
    expect((await (await client('127.0.0.4'))(request(0, 'eth_newBlockFilter'))).result).toMatch(/^0x/);
  });
});
