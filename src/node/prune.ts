import { bytesToHex } from '@ethereumjs/util';
import { stateItems } from '../backup/state-walk.js';
import { dataDirLayout, databaseBytes } from '../storage/data-dir.js';
import { UserError } from '../util/errors.js';
import { HashSet } from '../util/hash-set.js';
import { openOfflineChain } from './offline.js';

export interface PruneProgress {
  phase: 'mark' | 'sweep';
  /** mark: states walked (of `total`), sweep: keys read. */
  done: number;
  total: number;
  /** mark: trie nodes found so far; sweep: entries deleted so far. */
  count: number;
}

export interface PruneReport {
  dataDir: string;
  head: bigint;
  /** The oldest block whose state is kept. */
  keptFrom: bigint;
  statesKept: number;
  nodesKept: number;
  codesKept: number;
  keysScanned: number;
  deleted: number;
  /** trie/ on disk before and after (after LevelDB's compaction). */
  bytesBefore: number;
  bytesAfter: number;
  durationMs: number;
}

/**
 * Prune a stopped node's `trie/` to the states of its last `keep` blocks (geth's offline prune-state,
 * done by mark and sweep). Mark: every trie node and code the kept states reach, walking the head's
 * state first and each older one only below the nodes not marked yet (consecutive states share all but
 * what a block changed), into sets of 16 bytes a member (HashSet: the memory of a state walk). Then the
 * data dir records the oldest state it keeps (`StateFrom`), and only then the sweep deletes everything
 * else, in batches, and compacts trie/. A crash at any point leaves every kept state whole: before the
 * record nothing was deleted; after it, the states below it are refused as pruned, whatever is left of
 * them. A second prune finds nothing more to delete.
 */
export async function pruneDataDir(dir: string, opts: { keep: bigint; onProgress?: (p: PruneProgress) => void }): Promise<PruneReport> {
  const began = Date.now();
  if (opts.keep < 1n) throw new UserError("--state-history must keep at least 1 state (the head's)");
  const layout = dataDirLayout(dir);
  const bytesBefore = databaseBytes(layout.trie);
  const r = await markAndSweep(dir, opts);
  return { dataDir: layout.root, ...r, bytesBefore, bytesAfter: databaseBytes(layout.trie), durationMs: Date.now() - began };
}

async function markAndSweep(
  dir: string,
  opts: { keep: bigint; onProgress?: (p: PruneProgress) => void },
): Promise<Omit<PruneReport, 'dataDir' | 'bytesBefore' | 'bytesAfter' | 'durationMs'>> {
  const { chain, close } = await openOfflineChain(dir);
  try {
    const head = chain.head.number;
    const stateFrom = (await chain.store.stateFrom()) ?? 0n;
    let keptFrom = head + 1n > opts.keep ? head + 1n - opts.keep : 0n;
    if (keptFrom < stateFrom) keptFrom = stateFrom;
    const nodes = new HashSet();
    const codes = new HashSet();
    const total = Number(head - keptFrom + 1n);
    let statesKept = 0;
    const skip = async (kind: 'nodes' | 'code', hashes: Uint8Array[]) => hashes.map((h) => (kind === 'nodes' ? nodes : codes).has(h));
    for (let n = head; n >= keptFrom; n--) {
      const header = await chain.store.canonicalHeader(n);
      if (!header) throw new UserError(`block ${n} is missing from the canonical chain: run \`basalt db check\``, { code: 'DATA_LOSS' });
      if (!(await chain.hasStateAt(header))) {
        throw new UserError(`the state of block ${n} (root ${bytesToHex(header.stateRoot)}) is missing: run \`basalt db check\` before pruning`, {
          code: 'DATA_LOSS',
        });
      }
      for await (const item of stateItems(chain.trie, header.stateRoot, skip)) (item.kind === 'node' ? nodes : codes).add(item.hash);
      statesKept++;
      opts.onProgress?.({ phase: 'mark', done: statesKept, total, count: nodes.size });
    }
    // The record first: from here on the states below keptFrom are refused, whatever the sweep leaves of them.
    await chain.store.writeStateFrom(keptFrom);
    const swept = await chain.trie.sweep({ node: (h) => nodes.has(h), code: (h) => codes.has(h) }, (scanned, deleted) =>
      opts.onProgress?.({ phase: 'sweep', done: scanned, total: 0, count: deleted }),
    );
    return { head, keptFrom, statesKept, nodesKept: nodes.size, codesKept: codes.size, keysScanned: swept.scanned, deleted: swept.deleted };
  } finally {
    await close();
  }
}
