/** A minimum transfer rate: bytes a second, on average over each window. */
export interface RateFloorLimits {
  /** Bytes per second the other side must keep up, on average over each window (0: no floor). */
  minBytesPerSecond: number;
  /** The window the floor is measured over. The first window is a grace period. */
  windowMs: number;
  /**
   * Bytes one message may carry before it is credited (the stream's largest message): bytes count as
   * each message completes, so a window can end with most of one uncredited. The floor asks this much
   * less of each window (never less than half of it), and an honest side just above it is not cut for
   * where its messages fall.
   */
  slackBytes?: number;
}

/**
 * The floor a party this node serves (a peer fetching a snapshot, an operator API client exporting,
 * snapshotting or importing) must keep by default: 64 KiB/s over each 2 minutes of waiting for it.
 * It streams a 214 MB snapshot (a million accounts) in under an hour, and rides out a stall of a
 * minute and more on a slow link.
 */
export const DEFAULT_SERVE_FLOOR: RateFloorLimits = { minBytesPerSecond: 64 * 1024, windowMs: 120_000 };

/** The window is kept as this many marks at most (bounded memory whatever the other side does). */
const MARKS_PER_WINDOW = 32;

/**
 * The floor one stream's other side must keep, on its clock: only the time spent waiting for it (to
 * send its next bytes, or to take the ones sent) counts, never the time this side spends producing or
 * processing. So a slow disk or CPU here never cuts an honest peer or client, while every second one
 * makes us wait is counted against it. The one rule for every stream a remote party can hold open:
 * snapshots served to peers and fetched from them (`sync/`), exports, snapshots and imports over gRPC.
 *
 * From one window of waiting on, the last window of waiting must have moved at least
 * minBytesPerSecond x window bytes (nothing at all for a window breaks it too). A party that trickles
 * (a byte now and then, a message a minute) is found at the first full window.
 */
export class RateFloor {
  /** Time (ms) waited before the wait in progress. */
  private waited = 0;
  private waitingSince: number | undefined;
  private total = 0;
  /** (waiting time, bytes moved by then), ascending; the first one at or before the window's start. */
  private readonly marks: { at: number; total: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: RateFloorLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limits.minBytesPerSecond > 0) || !(limits.windowMs > 0)) throw new Error('rate floor: the floor and its window must be positive');
  }

  /** The limits as a floor, or undefined when they set none (a rate of 0: off). */
  static of(limits: RateFloorLimits, now?: () => number): RateFloor | undefined {
    return limits.minBytesPerSecond > 0 && limits.windowMs > 0 ? new RateFloor(limits, now) : undefined;
  }

  /** Bytes moved so far. */
  get received(): number {
    return this.total;
  }

  /** Milliseconds spent waiting for the other side so far. */
  peerTime(): number {
    return this.waited + (this.waitingSince === undefined ? 0 : this.now() - this.waitingSince);
  }

  /** This side waits for the other: its clock runs until `arrived`. */
  wait(): void {
    this.waitingSince ??= this.now();
  }

  /**
   * wait(), and call `onBreach` with the reason if the floor breaks before the wait ends (`arrived` or
   * `stop`). At most one watch at a time.
   */
  watch(onBreach: (reason: string) => void): void {
    this.wait();
    clearTimeout(this.timer);
    const arm = () => {
      this.timer = setTimeout(
        () => {
          const why = this.breach();
          if (why === undefined) return arm(); // a timer a little early
          this.timer = undefined;
          onBreach(why);
        },
        Math.max(1, Math.ceil(this.msUntilBreach())),
      );
    };
    arm();
  }

  /** `bytes` moved (0: the wait ended with nothing): the clock stops, a watch ends. */
  arrived(bytes: number): void {
    this.stop();
    this.total += bytes;
    // Marks of the same slice of the window are merged into the later one: bytes are credited a little
    // later than they moved (lenient, by a slice at most), and memory stays bounded.
    const t = this.waited;
    const slice = this.limits.windowMs / MARKS_PER_WINDOW;
    const last = this.marks.at(-1);
    if (last && Math.floor(last.at / slice) === Math.floor(t / slice)) {
      last.at = t;
      last.total = this.total;
    } else this.marks.push({ at: t, total: this.total });
    while (this.marks.length > 1 && this.marks[1]!.at <= t - this.limits.windowMs) this.marks.shift();
  }

  /** The wait ends (the stream is done, or failed otherwise): the clock stops, a watch ends. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waited = this.peerTime();
    this.waitingSince = undefined;
  }

  /** Why the other side is too slow now, or undefined. */
  breach(): string | undefined {
    const t = this.peerTime();
    if (t < this.limits.windowMs) return undefined;
    const inWindow = this.total - this.totalAt(t - this.limits.windowMs);
    if (inWindow < this.floorBytes()) {
      return `${inWindow} bytes in the last ${seconds(this.limits.windowMs)} of waiting, below the floor of ${this.limits.minBytesPerSecond} bytes/s`;
    }
    return undefined;
  }

  /** While waiting: the real milliseconds until breach() holds if nothing more moves. */
  msUntilBreach(): number {
    const t = this.peerTime();
    const w = this.limits.windowMs;
    let at: number;
    // The window's bytes only shrink as it slides on: the first mark whose total leaves too few is when.
    if (this.total < this.floorBytes()) at = w;
    else {
      // Always found: the last mark leaves the window too few bytes (none) once it slides past.
      const m = this.marks.find((x) => this.total - x.total < this.floorBytes())!;
      at = Math.max(w, m.at + w);
    }
    return Math.max(0, at - t);
  }

  private floorBytes(): number {
    const floor = (this.limits.minBytesPerSecond * this.limits.windowMs) / 1000;
    return Math.max(floor / 2, floor - (this.limits.slackBytes ?? 0));
  }

  /** Bytes moved by waiting time `at`. */
  private totalAt(at: number): number {
    let total = 0;
    for (const m of this.marks) {
      if (m.at > at) break;
      total = m.total;
    }
    return total;
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
