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
}

export type Subscription = { kind: 'newHeads' } | { kind: 'logs'; query: LogQuery } | { kind: 'newPendingTransactions'; full: boolean };

interface Entry {
  sub: Subscription;
  sink: SubscriptionSink;
}

/**
 * Publishing a head's logs yields to the event loop once it has done this much work: a check of one
 * log against one subscription counts 1, a notification NOTIFY_WORK. A block of thousands of logs and
 * thousands of subscriptions then never holds the event loop (block production, requests) for long.
 */
const SLICE_WORK = 16_384;
const NOTIFY_WORK = 64;

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
  /** Heads are published one after the other (reading a block's logs is asynchronous). */
  private publishing: Promise<void> = Promise.resolve();
  private readonly detach: (() => void)[] = [];

  constructor(
    private readonly chain: Chain,
    private readonly txpool: TxPool,
    private readonly logger: Logger,
    /** The node's bound on log filter entries, shared with the polling filters. */
    private readonly budget = new LogQueryBudget(),
  ) {
    const onHead = (_head: unknown, block: Block) => {
      this.publishing = this.publishing
        .then(() => this.publishHead(block))
        .catch((err: unknown) => {
          this.logger.error({ err: errorMessage(err) }, 'subscription notifications for a new head failed');
        });
    };
    chain.on('head', onHead);
    this.detach.push(() => chain.off('head', onHead));
    this.detach.push(txpool.onAdded((hash) => this.publishPending(hash)));
  }

  /** A new subscription's ID; refused (-32005) when its log filter would pass the node's bound on entries. */
  subscribe(sink: SubscriptionSink, sub: Subscription): string {
    if (sub.kind === 'logs') this.budget.take(sub.query);
    const id = randomQuantityId();
    this.entries.set(id, { sub, sink });
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
    if (entry.sub.kind === 'logs') this.budget.release(entry.sub.query);
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
    await this.publishing;
  }

  /**
   * newHeads first; then the logs of the block to each logs subscription its bloom does not rule out
   * (none: the block's logs are not even read), each log's keys made and its notification formatted
   * once for all subscriptions, yielding to the event loop between slices of the work.
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
    const keys = logs.map((l) => logKeys(l.log));
    const formatted: string[] = [];
    let work = 0;
    for (const [id, sub, sink] of logs.length > 0 ? logSubs : []) {
      if (!this.entries.has(id)) continue; // unsubscribed, or its connection closed, while the hub waited
      for (let i = 0; i < logs.length; i++) {
        if (work >= SLICE_WORK) {
          work = 0;
          await nextTurn();
          if (!this.entries.has(id)) break;
        }
        work++;
        if (!keysMatch(keys[i]!, sub.query)) continue;
        sink.notify(id, (formatted[i] ??= JSON.stringify(formatLog(logs[i]!))));
        work += NOTIFY_WORK;
      }
    }
  }

  private publishPending(hash: Uint8Array): void {
    let full: string | undefined;
    let hashOnly: string | undefined;
    for (const [id, { sub, sink }] of this.entries) {
      if (sub.kind !== 'newPendingTransactions') continue;
      if (!sub.full) {
        sink.notify(id, (hashOnly ??= JSON.stringify(bytesToHex(hash))));
        continue;
      }
      if (full === undefined) {
        const tx = this.txpool.get(hash);
        if (!tx) continue;
        full = JSON.stringify(formatTransaction(tx, undefined, undefined));
      }
      sink.notify(id, full);
    }
  }
}

/** A newHeads notification: the block's header fields and hash, as geth sends them. */
export function formatHeader(block: Block): Record<string, unknown> {
  const { transactions: _t, uncles: _u, size: _s, totalDifficulty: _d, ...header } = formatBlock(block, false);
  return header;
}
