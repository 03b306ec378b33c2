import { KECCAK256_RLP, bytesToHex, equalsBytes } from '@ethereumjs/util';
import { createBlockFromBytesArray } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import type { BlockHeader } from '@ethereumjs/block';
import type { BlockStore } from '../storage/block-store.js';
import { decodeReceipts } from '../storage/receipts.js';
import { errorMessage } from '../util/errors.js';
import { transactionsRoot } from './block-util.js';

/** How many blocks below the head the start-up check follows (index continuity and parent links). */
export const HEAD_CHECK_DEPTH = 128n;

export interface CheckedHead {
  number: bigint;
  hash: Uint8Array;
  header: BlockHeader;
}

/** Reads the checks need from trie/: a committed node by hash. */
export interface TrieNodeReader {
  node(hash: Uint8Array): Promise<Uint8Array | undefined>;
}

/**
 * The start-up check, cheap enough for every start: the head pointer, the head's header, body and
 * receipts, the head's state root node in trie/, and for the `depth` blocks below the head an
 * unbroken canonical index whose headers link by parentHash. Every problem found is returned (as a
 * one-line sentence); read errors (LevelDB corruption) count as problems too.
 */
export async function checkHead(
  store: BlockStore,
  trie: TrieNodeReader,
  blockHash: (header: BlockHeader) => Uint8Array,
  opts: { depth?: bigint; genesisStatePending?: boolean } = {},
): Promise<{ head?: CheckedHead; problems: string[] }> {
  const depth = opts.depth ?? HEAD_CHECK_DEPTH;
  const problems: string[] = [];
  const head = await readHead(store, problems);
  if (!head) return { problems };
  const from = head.number > depth ? head.number - depth : 0n;
  const indexed = await attempt(() => store.canonicalHash(head.number), problems, `the canonical index at the head ${head.number}`);
  if (indexed && !equalsBytes(indexed, head.hash))
    problems.push(`the canonical index names ${bytesToHex(indexed)} at the head ${head.number}, not the head block ${bytesToHex(head.hash)}`);
  await checkCanonicalRange(store, from, head.number, { blockHash, problem: (p) => problems.push(p) });
  // A genesis whose state is recorded as not written yet (GenesisStatePending) has none to find.
  const statePending = opts.genesisStatePending === true && head.number === 0n;
  if (!statePending && !equalsBytes(head.header.stateRoot, KECCAK256_RLP)) {
    const root = await attempt(() => trie.node(head.header.stateRoot), problems, 'the head state root');
    if (root === null) problems.push(`the state of the head block ${head.number} (root ${bytesToHex(head.header.stateRoot)}) is missing from trie/`);
  }
  return { head, problems };
}

/** The head pointer, its number and its decoded header; undefined (with the problem noted) if any is missing. */
export async function readHead(store: BlockStore, problems: string[]): Promise<CheckedHead | undefined> {
  const hash = await attempt(() => store.headHash(), problems, 'the head pointer');
  if (hash === undefined) return undefined;
  if (hash === null) return void problems.push('blockchain/ has no head block pointer (LastBlock)');
  const num = await attempt(() => store.blockNumber(hash), problems, 'the head block number');
  if (num === undefined) return undefined;
  if (num === null) return void problems.push(`the head block ${bytesToHex(hash)} has no number index entry`);
  const rlp = await attempt(() => store.headerRLP(num, hash), problems, `the header of the head block ${num}`);
  if (rlp === undefined) return undefined;
  if (rlp === null) return void problems.push(`the header of the head block ${num} (${bytesToHex(hash)}) is missing`);
  try {
    return { number: num, hash, header: store.decodeHeader(rlp, num) };
  } catch (err) {
    return void problems.push(`the header of the head block ${num} does not decode: ${errorMessage(err)}`);
  }
}

export interface RangeCheckOptions {
  /** A block's hash as the chain's consensus engine defines it. */
  blockHash: (header: BlockHeader) => Uint8Array;
  /** Also decode each body and receipts, and check the transactions root against the header. */
  full?: boolean;
  problem: (p: string) => void;
  /** Called after each block checked. */
  onBlock?: (num: bigint) => void;
}

/**
 * Check the canonical blocks `from`..`to`: each is in the index, its header is there, decodes, hashes
 * to the indexed hash, has the right number and links to the previous block; its body and receipts
 * are there. Reports every problem, not just the first.
 */
export async function checkCanonicalRange(store: BlockStore, from: bigint, to: bigint, opts: RangeCheckOptions): Promise<void> {
  const bad = (num: bigint, what: string) => opts.problem(`block ${num}: ${what}`);
  const noted: string[] = [];
  // Blocks of the history gap have their headers and index only: their bodies and receipts are to come.
  const gap = await attempt(() => store.historyGap(), [], '');
  const held = (num: bigint) => !(gap && num >= gap.from && num <= gap.to);
  // The block before the range is only the first link's reference: its own problems are not this range's.
  let prev = from > 0n ? ((await attempt(() => store.canonicalHash(from - 1n), [], '')) ?? undefined) : undefined;
  /** One block's parts: the value, null when absent, undefined when its read failed (already reported). */
  const check = async (
    num: bigint,
    read1: Uint8Array | null | undefined,
    rlp: Uint8Array | null | undefined,
    body: Uint8Array | null | undefined,
    receipts: Uint8Array | null | undefined,
  ) => {
    const hash = read1 ?? undefined;
    const expectedParent = prev;
    prev = hash;
    if (hash === undefined) {
      if (read1 === null) bad(num, 'missing from the canonical index');
      opts.onBlock?.(num);
      return;
    }
    const id = `${num} (${bytesToHex(hash)})`;
    if (rlp === null) opts.problem(`block ${id}: header missing`);
    if (body === null && held(num)) opts.problem(`block ${id}: body missing`);
    if (receipts === null && held(num)) opts.problem(`block ${id}: receipts missing`);
    if (rlp) {
      try {
        const header = store.decodeHeader(rlp, num);
        if (header.number !== num) opts.problem(`block ${id}: its header says number ${header.number}`);
        if (!equalsBytes(opts.blockHash(header), hash)) opts.problem(`block ${id}: its header hashes to ${bytesToHex(opts.blockHash(header))}`);
        if (expectedParent && !equalsBytes(header.parentHash, expectedParent)) {
          opts.problem(`block ${id}: parentHash ${bytesToHex(header.parentHash)} does not link to block ${num - 1n} (${bytesToHex(expectedParent)})`);
        }
        if (opts.full && body && receipts) await checkContents(header, body, receipts, (p) => opts.problem(`block ${id}: ${p}`));
      } catch (err) {
        opts.problem(`block ${id}: header does not decode: ${errorMessage(err)}`);
      }
    }
    opts.onBlock?.(num);
  };
  // The range read with iterators (BlockStore.blockParts) while it reads; should a read fail, the rest
  // block by block, so that each failing read is reported where it is and the check goes on.
  let num = from;
  const parts = store.blockParts(from, to);
  try {
    for (;;) {
      let r: Awaited<ReturnType<typeof parts.next>>;
      try {
        r = await parts.next();
      } catch {
        break; // continued below from `num`
      }
      if (r.done) break;
      const b = r.value;
      await check(b.number, b.hash ?? null, b.header ?? null, b.body ?? null, b.receiptsRlp ?? null);
      num = b.number + 1n;
    }
  } finally {
    await parts.return(undefined).catch(() => undefined);
  }
  for (; num <= to; num++) {
    const read1 = await attempt(() => store.canonicalHash(num), noted, 'the canonical index');
    for (const p of noted.splice(0)) bad(num, p);
    const hash = read1 ?? undefined;
    const [rlp, body, receipts] = hash
      ? await Promise.all([
          attempt(() => store.headerRLP(num, hash), noted, 'the header'),
          attempt(() => store.bodyRLP(num, hash), noted, 'the body'),
          attempt(() => store.receiptsRLP(num, hash), noted, 'the receipts'),
        ])
      : [];
    for (const p of noted.splice(0)) bad(num, p);
    await check(num, read1, rlp, body, receipts);
  }
}

async function checkContents(header: BlockHeader, body: Uint8Array, receiptsRlp: Uint8Array, problem: (p: string) => void): Promise<void> {
  let txCount: number;
  try {
    const txs = RLP.decode(body) as Uint8Array[];
    txCount = txs.length;
    const block = createBlockFromBytesArray([header.raw(), txs, []] as never, {
      common: header.common,
      skipConsensusFormatValidation: true,
      setHardfork: false,
    });
    transactionsRoot(block);
    if (!(await block.transactionsTrieIsValid())) problem("body does not match the header's transactions root");
  } catch (err) {
    return problem(`body does not decode: ${errorMessage(err)}`);
  }
  try {
    const receipts = decodeReceipts(receiptsRlp);
    if (receipts.length !== txCount) problem(`${receipts.length} receipts for ${txCount} transactions`);
  } catch (err) {
    problem(`receipts do not decode: ${errorMessage(err)}`);
  }
}

/**
 * Run a read: its value, null when the record is absent, undefined when the read failed (the failure
 * is noted in `problems`, naming `what`).
 */
async function attempt<T>(f: () => Promise<T | undefined>, problems: string[], what: string): Promise<T | null | undefined> {
  try {
    const v = await f();
    return v === undefined ? null : v;
  } catch (err) {
    problems.push(`cannot read ${what}: ${errorMessage(err).split('\n')[0]}`);
    return undefined;
  }
}
