import { bytesToHex } from '@ethereumjs/util';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { FilterStore } from '../filters.js';
import { expectParams } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';
import { MAX_LOG_RANGE, findLogs, formatLog, logsBetween, parseLogQuery, rangeBound } from './eth-logs.js';
import { errorMessage } from '../../../util/errors.js';

/** Polling filters, as ethers and web3 use them to watch blocks and events. */
export function filterMethods({ chain, txpool, logQueryBudget }: RpcContext, store = new FilterStore(Date.now, logQueryBudget)): RpcMethods {
  txpool?.onAdded((hash) => store.notePendingTransaction(bytesToHex(hash)));
  const filterOf = (p: unknown[]) => {
    expectParams(p, 1);
    const f = typeof p[0] === 'string' ? store.get(p[0]) : undefined;
    if (!f) throw new RpcError(RpcErrorCode.InvalidInput, 'filter not found');
    return f;
  };
  /** A filter's ID, or the store's refusal (too many filters or entries) as a JSON-RPC error. */
  const installed = (make: () => string) => {
    try {
      return make();
    } catch (err) {
      throw err instanceof RpcError ? err : new RpcError(RpcErrorCode.InvalidInput, errorMessage(err));
    }
  };
  const install = (f: Parameters<FilterStore['install']>[0], client?: string) => installed(() => store.install(f, client));
  return {
    eth_newBlockFilter: (p, call) => {
      expectParams(p, 0);
      return install({ kind: 'block', next: chain.head.number + 1n }, call?.client);
    },
    eth_newPendingTransactionFilter: (p, call) => {
      expectParams(p, 0);
      return installed(() => store.installPending(call?.client));
    },
    eth_newFilter: (p, call) => {
      expectParams(p, 1);
      if (p[0] === null || typeof p[0] !== 'object') throw invalidParams('filter object expected');
      const o = p[0] as Record<string, unknown>;
      const query = parseLogQuery(o);
      const from = rangeBound(chain, o.fromBlock, chain.head.number + 1n);
      // toBlock "latest" (or none) follows the head; a number or "earliest" fixes the end.
      const to =
        o.toBlock === undefined || o.toBlock === null || ['latest', 'pending', 'safe', 'finalized'].includes(o.toBlock as string)
          ? undefined
          : rangeBound(chain, o.toBlock, 0n);
      return install({ kind: 'logs', query, from, ...(to !== undefined ? { to } : {}), next: from }, call?.client);
    },
    eth_getFilterChanges: async (p) => {
      const f = filterOf(p);
      if (f.kind === 'pending') return store.pendingChanges(f);
      const head = chain.head.number;
      if (f.kind === 'block') {
        const hashes: string[] = [];
        for (let n = f.next; n <= head; n++) hashes.push(bytesToHex((await chain.store.canonicalHash(n))!));
        f.next = head + 1n;
        return hashes;
      }
      let to = f.to !== undefined && f.to < head ? f.to : head;
      if (f.next > to) return [];
      // A long-unpolled filter catches up over several polls: at most MAX_LOG_RANGE blocks and the
      // logs of one answer each, the next poll going on from the first log left out.
      if (to - f.next + 1n > MAX_LOG_RANGE) to = f.next + MAX_LOG_RANGE - 1n;
      const found = await findLogs(chain, f.next, to, f.query, f.nextLog ?? 0);
      f.next = found.more ? found.more.block : to + 1n;
      f.nextLog = found.more?.logIndex ?? 0;
      return found.logs.map(formatLog);
    },
    eth_getFilterLogs: async (p) => {
      const f = filterOf(p);
      if (f.kind !== 'logs') throw new RpcError(RpcErrorCode.InvalidInput, 'filter is not a log filter');
      const head = chain.head.number;
      const to = f.to !== undefined && f.to < head ? f.to : head;
      return f.from > to ? [] : logsBetween(chain, f.from, to, f.query);
    },
    eth_uninstallFilter: (p) => {
      expectParams(p, 1);
      return typeof p[0] === 'string' && store.uninstall(p[0]);
    },
  };
}
