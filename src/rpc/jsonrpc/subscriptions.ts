import type { Block } from '@ethereumjs/block';
import { bytesToHex } from '@ethereumjs/util';
import type { Chain } from '../../chain/chain.js';
import { bloomMayMatch, keysMatch, logKeys, type LogQuery } from '../../chain/logs.js';
import { blockLogs } from '../../chain/lookup.js';
import type { TxPool } from '../../txpool/txpool.js';
import type { Logger } from '../../util/log.js';
import { LogQueryBudget } from './filters.js';
import { formatBlock, formatTransaction } from './format.js';
import { normalizeId, randomQuantityId } from './ids.js';
import { formatLog } from './methods/eth-logs.js';
import { errorMessage } from '../../util/errors.js';

/** Where a subscription's notifications go (one WebSocket connection). notify must not block or throw. */
export interface SubscriptionSink {
  /** `result`: the notification's result as JSON text, made once for all the subscriptions it goes to. */
  notify(subscription: string, result: string): void;
  /** False once its connection closed (and its subscriptions dropped): nothing more may subscribe on it. */
  readonly open?: boolean;
  /**
   * End the sink (its connection) with this reason: it missed notifications it subscribed to (the node
   * fell behind publishing heads). Without it, the hub just drops the sink's subscriptions.
   */
  drop?(reason: string): void;
}

export type Subscription = { kind: 'newHeads' } | { kind: 'logs'; query: LogQuery } | { kind: 'newPendingTransactions'; full: boolean };

interface Entry {
  sub: Subscription;
  sink: SubscriptionSink;
}
type PendingEntry = { sub: Extract<Subscription, { kind: 'newPendingTransactions' }>; sink: SubscriptionSink };

/**
 * Publishing a head's logs yields to the event loop once it has done this much work: a check of one
 * log against one subscription counts 1, a notification NOTIFY_WORK. A block of thousands of logs and
 * thousands of subscriptions then never holds the event loop (block production, requests) for long.
 */
const SLICE_WORK = 16_384;
const NOTIFY_WORK = 64;

/**
 * Heads waiting to be published beyond the one being published. Past this many, the hub skips to the
 * newest: newHeads subscribers still get every header, and each logs subscriber whose filter a skipped
 * block's bloom does not rule out (it may have missed logs) is dropped with a reason naming the blocks,
 * so it can fetch them with eth_getLogs and subscribe again.
 */
export const MAX_PENDING_HEADS = 4;

/**
 * Transactions entering the pool waiting to be announced to newPendingTransactions subscribers beyond
 * those being announced. Past it the oldest are not announced (the pool takes them faster than they can
 * be sent to every subscriber) and a warning says how many: the hub's backlog stays bounded.
 */
export const MAX_PENDING_TXS = 4096;

/** Where a logs subscription is indexed: a position it names (address, or topic i), or every log. */
type LogsIndex = { at: 'address' | number; keys: Iterable<string> } | undefined;

/**
 * A logs subscription is checked only against the logs that carry one of its alternatives at one
 * position: the most specific it names (topics 3 to 1 usually hold addresses and amounts, then the
 * contract's address, then topic 0, an event signature many contracts share); none: every log.
 */
function logsIndexOf(q: LogQuery): LogsIndex {
  for (const i of [3, 2, 1]) {
    const alts = q.topics[i];
    if (alts) return { at: i, keys: alts.keys };
  }
  if (q.addresses) return { at: 'address', keys: q.addresses.keys };
  if (q.topics[0]) return { at: 0, keys: q.topics[0].keys };
  return undefined;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * eth_subscribe's event source: new canonical heads (newHeads, logs) and transactions entering the
 * pool (newPendingTransactions), fanned out to every sink that subscribed. Each event is formatted
 * once for all subscribers. Sinks bound their own queues; the hub never waits for a sink.
 */
export class SubscriptionHub {
  private readonly entries = new Map<string, Entry>();
  private readonly bySink = new Map<SubscriptionSink, Set<string>>();
  /** Logs subscriptions by the position they are indexed at (logsIndexOf), then by key. */
  private readonly logsAt = new Map<'address' | number, Map<string, Set<string>>>();
  /** Logs subscriptions that name no address or topic: every log is checked against them. */
  private readonly logsAny = new Set<string>();
  /** newPendingTransactions subscriptions, apart: a transaction is announced without a look at the others. */
  private readonly pendingSubs = new Map<string, PendingEntry>();
  /** Hashes of transactions the pool took, waiting to be announced (at most MAX_PENDING_TXS). */
  private pendingTxs: Uint8Array[] = [];
  /** Hashes left out since the last warning (the backlog was full). */
  private pendingSkipped = 0;
  /** The announcing of `pendingTxs`, while it runs. */
  private announcing: Promise<void> | undefined;
  /** Heads are published one after the other (reading a block's logs is asynchronous): those waiting. */
  private readonly heads: Block[] = [];
  /** The publishing of `heads`, while it runs. */
  private publishing: Promise<void> | undefined;
  private readonly detach: (() => void)[] = [];

  constructor(
    private readonly chain: Chain,
    private readonly txpool: TxPool,
    private readonly logger: Logger,
    /** The node's bound on log filter entries, shared with the polling filters. */
    private readonly budget = new LogQueryBudget(),
  ) {
    const onHead = (_head: unknown, block: Block) => this.queueHead(block);
    chain.on('head', onHead);
    this.detach.push(() => chain.off('head', onHead));
    this.detach.push(txpool.onAdded((hash) => this.queuePending(hash)));
  }

  /** A new subscription's ID; refused (-32005) when its log filter would pass the node's bound on entries. */
  subscribe(sink: SubscriptionSink, sub: Subscription): string {
    if (sub.kind === 'logs') this.budget.take(sub.query);
    const id = randomQuantityId();
    this.entries.set(id, { sub, sink });
    if (sub.kind === 'logs') this.indexLogs(id, sub.query, true);
    if (sub.kind === 'newPendingTransactions') this.pendingSubs.set(id, { sub, sink });
    let ids = this.bySink.get(sink);
    if (!ids) this.bySink.set(sink, (ids = new Set()));
    ids.add(id);
    return id;
  }

  /** Remove one of `sink`'s subscriptions; false if it has no subscription with that ID. */
  unsubscribe(sink: SubscriptionSink, id: unknown): boolean {
    const key = normalizeId(id);
    const entry = key === undefined ? undefined : this.entries.get(key);
    if (!entry || entry.sink !== sink) return false;
    this.remove(key!, entry);
    this.bySink.get(sink)?.delete(key!);
    return true;
  }

  private remove(id: string, entry: Entry): void {
    this.entries.delete(id);
    this.pendingSubs.delete(id);
    if (entry.sub.kind === 'logs') {
      this.indexLogs(id, entry.sub.query, false);
      this.budget.release(entry.sub.query);
    }
  }

  private indexLogs(id: string, q: LogQuery, add: boolean): void {
    const index = logsIndexOf(q);
    if (!index) return void (add ? this.logsAny.add(id) : this.logsAny.delete(id));
    let byKey = this.logsAt.get(index.at);
    if (!byKey) this.logsAt.set(index.at, (byKey = new Map()));
    for (const key of index.keys) {
      let ids = byKey.get(key);
      if (add) {
        if (!ids) byKey.set(key, (ids = new Set()));
        ids.add(id);
      } else if (ids?.delete(id) && ids.size === 0) byKey.delete(key);
    }
  }

  count(sink: SubscriptionSink): number {
    return this.bySink.get(sink)?.size ?? 0;
  }

  /** Remove every subscription of a sink (its connection closed). */
  dropSink(sink: SubscriptionSink): void {
    for (const id of this.bySink.get(sink) ?? []) {
      const entry = this.entries.get(id);
      if (entry) this.remove(id, entry);
    }
    this.bySink.delete(sink);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stop listening to the chain and the pool; resolves once the head being published is done. */
  async close(): Promise<void> {
    for (const d of this.detach.splice(0)) d();
    for (const [id, entry] of this.entries) this.remove(id, entry);
    this.bySink.clear();
    this.heads.length = 0;
    this.pendingTxs = [];
    await this.settled();
    await this.announcing;
  }

  /** Resolves once the heads queued so far are published (or skipped). */
  async settled(): Promise<void> {
    await this.publishing;
  }

  /**
   * Queue a new head; past MAX_PENDING_HEADS waiting, skip to the newest (the node cannot keep up: its
   * backlog, and the blocks it holds, stay bounded) and tell the logs subscribers that missed logs.
   */
  private queueHead(block: Block): void {
    this.heads.push(block);
    if (this.heads.length > MAX_PENDING_HEADS) this.skip(this.heads.splice(0, this.heads.length - 1));
    if (this.publishing !== undefined) return;
    this.publishing = (async () => {
      for (let next = this.heads.shift(); next; next = this.heads.shift()) {
        try {
          await this.publishHead(next);
        } catch (err) {
          this.logger.error({ err: errorMessage(err) }, 'subscription notifications for a new head failed');
        }
      }
      this.publishing = undefined;
    })();
  }

  private skip(blocks: Block[]): void {
    const from = blocks[0]!.header.number;
    const to = blocks[blocks.length - 1]!.header.number;
    this.logger.warn({ from: Number(from), to: Number(to) }, 'subscriptions: new heads come faster than their logs are published; skipping blocks');
    const reason = `missed logs of blocks ${from}-${to} (node busy): eth_getLogs them, subscribe again`;
    const missed = new Set<SubscriptionSink>();
    for (const block of blocks) {
      let header: string | undefined;
      for (const [id, { sub, sink }] of this.entries) {
        if (sub.kind === 'newHeads') sink.notify(id, (header ??= JSON.stringify(formatHeader(block))));
        else if (sub.kind === 'logs' && !missed.has(sink) && bloomMayMatch(block.header.logsBloom, sub.query)) missed.add(sink);
      }
    }
    for (const sink of missed) {
      if (sink.drop) sink.drop(reason);
      this.dropSink(sink);
    }
  }
  /**
   * newHeads first; then the logs of the block to each logs subscription its bloom does not rule out
   * (none: the block's logs are not even read), each log checked only against the subscriptions indexed
   * under its address or one of its topics (logsIndexOf) and those that name nothing, its keys made and
   * its notification formatted once for all subscriptions, yielding to the event loop between slices.
   */
  private async publishHead(block: Block): Promise<void> {
    if (this.entries.size === 0) return;
    let header: string | undefined;
    const logSubs: [string, Extract<Subscription, { kind: 'logs' }>, SubscriptionSink][] = [];
    for (const [id, { sub, sink }] of this.entries) {
      if (sub.kind === 'newHeads') sink.notify(id, (header ??= JSON.stringify(formatHeader(block))));
      else if (sub.kind === 'logs' && bloomMayMatch(block.header.logsBloom, sub.query)) logSubs.push([id, sub, sink]);
    }
    if (logSubs.length === 0) return;
    const logs = await blockLogs(this.chain, block);
    const eligible = new Map(logSubs.map(([id, sub, sink]) => [id, { sub, sink }]));
    const formatted: string[] = [];
    let work = 0;
    for (let i = 0; i < logs.length; i++) {
      const keys = logKeys(logs[i]!.log);
      // Each log against the subscriptions indexed under one of its keys, and those that name nothing.
      const candidates: Iterable<string>[] = [this.logsAny];
      for (const [at, byKey] of this.logsAt) {
        const ids = byKey.get(at === 'address' ? keys.address : (keys.topics[at] ?? ''));
        if (ids) candidates.push(ids);
      }
      for (const ids of candidates) {
        for (const id of ids) {
          if (work >= SLICE_WORK) {
            work = 0;
            await nextTurn();
          }
          work++;
          const entry = eligible.get(id);
          if (!entry || !this.entries.has(id) || !keysMatch(keys, entry.sub.query)) continue; // unsubscribed, or its connection closed, while the hub waited
          entry.sink.notify(id, (formatted[i] ??= JSON.stringify(formatLog(logs[i]!))));
          work += NOTIFY_WORK;
        }
      }
    }
  }

  /**
   * Queue a transaction the pool took for announcing (none when nobody subscribed): the hashes of one
   * turn of the event loop go out together, after it, in slices (see announcePending), never from
   * within the pool's admission. Past MAX_PENDING_TXS waiting, the oldest is left out.
   */
  private queuePending(hash: Uint8Array): void {
    if (this.pendingSubs.size === 0) return;
    this.pendingTxs.push(hash);
    if (this.pendingTxs.length > MAX_PENDING_TXS) {
      this.pendingTxs.shift();
      this.pendingSkipped++;
    }
    if (this.announcing !== undefined) return;
    this.announcing = (async () => {
      try {
        await nextTurn(); // the rest of this turn's transactions join the batch
        while (this.pendingTxs.length > 0) {
          const batch = this.pendingTxs;
          this.pendingTxs = [];
          await this.announcePending(batch);
          if (this.pendingSkipped > 0) {
            this.logger.warn(
              { skipped: this.pendingSkipped, limit: MAX_PENDING_TXS },
              'subscriptions: transactions enter the pool faster than they can be announced; skipped the oldest',
            );
            this.pendingSkipped = 0;
          }
        }
      } catch (err) {
        this.logger.error({ err: errorMessage(err) }, 'newPendingTransactions notifications failed');
      } finally {
        this.announcing = undefined;
      }
    })();
  }

  /**
   * Each transaction of `hashes`, in order, to every newPendingTransactions subscription (as a hash, or
   * whole while the pool still holds it), formatted once for all, yielding to the event loop between
   * slices of SLICE_WORK: 8,192 subscriptions hold the loop for a slice at a time, not ~7 ms a
   * transaction. A subscription made meanwhile gets the next batch; one removed gets no more.
   */
  private async announcePending(hashes: Uint8Array[]): Promise<void> {
    const subs = [...this.pendingSubs];
    let work = 0;
    for (const hash of hashes) {
      let hashOnly: string | undefined;
      let full: string | undefined | null;
      for (const [id, entry] of subs) {
        if (work >= SLICE_WORK) {
          work = 0;
          await nextTurn();
        }
        work++;
        if (this.pendingSubs.get(id) !== entry) continue; // unsubscribed, or its connection closed, while the hub waited
        let result: string | null;
        if (entry.sub.full) {
          if (full === undefined) {
            const tx = this.txpool.get(hash);
            full = tx ? JSON.stringify(formatTransaction(tx, undefined, undefined)) : null; // gone from the pool since
          }
          result = full;
        } else result = hashOnly ??= JSON.stringify(bytesToHex(hash));
        if (result === null) continue;
        entry.sink.notify(id, result);
        work += NOTIFY_WORK;
      }
    }
  }
}

/** A newHeads notification: the block's header fields and hash, as geth sends them. */
export function formatHeader(block: Block): Record<string, unknown> {
  const { transactions: _t, uncles: _u, size: _s, totalDifficulty: _d, ...header } = formatBlock(block, false);
  return header;
}
