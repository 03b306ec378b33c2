import type { TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';

/** Transactions whose senders are remembered at most (~250 bytes each: ~8 MB). */
const DEFAULT_MAX = 32_768;

/**
 * The senders of transactions this node has checked, by transaction hash. A transaction object made
 * again from the same bytes (a proposal's block decoded from the wire, the same transaction gossiped
 * back) would recover its sender's key again (~60 µs with libsecp256k1); the pool checked it when it
 * took it. The hash covers the signed bytes, so the same hash is the same signature and the same sender.
 * Bounded: the oldest entries go first.
 */
export class SenderCache {
  private readonly keys = new Map<string, Uint8Array>();

  constructor(private readonly max = DEFAULT_MAX) {}

  /** Remember `tx`'s sender, if it was recovered. */
  remember(tx: TypedTransaction): void {
    const key = tx.cache.senderPubKey;
    if (key === undefined) return;
    const hash = bytesToHex(tx.hash());
    this.keys.delete(hash);
    this.keys.set(hash, key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.keys().next().value!);
  }

  /** Give each of `txs` whose sender is remembered that sender, so that nothing recovers it again. */
  fill(txs: readonly TypedTransaction[]): void {
    for (const tx of txs) {
      if (tx.cache.senderPubKey !== undefined || !tx.isSigned()) continue;
      const key = this.keys.get(bytesToHex(tx.hash()));
      if (key !== undefined) tx.cache.senderPubKey = key;
    }
  }

  get size(): number {
    return this.keys.size;
  }
}
