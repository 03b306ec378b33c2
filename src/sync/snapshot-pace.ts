/** How fast a peer must serve a snapshot: a floor, measured over a sliding window of waiting. */
export interface SnapshotPaceLimits {
  /** Bytes per second a peer must keep up, on average over each window. */
  minBytesPerSecond: number;
  /** The window the floor is measured over. The first window after the answer is the grace period. */
  windowMs: number;
}

/**
 * 256 KiB/s over 30 s. An honest peer produces its snapshot while the stream runs (LevelDB reads, the
 * state walk, zstd): ~1.2 MB/s for a state-heavy snapshot on the 2-core reference machine, less while it
 * seals and serves, so the floor leaves it a margin of ~4x; a 30 s window rides out a stall (GC, a
 * LevelDB compaction, retransmissions on a lossy WAN link) of 20 s and more on a 10 Mbit/s link. A peer
 * that trickles (512 bytes every 20 s) is dropped 30 s after its answer, one that sends nothing at all
 * likewise. A snapshot announced at 1 GiB may take at most 68 min of waiting (plus two windows).
 */
export const DEFAULT_SNAPSHOT_PACE: SnapshotPaceLimits = { minBytesPerSecond: 256 * 1024, windowMs: 30_000 };

/** The window is kept as this many marks at most (bounded memory whatever the peer sends). */
const MARKS_PER_WINDOW = 32;

/** A peer served its snapshot below the floor, or not within the budget its announced size gives. */
export class SlowSnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlowSnapshotError';
  }
}

/**
 * The pace of one snapshot stream, on the peer's clock: only the time the restore spends waiting for
 * the peer's next bytes counts, never the time it spends verifying and writing what it has (the
 * stream is pulled: yamux flow control holds the peer meanwhile). So a slow disk or CPU here never
 * gets an honest peer banned, while every second a peer makes us wait is counted against it.
 *
 * Two limits, both from the peer's answer on:
 * - the floor: from one window on, the last window of waiting must have brought at least
 *   minBytesPerSecond x window bytes (nothing at all for a window breaks it too);
 * - the budget, where the peer announced a bound (not an estimate: protocol version 5): all of the
 *   announced size within announced / minBytesPerSecond + 2 windows of waiting. A stream that keeps the floor ends within announced / floor + 1 window (it brings
 *   floor x (t - window) bytes by time t, and never more than announced: more is a ban of its own), so
 *   the budget is what the floor already promises, with one window of slack for the marks' rounding.
 */
export class SnapshotPace {
  /** Peer time (ms) accumulated before the wait in progress. */
  private waited = 0;
  private waitingSince: number | undefined;
  private received = 0;
  /** (peer time, bytes received by then), ascending; the first one at or before the window's start. */
  private readonly marks: { at: number; total: number }[] = [];
  readonly budgetMs: number;

  /** `announced`: the bound the peer announced; undefined for an estimate (the floor alone then). */
  constructor(
    readonly announced: number | undefined,
    private readonly limits: SnapshotPaceLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limits.minBytesPerSecond > 0) || !(limits.windowMs > 0)) throw new Error('snapshot pace: the floor and its window must be positive');
    this.budgetMs = announced === undefined ? Number.POSITIVE_INFINITY : (announced / limits.minBytesPerSecond) * 1000 + 2 * limits.windowMs;
  }

  /** Milliseconds this peer has made the restore wait so far. */
  peerTime(): number {
    return this.waited + (this.waitingSince === undefined ? 0 : this.now() - this.waitingSince);
  }

  /** The restore asks for more: the peer's clock runs until bytes arrive. */
  wait(): void {
    this.waitingSince ??= this.now();
  }

  /** `bytes` arrived: the peer's clock stops. */
  arrived(bytes: number): void {
    const t = this.peerTime();
    this.waited = t;
    this.waitingSince = undefined;
    this.received += bytes;
    // Marks of the same slice of the window are merged into the later one: a peer is credited with
    // bytes a little later than they came (lenient, by a slice at most), and memory stays bounded.
    const slice = this.limits.windowMs / MARKS_PER_WINDOW;
    const last = this.marks.at(-1);
    if (last && Math.floor(last.at / slice) === Math.floor(t / slice)) {
      last.at = t;
      last.total = this.received;
    } else this.marks.push({ at: t, total: this.received });
    while (this.marks.length > 1 && this.marks[1]!.at <= t - this.limits.windowMs) this.marks.shift();
  }

  /** Why the peer is too slow now, or undefined. */
  breach(): string | undefined {
    const t = this.peerTime();
    if (t > this.budgetMs) {
      return `${this.received} of its announced ${this.announced} bytes after ${seconds(t)} of waiting, over the ${seconds(this.budgetMs)} that size gets at the floor of ${this.limits.minBytesPerSecond} bytes/s`;
    }
    if (t < this.limits.windowMs) return undefined;
    const inWindow = this.received - this.totalAt(t - this.limits.windowMs);
    if (inWindow < this.floorBytes()) {
      return `${inWindow} bytes in the last ${seconds(this.limits.windowMs)} of waiting, below the floor of ${this.limits.minBytesPerSecond} bytes/s`;
    }
    return undefined;
  }

  /** While waiting: the real milliseconds until breach() holds if nothing more arrives. */
  msUntilBreach(): number {
    const t = this.peerTime();
    const w = this.limits.windowMs;
    let at = this.budgetMs + 1;
    // The window's bytes only shrink as it slides on: the first mark whose total leaves too few is when.
    if (this.received < this.floorBytes()) at = Math.min(at, w);
    else {
      const m = this.marks.find((x) => this.received - x.total < this.floorBytes());
      if (m) at = Math.min(at, Math.max(w, m.at + w));
    }
    // Finite without a budget too: the last mark always leaves the window too few bytes once it slides past.
    return Math.max(0, at - t);
  }

  private floorBytes(): number {
    return (this.limits.minBytesPerSecond * this.limits.windowMs) / 1000;
  }

  /** Bytes received by peer time `at`. */
  private totalAt(at: number): number {
    let total = 0;
    for (const m of this.marks) {
      if (m.at > at) break;
      total = m.total;
    }
    return total;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
