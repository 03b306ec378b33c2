import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { QuorumRule } from './validators.js';
import { MAX_PENDING_VOTES_PER_VOTER, VoteError, isEpochBlock, voteRefusal, type HeaderVote, type ValidatorSnapshot } from './votes.js';

/** Candidates one operator may have proposed at once (the operator API is an input like any other; votes.ts MAX_PENDING_VOTES_PER_VOTER). */
export const MAX_PROPOSED_VOTES = MAX_PENDING_VOTES_PER_VOTER;

/**
 * The votes this validator's operator proposed (`basalt ibft propose`, `ibft_proposeValidatorVote`),
 * as Polygon Edge and Clique keep them: in memory, one per candidate, put one at a time into the blocks
 * this validator proposes until the set reflects them (then forgotten). A proposal already cast and
 * still pending waits, and is cast again after an epoch block resets the votes.
 */
export class VoteProposals {
  private readonly byCandidate = new Map<string, HeaderVote>();

  /** Add or replace the proposal about `vote.candidate`; a vote the rules refuse now is refused (VoteError, one line). */
  propose(snap: ValidatorSnapshot, self: Uint8Array, vote: HeaderVote): void {
    if (vote.candidate.length !== 20) throw new VoteError(`a candidate is a 20-byte address, not ${vote.candidate.length} bytes`);
    const refused = voteRefusal(snap, self, vote);
    if (refused) throw new VoteError(refused);
    const key = bytesToHex(vote.candidate);
    if (!this.byCandidate.has(key) && this.byCandidate.size >= MAX_PROPOSED_VOTES) {
      throw new VoteError(`${MAX_PROPOSED_VOTES} votes are proposed already: discard one first`);
    }
    this.byCandidate.set(key, { candidate: vote.candidate, authorize: vote.authorize });
  }

  /** Forget the proposal about `candidate`; whether there was one. */
  discard(candidate: Uint8Array): boolean {
    return this.byCandidate.delete(bytesToHex(candidate));
  }

  list(): HeaderVote[] {
    return [...this.byCandidate.values()];
  }

  /**
   * The vote for block `number`, proposed by `self` after `snap`: the first proposal the rules allow.
   * Proposals the set already reflects are forgotten; none in an epoch block. With `ready`, a vote to
   * add a candidate is cast only while it says the candidate runs and has synced (a set that grew by
   * a validator that is not there could lose its quorum: Besu #8425); it waits until then. With
   * `quorum`, a vote that would leave a set its quorum lets fork (a legacy 2F+1 quorum: another vote
   * passed since it was proposed) waits too, as the operator API refuses one (LocalIbftService.propose).
   */
  pick(
    snap: ValidatorSnapshot,
    self: Uint8Array,
    number: bigint,
    epochSize: bigint,
    ready?: (candidate: Uint8Array) => boolean,
    quorum?: QuorumRule,
  ): HeaderVote | undefined {
    for (const [key, vote] of this.byCandidate) {
      const inSet = snap.validators.some((v) => equalsBytes(v, vote.candidate));
      if (inSet === vote.authorize) this.byCandidate.delete(key);
    }
    if (isEpochBlock(number, epochSize)) return undefined;
    for (const vote of this.byCandidate.values()) {
      if (voteRefusal(snap, self, vote) !== undefined) continue;
      if (vote.authorize && ready !== undefined && !ready(vote.candidate)) continue;
      if (quorum?.unsafeAt(number + 1n, snap.validators.length + (vote.authorize ? 1 : -1)) !== undefined) continue;
      return vote;
    }
    return undefined;
  }
}
