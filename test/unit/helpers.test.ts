import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { reservedPort } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

describe('test helpers', () => {
  it('reservedPort: distinct ports below the range listen(0) hands out, skipping one in use', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const a = await reservedPort();
    const b = await reservedPort();
    expect(a).not.toBe(b);
    for (const p of [a, b]) expect(p).toBeLessThan(low);
    // Someone else holds the port that would come next: it is skipped.
    const held = createServer();
    await new Promise<void>((r) => held.listen(b + 1, '127.0.0.1', r));
    try {
      const c = await reservedPort();
      expect(c).not.toBe(b + 1);
      expect(c).toBeGreaterThan(b);
    } finally {
      await new Promise((r) => held.close(r));
    }
  });

  it('until: returns the first value that is not undefined or false, takes a throw for "not yet", names what timed out', async () => {
    let n = 0;
    expect(
      await until(
        () => {
          n++;
          if (n < 3) throw new Error('not up yet');
          return n < 5 ? false : n;
        },
        'n at 5',
        5_000,
        1,
      ),
    ).toBe(5);
    await expect(until(() => undefined, 'something that never happens', 30, 5)).rejects.toThrow('timed out waiting for something that never happens');
  });
});
