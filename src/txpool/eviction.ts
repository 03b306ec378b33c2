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
 * The executable transactions to evict first when the executable set is over its global limit, two of
 * distinct accounts, cheapest first: the last one (so no gap opens) of an account holding more than its
 * `slots` guarantee (0: of any account); the lowest tip at `baseFee` first, then the highest nonce.
 * `pickTail` takes the first a newcomer's `keep` allows, which rules out one account at most. The pool
 * keeps them until what it holds changes (TxPool `version`): a newcomer it refuses costs no scan.
 */
export function cheapestTails(accounts: Iterable<Account>, slots: number, baseFee: bigint): TypedTransaction[] {
  const best: { tx: TypedTransaction; tip: bigint }[] = [];
  const cheaper = (tx: TypedTransaction, tip: bigint, than: { tx: TypedTransaction; tip: bigint } | undefined) =>
    than === undefined || tip < than.tip || (tip === than.tip && tx.nonce > than.tx.nonce);
  for (const a of accounts) {
    if (a.executable <= slots) continue;
    const tx = a.txs.get(firstGap(a) - 1n)!;
    const tip = effectiveTip(tx, baseFee);
    if (cheaper(tx, tip, best[0])) best.unshift({ tx, tip });
    else if (cheaper(tx, tip, best[1])) best[1] = { tx, tip };
    best.length = Math.min(best.length, 2);
  }
  return best.map((b) => b.tx);
}

/** The first of `tails` (cheapestTails') that `keep` allows: of `keep.account`, only transactions above `keep.nonce`. */
export function pickTail(tails: readonly TypedTransaction[], keep?: { account: Account; nonce: bigint }): TypedTransaction | undefined {
  return tails.find((tx) => !(keep !== undefined && keep.account.txs.get(tx.nonce) === tx && tx.nonce <= keep.nonce));
}

/**
 * The least worth (worthOf) of any account's highest-nonce transaction, and the next least of another
 * account: what cheapestBytes would evict first, for any `keep` (which rules out one account at most).
 */
export function cheapestLastWorths(accounts: Iterable<Account>, baseFee: bigint): { tx: TypedTransaction; worth: Worth }[] {
  const best: { tx: TypedTransaction; worth: Worth }[] = [];
  for (const a of accounts) {
    let tx: TypedTransaction | undefined;
    for (const t of a.txs.values()) if (!tx || t.nonce > tx.nonce) tx = t;
    if (!tx) continue;
    const worth = worthOf(a, tx, baseFee);
    if (best[0] === undefined || worthLess(worth, best[0].worth)) best.unshift({ tx, worth });
    else if (best[1] === undefined || worthLess(worth, best[1].worth)) best[1] = { tx, worth };
    best.length = Math.min(best.length, 2);
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
