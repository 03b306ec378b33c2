import type { BlockHeader } from '@ethereumjs/block';
import type { ConsensusEngine, ConsensusRecords, NextHeaderFields, RecoverSigner, VerifyHeaderOptions } from '../../chain/engine.js';
import { VoteBook, voteRecordOf } from './vote-book.js';
import { DEFAULT_EPOCH_SIZE, joiningNext } from './votes.js';
import type { VoteContext } from './verify.js';
import { IBFT_MIX_HASH, headerExtra, encodeIbftExtra } from './extra.js';
import { blockHash } from './hash.js';
import { QuorumRule, maxFaulty, nextProposer, sameValidatorSet } from './validators.js';
import { BlockVerificationError } from '../../chain/errors.js';
import { ibftSealSignatures, verifyIbftHeader, verifyIbftSeals, verifyKnownSeals } from './verify.js';
import { errorMessage } from '../../util/errors.js';

/** Blocks with a set change a check took on the file's word: how many, and the first MAX_LISTED_SET_CHANGES. */
export interface SetChangesSeen {
  count: number;
  first: bigint[];
}

const MAX_LISTED_SET_CHANGES = 8;

/**
 * IBFT's rules as the chain sees them (PoA, the set changed by validator votes: votes.ts). `quorum` is
 * the chain's quorum rule by height (genesis.ts's quorumRuleOf(genesis)); without a genesis file (an
 * archive checked on its own) the legacy rule, which accepts every block a valid chain holds. Attached
 * to a chain, it follows the votes pending after the head (VoteBook) and checks the next block's vote
 * tally exactly; other blocks (files checked on their own) are checked without the tally.
 */
export class IbftEngine implements ConsensusEngine {
  readonly name = 'ibft';
  readonly votes: VoteBook;
  /**
   * How many blocks verifyHeader took as emergency set changes no genesis file in hand names (see
   * `unknownChangesFrom`), and the first few of them (a forged file may hold one a block).
   */
  readonly unexplainedSetChanges: SetChangesSeen = { count: 0, first: [] };

  constructor(
    readonly quorum: QuorumRule = QuorumRule.LEGACY,
    readonly epochSize: bigint = DEFAULT_EPOCH_SIZE,
    /** The genesis file's emergency set changes: from each block on, its validators decide (votes reset). */
    readonly setChanges: ReadonlyMap<bigint, Uint8Array[]> = new Map(),
    /**
     * Files checked offline only, never a node: from this block on, the genesis file in hand (none, or a
     * backup's copy older than these blocks) may not name every emergency set change. A block whose set
     * differs from its parent's without a vote is then checked as such a change, against the set it
     * carries (the file's own claim), and listed in `unexplainedSetChanges` for the report to name.
     */
    readonly unknownChangesFrom?: bigint,
  ) {
    this.votes = new VoteBook(epochSize, blockHash, setChanges);
  }

  /** The engine of a file checked without a genesis file: the legacy quorum, which every valid chain meets, and any set change taken as claimed. */
  static withoutGenesis(): IbftEngine {
    return new IbftEngine(QuorumRule.LEGACY, DEFAULT_EPOCH_SIZE, new Map(), 1n);
  }

  setChangeRefusal(block: bigint, validators: number): string | undefined {
    return this.quorum.unsafeAt(block, validators);
  }

  /** The emergency set that decides block `number`, if the genesis file puts one there. */
  setChangeAt(number: bigint): Uint8Array[] | undefined {
    return this.setChanges.get(number);
  }

  blockHash(header: BlockHeader): Uint8Array {
    return blockHash(header);
  }

  /** The round-0 proposer (round robin after the parent's), the IBFT digest, number as difficulty, the parent's set unsealed. */
  nextHeader(parent: BlockHeader): NextHeaderFields {
    const extra = headerExtra(parent);
    const validators = this.validatorsAfter(parent);
    return {
      coinbase: nextProposer(validators, parent.number === 0n ? undefined : parent.coinbase.bytes),
      mixHash: IBFT_MIX_HASH,
      difficulty: parent.number + 1n,
      extraData: encodeIbftExtra({ ...extra, validators, proposerSeal: new Uint8Array(0), committedSeals: [], vote: undefined }),
    };
  }

  verifyHeader(header: BlockHeader, parent: BlockHeader, opts: VerifyHeaderOptions = {}): void {
    const votes = this.voteContext(parent);
    const unexplained = votes.setChange === undefined ? this.unexplainedChange(header, parent) : undefined;
    const context = unexplained ? { epochSize: this.epochSize, pending: [], setChange: unexplained } : votes;
    verifyIbftHeader(header, parent, opts.nowSeconds, this.quorum, opts.recover, context, opts.seals ?? true);
    if (unexplained) {
      const seen = this.unexplainedSetChanges;
      if (seen.first.length < MAX_LISTED_SET_CHANGES) seen.first.push(header.number);
      seen.count++;
    }
  }

  /** With `unknownChangesFrom`: the set `header` carries when it differs from its parent's without a vote. */
  private unexplainedChange(header: BlockHeader, parent: BlockHeader): Uint8Array[] | undefined {
    if (this.unknownChangesFrom === undefined || header.number < this.unknownChangesFrom) return undefined;
    try {
      const extra = headerExtra(header);
      return extra.vote || sameValidatorSet(extra.validators, this.validatorsAfter(parent)) ? undefined : extra.validators;
    } catch {
      return undefined; // extraData that does not parse: the check says why
    }
  }

  verifySeals(header: BlockHeader, parent: BlockHeader, recover?: RecoverSigner): void {
    let validators: Uint8Array[];
    try {
      validators = this.validatorsAfter(parent);
    } catch (err) {
      throw new BlockVerificationError(header.number, `its parent's extraData: ${errorMessage(err)}`);
    }
    verifyIbftSeals(header, validators, this.quorum, recover);
  }

  /** The set after `header` (its vote's, or an emergency change's) is not the set after its parent. */
  signersChangeAfter(header: BlockHeader, parent: BlockHeader): boolean {
    try {
      return !sameValidatorSet(this.validatorsAfter(parent), this.validatorsAfter(header));
    } catch {
      return true; // extraData that does not parse: the check of the seals says why
    }
  }

  /** What the proposal and header checks know of the votes after `parent`. */
  voteContext(parent: BlockHeader): VoteContext {
    const setChange = this.setChangeAt(parent.number + 1n);
    if (setChange) return { epochSize: this.epochSize, pending: [], setChange };
    const snap = this.votes.after(parent);
    return snap ? { epochSize: this.epochSize, pending: snap.votes } : { epochSize: this.epochSize };
  }

  recordOf(header: BlockHeader): Uint8Array | undefined {
    return voteRecordOf(header);
  }

  attach(records: ConsensusRecords, head: BlockHeader): Promise<void> {
    return this.votes.load(records, head);
  }

  committed(header: BlockHeader): void {
    this.votes.advance(header);
  }

  sealSignatures(header: BlockHeader): { hash: Uint8Array; signature: Uint8Array }[] {
    return ibftSealSignatures(header);
  }

  /**
   * A claimed head, checked without its parent: at least F + 1 distinct valid committed seals of the
   * set this node knows for it, so at least one honest validator of that set signed the block. The set
   * known is the one after `head` (this node's), or, where the genesis file puts an emergency change
   * above `head` and at or below the claim, the last such change's set: the operator's word decides
   * from there on, whatever votes this node has not seen yet (a node behind such a change would
   * otherwise refuse every honest peer past it). Seals of other keys are not counted (votes may have
   * changed the set since), nor is the whole quorum asked for (the set may have grown).
   * UnprovenHeadError where the seals are well formed but too few are by the set known here (votes this
   * node has not seen may have changed it: not proven, not refused); BlockVerificationError otherwise.
   */
  verifyClaimedHead(header: BlockHeader, head: BlockHeader): void {
    let extra;
    try {
      extra = headerExtra(header);
    } catch (err) {
      throw new BlockVerificationError(header.number, errorMessage(err));
    }
    const validators = this.setKnownAt(header.number, head);
    verifyKnownSeals(header, extra, validators, maxFaulty(validators.length) + 1);
  }

  /** The set this node knows for block `number` from its head `head`: see verifyClaimedHead. */
  private setKnownAt(number: bigint, head: BlockHeader): Uint8Array[] {
    let change: bigint | undefined;
    for (const at of this.setChanges.keys()) if (at > head.number && at <= number && (change === undefined || at > change)) change = at;
    return change === undefined ? this.validatorsAfter(head) : this.setChanges.get(change)!;
  }

  /**
   * Candidates a vote in the block after `head` could add to the set (votes.ts joiningNext): validators,
   * maybe, of the height after that block. None where the genesis file changes the set at either block
   * (the set there is known), or where the votes after `head` are not known (a restored node).
   */
  joiningAfterNext(head: BlockHeader): Uint8Array[] {
    if (this.setChangeAt(head.number + 1n) || this.setChangeAt(head.number + 2n)) return [];
    const snap = this.votes.after(head);
    return snap ? joiningNext(snap, this.epochSize) : [];
  }

  /** The parent's set (after its vote), or the genesis file's emergency set where one starts. */
  validatorsAfter(parent: BlockHeader): Uint8Array[] {
    return this.setChangeAt(parent.number + 1n) ?? headerExtra(parent).validators;
  }

  quorumAt(height: bigint, validators: number): number {
    return this.quorum.at(height, validators);
  }
}
