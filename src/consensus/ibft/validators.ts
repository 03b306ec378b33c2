import { equalsBytes } from '@ethereumjs/util';

/** The largest number of faulty validators a set of `n` tolerates: F = floor((n - 1) / 3). */
export function maxFaulty(n: number): number {
  return Math.floor((n - 1) / 3);
}

/**
 * The smallest quorum Q of `n` validators with which any two quorums share more than F members
 * (2Q - n > F), so that two quorums always have an honest validator in common and cannot decide two
 * values: Q = ceil(2n / 3) for every n (go-ibft's and Polygon Edge's "optimal" quorum). It is at
 * most n - F, so the honest validators alone still form one.
 */
export function optimalQuorum(n: number): number {
  return Math.ceil((2 * n) / 3);
}

/**
 * The Polygon SDK's original quorum 2F + 1. It is safe only when n = 3F + 1 (there it equals
 * optimalQuorum); for other n two disjoint groups can each reach it (n = 6: 3 and 3; n = 2 and 3: 1).
 * Kept only to verify blocks sealed under it before a chain's quorum switch block.
 */
export function legacyQuorum(n: number): number {
  return 2 * maxFaulty(n) + 1;
}

/**
 * Which quorum rule applies at which height. Blocks from `switchBlock` on need optimalQuorum; blocks
 * below it were sealed under legacyQuorum (a chain started before the rule changed). A genesis file
 * without `params.engine.ibft.quorumSwitchBlock` keeps the legacy rule; `basalt genesis` writes 0.
 */
export class QuorumRule {
  /** The rule of a new chain: the optimal quorum from block 0. */
  static readonly OPTIMAL = new QuorumRule(0n);
  /** The rule of a chain whose genesis file names no switch block. */
  static readonly LEGACY = new QuorumRule(undefined);

  constructor(readonly switchBlock: bigint | undefined) {}

  /** Whether `height` is decided by the optimal quorum. */
  optimalAt(height: bigint): boolean {
    return this.switchBlock !== undefined && height >= this.switchBlock;
  }

  /** Committed seals (and PREPAREs, COMMITs, ROUND-CHANGEs) block `height` needs of `n` validators. */
  at(height: bigint, n: number): number {
    return this.optimalAt(height) ? optimalQuorum(n) : legacyQuorum(n);
  }

  /**
   * Why `n` validators deciding `height` under this rule are unsafe (two disjoint groups can each reach
   * the quorum), or undefined when they are not.
   */
  unsafeAt(height: bigint, n: number): string | undefined {
    const q = this.at(height, n);
    if (2 * q - n > maxFaulty(n)) return undefined;
    return `the quorum of ${q} of ${n} validators (2F+1) lets two groups that share no honest validator each seal a block at the same height: a network split forks the chain`;
  }
}

// Byte comparisons, not hex strings: a restore asks these of every header (two hex strings a
// validator cost a header ~10 us, a fifth of its check without seals: bench:headers).
export function validatorIndex(validators: readonly Uint8Array[], addr: Uint8Array): number {
  return validators.findIndex((v) => equalsBytes(v, addr));
}

export function sameValidatorSet(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a === b || (a.length === b.length && a.every((v, i) => equalsBytes(v, b[i]!)));
}

/** Round-robin proposer for the block after the one `lastProposer` sealed (round 0). */
export function nextProposer(validators: Uint8Array[], lastProposer: Uint8Array | undefined, round = 0): Uint8Array {
  const last = lastProposer ? validatorIndex(validators, lastProposer) : -1;
  const idx = (last + 1 + round) % validators.length;
  return validators[idx < 0 ? 0 : idx]!;
}
