/** Timers the consensus core runs on: the real ones, or a fake clock in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
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
    this.handle = this.timers.setTimeout(() => {
      this.armed = false;
      fn();
    }, Math.max(0, ms));
  }

  stop(): void {
    if (this.armed) this.timers.clearTimeout(this.handle);
    this.armed = false;
  }
}
