import type { BlockHeader } from '@ethereumjs/block';

/** Recovers the address that signed `hash` (65-byte r ‖ s ‖ v); throws on a malformed signature. */
export type RecoverSigner = (hash: Uint8Array, signature: Uint8Array) => Uint8Array;

/**
 * What the chain needs from consensus: the rules a header and its seals must meet. IbftEngine fills
 * it; whichever producer makes a block (the single-process sealer or the networked IBFT core), the
 * chain verifies it through this interface.
 */
export interface ConsensusEngine {
  readonly name: string;
  /**
   * Verify consensus rules of `header` against its parent; throws BlockVerificationError.
   * `nowSeconds` is the clock that bounds future timestamps (a file checked offline passes a far future).
   */
  verifyHeader(header: BlockHeader, parent: BlockHeader, opts?: { nowSeconds?: bigint; recover?: RecoverSigner }): void;
  /**
   * The signatures verifyHeader recovers for `header`, with the digest each signs: a caller checking
   * many headers recovers them ahead (in a worker thread) and passes the results as `recover`.
   * Empty when the header's seals cannot be read (verifyHeader then says why).
   */
  sealSignatures(header: BlockHeader): { hash: Uint8Array; signature: Uint8Array }[];
  /**
   * Verify only that a quorum of `validators` sealed `header` (no parent at hand: a peer's claimed
   * head is checked this way before it counts). Throws BlockVerificationError.
   */
  verifySeals(header: BlockHeader, validators: Uint8Array[]): void;
  /** Validators that may seal the block after `parent`. */
  validatorsAfter(parent: BlockHeader): Uint8Array[];
}
