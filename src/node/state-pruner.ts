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
 * Stopping the node aborts one under way: what it deleted was dead, what it kept is whole.
 */
export class StatePruner {
  private running?: Promise<void>;
  /** After a failure, no new try before this head (a failing prune is not repeated every block). */
  private retryAt = 0n;
  private readonly abort = new AbortController();
  private readonly onHead = () => this.maybeRun();

  constructor(
    private readonly chain: Chain,
    private readonly opts: { keep: bigint; interval: bigint; logger: Logger },
  ) {
    chain.on('head', this.onHead);
    this.maybeRun();
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
      if (this.chain.head.number + 1n - from < this.opts.keep + this.opts.interval) return;
      const began = Date.now();
      try {
        const unchanged = await advanceIfUnchanged(this.chain, { keep: this.opts.keep, signal: this.abort.signal });
        if (unchanged) {
          this.opts.logger.info(
            event('state.prune-skipped', {
              head: Number(unchanged.head),
              keptFrom: Number(unchanged.keptFrom),
              checked: unchanged.checked,
              ms: Date.now() - began,
            }),
            'nothing to prune: the older states are the same as the kept ones',
          );
          return;
        }
        const r = await pruneStates(this.chain, { keep: this.opts.keep, signal: this.abort.signal });
        this.opts.logger.info(
          event('state.pruned', {
            head: Number(r.head),
            keptFrom: Number(r.keptFrom),
            deleted: r.deleted,
            ms: Date.now() - began,
            markMs: r.markMs,
            sweepMs: r.sweepMs,
            compactMs: r.compactMs,
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
