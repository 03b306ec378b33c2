import { existsSync } from 'node:fs';
import { KECCAK256_RLP, bytesToHex, equalsBytes } from '@ethereumjs/util';
import { usableStateSize } from '../backup/snapshot.js';
import { MissingStateError, walkStates } from '../backup/state-walk.js';
import { firstStartUnfinished } from '../chain/chain.js';
import { createChainRules, parseGenesisConfig } from '../chain/chain-config.js';
import { checkCanonicalRange, readHead } from '../chain/integrity.js';
import { readLegacySigned, withLegacySigned } from '../consensus/ibft/core/legacy-signed.js';
import { FileSignedStore, journalForbids, signedUpTo } from '../consensus/ibft/core/sign-journal.js';
import { blockHash } from '../consensus/ibft/hash.js';
import { BlockStore, readChainConfigJson } from '../storage/block-store.js';
import { dataDirLayout } from '../storage/data-dir.js';
import { openBytesDB, type BytesDB } from '../storage/open-db.js';
import { TrieNodeStore } from '../storage/trie-node-store.js';
import { UserError, errorMessage } from '../util/errors.js';

/** Problems kept for the report; more are counted, not listed (a wiped database would list millions). */
export const MAX_LISTED_PROBLEMS = 10_000;
/**
 * The states `db check --full` walks on an archive node: the head's and the ones before it, as many as
 * a pruned node keeps by default (walking every state of an archive costs as much as its whole trie/).
 */
export const ARCHIVE_STATES_CHECKED = 128n;

export interface DbCheckOptions {
  /** Also decode every body and receipts list (transactions root) and walk every kept state whole. */
  full?: boolean;
  onStart?: (blocks: number) => void;
  onBlock?: (done: number) => void;
  /**
   * --full: the kept states' walk begins (`total` states; `nodesExpected`, about how many distinct
   * nodes the head's state holds as last measured, StateSize, 0 when none is kept), has walked `done`
   * of them, and has marked `nodes` distinct nodes so far (told every 10,000 nodes walked).
   */
  onStatesStart?: (total: number, nodesExpected: number) => void;
  onState?: (done: number) => void;
  onNodes?: (nodes: number) => void;
}

export interface DbCheckReport {
  dataDir: string;
  head?: { number: bigint; hash: string };
  blocksChecked: number;
  /**
   * The state walk (--full): the states of blocks `from`..`to` (the head's and every older one the
   * node keeps: a pruned or restored node's from its StateFrom, an archive's last ARCHIVE_STATES_CHECKED),
   * their distinct trie nodes and code entries, and how many were complete.
   */
  state?: { from: bigint; to: bigint; complete: number; nodes: number; codes: number };
  problems: string[];
  /** Problems found beyond MAX_LISTED_PROBLEMS. */
  unlisted: number;
}

/**
 * Check a data dir offline, reporting every problem found: the canonical chain from genesis to the
 * head (every header there, decoding, hashing to its index entry and linking to its parent; body and
 * receipts there), the head's state root node in trie/, and with `full` the transactions root of
 * every body and every state the node keeps (every trie node and contract code reachable from each
 * root, walked as the state pruner marks them: the cost of a snapshot and the blocks' changes, hence
 * optional). A validator whose sign journal forbids the block after its
 * head (it signed at a later height: consensus/ibft-sign-journal, with an earlier version's
 * consensus/signed.json folded in) is reported as rolled back. Opens the databases without creating them; a node holding
 * the data dir makes it fail with one line (LevelDB's lock).
 */
export async function checkDataDir(dir: string, opts: DbCheckOptions = {}): Promise<DbCheckReport> {
  const layout = dataDirLayout(dir);
  if (!existsSync(layout.blockchain)) throw new UserError(`${layout.root} is not a Basalt data dir (no blockchain/ database)`, { code: 'NOT_FOUND' });
  const report: DbCheckReport = { dataDir: layout.root, blocksChecked: 0, problems: [], unlisted: 0 };
  const problem = (p: string) => {
    if (report.problems.length < MAX_LISTED_PROBLEMS) report.problems.push(p);
    else report.unlisted++;
  };

  const blockchain = await openForCheck(layout.blockchain, 'blockchain', layout.root, problem);
  if (!blockchain) return report;
  const trie = existsSync(layout.trie) ? await openForCheck(layout.trie, 'trie', layout.root, problem) : void problem(`trie/ is missing (no state at all)`);
  try {
    let configJson: string | undefined;
    try {
      configJson = await readChainConfigJson(blockchain);
    } catch (err) {
      problem(`cannot read the stored genesis (ChainConfig): ${errorMessage(err)}`);
    }
    if (configJson === undefined) {
      if (report.problems.length === 0) problem('blockchain/ holds no chain (no stored genesis, ChainConfig)');
      return report;
    }
    const store = new BlockStore(blockchain, createChainRules(parseGenesisConfig(configJson, `${layout.blockchain} (stored genesis)`)));
    // Not damage: a first start of --sync snapshot that did not finish (the genesis block alone).
    if ((await store.genesisStatePending()) !== undefined) throw firstStartUnfinished();
    const noted: string[] = [];
    const head = await readHead(store, noted);
    noted.forEach(problem);
    if (!head) return report;
    report.head = { number: head.number, hash: bytesToHex(head.hash) };

    opts.onStart?.(Number(head.number) + 1);
    await checkCanonicalRange(store, 0n, head.number, {
      blockHash,
      full: opts.full ?? false,
      problem,
      onBlock: () => {
        report.blocksChecked++;
        opts.onBlock?.(report.blocksChecked);
      },
    });
    const indexed = await store.canonicalHash(head.number).catch(() => undefined);
    if (indexed && !equalsBytes(indexed, head.hash))
      problem(`the canonical index names ${bytesToHex(indexed)} at the head ${head.number}, not the head block ${bytesToHex(head.hash)}`);

    checkSignJournal(layout.consensus, head.number, problem);
    if (trie) await checkStates(store, new TrieNodeStore(trie), head, opts, report, problem);
    return report;
  } finally {
    await Promise.allSettled([blockchain.close(), trie?.close()]);
  }
}

/**
 * The head's state root node; with `full`, every kept state walked whole (walkStates, as the state
 * pruner marks them): a pruned or restored node's from its StateFrom (what it serves), an archive's
 * last ARCHIVE_STATES_CHECKED. Each incomplete state is one problem.
 */
async function checkStates(
  store: BlockStore,
  trie: TrieNodeStore,
  head: { number: bigint; header: { stateRoot: Uint8Array } },
  opts: DbCheckOptions,
  report: DbCheckReport,
  problem: (p: string) => void,
): Promise<void> {
  const root = head.header.stateRoot;
  if (!opts.full) {
    if (!equalsBytes(root, KECCAK256_RLP) && (await trie.node(root)) === undefined)
      problem(`the state of the head block ${head.number} (root ${bytesToHex(root)}) is missing from trie/`);
    return;
  }
  let from: bigint;
  try {
    const mode = await store.stateHistory();
    const stateFrom = await store.stateFrom();
    const archiveFrom = head.number + 1n > ARCHIVE_STATES_CHECKED ? head.number + 1n - ARCHIVE_STATES_CHECKED : 0n;
    from = stateFrom ?? (mode !== undefined && 'keep' in mode ? 0n : archiveFrom);
    if (mode === undefined || 'archive' in mode) from = from > archiveFrom ? from : archiveFrom;
    if (from > head.number) from = head.number;
  } catch (err) {
    problem(`cannot read which states the node keeps (StateHistory, StateFrom): ${errorMessage(err)}`);
    from = head.number;
  }
  // The bar's total: the head state's size, where a usable one is kept (a hint: a read error is no problem of the data dir's).
  const kept = usableStateSize(await store.stateSize().catch(() => undefined), head.number);
  opts.onStatesStart?.(Number(head.number - from + 1n), kept?.nodes ?? 0);
  const marked = await walkStates(
    trie,
    async (n) => {
      if (n === head.number) return root;
      const older = await store.canonicalStateRoot(n).catch(() => undefined);
      if (!older) throw new MissingStateError(`block ${n} has no canonical header to name its state root`);
      return older;
    },
    from,
    head.number,
    {
      onState: (done) => opts.onState?.(done),
      ...(opts.onNodes ? { onNodes: opts.onNodes } : {}),
      onIncomplete: (_, err) => problem(err.message.split('\n')[0]!),
    },
  );
  report.state = { from, to: head.number, complete: marked.states, nodes: marked.nodes.size, codes: marked.codes.size };
}

/**
 * A validator's chain rolled back below what it signed: the journal forbids the next block, so it
 * could not seal there again (the same rule the IBFT core applies).
 */
function checkSignJournal(consensusDir: string, head: bigint, problem: (p: string) => void): void {
  try {
    const store = new FileSignedStore(consensusDir);
    const legacy = readLegacySigned(consensusDir);
    const journal = legacy ? withLegacySigned(store.load(), legacy) : store.load();
    if (journal !== undefined && journalForbids(journal, head + 1n)) {
      const at = signedUpTo(journal);
      const hash = at === journal.height && journal.kind !== 'roundChange' ? ` (${bytesToHex(journal.hash)})` : '';
      problem(
        `the chain was rolled back: its head is block ${head}, but this validator signed block ${at}${hash} (${legacy ? 'consensus/signed.json' : 'consensus/ibft-sign-journal'})`,
      );
    }
  } catch (err) {
    problem(errorMessage(err));
  }
}

/** Open without creating; a lock is an error (a running node), any other failure a problem. */
async function openForCheck(path: string, what: 'blockchain' | 'trie', root: string, problem: (p: string) => void): Promise<BytesDB | undefined> {
  try {
    return await openBytesDB(path, what, root, { createIfMissing: false });
  } catch (err) {
    if (err instanceof UserError && err.code === 'LOCKED') {
      throw new UserError(`data dir ${root} is locked by a running node: stop it first (db check reads the data dir offline)`, { code: 'LOCKED', cause: err });
    }
    problem(`${what}/ cannot be opened: ${errorMessage(err)}`);
    return undefined;
  }
}
