import { abortable } from '../util/abortable.js';
import { MissingStateError, walkStates } from '../backup/state-walk.js';
import type { Chain } from '../chain/chain.js';
import { DAMAGE_ADVICE } from '../storage/damage.js';
import { dataDirLayout, databaseBytes } from '../storage/data-dir.js';
import { formatDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { openOfflineChain } from './offline.js';

export interface PruneProgress {
  phase: 'mark' | 'sweep';
  /** mark: states walked (of `total`), sweep: keys read. */
  done: number;
  total: number;
  /** mark: trie nodes found so far; sweep: entries deleted so far. */
  count: number;
}

export interface PrunedStates {
  head: bigint;
  /** The oldest block whose state is kept. */
  keptFrom: bigint;
  statesKept: number;
  nodesKept: number;
  codesKept: number;
  /** Bytes of keys and values the kept states hold (each node or code once). */
  bytesKept: number;
  keysScanned: number;
  deleted: number;
  /** Time in each phase: marking the kept states, waiting for the reads under way and sweeping, compacting. */
  markMs: number;
  sweepMs: number;
  compactMs: number;
}

export interface PruneReport extends PrunedStates {
  dataDir: string;
  /** trie/ on disk before and after (after LevelDB's compaction). */
  bytesBefore: number;
  bytesAfter: number;
  durationMs: number;
}

/**
 * Prune a stopped node's `trie/` to the states of its last `keep` blocks (geth's offline prune-state):
 * pruneStates on the data dir opened here, then the bytes before and after.
 */
export async function pruneDataDir(dir: string, opts: { keep?: bigint; onProgress?: (p: PruneProgress) => void }): Promise<PruneReport> {
  const began = Date.now();
  if (opts.keep !== undefined && opts.keep < 1n) throw new UserError("--state-history must keep at least 1 state (the head's)");
  const layout = dataDirLayout(dir);
  const bytesBefore = databaseBytes(layout.trie);
  const { chain, close } = await openOfflineChain(dir);
  let r: PrunedStates;
  try {
    // Unless told, what the data dir keeps (a node's --state-history, recorded): never fewer states
    // than its node keeps on an operator's word it did not give; an archive, the default window.
    checkStateFrom((await chain.store.stateFrom()) ?? 0n, chain.head.number); // before anything is written
    const mode = await chain.store.stateHistory();
    const keep = opts.keep ?? (mode !== undefined && 'keep' in mode ? mode.keep : DEFAULT_STATE_HISTORY);
    // From now on the node keeps this many (a server started without --state-history goes on pruning):
    // recorded before anything is deleted, so a prune killed part-way is never taken for an archive.
    await chain.store.writeStateHistory({ keep });
    r = await pruneStates(chain, { ...opts, keep });
    await chain.store.takePrunerGrowth(); // counted toward a prune that has now run
  } finally {
    await close();
  }
  return { dataDir: layout.root, ...r, bytesBefore, bytesAfter: databaseBytes(layout.trie), durationMs: Date.now() - began };
}

/**
 * No state above the head exists to keep: a StateFrom record there is damage, and a walk from it would
 * mark nothing and sweep every node.
 */
function checkStateFrom(stateFrom: bigint, head: bigint): void {
  if (stateFrom > head)
    throw new UserError(
      `the data dir's StateFrom record (block ${stateFrom}) is above its head (block ${head}): it is damaged, nothing pruned; ${DAMAGE_ADVICE}`,
      {
        code: 'DATA_LOSS',
      },
    );
}

/**
 * The longest a prune waits for the reads of state that began before its StateFrom record (step 4 of
 * pruneStates). With the default limits every read ends within seconds (`--rpc-evm-timeout` 5 s); only
 * a read the operator left unbounded runs longer, and the prune is then given up and tried again later,
 * not left waiting for it with every later prune held behind it.
 */
const READS_WAIT_MS = 60_000;

/** States a node keeps unless told (`--state-history`): geth's 128, ~4 minutes of 2-second blocks. */
export const DEFAULT_STATE_HISTORY = 128n;

export interface UnchangedStates {
  head: bigint;
  /** The new StateFrom: the oldest block whose state is kept. */
  keptFrom: bigint;
  /** Blocks below it whose state roots were read (each one a kept state's root). */
  checked: number;
}

/**
 * A prune that could delete nothing, told apart before it walks the state: when every block from
 * StateFrom up to the window of the last `keep` has the state root of a block in that window (an idle
 * chain's empty blocks leave its state as it was), the states below the window are the kept ones and
 * no trie node is theirs alone. Then the window moves (StateFrom is recorded, as a prune would) and the
 * result says so; otherwise undefined, after reading up to the first root the window does not hold.
 * What no state reaches at all (a block executed and never committed) waits for the next real prune.
 * At a million accounts a prune's walk is ~45 s of a core: an idle network would spend it every
 * `--state-prune-interval` blocks, and a node started on a long idle history at once, for nothing.
 */
export async function advanceIfUnchanged(chain: Chain, opts: { keep: bigint; signal?: AbortSignal }): Promise<UnchangedStates | undefined> {
  const head = chain.head.number;
  const stateFrom = (await chain.store.stateFrom()) ?? 0n;
  const keptFrom = head + 1n > opts.keep ? head + 1n - opts.keep : 0n;
  if (keptFrom <= stateFrom) return undefined;
  // Read by range: on a long idle history (the first prune of a node started on one) this is ~100,000
  // blocks below the window, two point reads each before.
  async function* roots(from: bigint, to: bigint): AsyncGenerator<string> {
    for await (const { number, root } of chain.store.canonicalStateRoots(from, to)) {
      if ((number & 1023n) === 0n) opts.signal?.throwIfAborted();
      if (!root) throw new UserError(`block ${number} is missing from the canonical chain: run \`basalt db check\``, { code: 'DATA_LOSS' });
      yield Buffer.from(root).toString('hex');
    }
  }
  const kept = new Set<string>();
  for await (const root of roots(keptFrom, head)) kept.add(root);
  for await (const root of roots(stateFrom, keptFrom - 1n)) if (!kept.has(root)) return undefined;
  opts.signal?.throwIfAborted();
  await chain.store.writeStateFrom(keptFrom);
  return { head, keptFrom, checked: Number(keptFrom - stateFrom) };
}

/**
 * Delete every trie node and code the states of the chain's last `keep` blocks do not reach, by mark
 * and sweep, while the chain goes on (a running node's pruner) or not (`basalt prune`):
 * 1. record every key the chain writes from now on (TrieNodeStore.watchWrites), then take a read view;
 * 2. mark what the kept states of that view reach (walkStates: the head's state whole, each older one
 *    below nodes not marked yet);
 * 3. record the oldest state kept (`StateFrom`): from here on the states below are refused;
 * 4. wait for the JSON-RPC reads of state that began before (chain.readers), which may read older ones,
 *    at most READS_WAIT_MS: past it the prune fails and deletes nothing;
 * 5. sweep the keys the view saw, deleting those neither marked nor written since, each batch checked
 *    again and deleted under the chain's write lock (a block committed meanwhile may write one back),
 *    then compact.
 * What a block commits after the view is never deleted; what a read view (export, snapshot, backup)
 * opened before reads stays in its LevelDB snapshot. A crash at any point leaves every kept state whole.
 */
export async function pruneStates(
  chain: Chain,
  opts: {
    keep: bigint;
    onProgress?: (p: PruneProgress) => void;
    signal?: AbortSignal;
    /** How long the sweep waits for the reads of state under way (default READS_WAIT_MS; tests). */
    readsWaitMs?: number;
  },
): Promise<PrunedStates> {
  // Together, with no block being committed: a commit writes its trie nodes, then the batch that moves
  // the head; a view taken between the two would hold the new nodes but not the head that reaches them,
  // and the watch would have missed them.
  let result: Omit<PrunedStates, 'compactMs'>;
  const began = Date.now();
  const { watch, view } = await chain.exclusive(async () => ({ watch: chain.trie.watchWrites(), view: chain.openPruneView() }));
  try {
    const headHash = await view.blocks.headHash();
    const head = headHash && (await view.blocks.blockNumber(headHash));
    if (!headHash || head === undefined) throw new UserError('the chain has no head block', { code: 'FAILED_PRECONDITION' });
    const stateFrom = (await chain.store.stateFrom()) ?? 0n;
    checkStateFrom(stateFrom, head);
    let keptFrom = head + 1n > opts.keep ? head + 1n - opts.keep : 0n;
    if (keptFrom < stateFrom) keptFrom = stateFrom;
    const total = Number(head - keptFrom + 1n);
    let marked;
    try {
      marked = await walkStates(
        view.state,
        async (n) => {
          const root = await view.blocks.canonicalStateRoot(n);
          if (!root) throw new UserError(`block ${n} is missing from the canonical chain: run \`basalt db check\``, { code: 'DATA_LOSS' });
          return root;
        },
        keptFrom,
        head,
        { ...(opts.signal ? { signal: opts.signal } : {}), onState: (done, _, count) => opts.onProgress?.({ phase: 'mark', done, total, count }) },
      );
    } catch (err) {
      if (!(err instanceof MissingStateError)) throw err;
      throw new UserError(`${err.message}: run \`basalt db check --full\` before pruning`, { code: 'DATA_LOSS', cause: err });
    }
    const { nodes, codes, states: statesKept, bytes: bytesKept } = marked;
    const marking = Date.now() - began;
    // The record first: from here on the states below keptFrom are refused, whatever the sweep leaves of them.
    if (keptFrom > stateFrom) await chain.store.writeStateFrom(keptFrom);
    // A read still running after the bound may be on a state below keptFrom, whose nodes the sweep would
    // delete under it (a missing node reads as empty: a wrong answer): this prune deletes nothing then,
    // and the record stays (the states below it are refused already, and are still whole).
    const readsWaitMs = opts.readsWaitMs ?? READS_WAIT_MS;
    if (!(await abortable(chain.readers.drain(readsWaitMs), opts.signal)))
      throw new UserError(
        `a read of state has run for more than ${formatDuration(readsWaitMs)} (an eth_call or a debug trace without a limit: --rpc-evm-timeout 0): nothing deleted, the states below block ${keptFrom} are refused from now on`,
        { code: 'FAILED_PRECONDITION' },
      );
    const swept = await chain.trie.sweep(
      { node: (h) => nodes.has(h) || watch.node(h), code: (h) => codes.has(h) || watch.code(h) },
      {
        view: view.state,
        locked: (fn) => chain.exclusive(fn),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (scanned, deleted) => opts.onProgress?.({ phase: 'sweep', done: scanned, total: 0, count: deleted }),
      },
    );
    result = {
      head,
      keptFrom,
      statesKept,
      nodesKept: nodes.size,
      codesKept: codes.size,
      bytesKept,
      keysScanned: swept.scanned,
      deleted: swept.deleted,
      markMs: marking,
      sweepMs: Date.now() - began - marking,
    };
  } finally {
    await view.close();
    watch.stop();
  }
  // With the view closed: LevelDB keeps what a live snapshot can still see, and gives back nothing.
  // Not when stopping: a compaction of the whole trie/ cannot be cut short, and a stop should not wait
  // for it (LevelDB compacts on its own later, and the next prune compacts again).
  if (opts.signal?.aborted) return { ...result, compactMs: 0 };
  const compacting = Date.now();
  await chain.trie.compact();
  return { ...result, compactMs: Date.now() - compacting };
}
