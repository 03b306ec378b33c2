import { describe, expect, it } from 'vitest';
import { SnapshotPace } from '../../../src/sync/snapshot-pace.js';

/** A pace on a fake clock: floor 1,000 bytes/s over 1 s windows unless told otherwise. */
function paced(announced: number | 'estimate' = 1_000_000, limits = { minBytesPerSecond: 1000, windowMs: 1000 }) {
  let now = 0;
  const pace = new SnapshotPace(announced === 'estimate' ? undefined : announced, limits, () => now);
  return {
    pace,
    /** Let `ms` pass, the restore waiting for the peer (its clock runs). */
    waitFor(ms: number) {
      pace.wait();
      now += ms;
    },
    /** Let `ms` pass without waiting (the restore busy with what it has). */
    busyFor(ms: number) {
      now += ms;
    },
  };
}

describe('snapshot pace (the floor and the budget, on the peer clock)', () => {
  it('a peer that sends nothing breaks the floor exactly one window after its answer (the grace), not before', () => {
    const p = paced();
    p.waitFor(999);
    expect(p.pace.breach()).toBeUndefined();
    expect(p.pace.msUntilBreach()).toBe(1);
    p.waitFor(1);
    expect(p.pace.breach()).toMatch(/^0 bytes in the last 1\.0 s of waiting, below the floor of 1000 bytes\/s$/);
  });

  it('a trickle (512 bytes, then a byte now and then) breaks it at the first full window', () => {
    const p = paced();
    p.waitFor(10);
    p.pace.arrived(512);
    for (let i = 0; i < 9; i++) {
      p.waitFor(100);
      p.pace.arrived(1);
    }
    expect(p.pace.breach()).toBeUndefined(); // 0.91 s of waiting: still the grace window
    p.waitFor(90);
    expect(p.pace.breach()).toMatch(/^521 bytes in the last/);
  });

  it('a peer that keeps the floor passes; one a little below it fails at a window boundary', () => {
    const ok = paced();
    const slow = paced();
    for (let i = 0; i < 50; i++) {
      ok.waitFor(100);
      ok.pace.arrived(100); // 1,000 bytes/s
      slow.waitFor(100);
      slow.pace.arrived(90); // 900 bytes/s
      expect(ok.pace.breach()).toBeUndefined();
    }
    expect(slow.pace.breach()).toMatch(/^900 bytes in the last 1\.0 s/);
  });

  it("time the restore spends on what it has is not the peer's: only waiting counts", () => {
    const p = paced();
    p.waitFor(500);
    p.pace.arrived(2000);
    p.busyFor(60_000); // verifying and writing for a minute: the stream is pulled, the peer held back
    expect(p.pace.peerTime()).toBe(500);
    expect(p.pace.breach()).toBeUndefined();
    p.waitFor(400);
    p.pace.arrived(1000);
    expect(p.pace.breach()).toBeUndefined();
  });

  it('the budget: the announced size at the floor plus two windows of waiting, whatever the pace', () => {
    // 2,000 bytes announced at 1,000 bytes/s: 2 s + 2 windows = 4 s. (The stream itself refuses more
    // than announced; the pace holds the time.)
    const p = paced(2000);
    expect(p.pace.budgetMs).toBe(4000);
    for (let i = 0; i < 40; i++) {
      p.waitFor(100);
      p.pace.arrived(100);
    }
    expect(p.pace.breach()).toBeUndefined();
    p.waitFor(1);
    expect(p.pace.breach()).toMatch(/^4000 of its announced 2000 bytes after 4\.0 s of waiting, over the 4\.0 s that size gets at the floor/);
  });

  it('an estimate (protocol version 5) gives no budget: a stream at the floor goes on past any size, the floor still holds', () => {
    const p = paced('estimate');
    expect(p.pace.budgetMs).toBe(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 10_000; i++) {
      p.waitFor(100);
      p.pace.arrived(100);
      const ms = p.pace.msUntilBreach();
      if (!Number.isFinite(ms) || ms > 1000) throw new Error(`msUntilBreach ${ms} after ${i} arrivals`);
    }
    expect(p.pace.breach()).toBeUndefined();
    p.waitFor(1000);
    expect(p.pace.breach()).toMatch(/below the floor of 1000 bytes\/s$/);
  });

  it('msUntilBreach is exactly when breach() starts to hold, for any history of arrivals', () => {
    // Random waits and arrivals; after each, a replay of the same history then waits ms by ms without
    // bytes: the first breaching ms is the one predicted.
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const limits = { minBytesPerSecond: 1000, windowMs: 400 };
    for (let run = 0; run < 40; run++) {
      const history: [number, number][] = [];
      const p = paced(10_000_000, limits);
      for (let i = 0; i < 30; i++) {
        history.push([rand(120), rand(300)]);
        p.waitFor(history.at(-1)![0]);
        p.pace.arrived(history.at(-1)![1]);
        if (p.pace.breach()) break;
        const predicted = p.pace.msUntilBreach();
        const replay = paced(10_000_000, limits);
        for (const [ms, bytes] of history) {
          replay.waitFor(ms);
          replay.pace.arrived(bytes);
        }
        let ms = 0;
        while (!replay.pace.breach()) {
          replay.waitFor(1);
          ms++;
        }
        expect(ms).toBe(Math.ceil(predicted));
      }
    }
  });

  it('memory is bounded whatever the peer sends (a million one-byte messages)', () => {
    const p = paced(10_000_000, { minBytesPerSecond: 1, windowMs: 1000 });
    for (let i = 0; i < 1_000_000; i++) {
      p.waitFor(0.01);
      p.pace.arrived(1);
    }
    expect((p.pace as unknown as { floor: { marks: unknown[] } }).floor.marks.length).toBeLessThanOrEqual(34);
    expect(p.pace.breach()).toBeUndefined();
  });
});
