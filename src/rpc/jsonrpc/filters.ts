import { logQueryEntries, type LogQuery } from '../../chain/logs.js';
import { RpcError, RpcErrorCode } from './errors.js';
import { normalizeId, randomQuantityId } from './ids.js';

/** Filters not polled for this long are removed (geth: 5 minutes). */
export const FILTER_TTL_MS = 5 * 60_000;
/** Most filters at once: a client that never uninstalls cannot grow the node without bound. */
export const MAX_FILTERS = 10_000;
/**
 * Most filters installed from one client address (RpcCall.client: counted only where the server tells
 * clients apart, beyond loopback), so that one client cannot take every slot of MAX_FILTERS.
 */
export const MAX_FILTERS_PER_ADDRESS = 1_000;

/**
 * Most unpolled transaction hashes a pending-transaction filter reports; older ones are dropped. They
 * are held once for all filters (a ring), so a transaction costs the same with 10,000 filters as with one.
 */
export const MAX_PENDING_HASHES = 4096;

/**
 * Addresses and topic alternatives that log filters and logs subscriptions may hold together, node-wide
 * (~70 bytes each: ~70 MB at the bound). Counting filters alone let 10,000 filters of 1,000 addresses and
 * 4 x 1,000 topics take ~11 GiB.
 */
export const MAX_LOG_QUERY_ENTRIES = 1_000_000;

/** The node's LogQuery entries held by filters and subscriptions, within a bound. */
export class LogQueryBudget {
  private used = 0;

  constructor(readonly limit = MAX_LOG_QUERY_ENTRIES) {}

  /** Hold `q`'s entries, or refuse it (-32005) when the node would hold more than the bound. */
  take(q: LogQuery): void {
    const n = logQueryEntries(q);
    if (this.used + n > this.limit)
      throw new RpcError(
        RpcErrorCode.LimitExceeded,
        `too many log filter entries: the node's filters and logs subscriptions hold ${this.used} addresses and topics, ${n} more would pass the limit of ${this.limit}; uninstall some`,
      );
    this.used += n;
  }

  release(q: LogQuery): void {
    this.used -= logQueryEntries(q);
  }

  get held(): number {
    return this.used;
  }
}

export type Filter =
  | { kind: 'block'; next: bigint }
  /** `nextLog`: the first log of block `next` the next poll reports (a poll cut by the answer's bounds). */
  | { kind: 'logs'; query: LogQuery; from: bigint; to?: bigint; next: bigint; nextLog?: number }
  /** `next`: the sequence number of the first transaction the next poll reports. */
  | { kind: 'pending'; next: number };

type PendingFilter = Extract<Filter, { kind: 'pending' }>;

/**
 * Installed polling filters (eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter), by
 * random ID. `next` is the first block the next eth_getFilterChanges reports.
 */
export class FilterStore {
  private readonly filters = new Map<string, { filter: Filter; touched: number; client: string | undefined }>();
  /** Filters installed by each client address (those installed without one are not counted). */
  private readonly byClient = new Map<string, number>();
  /** The pending-transaction filters installed. */
  private readonly pendingFilters = new Set<PendingFilter>();
  /** The newest hashes the pool accepted while pending filters were installed: hash `seq` at `seq % MAX`. */
  private readonly pendingRing: string[] = [];
  /** How many hashes were ever put in the ring: the sequence number of the next one. */
  private pendingSeq = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly budget = new LogQueryBudget(),
  ) {}

  /** Install `filter` for `client` (RpcCall.client), or refuse it past the node's or the client's bound. */
  install(filter: Filter, client?: string): string {
    this.sweep();
    const mine = client === undefined ? 0 : (this.byClient.get(client) ?? 0);
    if (mine >= MAX_FILTERS_PER_ADDRESS)
      throw new RpcError(RpcErrorCode.LimitExceeded, `too many filters from your address (limit ${MAX_FILTERS_PER_ADDRESS}): uninstall some`);
    if (this.filters.size >= MAX_FILTERS) throw new Error(`too many filters (${MAX_FILTERS}): uninstall some`);
    if (filter.kind === 'logs') this.budget.take(filter.query);
    const id = randomQuantityId();
    this.filters.set(id, { filter, touched: this.now(), client });
    if (client !== undefined) this.byClient.set(client, mine + 1);
    if (filter.kind === 'pending') this.pendingFilters.add(filter);
    return id;
  }

  /** A new pending-transaction filter: it reports the transactions accepted from now on. */
  installPending(client?: string): string {
    return this.install({ kind: 'pending', next: this.pendingSeq }, client);
  }

  /** The hashes accepted since the filter's last poll (the newest MAX_PENDING_HASHES at most), in order. */
  pendingChanges(filter: PendingFilter): string[] {
    const from = Math.max(filter.next, this.pendingSeq - this.pendingRing.length);
    const out: string[] = [];
    for (let seq = from; seq < this.pendingSeq; seq++) out.push(this.pendingRing[seq % MAX_PENDING_HASHES]!);
    filter.next = this.pendingSeq;
    return out;
  }

  /** The filter, marked as polled now; undefined if unknown or expired. */
  get(id: string): Filter | undefined {
    this.sweep();
    const entry = this.filters.get(normalizeId(id) ?? '');
    if (!entry) return undefined;
    entry.touched = this.now();
    return entry.filter;
  }

  uninstall(id: string): boolean {
    const key = normalizeId(id) ?? '';
    const entry = this.filters.get(key);
    if (!entry) return false;
    this.drop(key, entry);
    return true;
  }

  get size(): number {
    return this.filters.size;
  }

  get pendingFilterCount(): number {
    return this.pendingFilters.size;
  }

  /** Hashes held for pending-transaction filters, for all of them together (at most MAX_PENDING_HASHES). */
  get pendingHashesHeld(): number {
    return this.pendingRing.length;
  }

  /** A transaction entered the pool: every pending-transaction filter will report it once. */
  notePendingTransaction(hash: string): void {
    if (this.pendingFilters.size === 0) return;
    this.pendingRing[this.pendingSeq % MAX_PENDING_HASHES] = hash;
    this.pendingSeq++;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, e] of this.filters) if (now - e.touched > FILTER_TTL_MS) this.drop(id, e);
  }

  private drop(id: string, { filter, client }: { filter: Filter; client: string | undefined }): void {
    this.filters.delete(id);
    if (client !== undefined) {
      const left = (this.byClient.get(client) ?? 1) - 1;
      if (left > 0) this.byClient.set(client, left);
      else this.byClient.delete(client);
    }
    if (filter.kind === 'logs') this.budget.release(filter.query);
    if (filter.kind === 'pending') {
      this.pendingFilters.delete(filter);
      if (this.pendingFilters.size === 0) this.pendingRing.length = 0; // the next filter starts at pendingSeq
    }
  }
}
