import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVE_FLOOR, RateFloor } from '../../../src/util/rate-floor.js';

/**
 * A stream at `kibPerSecond` of messages of `messageBytes`, the producer taking `produceMs` before
 * each (not the other side's time), on a fake clock: where the floor cuts it, or 'ok' after an hour.
 */
function run(kibPerSecond: number, messageBytes: number, slackBytes?: number, produceMs = 50): string {
  let now = 0;
  const floor = new RateFloor({ ...DEFAULT_SERVE_FLOOR, ...(slackBytes !== undefined ? { slackBytes } : {}) }, () => now);
  const perMessageMs = (messageBytes / (kibPerSecond * 1024)) * 1000;
  while (now < 3_600_000) {
    now += produceMs;
    floor.wait();
    for (let w = 0; w < perMessageMs; w += 100) {
      now += Math.min(100, perMessageMs - w);
      if (floor.breach()) return `cut at ${Math.round(now / 1000)} s`;
    }
    floor.arrived(messageBytes);
  }
  return 'ok';
}

describe('RateFloor', () => {
  it('does not cut a side just above the floor for where its large messages fall in the window, given the largest message as slack', () => {
    const MiB = 1024 * 1024;
    for (const kib of [64, 66, 68, 70]) expect(run(kib, MiB, MiB), `${kib} KiB/s`).toBe('ok');
    // well below the floor it still is cut, in the first window after the grace one
    expect(run(40, MiB, MiB)).toMatch(/^cut at \d+ s$/);
    expect(run(32, 64 * 1024)).toMatch(/^cut at \d+ s$/);
  });
});
