import type { TypedTransaction } from '@ethereumjs/tx';
import { effectiveTip } from './validation.js';
import { siftDown, siftUp } from '../util/heap.js';

/** One sender's transactions in the pool. */
export interface Account {
  /** The account's nonce in the head state. */
  nonce: bigint;
  balance: bigint;
  txs: Map<bigint, TypedTransaction>;
  /** How many transactions, from `nonce` up to the first missing nonce, are executable. */
  executable: number;
  /** The account has code in the head state (an EIP-7702 delegation): its balance may go by others' transactions. */
  delegated: boolean;
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

/**
 * What a transaction is worth keeping when the pool must free bytes: a queued one (behind a nonce
 * gap, no block can take it) less than any executable one, the farthest from executable least
 * (`value`: minus its distance from the gap); an executable one by its tip (`value`).
 */
export interface Worth {
  executable: boolean;
  value: bigint;
}

export function worthLess(a: Worth, b: Worth): boolean {
  return a.executable === b.executable ? a.value < b.value : b.executable;
}

/** The worth of `tx`, a transaction of `a` (or one it is about to take, at its nonce), at `baseFee`. */
export function worthOf(a: Account, tx: TypedTransaction, baseFee: bigint): Worth {
  const gap = firstGap(a);
  return tx.nonce <= gap ? { executable: true, value: effectiveTip(tx, baseFee) } : { executable: false, value: gap - tx.nonce };
}

/** An account's transactions from its highest nonce down, and where the walk is. */
interface Tail {
  account: Account;
  nonces: bigint[];
  at: number;
  worth: Worth;
}

/**
 * The transactions to evict, in order, to free `need` bytes for a newcomer worth `newcomer`: each the
 * highest-nonce transaction its account has left (so no gap opens), the least worth first, and each
 * worth less than the newcomer; undefined when those do not free `need` bytes. `gone`: transactions
 * already leaving. Of `keep.account`, only transactions above `keep.nonce` are candidates.
 * A heap of one tail per account: each eviction costs log(accounts), not a scan of every account.
 */
export function cheapestBytes(
  accounts: Iterable<Account>,
  need: number,
  opts: {
    newcomer: Worth;
    baseFee: bigint;
    sizeOf: (tx: TypedTransaction) => number;
    keep: { account: Account; nonce: bigint };
    gone: ReadonlySet<TypedTransaction>;
  },
): TypedTransaction[] | undefined {
  const { newcomer, baseFee, sizeOf, keep, gone } = opts;
  const before = (x: Tail, y: Tail) => worthLess(x.worth, y.worth) || (!worthLess(y.worth, x.worth) && x.nonces[x.at]! > y.nonces[y.at]!);
  const heap: Tail[] = [];
  // The tail's next candidate: false when the account has none left.
  const advance = (t: Tail): boolean => {
    for (; t.at < t.nonces.length; t.at++) {
      const nonce = t.nonces[t.at]!;
      if (t.account === keep.account && nonce <= keep.nonce) return false;
      const tx = t.account.txs.get(nonce)!;
      if (gone.has(tx)) continue;
      t.worth = worthOf(t.account, tx, baseFee);
      return true;
    }
    return false;
  };
  for (const account of accounts) {
    const t: Tail = { account, nonces: [...account.txs.keys()].sort((x, y) => (x > y ? -1 : 1)), at: 0, worth: newcomer };
    if (advance(t)) siftUp(heap, heap.push(t) - 1, before);
  }
  const victims: TypedTransaction[] = [];
  while (need > 0) {
    const t = heap[0];
    if (!t || !worthLess(t.worth, newcomer)) return undefined;
    const tx = t.account.txs.get(t.nonces[t.at]!)!;
    victims.push(tx);
    need -= sizeOf(tx);
    t.at++;
    if (!advance(t)) {
      const last = heap.pop()!;
      if (heap.length === 0) continue;
      heap[0] = last;
    }
    siftDown(heap, 0, before);
  }
  return victims;
}
