import type { LogQuery } from '../../chain/logs.js';
import { normalizeId, randomQuantityId } from './ids.js';

/** Filters not polled for this long are removed (geth: 5 minutes). */
export const FILTER_TTL_MS = 5 * 60_000;
/** Most filters at once: a client that never uninstalls cannot grow the node without bound. */
export const MAX_FILTERS = 10_000;

/** Most unpolled transaction hashes a pending-transaction filter keeps; older ones are dropped. */
export const MAX_PENDING_HASHES = 4096;

export type Filter =
  | { kind: 'block'; next: bigint }
  | { kind: 'logs'; query: LogQuery; from: bigint; to?: bigint; next: bigint }
  | { kind: 'pending'; hashes: string[] };

type PendingFilter = Extract<Filter, { kind: 'pending' }>;

/**
 * Installed polling filters (eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter), by
 * random ID. `next` is the first block the next eth_getFilterChanges reports.
 */
export class FilterStore {
  private readonly filters = new Map<string, { filter: Filter; touched: number }>();
  /** The pending-transaction filters, so that each pool admission touches only those. */
  private readonly pendingFilters = new Set<PendingFilter>();

  constructor(private readonly now: () => number = Date.now) {}

  install(filter: Filter): string {
    this.sweep();
    if (this.filters.size >= MAX_FILTERS) throw new Error(`too many filters (${MAX_FILTERS}): uninstall some`);
    const id = randomQuantityId();
    this.filters.set(id, { filter, touched: this.now() });
    if (filter.kind === 'pending') this.pendingFilters.add(filter);
    return id;
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
    this.drop(key, entry.filter);
    return true;
  }

  get size(): number {
    return this.filters.size;
  }

  get pendingFilterCount(): number {
    return this.pendingFilters.size;
  }

  /** A transaction entered the pool: every pending-transaction filter will report it once. */
  notePendingTransaction(hash: string): void {
    for (const filter of this.pendingFilters) {
      filter.hashes.push(hash);
      if (filter.hashes.length > MAX_PENDING_HASHES) filter.hashes.splice(0, filter.hashes.length - MAX_PENDING_HASHES);
    }
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, e] of this.filters) if (now - e.touched > FILTER_TTL_MS) this.drop(id, e.filter);
  }

  private drop(id: string, filter: Filter): void {
    this.filters.delete(id);
    if (filter.kind === 'pending') this.pendingFilters.delete(filter);
  }
}
