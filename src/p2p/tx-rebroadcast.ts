/**
 * Transactions this node's own clients sent, published again while they wait in the pool (Nethermind's
 * persistent broadcast of local transactions). Gossip reaches each peer once: a peer that dropped a
 * transaction then (catching up, restoring, its pool closed, a full queue it has since drained) never
 * hears of it again, and where that peer is the only path to the validators (a line of nodes, a
 * sentry in front of them) the transaction waits in this node's pool until it expires, never mined.
 * Only transactions still pooled and executable at this node's head are published again (one behind
 * a nonce gap could not go into a block anyway; the lookup also holds back one too far above its
 * sender's nonce for a peer that lacks the nonces below it), each `afterMs` after it last went out,
 * then twice as long each time up to `maxBackoff` times that (a peer that refuses it by its own policy,
 * a price limit, refuses it again, and each refusal counts towards throttling this node there), at
 * most `maxPerCheck` and `maxBytesPerCheck` a check: what a peer already holds costs it one hash lookup
 * and is not relayed further (gossip.ts), so the cost is one message per check at most.
 */

/** A local transaction waiting this long since it was last published is published again. */
export const REBROADCAST_AFTER_MS = 15_000;
/** How often the waiting local transactions are looked at. */
export const REBROADCAST_CHECK_MS = 5_000;
/** Local transactions remembered (the pool holds at most as many executable ones: DEFAULT_LIMITS.globalSlots). */
export const MAX_LOCAL_TXS = 4096;
/** The longest wait between two publications of one transaction, in multiples of `afterMs` (15 s: 8 minutes). */
export const MAX_BACKOFF = 32;
/** Transactions published again in one check, and their bytes: one batch message (p2p/messages.ts). */
export const MAX_REBROADCAST_PER_CHECK = 128;
export const MAX_REBROADCAST_BYTES_PER_CHECK = 64 * 1024;

export interface LocalTxRebroadcastOptions {
  /** The transaction's bytes if it is still pooled and executable at the head; undefined otherwise (forgotten). */
  lookup: (hashHex: string) => Uint8Array | undefined | 'queued';
  publish: (raw: Uint8Array) => void;
  /** No publishing now (the node is catching up, or its pool is closed): nothing is forgotten. */
  paused: () => boolean;
  now?: () => number;
  afterMs?: number;
  checkMs?: number;
  maxPerCheck?: number;
  maxBytesPerCheck?: number;
  maxTracked?: number;
  maxBackoff?: number;
}

export class LocalTxRebroadcast {
  /** Local transactions by hash (hex): when each was last published, and the wait before the next (in `afterMs`). */
  private readonly published = new Map<string, { at: number; wait: number }>();
  private timer?: ReturnType<typeof setInterval>;
  private readonly now: () => number;

  constructor(private readonly opts: LocalTxRebroadcastOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Remember a transaction a client of this node sent, just published. */
  track(hashHex: string): void {
    this.published.delete(hashHex);
    this.published.set(hashHex, { at: this.now(), wait: 1 });
    const max = this.opts.maxTracked ?? MAX_LOCAL_TXS;
    while (this.published.size > max) this.published.delete(this.published.keys().next().value!);
  }

  get size(): number {
    return this.published.size;
  }

  /** Publish again what has waited `afterMs` since it was last published; returns how many. */
  check(): number {
    if (this.opts.paused()) return 0;
    const now = this.now();
    const after = this.opts.afterMs ?? REBROADCAST_AFTER_MS;
    const maxCount = this.opts.maxPerCheck ?? MAX_REBROADCAST_PER_CHECK;
    const maxBytes = this.opts.maxBytesPerCheck ?? MAX_REBROADCAST_BYTES_PER_CHECK;
    const due: [string, Uint8Array][] = [];
    let bytes = 0;
    // Oldest publication first: the map is kept in that order (each publication moves its entry last).
    for (const [hash, { at, wait }] of this.published) {
      if (now - at < after) break; // nothing later is due either
      if (now - at < after * wait) continue;
      const raw = this.opts.lookup(hash);
      if (raw === undefined) {
        this.published.delete(hash); // mined, replaced, evicted or dropped: forgotten
        continue;
      }
      if (raw === 'queued') continue; // behind a nonce gap: waits for it, remembered
      if (due.length >= maxCount || (due.length > 0 && bytes + raw.length > maxBytes)) break;
      due.push([hash, raw]);
      bytes += raw.length;
    }
    const most = this.opts.maxBackoff ?? MAX_BACKOFF;
    for (const [hash, raw] of due) {
      const wait = this.published.get(hash)!.wait;
      this.published.delete(hash);
      this.published.set(hash, { at: now, wait: Math.min(wait * 2, most) });
      this.opts.publish(raw);
    }
    return due.length;
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.opts.checkMs ?? REBROADCAST_CHECK_MS);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
