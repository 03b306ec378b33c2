import { RateFloor, seconds, type RateFloorLimits } from '../util/rate-floor.js';

/** How fast a peer must serve a snapshot: a floor, measured over a sliding window of waiting (the first after the answer is the grace period). */
export type SnapshotPaceLimits = RateFloorLimits;

/**
 * 256 KiB/s over 30 s. An honest peer produces its snapshot while the stream runs (LevelDB reads, the
 * state walk, zstd): ~1.2 MB/s for a state-heavy snapshot on the 2-core reference machine, less while it
 * seals and serves, so the floor leaves it a margin of ~4x; a 30 s window rides out a stall (GC, a
 * LevelDB compaction, retransmissions on a lossy WAN link) of 20 s and more on a 10 Mbit/s link. A peer
 * that trickles (512 bytes every 20 s) is dropped 30 s after its answer, one that sends nothing at all
 * likewise. A snapshot announced at 1 GiB may take at most 68 min of waiting (plus two windows).
 */
export const DEFAULT_SNAPSHOT_PACE: SnapshotPaceLimits = { minBytesPerSecond: 256 * 1024, windowMs: 30_000 };

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
 * - the floor (RateFloor, the rule every stream a remote party holds open keeps): from one window
 *   on, the last window of waiting must have brought at least minBytesPerSecond x window bytes
 *   (nothing at all for a window breaks it too);
 * - the budget, where the peer announced a bound (not an estimate: protocol version 5): all of the
 *   announced size within announced / minBytesPerSecond + 2 windows of waiting. A stream that keeps the floor ends within announced / floor + 1 window (it brings
 *   floor x (t - window) bytes by time t, and never more than announced: more is a ban of its own), so
 *   the budget is what the floor already promises, with one window of slack for the marks' rounding.
 */
export class SnapshotPace {
  private readonly floor: RateFloor;
  readonly budgetMs: number;

  /** `announced`: the bound the peer announced; undefined for an estimate (the floor alone then). */
  constructor(
    readonly announced: number | undefined,
    private readonly limits: SnapshotPaceLimits,
    now: () => number = () => performance.now(),
  ) {
    this.floor = new RateFloor(limits, now);
    this.budgetMs = announced === undefined ? Number.POSITIVE_INFINITY : (announced / limits.minBytesPerSecond) * 1000 + 2 * limits.windowMs;
  }

  /** Milliseconds this peer has made the restore wait so far. */
  peerTime(): number {
    return this.floor.peerTime();
  }

  /** The restore asks for more: the peer's clock runs until bytes arrive. */
  wait(): void {
    this.floor.wait();
  }

  /** `bytes` arrived: the peer's clock stops. */
  arrived(bytes: number): void {
    this.floor.arrived(bytes);
  }

  /** Why the peer is too slow now, or undefined. */
  breach(): string | undefined {
    const t = this.peerTime();
    if (t > this.budgetMs) {
      return `${this.floor.received} of its announced ${this.announced} bytes after ${seconds(t)} of waiting, over the ${seconds(this.budgetMs)} that size gets at the floor of ${this.limits.minBytesPerSecond} bytes/s`;
    }
    return this.floor.breach();
  }

  /** While waiting: the real milliseconds until breach() holds if nothing more arrives. */
  msUntilBreach(): number {
    // Finite without a budget too: the floor always breaks once its last bytes slide out of the window.
    return Math.min(Math.max(0, this.budgetMs + 1 - this.peerTime()), this.floor.msUntilBreach());
  }
}
