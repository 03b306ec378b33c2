import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import type { Chain } from '../chain/chain.js';
import type { TxSource } from '../consensus/ibft/sealer.js';

export class TxPoolError extends Error {}

/**
 * A minimal transaction pool: per-sender queues ordered by nonce. Transactions whose nonce leaves a
 * gap are held until the gap is filled. (Fee replacement, limits and pricing rules: see the
 * JSON-RPC / transaction pool work.)
 */
export class TxPool implements TxSource {
  private readonly bySender = new Map<string, Map<bigint, TypedTransaction>>();
  private readonly byHash = new Map<string, TypedTransaction>();
  /** The next nonce each sender's account expects, as last seen in state or in a sealed block. */
  private readonly nextNonce = new Map<string, bigint>();

  constructor(private readonly chain: Chain) {}

  get size(): number {
    return this.byHash.size;
  }

  has(hash: Uint8Array): boolean {
    return this.byHash.has(bytesToHex(hash));
  }

  async add(tx: TypedTransaction): Promise<Uint8Array> {
    if (!tx.isSigned()) throw new TxPoolError('transaction is not signed');
    if (tx.common.chainId() !== this.chain.chainId) throw new TxPoolError(`invalid chain id ${tx.common.chainId()}`);
    if (!tx.isValid()) throw new TxPoolError(`invalid transaction: ${tx.getValidationErrors().join(', ')}`);
    const hash = bytesToHex(tx.hash());
    if (this.byHash.has(hash)) throw new TxPoolError('already known');
    const sender = tx.getSenderAddress();
    const state = await this.chain.stateAt(this.chain.head.header);
    const account = await state.getAccount(sender);
    const nonce = account?.nonce ?? 0n;
    if (tx.nonce < nonce) throw new TxPoolError(`nonce too low: next nonce ${nonce}, tx nonce ${tx.nonce}`);
    const key = sender.toString();
    let queue = this.bySender.get(key);
    if (!queue) this.bySender.set(key, (queue = new Map()));
    if (queue.has(tx.nonce)) throw new TxPoolError('a transaction with this nonce is already pending');
    queue.set(tx.nonce, tx);
    this.nextNonce.set(key, nonce);
    this.byHash.set(hash, tx);
    return tx.hash();
  }

  /** For each sender, its transactions from the account's next nonce up to the first gap. */
  *pending(): Iterable<TypedTransaction> {
    for (const [sender, queue] of this.bySender) {
      let n = this.nextNonce.get(sender) ?? 0n;
      for (let tx = queue.get(n); tx !== undefined; tx = queue.get(++n)) yield tx;
    }
  }

  /** Drop what the block included (and anything of those senders with a lower nonce) and what it rejected. */
  onBlockSealed(block: Block, rejected: { tx: TypedTransaction }[]): void {
    for (const tx of block.transactions) {
      const key = tx.getSenderAddress().toString();
      this.nextNonce.set(key, tx.nonce + 1n);
      for (const stale of this.bySender.get(key)?.values() ?? []) if (stale.nonce <= tx.nonce) this.remove(stale);
    }
    for (const r of rejected) this.remove(r.tx);
  }

  private remove(tx: TypedTransaction): void {
    const hash = bytesToHex(tx.hash());
    if (!this.byHash.delete(hash)) return;
    const key = tx.getSenderAddress().toString();
    const queue = this.bySender.get(key);
    queue?.delete(tx.nonce);
    if (queue?.size === 0) {
      this.bySender.delete(key);
      this.nextNonce.delete(key);
    }
  }
}
