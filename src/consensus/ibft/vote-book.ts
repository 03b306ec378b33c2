import { RLP } from '@ethereumjs/rlp';
import type { BlockHeader } from '@ethereumjs/block';
import { equalsBytes } from '@ethereumjs/util';
import type { ConsensusRecords } from '../../chain/engine.js';
import { errorMessage } from '../../util/errors.js';
import { headerExtra } from './extra.js';
import { sameValidatorSet } from './validators.js';
import { VoteError, applyBlockVote, type HeaderVote, type ValidatorSnapshot, type VoteRecord } from './votes.js';

/**
 * Where a node finds the validator votes pending at a height (issue #23). Every block's extraData
 * carries the set after it, but not the votes cast since its epoch began: those are in the blocks that
 * carry one, which the block store keeps as consensus records (one LevelDB range, schema.ts `v`), so
 * the snapshot after any block is its epoch block's set replayed through the records after it. The
 * head's snapshot is kept in memory and moved at each commit.
 */

/** The record of a block that carries a vote (undefined: it carries none, or its extraData does not parse). */
export function voteRecordOf(header: BlockHeader): Uint8Array | undefined {
  let vote: HeaderVote | undefined;
  try {
    vote = headerExtra(header).vote;
  } catch {
    return undefined;
  }
  if (!vote) return undefined;
  return RLP.encode([vote.candidate, vote.authorize ? Uint8Array.of(1) : new Uint8Array(0), header.coinbase.bytes]);
}

export function decodeVoteRecord(b: Uint8Array, num: bigint): VoteRecord {
  let d: unknown;
  try {
    d = RLP.decode(b);
  } catch (err) {
    throw new VoteError(`the stored vote of block ${num} does not decode: ${errorMessage(err)}`);
  }
  if (!Array.isArray(d) || d.length !== 3 || !d.every((x) => x instanceof Uint8Array))
    throw new VoteError(`the stored vote of block ${num} is not [candidate, authorize, proposer]`);
  const [candidate, authorize, proposer] = d as Uint8Array[];
  if (candidate!.length !== 20 || proposer!.length !== 20 || authorize!.length > 1)
    throw new VoteError(`the stored vote of block ${num} has fields of the wrong size`);
  return { candidate: candidate!, authorize: authorize!.length === 1, proposer: proposer! };
}

/**
 * The validator set and the votes pending after `header`, from the records of `store`: the set of the
 * last epoch block at or below it, then each vote after that in order. Throws VoteError when the
 * records do not lead to the set `header` carries (the votes before it are not all on record: a data
 * dir restored without them) or a header is missing.
 */
export async function loadSnapshot(
  store: ConsensusRecords,
  header: BlockHeader,
  epochSize: bigint,
  setChanges: ReadonlyMap<bigint, Uint8Array[]> = new Map(),
): Promise<ValidatorSnapshot> {
  const n = header.number;
  // Votes reset at the last epoch block, and at the last emergency set change (the set it names decides from there).
  let epoch = n - (n % epochSize);
  for (const c of setChanges.keys()) if (c <= n && c > epoch) epoch = c;
  const epochHeader = epoch === n ? header : await store.canonicalHeader(epoch);
  if (epochHeader === undefined) throw new VoteError(`block ${epoch} (where the votes before block ${n} start) is missing`);
  let snap: ValidatorSnapshot = { number: epoch, validators: headerExtra(epochHeader).validators, votes: [] };
  for await (const { number, record } of store.consensusRecords(epoch + 1n, n)) {
    const r = decodeVoteRecord(record, number);
    snap = applyBlockVote({ ...snap, number: number - 1n }, { number, proposer: r.proposer, vote: r }, epochSize);
  }
  snap = { ...snap, number: n };
  const carried = headerExtra(header).validators;
  if (!sameValidatorSet(snap.validators, carried)) {
    throw new VoteError(
      `the votes on record since block ${epoch} do not lead to the validator set block ${n} carries: the votes before it are not all held here`,
    );
  }
  return snap;
}

/** The head's snapshot, known or not (and why not), tied to the head by hash. */
export class VoteBook {
  private head?: { header: BlockHeader; hash: Uint8Array; number: bigint; snap?: ValidatorSnapshot; unknown?: string };

  constructor(
    readonly epochSize: bigint,
    private readonly hashOf: (h: BlockHeader) => Uint8Array,
    private readonly setChanges: ReadonlyMap<bigint, Uint8Array[]> = new Map(),
  ) {}

  /** Load the snapshot after `head` from the records (at open). Unknown (and why) if they do not give it. */
  async load(store: ConsensusRecords, head: BlockHeader): Promise<void> {
    const hash = this.hashOf(head);
    try {
      this.head = { header: head, hash, number: head.number, snap: await loadSnapshot(store, head, this.epochSize, this.setChanges) };
    } catch (err) {
      if (!(err instanceof VoteError)) throw err;
      this.head = { header: head, hash, number: head.number, unknown: err.message };
    }
  }

  /** `header` (verified against the head) became the head. */
  advance(header: BlockHeader): void {
    const prev = this.head;
    const hash = this.hashOf(header);
    if (prev === undefined || prev.number + 1n !== header.number || !equalsBytes(header.parentHash, prev.hash)) {
      this.head = { header, hash, number: header.number, unknown: 'the vote book lost track of the head' };
      return;
    }
    if (prev.snap === undefined || this.setChanges.has(header.number)) {
      // Unknown votes become known at the next epoch block or emergency set change, where they reset.
      const epoch = header.number % this.epochSize === 0n || this.setChanges.has(header.number);
      this.head = epoch
        ? { header, hash, number: header.number, snap: { number: header.number, validators: headerExtra(header).validators, votes: [] } }
        : { header, hash, number: header.number, unknown: prev.unknown ?? 'unknown' };
      return;
    }
    try {
      const extra = headerExtra(header);
      this.head = {
        header,
        hash,
        number: header.number,
        snap: applyBlockVote(prev.snap, { number: header.number, proposer: header.coinbase.bytes, vote: extra.vote }, this.epochSize),
      };
    } catch (err) {
      this.head = { header, hash, number: header.number, unknown: `block ${header.number}: ${errorMessage(err)}` };
    }
  }

  /**
   * The snapshot after `parent` if `parent` is the head this book follows and its votes are known;
   * undefined otherwise (the caller checks without the tally).
   */
  after(parent: BlockHeader): ValidatorSnapshot | undefined {
    const h = this.head;
    if (h === undefined || h.snap === undefined || h.number !== parent.number) return undefined;
    if (parent === h.header) return h.snap;
    return equalsBytes(this.hashOf(parent), h.hash) ? h.snap : undefined;
  }

  /** The head's snapshot, or why it is not known. */
  get state(): { snapshot: ValidatorSnapshot } | { unknown: string } {
    const h = this.head;
    if (h === undefined) return { unknown: 'the chain is not open' };
    return h.snap ? { snapshot: h.snap } : { unknown: h.unknown ?? 'unknown' };
  }
}
