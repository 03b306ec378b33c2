import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CLOCK_MIN_SAMPLES, CLOCK_TOLERANCE_MS, CLOCK_WARN_EVERY_MS, CLOCK_WINDOW, PeerClock } from '../../../src/chain/peer-clock.js';

const T0 = 1_800_000_000_000;

/** A PeerClock whose wall clock is the true time plus `skewMs`, fed blocks made on the true clock. */
function clockAt(skewMs: number) {
  const t = { now: T0, mono: 0 };
  const lines: { level: number; msg: string; clockOffsetMs?: number }[] = [];
  const clock = new PeerClock({
    wall: () => t.now + skewMs,
    monotonic: () => t.mono,
    logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) }),
  });
  let height = 1n;
  /** A block proposed now (its timestamp the true clock's, floored), arriving `latencyMs` later. */
  const block = (latencyMs = 40, proposerSkewMs = 0) => {
    const ts = BigInt(Math.floor((t.now + proposerSkewMs) / 1000));
    t.now += latencyMs;
    t.mono += latencyMs;
    clock.observe(height, ts, ts - 1n);
    clock.observe(height, ts, ts - 1n, -60_000); // the same height again (a resend, later): not a sample
    height++;
    t.now += 1000 - latencyMs;
    t.mono += 1000 - latencyMs;
  };
  return { clock, t, lines, block };
}

describe("PeerClock: this node's clock against its peers', from block timestamps", () => {
  it('is unknown until enough blocks were seen, then the median of arrival minus timestamp', () => {
    const { clock, block } = clockAt(0);
    for (let i = 1; i < CLOCK_MIN_SAMPLES; i++) block();
    expect(clock.offsetMs).toBeUndefined();
    expect(clock.reading()).toEqual({ offsetMs: undefined, skewed: false });
    expect(clock.peersTime()).toBeUndefined();
    block();
    expect(clock.offsetMs).toBe(40);
    expect(clock.skewed).toBe(false);
  });

  it("a clock 20 s ahead or behind is skewed: now() is then the peers' time; within the tolerance, the node's own clock", () => {
    for (const skew of [20_000, -20_000]) {
      const { clock, t, block, lines } = clockAt(skew);
      for (let i = 0; i < CLOCK_MIN_SAMPLES; i++) block();
      expect(clock.offsetMs).toBe(skew + 40);
      expect(clock.skewed).toBe(true);
      expect(clock.now()).toBe(t.now - 40); // the peers' time, less the travel of a block
      const warn = lines.filter((l) => l.level === 40);
      expect(warn).toHaveLength(1);
      expect(warn[0]!.msg).toMatch(
        new RegExp(`clock is 20\\.0 s ${skew > 0 ? 'ahead of' : 'behind'} its peers'.*more than the 15 s allowed: fix it \\(NTP\\)`),
      );
    }
    const { clock, t, block } = clockAt(CLOCK_TOLERANCE_MS - 1000);
    for (let i = 0; i < CLOCK_MIN_SAMPLES; i++) block();
    expect(clock.skewed).toBe(false);
    expect(clock.now()).toBe(t.now + CLOCK_TOLERANCE_MS - 1000);
    expect(clock.peersTime()).toBe(t.now - 40);
  });

  it('warns again at most once a minute while skewed', () => {
    const { clock, block, lines } = clockAt(30_000);
    for (let i = 0; i < CLOCK_MIN_SAMPLES + 10; i++) block();
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
    for (let i = 0; i < CLOCK_WARN_EVERY_MS / 1000; i++) block();
    expect(lines.filter((l) => l.level === 40)).toHaveLength(2);
    expect(clock.skewed).toBe(true);
  });

  it("one sample per height, heights only forward, and none from a block whose timestamp is its parent's", () => {
    const clock = new PeerClock({ wall: () => T0 });
    const ts = BigInt(T0 / 1000);
    clock.observe(5n, ts - 30n, ts - 31n); // a sample: 30 s
    clock.observe(5n, ts, ts - 1n); // height 5 again: not
    clock.observe(4n, ts, ts - 1n); // lower: not
    clock.observe(6n, ts - 31n, ts - 31n); // held at its parent's timestamp: says nothing of its proposer's clock
    for (let h = 7n; h < 7n + BigInt(CLOCK_MIN_SAMPLES) - 1n; h++) clock.observe(h, ts - 30n, ts - 31n);
    expect(clock.offsetMs).toBe(30_000);
  });

  it('proposers fewer than half of the window cannot move it: a byzantine third with absurd timestamps changes nothing', () => {
    const clock = new PeerClock({ wall: () => T0 });
    const ts = BigInt(T0 / 1000);
    for (let h = 1n; h <= BigInt(CLOCK_WINDOW) * 2n; h++) {
      const byzantine = h % 3n === 0n;
      clock.observe(h, byzantine ? ts + 3600n : ts, ts - 10_000n);
    }
    expect(clock.offsetMs).toBe(0);
    expect(clock.skewed).toBe(false);
  });

  it('is back within the tolerance once its clock is fixed, and says so', () => {
    const t = { skew: 20_000 };
    const lines: { level: number; msg: string }[] = [];
    const clock = new PeerClock({ wall: () => T0 + t.skew, logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) }) });
    const ts = BigInt(T0 / 1000);
    let h = 1n;
    for (; h <= BigInt(CLOCK_WINDOW); h++) clock.observe(h, ts, ts - 1n);
    expect(clock.skewed).toBe(true);
    t.skew = 0; // NTP back
    for (let k = 0; k < CLOCK_WINDOW; k++, h++) clock.observe(h, ts, ts - 1n);
    expect(clock.skewed).toBe(false);
    expect(clock.offsetMs).toBe(0);
    expect(lines.at(-1)!.msg).toMatch(/clock is back within 15 s of its peers'/);
  });
});
