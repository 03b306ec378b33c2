import type { BlockHeader } from '@ethereumjs/block';

/** Recovers the address that signed `hash` (65-byte r ‖ s ‖ v); throws on a malformed signature. */
export type RecoverSigner = (hash: Uint8Array, signature: Uint8Array) => Uint8Array;

export interface VerifyHeaderOptions {
  /** The clock that bounds future timestamps (a file checked offline passes a far future). */
  nowSeconds?: bigint;
  /** The seals' signers, recovered ahead (RecoverPool); others are recovered in place. */
  recover?: RecoverSigner;
  /**
   * false: everything but the seals, the coinbase standing for the proposer. Only for a header a
   * descendant's checked seals vouch for (a restore: see backup/restore.ts); verifySeals checks the rest.
   */
  seals?: boolean;
}

/** The consensus fields of the block after a parent, before it is sealed. */
export interface NextHeaderFields {
  /** Who produces it in its first round (the coinbase a transaction sent now would see). */
  coinbase: Uint8Array;
  mixHash: Uint8Array;
  difficulty: bigint;
  /** extraData carrying what consensus needs (the validator set), no seals yet. */
  extraData: Uint8Array;
}

/** What an engine reads of the stored chain to follow it (BlockStore). */
export interface ConsensusRecords {
  /** The records (see ConsensusEngine.recordOf) of canonical blocks from..to, in order. */
  consensusRecords(from: bigint, to: bigint): AsyncIterable<{ number: bigint; record: Uint8Array }>;
  canonicalHeader(num: bigint): Promise<BlockHeader | undefined>;
}

/**
 * What the chain needs from consensus: the header format (a block's hash, the consensus fields of the
 * next block) and the rules a header and its seals must meet. The chain defines it and knows no
 * consensus; IbftEngine (consensus/ibft/) fills it, and the chain verifies every block through it,
 * whoever produced it.
 */
export interface ConsensusEngine {
  readonly name: string;
  /** A block's hash as this chain defines it (IBFT: the header without its committed seals). */
  blockHash(header: BlockHeader): Uint8Array;
  /** The consensus fields of the block after `parent`. */
  nextHeader(parent: BlockHeader): NextHeaderFields;
  /**
   * Verify consensus rules of `header` against its parent; throws BlockVerificationError.
   * `nowSeconds` is the clock that bounds future timestamps (a file checked offline passes a far future).
   */
  verifyHeader(header: BlockHeader, parent: BlockHeader, opts?: VerifyHeaderOptions): void;
  /**
   * The seals of `header` alone (IBFT: the proposer seal by its coinbase, a quorum of committed seals
   * of the set after `parent`). verifyHeader with `seals: false` and this are verifyHeader whole.
   */
  verifySeals(header: BlockHeader, parent: BlockHeader, recover?: RecoverSigner): void;
  /**
   * Whether the signers who decide the block after `header` are not the ones who decided `header`
   * (whose parent is `parent`): where a chain's seals are checked only at such blocks and at its head
   * (a restore), `header` is one to check.
   */
  signersChangeAfter(header: BlockHeader, parent: BlockHeader): boolean;
  /**
   * Why a validator-set change of `validators` keys newly put at `block` into the genesis file of a
   * data dir would be unsafe (its quorum lets the chain fork), or undefined. Only a change new to the
   * data dir is asked about: one a chain already carries is kept (a node joining it must accept it).
   */
  setChangeRefusal?(block: bigint, validators: number): string | undefined;
  /**
   * The signatures verifyHeader recovers for `header`, with the digest each signs: a caller checking
   * many headers recovers them ahead (in a worker thread) and passes the results as `recover`.
   * Empty when the header's seals cannot be read (verifyHeader then says why).
   */
  sealSignatures(header: BlockHeader): { hash: Uint8Array; signature: Uint8Array }[];
  /**
   * Verify only that enough of the validators this node knows for `header` (from its head `head`) sealed
   * it that an honest one is among them (no parent at hand: a peer's claimed head is checked this way
   * before it counts; the set may have changed since). Throws BlockVerificationError where the seals
   * are malformed or fewer than any set of the size it carries needs, UnprovenHeadError where they are
   * well formed but too few are by the validators known here.
   */
  verifyClaimedHead(header: BlockHeader, head: BlockHeader): void;
  /** Validators that may seal the block after `parent`. */
  validatorsAfter(parent: BlockHeader): Uint8Array[];
  /**
   * Keys a vote in the block after `head` could add to the set: validators, maybe, of the block after
   * that one, which send messages for it before a node at `head` can know (IBFT: votes.ts joiningNext).
   */
  joiningAfterNext(head: BlockHeader): Uint8Array[];
  /**
   * What the engine keeps of a block beside it (IBFT: the validator vote it carries), written in the
   * block's batch by whoever writes it (the chain's commit, a restore); undefined for most blocks.
   */
  recordOf(header: BlockHeader): Uint8Array | undefined;
  /**
   * Follow the chain whose head is `head` (IBFT: load the votes pending after it from the records), so
   * that verifyHeader of the block after the head checks what only the history tells (a vote's tally).
   * Called when a chain opens; `committed` after each block it commits.
   */
  attach(records: ConsensusRecords, head: BlockHeader): Promise<void>;
  committed(header: BlockHeader): void;
}
