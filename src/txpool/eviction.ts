import type { TypedTransaction } from '@ethereumjs/tx';
import { effectiveTip } from './validation.js';

/** One sender's transactions in the pool. */
export interface Account {
  /** The account's nonce in the head state. */
  nonce: bigint;
  balance: bigint;
  txs: Map<bigint, TypedTransaction>;
  /** How many transactions, from `nonce` up to the first missing nonce, are executable. */
  executable: number;
}

/** The first nonce missing from the account's executable run: the next executable nonce. */
export function firstGap(a: Account): bigint {
  return a.nonce + BigInt(a.executable);
}

/** Transactions of the account waiting behind a nonce gap. */
export function queuedCount(a: Account): number {
  return a.txs.size - a.executable;
}

/** The account's queued transaction with the highest nonce. */
export function highestQueued(a: Account): TypedTransaction | undefined {
  let best: TypedTransaction | undefined;
  const gap = firstGap(a);
  for (const [nonce, tx] of a.txs) if (nonce > gap && (!best || nonce > best.nonce)) best = tx;
  return best;
}

/**
 * The queued transaction farthest from becoming executable (the largest distance from its
 * account's first gap), with that distance.
 */
export function farthestQueued(accounts: Iterable<Account>): { tx: TypedTransaction; distance: bigint } | undefined {
  let best: { tx: TypedTransaction; distance: bigint } | undefined;
  for (const a of accounts) {
    const tx = queuedCount(a) > 0 ? highestQueued(a) : undefined;
    if (!tx) continue;
    const distance = tx.nonce - firstGap(a);
    if (!best || distance > best.distance) best = { tx, distance };
  }
  return best;
}

/**
 * The executable transaction to evict when the executable set is over its global limit: the last one
 * (so no gap opens) of an account holding more than its `slots` guarantee (0: of any account); the lowest tip at
 * `baseFee` first, then the highest nonce. Of `keep.account`, only transactions above `keep.nonce`
 * are candidates.
 */
export function cheapestTail(
  accounts: Iterable<Account>,
  slots: number,
  baseFee: bigint,
  keep?: { account: Account; nonce: bigint },
): TypedTransaction | undefined {
  let best: TypedTransaction | undefined;
  let bestTip = 0n;
  for (const a of accounts) {
    if (a.executable <= slots) continue;
    const tx = a.txs.get(firstGap(a) - 1n)!;
    if (keep?.account === a && tx.nonce <= keep.nonce) continue;
    const tip = effectiveTip(tx, baseFee);
    if (!best || tip < bestTip || (tip === bestTip && tx.nonce > best.nonce)) {
      best = tx;
      bestTip = tip;
    }
  }
  return best;
}
