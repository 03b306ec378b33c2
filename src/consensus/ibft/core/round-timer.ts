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

/** One pending callback at a time: starting it again replaces the previous one. */
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
      Math.max(0, ms),
    );
  }

  stop(): void {
    if (this.armed) this.timers.clearTimeout(this.handle);
    this.armed = false;
  }
}
