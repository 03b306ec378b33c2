import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createHost, type Host } from '../../../src/p2p/host.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
});

async function bareHost(): Promise<Host> {
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
  cleanup.push(() => Promise.resolve(host.stop()));
  return host;
}

const PROTOCOL = '/basalt-test/flood/1';
const CHUNK = 64 * 1024;
const TOTAL = 48 * 1024 * 1024;

describe('yamux receive windows (p2p/yamux-window.ts)', () => {
  it('a sender faster than its reader gets one window ahead of it, not the whole stream; nothing is lost', async () => {
    const server = await bareHost();
    let sent = 0;
    await server.handle(PROTOCOL, ({ stream }) => {
      void stream.sink(
        (async function* () {
          const chunk = new Uint8Array(CHUNK).fill(7);
          while (sent < TOTAL) {
            sent += CHUNK;
            yield chunk;
          }
        })(),
      );
    });
    const client = await bareHost();
    const stream = await client.dialProtocol(server.getMultiaddrs()[0]!, PROTOCOL);
    const source = stream.source[Symbol.asyncIterator]();
    // A slow reader: a chunk every 10 ms for 2 s. What the sender got ahead of it is what waits unread here.
    let received = 0;
    let ahead = 0;
    const slowUntil = Date.now() + 2000;
    while (Date.now() < slowUntil) {
      received += (await source.next()).value!.byteLength;
      ahead = Math.max(ahead, sent - received);
      await new Promise((r) => setTimeout(r, 10));
    }
    // yamux's largest window is 16 MiB; the sink may hold a chunk or two beyond what yamux let out.
    expect(ahead).toBeLessThanOrEqual(16 * 1024 * 1024 + 4 * CHUNK);
    expect(received).toBeGreaterThan(0);
    for (;;) {
      const r = await source.next();
      if (r.done) break;
      received += r.value.byteLength;
      if (received >= TOTAL) break;
    }
    expect(received).toBe(TOTAL);
  }, 30_000);
});
