import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Chain } from '../chain/chain.js';
import type { StateHistoryMode } from '../storage/schema.js';
import { UserError, errorMessage } from '../util/errors.js';
import { event } from '../util/events.js';
import type { Logger } from '../util/log.js';
import { advanceIfUnchanged, DEFAULT_STATE_HISTORY, pruneStates } from './prune.js';

export { DEFAULT_STATE_HISTORY };
/** Blocks between two prunes of a running node (`--state-prune-interval`): each prune walks the head's state once. */
export const DEFAULT_STATE_PRUNE_INTERVAL = 1024n;
/**
 * The least growth of `trie/` that starts a prune before its interval (see StatePruner `growth`): a
 * tiny state under load would otherwise be walked every few blocks.
 */
export const MIN_PRUNE_GROWTH_BYTES = 4 * 1024 * 1024;
/**
 * After a prune, the next (started by growth, or by the default interval: INTERVAL_SPACING_CAP) waits this many times as long as that prune took, times the
 * share of the time the node's thread has been busy since it ended (its event loop's utilization over
 * the wait itself; at least MIN_BUSY_SHARE). A prune beside a busy import or sealing loop takes seconds
 * (its reads wait their turn); with a spacing of 2, a node sealing as fast as it could lost a quarter
 * of its blocks/s in one run of `npm run bench:prune` (phase load), with 9 none beyond that run's
 * noise. A node with time to spare (a validator's pace: its thread idle most of the time) is not
 * slowed by a prune, and waits that much less.
 */
const GROWTH_PRUNE_SPACING = 9;
/**
 * The least busy share the spacing counts (prunes then take at most ~27% of the time). The event loop's
 * utilization does not see LevelDB's own threads: an import bound by its reads and writes looks idle
 * there, so the share is not trusted below this.
 */
const MIN_BUSY_SHARE = 0.3;
/**
 * With the default interval, a prune the interval asks for waits for the spacing too (at a million
 * accounts and 10 blocks/s a prune beside the load took 87-108 s, so one every 1,024 blocks ran most
 * of the time and sealing fell 9% behind), but no longer than until the chain holds this many
 * intervals of states beyond the kept ones.
 */
const INTERVAL_SPACING_CAP = 4n;

/**
 * The data dir's state-history mode, from what the operator asked (`--state-history N|all`) and what
 * the data dir recorded, recorded again. A new data dir (only its genesis) and a restored one (it holds
 * no state below its restored head) are pruned by default; one of an earlier version, which kept every
 * state, stays an archive node unless told. A pruned or restored data dir cannot become an archive
 * node: its older states are gone (one line).
 */
export async function resolveStateHistory(chain: Chain, asked: bigint | 'all' | undefined): Promise<StateHistoryMode> {
  const recorded = await chain.store.stateHistory();
  const stateFrom = await chain.store.stateFrom();
  const restored = stateFrom !== undefined;
  let mode: StateHistoryMode;
  if (asked === 'all') {
    // A data dir restored at a block, or pruned by a `basalt prune` of before StateHistory, records
    // StateFrom and no mode: its states below StateFrom are gone as surely (StateFrom 0, a restore at
    // the genesis, has none below). One already recorded as an archive is left one: refusing it now
    // would stop a node that starts today.
    const pruned =
      recorded && 'keep' in recorded
        ? `it keeps the states of its last ${recorded.keep} blocks`
        : recorded === undefined && stateFrom !== undefined && stateFrom > 0n
          ? `it holds the states from block ${stateFrom} on: restored or pruned there`
          : undefined;
    if (pruned) {
      throw new UserError(
        `this data dir is pruned (${pruned}): it cannot become an archive node, its older states are gone; keep it pruned (--state-history N), or sync a new archive node from the genesis`,
        { code: 'FAILED_PRECONDITION' },
      );
    }
    mode = { archive: true };
  } else if (asked !== undefined) mode = { keep: asked };
  else if (recorded) mode = recorded;
  else if (chain.head.number === 0n || restored) mode = { keep: DEFAULT_STATE_HISTORY };
  else mode = { archive: true };
  await chain.store.writeStateHistory(mode);
  return mode;
}

/**
 * A running node's state pruning: after a block, when the chain holds `interval` states more than it
 * keeps (with `growth`: once spaced, below), pruneStates runs in the background (one at a time) while
 * the node seals, imports and serves. With `growth` (the default interval), a prune also starts sooner, once the blocks committed since
 * the last one wrote as many bytes to `trie/` as the states that prune kept (at least
 * MIN_PRUNE_GROWTH_BYTES; before the first prune of this run, the state size the data dir keeps); and
 * either waits, after the last prune, nine times the time it took, times the share of the time the
 * node has been busy since (GROWTH_PRUNE_SPACING; the interval's at most INTERVAL_SPACING_CAP
 * intervals): where prunes are short or the node has time (a
 * validator's pace), the dead nodes stay about the size of the live ones, at the cost of one walk of
 * the kept states per that many bytes written. Stopping the node aborts a prune under way: what it
 * deleted was dead, what it kept is whole.
 */
export class StatePruner {
  private running?: Promise<void>;
  /** After a failure, no new try before this head (a failing prune is not repeated every block). */
  private retryAt = 0n;
  /** `chain.trie.writtenBytes` when the last prune began (its watch keeps what is written from then on). */
  private writtenAtLast: number;
  /** What the last prune kept, in bytes (before the first: the kept StateSize's): the growth that starts the next one. */
  private keptBytes?: number;
  /** The last prune of this run: when it ended (`performance.now()`), how long it took, and the event loop's use then. */
  private last?: { endedAt: number; ms: number; loop: EventLoopUtilization };
  private readonly abort = new AbortController();
  private readonly onHead = () => this.maybeRun();

  constructor(
    private readonly chain: Chain,
    private readonly opts: {
      keep: bigint;
      interval: bigint;
      logger: Logger;
      growth?: boolean;
      /** The least growth that starts a prune (default MIN_PRUNE_GROWTH_BYTES). */
      minGrowthBytes?: number;
      /** With `growth`, a prune waits this many times the last prune's time after it, times the busy share (default GROWTH_PRUNE_SPACING). */
      growthSpacing?: number;
      /** The share of the time the node has been busy since the last prune ended (default: the event loop's utilization; tests). */
      busyShare?: () => number;
    },
  ) {
    this.writtenAtLast = chain.trie.writtenBytes;
    chain.on('head', this.onHead);
    this.maybeRun();
  }

  /**
   * Since the last prune ended: the share of the time the node has been busy (bounded to
   * [MIN_BUSY_SHARE, 1]; 1 if it cannot be told) and the spacing that share asks of the next prune
   * (with `growth`). Nothing before the first prune of this run.
   */
  private pace(): { busy: number; spacingMs: number } | undefined {
    if (this.last === undefined) return undefined;
    const share = this.opts.busyShare?.() ?? performance.eventLoopUtilization(this.last.loop).utilization;
    const busy = Number.isFinite(share) ? Math.min(1, Math.max(share, MIN_BUSY_SHARE)) : 1;
    return { busy, spacingMs: (this.opts.growthSpacing ?? GROWTH_PRUNE_SPACING) * busy * this.last.ms };
  }

  /**
   * Why a prune would start now, if one would. A fixed interval (`--state-prune-interval`) is kept as
   * asked; with the default one (`growth`), a prune waits for the spacing after the last one, the
   * interval's no longer than INTERVAL_SPACING_CAP intervals.
   */
  private due(held: bigint): 'interval' | 'growth' | undefined {
    if (held <= this.opts.keep) return undefined; // no state below the window
    const { keep, interval } = this.opts;
    if (!this.opts.growth) return held >= keep + interval ? 'interval' : undefined;
    if (held >= keep + INTERVAL_SPACING_CAP * interval) return 'interval';
    // The cheap conditions first: the busy share is read only when a prune would otherwise start.
    const grown = this.chain.trie.writtenBytes - this.writtenAtLast;
    const why =
      held >= keep + interval ? 'interval' : grown >= Math.max(this.keptBytes ?? 0, this.opts.minGrowthBytes ?? MIN_PRUNE_GROWTH_BYTES) ? 'growth' : undefined;
    return why !== undefined && this.spaced() ? why : undefined;
  }

  /** Whether the spacing after the last prune of this run has passed (no prune yet: it has). */
  private spaced(): boolean {
    const pace = this.pace();
    return pace === undefined || performance.now() - this.last!.endedAt >= pace.spacingMs;
  }

  /** The last prune under way, if any (tests). */
  get current(): Promise<void> | undefined {
    return this.running;
  }

  private maybeRun(): void {
    if (this.running || this.abort.signal.aborted) return;
    this.running = (async () => {
      const from = (await this.chain.store.stateFrom()) ?? 0n;
      if (this.chain.head.number < this.retryAt) return;
      if (this.keptBytes === undefined && this.opts.growth) {
        // A restarted node has not marked yet: the head state's size as last measured (StateSize) stands
        // in, so a large state is not walked again after only MIN_PRUNE_GROWTH_BYTES written; and what
        // the blocks before its stop wrote still counts toward the next prune (PrunerGrowth).
        const kept = await this.chain.store.stateSize().catch(() => undefined);
        this.keptBytes = kept ? kept.nodeBytes + kept.codeBytes : 0;
        this.writtenAtLast -= await this.chain.store.takePrunerGrowth().catch(() => 0);
      }
      const why = this.due(this.chain.head.number + 1n - from);
      if (why === undefined) return;
      const startedAt = performance.now();
      const pace = this.pace();
      const writtenBefore = this.chain.trie.writtenBytes;
      try {
        const unchanged = await advanceIfUnchanged(this.chain, { keep: this.opts.keep, signal: this.abort.signal });
        if (unchanged) {
          this.opts.logger.info(
            event('state.prune-skipped', {
              head: Number(unchanged.head),
              keptFrom: Number(unchanged.keptFrom),
              checked: unchanged.checked,
              ms: Math.round(performance.now() - startedAt),
            }),
            'nothing to prune: the older states are the same as the kept ones',
          );
          return;
        }
        // Counted from here: the prune's watch keeps every node written from now on. (A skip above
        // leaves the growth counted, the window's blocks' nodes included.)
        this.writtenAtLast = writtenBefore;
        const r = await pruneStates(this.chain, { keep: this.opts.keep, signal: this.abort.signal });
        this.keptBytes = r.bytesKept;
        const endedAt = performance.now();
        const took = endedAt - startedAt;
        this.last = { endedAt, ms: took, loop: performance.eventLoopUtilization() };
        this.opts.logger.info(
          event('state.pruned', {
            head: Number(r.head),
            keptFrom: Number(r.keptFrom),
            why,
            deleted: r.deleted,
            keptBytes: r.bytesKept,
            ms: Math.round(took),
            markMs: r.markMs,
            sweepMs: r.sweepMs,
            compactMs: r.compactMs,
            ...(pace ? { busy: Math.round(pace.busy * 100) / 100, spacingMs: Math.round(pace.spacingMs) } : {}),
          }),
          'pruned the states of older blocks',
        );
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.retryAt = this.chain.head.number + this.opts.interval;
        this.opts.logger.warn(event('state.prune-failed', { err: errorMessage(err) }), `state pruning failed; it is tried again at block ${this.retryAt}`);
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  async stop(): Promise<void> {
    this.chain.off('head', this.onHead);
    this.abort.abort(new Error('the node is stopping'));
    await this.running;
    // What the blocks since the last prune wrote, for the next start to go on counting (a hint: a
    // failure to record it costs at most a later prune).
    if (this.opts.growth && this.keptBytes !== undefined) {
      const grown = this.chain.trie.writtenBytes - this.writtenAtLast;
      if (grown > 0) await this.chain.store.writePrunerGrowth(grown).catch(() => undefined);
    }
  }
}
