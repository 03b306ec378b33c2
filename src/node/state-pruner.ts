import type { Chain } from '../chain/chain.js';
import type { StateHistoryMode } from '../storage/schema.js';
import { UserError, errorMessage } from '../util/errors.js';
import { event } from '../util/events.js';
import type { Logger } from '../util/log.js';
import { advanceIfUnchanged, pruneStates } from './prune.js';

/** States a node keeps unless told (`--state-history`): geth's 128, ~4 minutes of 2-second blocks. */
export const DEFAULT_STATE_HISTORY = 128n;
/** Blocks between two prunes of a running node (`--state-prune-interval`): each prune walks the head's state once. */
export const DEFAULT_STATE_PRUNE_INTERVAL = 1024n;
/**
 * The least growth of `trie/` that starts a prune before its interval (see StatePruner `growth`): a
 * tiny state under load would otherwise be walked every few blocks.
 */
export const MIN_PRUNE_GROWTH_BYTES = 4 * 1024 * 1024;
/**
 * After a prune, one started by growth waits this many times as long as that prune took, times the
 * share of the time the node's thread was busy before it (at least MIN_BUSY_SHARE). A prune beside a
 * busy import or sealing loop takes seconds (its reads wait their turn); with a spacing of 2, a node
 * sealing as fast as it could lost a quarter of its blocks/s in one run of `npm run bench:prune`
 * (phase load), with 9 none beyond that run's noise. A node with time to spare (a validator's pace:
 * its thread idle most of the time) is not slowed by a prune, and waits that much less.
 */
const GROWTH_PRUNE_SPACING = 9;
/** The least busy share the spacing counts: an idle node still does not prune back to back. */
const MIN_BUSY_SHARE = 0.1;

/**
 * The data dir's state-history mode, from what the operator asked (`--state-history N|all`) and what
 * the data dir recorded, recorded again. A new data dir (only its genesis) and a restored one (it holds
 * no state below its restored head) are pruned by default; one of an earlier version, which kept every
 * state, stays an archive node unless told. A pruned data dir cannot become an archive node: its older
 * states are gone (one line).
 */
export async function resolveStateHistory(chain: Chain, asked: bigint | 'all' | undefined): Promise<StateHistoryMode> {
  const recorded = await chain.store.stateHistory();
  const restored = (await chain.store.stateFrom()) !== undefined;
  let mode: StateHistoryMode;
  if (asked === 'all') {
    if (recorded && 'keep' in recorded) {
      throw new UserError(
        `this data dir is pruned (it keeps the states of its last ${recorded.keep} blocks): it cannot become an archive node, its older states are gone; keep it pruned (--state-history N), or sync a new archive node from the genesis`,
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
 * keeps, pruneStates runs in the background (one at a time) while the node seals, imports and serves.
 * With `growth` (the default interval), a prune also starts sooner, once the blocks committed since
 * the last one wrote as many bytes to `trie/` as the states that prune kept (at least
 * MIN_PRUNE_GROWTH_BYTES; before the first prune of this run, the state size the data dir keeps), and
 * no sooner after the last prune than nine times the time it took, times the share of the time the
 * node was busy before it (GROWTH_PRUNE_SPACING): where prunes are short or the node has time (a
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
  /** No prune started by growth before this time (`performance.now()`). */
  private notBefore = 0;
  /** The event loop's use when the last prune ended (or the pruner started): how busy the node was since. */
  private loopAtLast = performance.eventLoopUtilization();
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
      /** A prune started by growth waits this many times the last prune's time after it, times the busy share (default GROWTH_PRUNE_SPACING). */
      growthSpacing?: number;
      /** The share of the time the node was busy since the last prune (default: the event loop's utilization; tests). */
      busyShare?: () => number;
    },
  ) {
    this.writtenAtLast = chain.trie.writtenBytes;
    chain.on('head', this.onHead);
    this.maybeRun();
  }

  /** Why a prune would start now, if one would. */
  private due(held: bigint): 'interval' | 'growth' | undefined {
    if (held <= this.opts.keep) return undefined; // no state below the window
    if (held >= this.opts.keep + this.opts.interval) return 'interval';
    if (!this.opts.growth || performance.now() < this.notBefore) return undefined;
    const grown = this.chain.trie.writtenBytes - this.writtenAtLast;
    return grown >= Math.max(this.keptBytes ?? 0, this.opts.minGrowthBytes ?? MIN_PRUNE_GROWTH_BYTES) ? 'growth' : undefined;
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
        // in, so a large state is not walked again after only MIN_PRUNE_GROWTH_BYTES written.
        const kept = await this.chain.store.stateSize().catch(() => undefined);
        this.keptBytes = kept ? kept.nodeBytes + kept.codeBytes : 0;
      }
      const why = this.due(this.chain.head.number + 1n - from);
      if (why === undefined) return;
      const startedAt = performance.now();
      // The share of the time since the last prune the node's own work kept its thread busy.
      const busy = this.opts.busyShare?.() ?? performance.eventLoopUtilization(this.loopAtLast).utilization;
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
        const now = performance.now();
        const spacing = (this.opts.growthSpacing ?? GROWTH_PRUNE_SPACING) * Math.max(busy, MIN_BUSY_SHARE) * (now - startedAt);
        this.notBefore = now + spacing;
        this.loopAtLast = performance.eventLoopUtilization();
        this.opts.logger.info(
          event('state.pruned', {
            head: Number(r.head),
            keptFrom: Number(r.keptFrom),
            why,
            deleted: r.deleted,
            keptBytes: r.bytesKept,
            ms: Math.round(performance.now() - startedAt),
            markMs: r.markMs,
            sweepMs: r.sweepMs,
            compactMs: r.compactMs,
            busy: Math.round(busy * 100) / 100,
            spacingMs: Math.round(spacing),
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
  }
}
