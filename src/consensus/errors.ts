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
