import type { BlockHeader } from '@ethereumjs/block';

/**
 * What the chain needs from consensus. The single-node IBFT sealer fills it today; a networked IBFT
 * (libp2p, rounds, round changes) fills the same interface later without touching the chain.
 */
export interface ConsensusEngine {
  readonly name: string;
  /**
   * Verify consensus rules of `header` against its parent; throws BlockVerificationError.
   * `nowSeconds` is the clock that bounds future timestamps (a file checked offline passes a far future).
   */
  verifyHeader(header: BlockHeader, parent: BlockHeader, opts?: { nowSeconds?: bigint }): void;
  /**
   * Verify only that a quorum of `validators` sealed `header` (no parent at hand: a peer's claimed
   * head is checked this way before it counts). Throws BlockVerificationError.
   */
  verifySeals(header: BlockHeader, validators: Uint8Array[]): void;
  /** Validators that may seal the block after `parent`. */
  validatorsAfter(parent: BlockHeader): Uint8Array[];
}
