import { performance } from 'node:perf_hooks';

/**
 * Timers the consensus core runs on: the real ones, or a fake clock in tests. `now` is monotonic (ms
 * from an arbitrary origin): what the core measures durations with, never the wall clock, so that its
 * rounds do not depend on clocks agreeing (or on this one being set).
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
};

/** A round's timeout: `baseMs * 2^round`, capped at `maxMs`. */
export function roundTimeoutMs(round: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** Math.min(round, 52), maxMs);
}

/**
 * The longest delay a timer takes: Node runs a longer one (2^31 ms, ~24.8 days, and beyond) after 1 ms
 * instead, with a TimeoutOverflowWarning.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** One pending callback at a time: starting it again replaces the previous one. Delays are clamped to 0…MAX_TIMER_MS. */
export class OneShotTimer {
  private handle: unknown;
  private armed = false;

  constructor(private readonly timers: Timers) {}

  start(ms: number, fn: () => void): void {
    this.stop();
    this.armed = true;
    this.handle = this.timers.setTimeout(
      () => {
        this.armed = false;
        fn();
      },
      // (NaN as 0)
      Math.min(MAX_TIMER_MS, Math.max(0, ms || 0)),
    );
  }

  stop(): void {
    if (this.armed) this.timers.clearTimeout(this.handle);
    this.armed = false;
  }
}
