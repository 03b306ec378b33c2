import { performance } from 'node:perf_hooks';
import { MAX_FUTURE_SECONDS } from './errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { event } from '../util/events.js';

/**
 * How far this node's clock may be from its peers' before it counts as skewed: the future-block
 * allowance (15 s, geth's). Within it a node's own clock is used as it is.
 */
export const CLOCK_TOLERANCE_MS = Number(MAX_FUTURE_SECONDS) * 1000;
/** Recent blocks the offset is the median of. */
export const CLOCK_WINDOW = 31;
/** Blocks needed before the offset is known (one per height, from different proposers in turn). */
export const CLOCK_MIN_SAMPLES = 5;
/** While skewed, the warning is repeated at most this often. */
export const CLOCK_WARN_EVERY_MS = 60_000;

/** What `status` and the metrics show of the clock. */
export interface ClockReading {
  /** This node's clock minus its peers', in ms (positive: ahead); undefined until CLOCK_MIN_SAMPLES blocks were seen. */
  offsetMs: number | undefined;
  /** |offset| > CLOCK_TOLERANCE_MS: block timestamps are taken from the peers' time (now()). */
  skewed: boolean;
}

export interface PeerClockOptions {
  /** This node's wall clock (ms since the epoch). */
  wall?: () => number;
  /** A monotonic clock (ms): only for rate-limiting the warning. */
  monotonic?: () => number;
  logger?: Logger;
}

/**
 * This node's clock against its peers', measured from block timestamps. A sample is a block another
 * validator has just made, as it arrives (a proposal, or a block a peer announces as its new head,
 * checked before it counts): the local time it arrived minus its header timestamp. The offset is the
 * median of the last CLOCK_WINDOW samples: between 0 and about +1 s where clocks agree (a timestamp is
 * in whole seconds, taken when the block is built, and the block travels), +20 s on a node whose clock
 * is 20 s ahead. One sample per height (the first), heights only forward, and only a block whose
 * timestamp is above its parent's: one equal to its parent's was held there by the chain, not read
 * from its proposer's clock. A byzantine validator proposes at most its share of the heights, fewer
 * than a third, so it cannot move the median.
 *
 * `now()` is the clock block timestamps are taken from and compared with (what to propose, how far
 * ahead a block may be, when a proposal is due): this node's own clock while it is within the
 * tolerance of its peers', as measured; beyond it (an NTP failure), its own clock corrected by the
 * offset, i.e. its peers' time. Otherwise a validator 20 s ahead proposes blocks every other
 * validator must hold for 5 s (so its turns end in round changes), and one 20 s behind holds every
 * block the others make and falls behind. The node says so (a warning, repeated every minute, and
 * `status`) until its clock is fixed. Since the estimate comes from the chain's own timestamps, a node
 * whose clock is right never corrects it (its offset stays within the tolerance) and the chain's time
 * stays anchored to the validators whose clocks agree.
 */
export class PeerClock {
  private readonly samples: number[] = [];
  private lastHeight = -1n;
  private median: number | undefined;
  private lastWarn = -Infinity;
  private warned = false;
  private readonly wall: () => number;
  private readonly monotonic: () => number;
  private readonly log: Logger;

  constructor(opts: PeerClockOptions = {}) {
    this.wall = opts.wall ?? Date.now;
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.log = opts.logger ?? silentLogger();
  }

  /**
   * A block of `height` just made by another validator arrived `agoMs` ago (measured on a monotonic
   * clock: now, or when it was announced): a sample, unless its timestamp is not above its parent's or
   * a sample of this height or a later one was taken. The caller vouches that the block is genuine
   * (its proposer's seal, or a quorum's).
   */
  observe(height: bigint, timestamp: bigint, parentTimestamp: bigint, agoMs = 0): void {
    if (height <= this.lastHeight || timestamp <= parentTimestamp) return;
    this.lastHeight = height;
    this.samples.push(this.wall() - agoMs - Number(timestamp) * 1000);
    if (this.samples.length > CLOCK_WINDOW) this.samples.shift();
    this.median = this.samples.length >= CLOCK_MIN_SAMPLES ? medianOf(this.samples) : undefined;
    this.report();
  }

  /** This node's clock minus its peers' (ms), once known. */
  get offsetMs(): number | undefined {
    return this.median;
  }

  /** Whether this node's clock is further from its peers' than the tolerance. */
  get skewed(): boolean {
    return this.median !== undefined && Math.abs(this.median) > CLOCK_TOLERANCE_MS;
  }

  /** Whether the offset is known (enough samples). */
  get measured(): boolean {
    return this.median !== undefined;
  }

  /** The time block timestamps are taken from and compared with (ms since the epoch): see the class. */
  now(): number {
    const t = this.wall();
    return this.skewed ? t - this.median! : t;
  }

  /**
   * The peers' time as measured: this node's clock minus the offset, whether or not beyond the
   * tolerance; undefined until measured. For what must not trust this node's clock at all (the IBFT
   * recall guard asks whether a block was proposed after this process started).
   */
  peersTime(): number | undefined {
    return this.median === undefined ? undefined : this.wall() - this.median;
  }

  reading(): ClockReading {
    return { offsetMs: this.median === undefined ? undefined : Math.round(this.median), skewed: this.skewed };
  }

  private report(): void {
    const skewed = this.skewed;
    if (skewed) {
      const t = this.monotonic();
      if (this.warned && t - this.lastWarn < CLOCK_WARN_EVERY_MS) return;
      this.warned = true;
      this.lastWarn = t;
      const off = this.median!;
      this.log.warn(
        event('clock.skewed', { clockOffsetMs: Math.round(off), toleranceMs: CLOCK_TOLERANCE_MS, blocks: this.samples.length }),
        `this node's clock is ${formatOffset(off)} ${off > 0 ? 'ahead of' : 'behind'} its peers' (the median over recent blocks' timestamps), more than the ${CLOCK_TOLERANCE_MS / 1000} s allowed: fix it (NTP); until then block timestamps here follow the peers' time`,
      );
    } else if (this.warned) {
      this.warned = false;
      this.log.info(
        event('clock.recovered', { clockOffsetMs: Math.round(this.median ?? 0) }),
        `this node's clock is back within ${CLOCK_TOLERANCE_MS / 1000} s of its peers'`,
      );
    }
  }
}

/** "20.3 s" */
export function formatOffset(ms: number): string {
  return `${(Math.abs(ms) / 1000).toFixed(1)} s`;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
