/**
 * How far ahead of this node's clock a block's timestamp may be (geth's allowance): further ahead it
 * is held until it is within this, never refused as invalid (FutureBlockError). Also the most this
 * node's clock may differ from its peers' before it counts as skewed (chain/peer-clock.ts).
 */
export const MAX_FUTURE_SECONDS = 15n;

/** A block that fails verification: names the block so an operator can find it. */
export class BlockVerificationError extends Error {
  constructor(
    readonly blockNumber: bigint,
    readonly reason: string,
  ) {
    super(`block ${blockNumber} is invalid: ${reason}`);
    this.name = 'BlockVerificationError';
  }
}

/**
 * A peer's claimed head whose committed seals are well formed (each recovers, no key twice, as many as
 * a set of the size it carries needs at least) but too few of them are by the validators this node
 * knows for it: the set may have changed since this node's head (votes it has not imported yet), so
 * the claim is neither proven nor a lie. Its peer is not punished; blocks imported from it prove it.
 */
export class UnprovenHeadError extends Error {
  constructor(
    readonly blockNumber: bigint,
    readonly reason: string,
  ) {
    super(`block ${blockNumber} is not proven: ${reason}`);
    this.name = 'UnprovenHeadError';
  }
}

/**
 * The node takes no block now (the disk guard: free space is below --min-free-disk): nothing about the
 * block is known, so whoever sent it is not at fault; it is fetched again once writes resume.
 */
export class WritesPausedError extends Error {
  constructor(readonly reason: string) {
    super(`blocks are not imported now: ${reason}`);
    this.name = 'WritesPausedError';
  }
}

/**
 * A block valid in every other respect whose timestamp is further ahead of this node's clock than
 * the allowance: not invalid (a clock may be wrong, this node's or its proposer's), but not to be
 * taken yet. It is held and tried again, and whoever sent it is not punished. Thrown only after every
 * other check of the header passed (seals included).
 */
export class FutureBlockError extends BlockVerificationError {
  constructor(
    blockNumber: bigint,
    readonly timestamp: bigint,
    readonly nowSeconds: bigint,
    readonly allowedSeconds: bigint,
  ) {
    super(blockNumber, `timestamp ${timestamp} is in the future: ${timestamp - nowSeconds} s ahead of this node's clock, ${allowedSeconds} s allowed`);
    this.name = 'FutureBlockError';
  }

  /** How long until the block is within the allowance of this node's clock (at least 1 ms). */
  get waitMs(): number {
    return Math.max(1, Number(this.timestamp - this.nowSeconds - this.allowedSeconds) * 1000);
  }
}
