import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { MAX_IBFT_VALIDATORS } from './extra.js';

/**
 * Validator votes (issue #23), Polygon Edge's PoA rules: the proposer of a block may carry one vote
 * in it, to add a candidate to the validator set (`authorize`) or to drop a validator; a candidate is
 * added or dropped once more than half of the current validators voted so, and the new set applies
 * from the next block. Votes are forgotten at each epoch block (a multiple of the epoch size, which
 * carries no vote). A validator has at most one vote pending about a candidate: the same vote again
 * is refused (the opposite one cannot be cast: a candidate is either in the set or not, and its votes
 * are settled when that changes). A dropped validator's pending votes are discarded with it.
 * Pure functions of the headers, so every node that checks a chain computes the same sets.
 */

/** One validator's pending vote about a candidate. */
export interface Vote {
  voter: Uint8Array;
  candidate: Uint8Array;
  authorize: boolean;
}

/** The vote a header carries (the proposer's). */
export interface HeaderVote {
  candidate: Uint8Array;
  authorize: boolean;
}

/** The validator set and the pending votes after a block. */
export interface ValidatorSnapshot {
  /** The block this snapshot follows: `validators` decide the next one. */
  number: bigint;
  validators: Uint8Array[];
  votes: Vote[];
}

/** A header's vote that the rules refuse: the header is invalid (or, at the operator API, the vote). */
export class VoteError extends Error {}

/**
 * Votes one validator may have pending at once: a block carrying one more is invalid. Bounds what a
 * faulty validator can make every node hold until the next epoch block (votes for made-up candidates,
 * one a block it proposes) to this many times the set's size; an honest operator's proposals are
 * bounded the same (proposals.ts MAX_PROPOSED_VOTES).
 */
export const MAX_PENDING_VOTES_PER_VOTER = 64;

/** The epoch size unless the genesis sets `params.engine.ibft.epochSize` (Polygon Edge's default). */
export const DEFAULT_EPOCH_SIZE = 100_000n;

const hex = (a: Uint8Array) => bytesToHex(a);
const has = (set: Uint8Array[], a: Uint8Array) => set.some((v) => equalsBytes(v, a));

/** Whether `number` is an epoch block (votes reset; it carries none). */
export function isEpochBlock(number: bigint, epochSize: bigint): boolean {
  return number % epochSize === 0n;
}

/**
 * Why `vote` may not be cast now by `voter` against `snap` (undefined: it may): a vote to add a
 * validator already in the set or to a full set (MAX_IBFT_VALIDATORS), or to drop an address not in
 * it, a voter outside the set, or the same vote pending already. The check the header verifier makes
 * of a proposal's vote and the operator API makes of a proposed one.
 */
export function voteRefusal(snap: ValidatorSnapshot, voter: Uint8Array, vote: HeaderVote): string | undefined {
  if (!has(snap.validators, voter)) return `${hex(voter)} is not a validator: only validators vote`;
  const inSet = has(snap.validators, vote.candidate);
  if (vote.authorize && inSet) return `${hex(vote.candidate)} is a validator already`;
  if (!vote.authorize && !inSet) return `${hex(vote.candidate)} is not a validator: it cannot be dropped`;
  // The block carrying a larger set would not decode (extra.ts MAX_IBFT_EXTRA_BYTES).
  if (vote.authorize && snap.validators.length >= MAX_IBFT_VALIDATORS) return `the set has ${snap.validators.length} validators, the most it may have`;
  if (!vote.authorize && snap.validators.length === 1) return `${hex(vote.candidate)} is the last validator: dropping it would stop the chain for good`;
  const own = snap.votes.filter((v) => equalsBytes(v.voter, voter));
  if (own.some((v) => equalsBytes(v.candidate, vote.candidate) && v.authorize === vote.authorize)) {
    return `${hex(voter)} has voted to ${vote.authorize ? 'add' : 'drop'} ${hex(vote.candidate)} already`;
  }
  if (own.length >= MAX_PENDING_VOTES_PER_VOTER) return `${hex(voter)} has ${own.length} votes pending already, the most one validator may have`;
  return undefined;
}

/** Candidates `joiningNext` names at most (the votes nearest a majority first). */
export const MAX_JOINING = 8;

/**
 * The candidates one more vote, carried by block `snap.number + 1`, would add to the set: those with
 * an add vote pending whose tally that vote would take past half of `snap.validators` (at most
 * MAX_JOINING, the highest tallies first; none where that block is an epoch block, which carries no
 * vote). Their IBFT messages for the height after that block are sent before a node that has not seen
 * it can know they are validators there; such messages are kept and relayed rather than refused (the
 * candidate then waited a round timeout for its messages to be sent again, and got honest relayers
 * counted against as non-validators).
 */
export function joiningNext(snap: ValidatorSnapshot, epochSize: bigint): Uint8Array[] {
  if (isEpochBlock(snap.number + 1n, epochSize)) return [];
  const tallies = new Map<string, { candidate: Uint8Array; tally: number }>();
  for (const v of snap.votes) {
    if (!v.authorize || has(snap.validators, v.candidate)) continue;
    const t = tallies.get(hex(v.candidate)) ?? { candidate: v.candidate, tally: 0 };
    t.tally++;
    tallies.set(hex(v.candidate), t);
  }
  return [...tallies.values()]
    .filter((t) => (t.tally + 1) * 2 > snap.validators.length)
    .sort((a, b) => b.tally - a.tally)
    .slice(0, MAX_JOINING)
    .map((t) => t.candidate);
}

/**
 * The snapshot after block `number` (the one after `snap.number`), proposed by `proposer` and carrying
 * `vote` if any. Throws VoteError for a vote the rules refuse (voteRefusal), for a vote in an epoch
 * block, and for a block that does not follow the snapshot.
 */
export function applyBlockVote(
  snap: ValidatorSnapshot,
  block: { number: bigint; proposer: Uint8Array; vote?: HeaderVote | undefined },
  epochSize: bigint = DEFAULT_EPOCH_SIZE,
): ValidatorSnapshot {
  if (block.number !== snap.number + 1n) throw new VoteError(`block ${block.number} does not follow the snapshot of block ${snap.number}`);
  if (epochSize < 1n) throw new VoteError(`epoch size ${epochSize} is not positive`);
  if (isEpochBlock(block.number, epochSize)) {
    if (block.vote) throw new VoteError(`block ${block.number} is an epoch block: it carries no vote`);
    return { number: block.number, validators: snap.validators, votes: [] };
  }
  if (!block.vote) return { ...snap, number: block.number };
  const refused = voteRefusal(snap, block.proposer, block.vote);
  if (refused) throw new VoteError(`block ${block.number}: ${refused}`);
  const { candidate, authorize } = block.vote;
  let votes = [...snap.votes, { voter: block.proposer, candidate, authorize }];
  const tally = votes.filter((v) => equalsBytes(v.candidate, candidate) && v.authorize === authorize).length;
  if (tally * 2 <= snap.validators.length) return { number: block.number, validators: snap.validators, votes };
  // A majority: the set changes from the next block, and the votes about the candidate are settled.
  // An added validator goes last (the proposer order of the others does not move); a dropped one's
  // own pending votes go with it.
  const validators = authorize ? [...snap.validators, candidate] : snap.validators.filter((v) => !equalsBytes(v, candidate));
  votes = votes.filter((v) => !equalsBytes(v.candidate, candidate) && (authorize || !equalsBytes(v.voter, candidate)));
  return { number: block.number, validators, votes };
}

/**
 * The validator sets block `block` may carry in its extraData (the set after its vote, which decides
 * the next block), given the set that decides it (`validators`, its parent's) and, when known, the
 * votes pending after its parent. With `pending`: the one set the rules give. Without (a file checked
 * on its own, or a node restored from a snapshot that holds no record of the votes cast before its
 * head): the vote must be one a validator may cast, and the set either stays or changes by exactly that
 * vote; the quorum of committed seals attests the tally, as it attests everything else of such a block.
 * Throws VoteError.
 */
export function allowedNextSets(
  validators: Uint8Array[],
  block: { number: bigint; proposer: Uint8Array; vote?: HeaderVote | undefined },
  epochSize: bigint,
  pending: Vote[] | undefined,
): Uint8Array[][] {
  const before: ValidatorSnapshot = { number: block.number - 1n, validators, votes: pending ?? [] };
  const after = applyBlockVote(before, block, epochSize);
  if (pending !== undefined || !block.vote) return [after.validators];
  const { candidate, authorize } = block.vote;
  const changed = authorize ? [...validators, candidate] : validators.filter((v) => !equalsBytes(v, candidate));
  return [validators, changed];
}

/** What the vote store keeps of a block that carries a vote: RLP([candidate, 0x01 | empty, proposer]). */
export interface VoteRecord extends HeaderVote {
  proposer: Uint8Array;
}
