import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, createAddressFromString, equalsBytes, type Address } from '@ethereumjs/util';
import type { Chain } from '../chain/chain.js';
import { mayFitLater, type Rejection } from '../chain/ethereumjs-errors.js';
import { TxPoolError } from './errors.js';
import {
  cheapestBytes,
  cheapestLastWorths,
  cheapestTails,
  farthestQueued,
  firstGap,
  highestQueued,
  pickTail,
  queuedCount,
  worthLess,
  worthOf,
  type Account,
} from './eviction.js';
import { effectiveTip, maxCost, maxFee, maxTip, validateStateless } from './validation.js';
import { txBytes } from '../util/tx-bytes.js';
import { authoritiesOf, MAX_POOLED_AUTHORIZATIONS } from './set-code.js';
import { siftDown, siftUp } from '../util/heap.js';

export { TxPoolError } from './errors.js';

/**
 * geth's four pool limits. Executable transactions (from the account's nonce up to its first
 * missing nonce) and queued ones (behind a nonce gap) are counted apart, so that transactions
 * queued first can never keep out the one that fills their gap.
 */
export interface TxPoolLimits {
  /**
   * Executable transactions per account (geth's AccountSlots) that go after those of accounts over
   * theirs: when the pool is full, or trimmed after a promotion. A guarantee, not a cap: an account may
   * hold more while the pool has room. It does not outbid price: a newcomer paying a higher tip than
   * an account's last transaction still takes its place.
   */
  accountSlots: number;
  /**
   * Executable transactions in all (geth's GlobalSlots). When full, the last transaction of an
   * account over its `accountSlots` makes room; transactions within an account's guarantee may go
   * beyond it, taking room from the queue, so the pool never holds more than
   * `globalSlots + globalQueue` transactions. Past that, a newcomer paying a higher tip than the
   * cheapest last transaction of any account takes its place.
   */
  globalSlots: number;
  /** Queued transactions per account (geth's AccountQueue); also how far past its first gap an account may send. */
  accountQueue: number;
  /** Queued transactions in all (geth's GlobalQueue). */
  globalQueue: number;
  /**
   * Encoded bytes of all pooled transactions. The counts alone let 5,120 transactions of 128 KiB hold
   * 640 MiB (and as much again decoded); geth's 32 KiB slots bound it at 160 MiB. A transaction that
   * would pass it evicts queued ones, farthest first, then executable ones paying a lower tip (each
   * the last of its account), or is refused.
   */
  globalBytes: number;
  /** Percentage a replacement must raise both the max fee and the tip by. */
  priceBumpPercent: bigint;
  /** Smallest tip per gas accepted, in wei (geth's --txpool.pricelimit). */
  minTip: bigint;
  /**
   * How long a transaction may wait behind a nonce gap before it is dropped (geth's
   * --txpool.lifetime, 3 hours): a gap that is never filled must not hold pool space for ever. An
   * executable one whose max fee fell below the base fee goes once this long after its arrival too.
   */
  queuedLifetimeMs: number;
}

/** The too-slow key of a sender's nonce (TxPool.tooSlow). */
function tooSlowNonce(sender: string, nonce: bigint): string {
  return `nonce:${sender}:${nonce}`;
}

/** How long a transaction too slow for a block (the builder's 'too-slow'), and its sender, are refused. */
export const SLOW_REFUSAL_MS = 10 * 60_000;
/** Transactions and senders remembered as too slow at most (the oldest go first). */
const MAX_TOO_SLOW = 4096;

export const DEFAULT_LIMITS: TxPoolLimits = {
  accountSlots: 16,
  globalSlots: 4096,
  accountQueue: 64,
  globalQueue: 1024,
  globalBytes: 128 * 1024 * 1024,
  priceBumpPercent: 10n,
  minTip: 1n,
  queuedLifetimeMs: 3 * 60 * 60_000,
};

/** Why the block builder may skip a transaction that stays valid: it may fit a later block. */

/**
 * A set-code transaction's authorizations are at most MAX_POOLED_AUTHORIZATIONS (each a signature this
 * pool recovers): refused with no fault, before anything is read, as it may be valid in a block this pool
 * does not build.
 */
function checkAuthorizationCount(tx: TypedTransaction): void {
  if (tx.type !== 4) return;
  const count = (tx as unknown as { authorizationList: unknown[] }).authorizationList.length;
  if (count > MAX_POOLED_AUTHORIZATIONS) {
    throw new TxPoolError(`set-code transaction with ${count} authorizations: this pool holds at most ${MAX_POOLED_AUTHORIZATIONS}`);
  }
}

/**
 * Pending transactions. Per sender, transactions are keyed by nonce: those from the account's nonce
 * up to the first gap are executable (`pending()`); later ones wait until the gap is filled. A
 * transaction with a nonce already in the pool replaces it only with a fee bump. On every new head
 * the pool re-reads the nonces and balances of its senders and drops what became stale.
 */
export class TxPool {
  private readonly accounts = new Map<string, Account>();
  private readonly byHash = new Map<string, TypedTransaction>();
  /** Sum of the accounts' `executable`. */
  private executableCount = 0;
  /** Encoded bytes of the pooled transactions. */
  private byteCount = 0;
  /** When each pooled transaction (by hash) arrived, for the queued lifetime. */
  private readonly arrived = new Map<string, number>();
  private readonly addedListeners = new Set<(hash: Uint8Array) => void>();
  /** Pooled set-code transactions naming each account as an authority, and each one's authorities (by hash). */
  private readonly authorityCount = new Map<string, number>();
  private readonly authoritiesByHash = new Map<string, string[]>();
  private resyncing?: Promise<void>;
  private resyncAgain = false;
  /**
   * Bumped whenever what the pool holds or an account's nonce changes (`recount`). The scans of every
   * account a full pool makes for a newcomer (the cheapest last transactions, the farthest queued one)
   * are kept until it moves: at a pool full of 5,120 senders each scan cost ~1 ms, and a newcomer
   * refused changes nothing, so a peer relaying a stream of cheap ones (from one funded key, each a new
   * nonce or value) cost the node a millisecond apiece.
   */
  private version = 0;
  private readonly scans = new Map<string, { version: number; baseFee: bigint; value: unknown }>();
  /**
   * Transactions whose execution outlasted a whole block's build time (the builder's 'too-slow'),
   * as `tx:HASH`, and their sender and nonce (tooSlowNonce), with when: both refused for
   * SLOW_REFUSAL_MS. Such a transaction costs each proposer a block's build time and is never mined, so
   * never paid for: by hash alone, its sender could send it again, a byte changed, for every block.
   * By nonce, not by sender: a transaction is slow by the code it calls, which may be another's (a
   * wallet calling a hostile token), and the sender's other nonces are not held (a later one waits
   * behind the gap; the nonce itself is free again after the window). A new attempt costs a mined
   * transaction first (the nonce before it) or another funded key.
   */
  private readonly tooSlow = new Map<string, number>();

  constructor(
    private readonly chain: Chain,
    private readonly limits: TxPoolLimits = DEFAULT_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    chain.on('head', () => void this.onHead());
  }

  get size(): number {
    return this.byHash.size;
  }

  /** Encoded bytes of the pooled transactions (held against `globalBytes`). */
  get bytes(): number {
    return this.byteCount;
  }

  /** Executable and queued (behind a nonce gap) transaction counts, as geth's txpool_status. */
  status(): { pending: number; queued: number } {
    return { pending: this.executableCount, queued: this.byHash.size - this.executableCount };
  }

  /** Every pooled transaction by sender, split as txpool_content does: executable (pending) and queued. */
  content(): { sender: Address; pending: TypedTransaction[]; queued: TypedTransaction[] }[] {
    const out: { sender: Address; pending: TypedTransaction[]; queued: TypedTransaction[] }[] = [];
    for (const a of this.accounts.values()) {
      const txs = [...a.txs.values()].sort((x, y) => (x.nonce < y.nonce ? -1 : 1));
      if (txs.length === 0) continue;
      const gap = firstGap(a);
      out.push({ sender: txs[0]!.getSenderAddress(), pending: txs.filter((t) => t.nonce < gap), queued: txs.filter((t) => t.nonce >= gap) });
    }
    return out;
  }

  /** Call `listener` with the hash of every transaction the pool accepts; returns an unsubscribe. */
  onAdded(listener: (hash: Uint8Array) => void): () => void {
    this.addedListeners.add(listener);
    return () => this.addedListeners.delete(listener);
  }

  get(hash: Uint8Array): TypedTransaction | undefined {
    return this.byHash.get(bytesToHex(hash));
  }

  has(hash: Uint8Array): boolean {
    return this.byHash.has(bytesToHex(hash));
  }

  /**
   * The pooled transaction of hash `hashHex` (lowercase 0x hex), whether it is executable at the head
   * (its sender's nonce up to the first gap) rather than queued behind a gap, and how far its nonce is
   * above its sender's at the head.
   */
  pooled(hashHex: string): { tx: TypedTransaction; executable: boolean; ahead: bigint } | undefined {
    const tx = this.byHash.get(hashHex);
    if (!tx) return undefined;
    const account = this.accounts.get(tx.getSenderAddress().toString());
    if (account === undefined) return { tx, executable: false, ahead: 0n };
    return { tx, executable: tx.nonce < firstGap(account), ahead: tx.nonce - account.nonce };
  }

  /** Why the pool refuses every transaction now (the node cannot write blocks), or undefined. */
  private closedFor?: string;

  /** Refuse every new transaction with `reason` until `reopen` (a transaction that can never be mined is not accepted). */
  close(reason: string): void {
    this.closedFor = reason;
  }

  reopen(): void {
    this.closedFor = undefined;
  }

  /** Whether the pool refuses every transaction now (`close`). */
  get closed(): boolean {
    return this.closedFor !== undefined;
  }

  /** Validate and add; returns the transaction hash or throws TxPoolError. */
  async add(tx: TypedTransaction): Promise<Uint8Array> {
    if (this.closedFor !== undefined) throw new TxPoolError(this.closedFor);
    const head = this.chain.head.header;
    // Gossip decodes under the newest rules the chain schedules: a set-code transaction may come before
    // the block it can go into has them. Not yet, and nobody's fault (the fork is scheduled).
    if (tx.type === 4 && !this.chain.commonAt(head.number + 1n).isActivatedEIP(7702)) {
      throw new TxPoolError('transaction type not supported: set-code (type 4) transactions need the prague fork, which this chain has not reached');
    }
    validateStateless(tx, { chainId: this.chain.chainId, blockGasLimit: head.gasLimit, nextBaseFee: head.calcNextBaseFee(), minTip: this.limits.minTip });
    const hash = bytesToHex(tx.hash());
    if (this.byHash.has(hash)) throw new TxPoolError('already known');
    this.refuseTooSlow(`tx:${hash}`, 'its execution takes longer than a block may take to build');
    checkAuthorizationCount(tx);
    const sender = tx.getSenderAddress();
    this.refuseTooSlow(
      tooSlowNonce(sender.toString(), tx.nonce),
      "this sender's transaction of this nonce took longer to execute than a block may take to build",
    );
    const account = await this.account(sender);
    const existing = account.txs.get(tx.nonce);
    const victims = new Set<TypedTransaction>();
    let authorities: string[] = [];
    try {
      if (tx.nonce < account.nonce) throw new TxPoolError(`nonce too low: next nonce ${account.nonce}, tx nonce ${tx.nonce}`);
      if (account.balance < maxCost(tx)) {
        throw new TxPoolError(`insufficient funds for gas * price + value: balance ${account.balance}, tx cost ${maxCost(tx)}`, 'unexecutable');
      }
      // A set-code transaction's signatures are recovered only once its own cheap checks have passed.
      if (tx.type === 4) {
        if (!existing && tx.nonce !== firstGap(account)) {
          throw new TxPoolError(
            `gapped set-code transaction: next nonce ${firstGap(account)}, tx nonce ${tx.nonce} (one that waits behind a gap would hold its authorities)`,
          );
        }
        authorities = authoritiesOf(tx, this.chain.chainId);
      }
      this.checkDelegation(sender.toString(), account, tx, existing, authorities);
      if (existing) {
        const bump = 100n + this.limits.priceBumpPercent;
        if (maxFee(tx) * 100n < maxFee(existing) * bump || maxTip(tx) * 100n < maxTip(existing) * bump) {
          throw new TxPoolError(`replacement transaction underpriced: raise the max fee and the tip by at least ${this.limits.priceBumpPercent}%`);
        }
      } else {
        const victim = this.roomFor(account, tx);
        if (victim) victims.add(victim);
      }
      for (const victim of this.bytesFor(account, tx, existing, victims)) victims.add(victim);
      // The account must afford all of its pool transactions at once (geth: "overdraft").
      let committed = maxCost(tx);
      for (const [nonce, other] of account.txs) if (nonce !== tx.nonce && !victims.has(other)) committed += maxCost(other);
      if (committed > account.balance) {
        throw new TxPoolError(
          `insufficient funds for gas * price + value: balance ${account.balance}, cost of this and the account's other pool transactions ${committed}`,
        );
      }
    } catch (err) {
      // A sender refused with nothing in the pool is not kept: a stranger's key per transaction (an
      // unfunded one, say) would otherwise grow the pool's accounts for good, each read again at every head.
      if (account.txs.size === 0 && this.accounts.get(sender.toString()) === account) this.accounts.delete(sender.toString());
      throw err;
    }
    for (const victim of victims) this.remove(victim);
    if (existing) {
      this.byHash.delete(bytesToHex(existing.hash()));
      this.arrived.delete(bytesToHex(existing.hash()));
      this.byteCount -= txBytes(existing).length;
      this.untrackAuthorities(existing);
    }
    if (authorities.length > 0) {
      this.authoritiesByHash.set(hash, authorities);
      for (const a of authorities) this.authorityCount.set(a, (this.authorityCount.get(a) ?? 0) + 1);
    }
    account.txs.set(tx.nonce, tx);
    this.byteCount += txBytes(tx).length;
    this.accounts.set(sender.toString(), account); // an eviction above may have emptied and dropped it
    this.byHash.set(hash, tx);
    this.arrived.set(hash, this.now());
    this.recount(account); // promotes what `tx` made executable
    this.trimExecutable({ account, nonce: tx.nonce });
    this.chain.senders.remember(tx);
    for (const listener of this.addedListeners) listener(tx.hash());
    return tx.hash();
  }

  /** The nonce the account's next transaction should use, counting executable pool transactions. */
  async pendingNonce(address: Address): Promise<bigint> {
    const a = this.accounts.get(address.toString());
    let n = a ? a.nonce : ((await this.headAccount(address))?.nonce ?? 0n);
    while (a?.txs.has(n)) n++;
    return n;
  }

  /**
   * Executable transactions, best tip first across senders, each sender's in nonce order (geth's
   * price-and-nonce order).
   */
  *pending(): Iterable<TypedTransaction> {
    const baseFee = this.chain.head.header.calcNextBaseFee();
    // One head per sender in a binary heap: best tip first, ties to the sender met first. Each
    // transaction taken costs log(senders), not a scan of every sender (16 million tip computations
    // for a full pool of 4,096 senders).
    const heap: PendingHead[] = [];
    let order = 0;
    for (const account of this.accounts.values()) {
      const tx = account.txs.get(account.nonce);
      if (tx) siftUp(heap, heap.push({ tx, account, tip: effectiveTip(tx, baseFee), order: order++ }) - 1, before);
    }
    while (heap.length > 0) {
      const head = heap[0]!;
      yield head.tx;
      const next = head.account.txs.get(head.tx.nonce + 1n);
      if (next) {
        head.tx = next;
        head.tip = effectiveTip(next, baseFee);
        siftDown(heap, 0, before);
      } else {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          siftDown(heap, 0, before);
        }
      }
    }
  }

  /**
   * The block producer's report on a block this node proposed (consensus/ibft/core/chain-backend.ts,
   * ProposalTxs): transactions the block builder refused for a lasting reason (say, the
   * sender can no longer pay) leave the pool; those that may fit a later block (block full, nonce not
   * yet reached, base fee above their max fee) stay. Included ones leave on the 'head' event.
   */
  onBlockSealed(_block: Block, rejected: ({ tx: TypedTransaction } & Rejection)[] = []): void {
    for (const { tx, kind } of rejected) {
      if (kind === 'too-slow') {
        this.rememberTooSlow(`tx:${bytesToHex(tx.hash())}`);
        this.rememberTooSlow(tooSlowNonce(tx.getSenderAddress().toString(), tx.nonce));
      }
      if (!mayFitLater(kind)) this.remove(tx);
    }
    this.trimQueued(); // a removal from the middle turns the transactions after it into queued ones
  }

  private rememberTooSlow(key: string): void {
    this.tooSlow.delete(key);
    this.tooSlow.set(key, this.now());
    if (this.tooSlow.size > MAX_TOO_SLOW) this.tooSlow.delete(this.tooSlow.keys().next().value!);
  }

  /** Refuse (lasting, no one's fault: a relayer cannot know) what `key` names while it is remembered as too slow. */
  private refuseTooSlow(key: string, why: string): void {
    const at = this.tooSlow.get(key);
    if (at === undefined) return;
    if (this.now() - at >= SLOW_REFUSAL_MS) {
      this.tooSlow.delete(key);
      return;
    }
    throw new TxPoolError(`transaction refused: ${why} (refused for ${SLOW_REFUSAL_MS / 60_000} minutes)`, undefined, true);
  }

  /** Wait for the resync after the latest head to finish (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.resyncing !== undefined) await this.resyncing;
  }

  private onHead(): void {
    if (this.resyncing !== undefined) {
      this.resyncAgain = true; // one more pass when the current one ends, on the newest head
      return;
    }
    this.resyncing = (async () => {
      do {
        this.resyncAgain = false;
        await this.resync().catch(() => undefined); // the next head retries
      } while (this.resyncAgain);
      this.resyncing = undefined;
    })();
  }

  /**
   * After a new head: refresh each sender's nonce and balance; drop included transactions and those
   * the sender can no longer pay for. Later ones of that sender wait behind the gap, for at most
   * `queuedLifetimeMs` each; so does one whose max fee is below the next base fee.
   */
  private async resync(): Promise<void> {
    if (this.accounts.size === 0) return;
    // A read of state under way: a state pruner waits for it (the head's state is kept, but it may be
    // an older head's by the time the last account is read).
    await this.chain.readers.during(async () => this.resyncFrom(await this.chain.stateAt(this.chain.head.header)));
  }

  private async resyncFrom(state: Awaited<ReturnType<Chain['stateAt']>>): Promise<void> {
    const baseFee = this.nextBaseFee();
    for (const [key, account] of this.accounts) {
      const acct = await state.getAccount(createAddressFromString(key));
      account.nonce = acct?.nonce ?? 0n;
      account.balance = acct?.balance ?? 0n;
      account.delegated = acct?.isContract() ?? false;
      this.recount(account);
      for (const tx of [...account.txs.values()]) {
        if (tx.nonce < account.nonce || maxCost(tx) > account.balance) this.remove(tx);
      }
      // Delegated since its transactions came in: only the next one stays (checkDelegation).
      if (account.delegated) for (const tx of [...account.txs.values()]) if (tx.nonce !== account.nonce) this.remove(tx);
      const expired = this.now() - this.limits.queuedLifetimeMs;
      const old = (tx: TypedTransaction) => (this.arrived.get(bytesToHex(tx.hash())) ?? 0) < expired;
      // An executable transaction whose max fee a rising base fee left below it cannot be mined, nor
      // can the account's later ones: past the lifetime it goes too, and those after it are queued.
      for (let n = account.nonce; n < firstGap(account); n++) {
        const tx = account.txs.get(n)!;
        if (maxFee(tx) < baseFee && old(tx)) {
          this.remove(tx);
          break;
        }
      }
      for (const tx of [...account.txs.values()]) if (tx.nonce > firstGap(account) && old(tx)) this.remove(tx);
    }
    // New nonces move transactions between executable and queued: back within the limits.
    this.trimQueued();
    this.trimExecutable();
  }

  /**
   * The transaction that must leave the pool for `tx`, a new nonce of `account`, to enter, if any;
   * throws TxPoolError when `tx` may not enter. Changes nothing.
   */
  private roomFor(account: Account, tx: TypedTransaction): TypedTransaction | undefined {
    const { accountSlots, globalSlots, accountQueue, globalQueue } = this.limits;
    const gap = firstGap(account);
    const distance = tx.nonce - gap;
    if (distance > BigInt(accountQueue)) {
      throw new TxPoolError(`nonce too high: next nonce ${gap}, tx nonce ${tx.nonce} (at most ${accountQueue} ahead)`, 'unexecutable');
    }
    const roomy = this.byHash.size < globalSlots + globalQueue;
    if (distance === 0n) {
      // Executable. When the executable set is full, the cheapest last transaction of an account
      // over its guarantee makes room, for a sender within its guarantee or one paying a higher tip.
      if (this.executableCount < globalSlots) return undefined;
      const within = account.executable < accountSlots;
      const tail = this.cheapestTail(accountSlots, { account, nonce: tx.nonce });
      if (tail && (within || this.tip(tail) < this.tip(tx))) return tail;
      // Within its guarantee, or filling a gap (always admitted), it takes room from the queue.
      if (within || account.txs.has(tx.nonce + 1n)) {
        if (roomy) return undefined;
        const far = this.farthestQueued();
        if (far) return far.tx; // a gap filler always finds one: its own queued transactions
      }
      // Then price decides, as geth's: the cheapest last transaction of any account goes for one that
      // pays a higher tip. Without it a pool full of senders within their guarantee (5,120 of one
      // transaction each) refused every newcomer, whatever its tip, until blocks drained them.
      const cheapest = this.cheapestTail(0, { account, nonce: tx.nonce });
      if (cheapest && this.tip(cheapest) < this.tip(tx)) return cheapest;
      throw new TxPoolError(`txpool is full (${globalSlots} executable transactions)`);
    }
    // A full queue for this account, yet `tx` found a free nonce within `accountQueue` of the gap: the
    // gap has moved down since (an eviction, a new head), and the highest queued nonce, farther than
    // `tx`, makes room.
    if (queuedCount(account) >= accountQueue) return highestQueued(account);
    if (roomy && this.byHash.size - this.executableCount < globalQueue) return undefined;
    const far = this.farthestQueued();
    if (far && far.distance > distance) return far.tx;
    throw new TxPoolError(`txpool is full (${globalQueue} queued transactions)`);
  }

  /**
   * The transactions that must leave the pool, besides `leaving`, for `tx` (replacing `existing`, if
   * any) to fit in `globalBytes`; throws TxPoolError when those worth less than `tx` do not make room.
   * Changes nothing.
   */
  private bytesFor(account: Account, tx: TypedTransaction, existing: TypedTransaction | undefined, leaving: ReadonlySet<TypedTransaction>): TypedTransaction[] {
    const { globalBytes } = this.limits;
    let need = this.byteCount + txBytes(tx).length - globalBytes;
    if (existing) need -= txBytes(existing).length;
    for (const t of leaving) need -= txBytes(t).length;
    if (need <= 0) return [];
    const baseFee = this.nextBaseFee();
    const newcomer = worthOf(account, tx, baseFee);
    if (leaving.size === 0) {
      // What would go first is worth no less than `tx`: refused without building the eviction heap.
      const keep = { account, nonce: tx.nonce };
      const last = this.scanned('last-worths', () => cheapestLastWorths(this.accounts.values(), baseFee));
      const first = last.find((c) => !(keep.account.txs.get(c.tx.nonce) === c.tx && c.tx.nonce <= keep.nonce));
      if (first === undefined || !worthLess(first.worth, newcomer)) throw new TxPoolError(`txpool is full (${globalBytes} bytes of transactions)`);
    }
    const victims = cheapestBytes(this.accounts.values(), need, {
      newcomer,
      baseFee,
      sizeOf: (t) => txBytes(t).length,
      keep: { account, nonce: tx.nonce },
      gone: leaving,
    });
    if (!victims) throw new TxPoolError(`txpool is full (${globalBytes} bytes of transactions)`);
    return victims;
  }

  /**
   * Evict the last executable transactions of accounts over their guarantee, cheapest first, until
   * the executable set is within `globalSlots` or no account is over its guarantee. `keep`: that
   * account's transactions up to that nonce stay.
   */
  private trimExecutable(keep?: { account: Account; nonce: bigint }): void {
    while (this.executableCount > this.limits.globalSlots) {
      const tx = this.cheapestTail(this.limits.accountSlots, keep);
      if (!tx || !this.remove(tx)) return; // none held: a stale scan would loop here for ever
    }
  }

  /** Evict queued transactions, farthest from executable first, until within the queue limits. */
  private trimQueued(): void {
    const { globalSlots, accountQueue, globalQueue } = this.limits;
    for (const account of this.accounts.values()) {
      while (queuedCount(account) > accountQueue) this.remove(highestQueued(account)!);
    }
    while (this.byHash.size - this.executableCount > globalQueue || this.byHash.size > globalSlots + globalQueue) {
      const far = farthestQueued(this.accounts.values());
      if (!far) return;
      this.remove(far.tx);
    }
  }

  /** The cheapest last transaction `keep` allows (eviction.ts cheapestTails, kept until the pool changes: `version`). */
  private cheapestTail(slots: number, keep?: { account: Account; nonce: bigint }): TypedTransaction | undefined {
    const baseFee = this.nextBaseFee();
    return pickTail(
      this.scanned(`tails-${slots}`, () => cheapestTails(this.accounts.values(), slots, baseFee)),
      keep,
    );
  }

  /** farthestQueued of the pooled accounts (kept until the pool changes). */
  private farthestQueued(): ReturnType<typeof farthestQueued> {
    return this.scanned('farthest', () => farthestQueued(this.accounts.values()));
  }

  /** `scan()`'s answer, computed again only once the pool or the next base fee has changed since. */
  private scanned<T>(name: string, scan: () => T): T {
    const baseFee = this.nextBaseFee();
    const kept = this.scans.get(name);
    if (kept !== undefined && kept.version === this.version && kept.baseFee === baseFee) return kept.value as T;
    const value = scan();
    this.scans.set(name, { version: this.version, baseFee, value });
    return value;
  }

  /** Recount the account's executable run after its transactions or nonce changed. */
  private recount(account: Account): void {
    this.version++;
    let n = account.nonce;
    while (account.txs.has(n)) n++;
    const executable = Number(n - account.nonce);
    this.executableCount += executable - account.executable;
    account.executable = executable;
  }

  private nextBaseFee(): bigint {
    return this.chain.head.header.calcNextBaseFee();
  }

  private tip(tx: TypedTransaction): bigint {
    return effectiveTip(tx, this.nextBaseFee());
  }

  /** Drop `tx` from the pool; false if it does not hold it. */
  private remove(tx: TypedTransaction): boolean {
    const key = tx.getSenderAddress().toString();
    const account = this.accounts.get(key);
    const held = account?.txs.get(tx.nonce);
    if (!account || !held || !equalsBytes(held.hash(), tx.hash())) return false;
    account.txs.delete(tx.nonce);
    this.byHash.delete(bytesToHex(tx.hash()));
    this.arrived.delete(bytesToHex(tx.hash()));
    this.byteCount -= txBytes(tx).length;
    this.untrackAuthorities(tx);
    this.recount(account);
    if (account.txs.size === 0) this.accounts.delete(key);
    return true;
  }

  private untrackAuthorities(tx: TypedTransaction): void {
    const hash = bytesToHex(tx.hash());
    const authorities = this.authoritiesByHash.get(hash);
    if (!authorities) return;
    this.authoritiesByHash.delete(hash);
    for (const a of authorities) {
      const n = (this.authorityCount.get(a) ?? 1) - 1;
      if (n > 0) this.authorityCount.set(a, n);
      else this.authorityCount.delete(a);
    }
  }

  /**
   * geth's EIP-7702 pool rules. The pool's overdraft check assumes only an account's own transactions
   * spend its balance and move its nonce; a delegated account's code, run by anyone's transaction, can
   * do both, so the pool could fill with transactions that fail unpaid at build time. An account
   * delegated at the head, or named as an authority by a pooled set-code transaction, has at most one
   * transaction in the pool, at its next nonce (a replacement is allowed); a set-code transaction
   * naming an account that already has pooled transactions (besides its own sender's one) is refused.
   */
  private checkDelegation(sender: string, account: Account, tx: TypedTransaction, existing: TypedTransaction | undefined, authorities: string[]): void {
    if (!existing && (account.delegated || this.authorityCount.has(sender))) {
      if (account.txs.size > 0) throw new TxPoolError(`in-flight transaction limit reached for delegated accounts: ${sender} has a transaction in the pool`);
      if (tx.nonce !== account.nonce) throw new TxPoolError(`gapped nonce from a delegated account: next nonce ${account.nonce}, tx nonce ${tx.nonce}`);
    }
    for (const a of authorities) {
      const pooled = this.accounts.get(a)?.txs.size ?? 0;
      if (pooled > 1 || (pooled === 1 && a !== sender))
        throw new TxPoolError(`authority ${a} has transactions in the pool: a set-code transaction naming it waits until they are mined`);
    }
  }

  /**
   * The account in the head's state, read as a state reader (chain.readers): a state pruner waits for
   * it, since the head read here may be below the window by the time the read ends.
   */
  private async headAccount(address: Address) {
    return this.chain.readers.during(async () => (await this.chain.stateAt(this.chain.head.header)).getAccount(address));
  }

  private async account(sender: Address): Promise<Account> {
    const key = sender.toString();
    let a = this.accounts.get(key);
    if (!a) {
      const acct = await this.headAccount(sender);
      a = { nonce: acct?.nonce ?? 0n, balance: acct?.balance ?? 0n, txs: new Map(), executable: 0, delegated: acct?.isContract() ?? false };
      // Another add() may have created it while we read the state.
      const again = this.accounts.get(key);
      if (again) return again;
      this.accounts.set(key, a);
    }
    return a;
  }
}

/** A sender's next executable transaction in `pending()`'s heap. */
interface PendingHead {
  tx: TypedTransaction;
  account: Account;
  tip: bigint;
  /** The sender's place in the pool's order: ties go to the earlier one. */
  order: number;
}

/** Whether `a` is taken before `b`: a higher tip, or the same tip and an earlier sender. */
function before(a: PendingHead, b: PendingHead): boolean {
  return a.tip > b.tip || (a.tip === b.tip && a.order < b.order);
}
