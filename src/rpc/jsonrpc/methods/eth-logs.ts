import type { Block } from '@ethereumjs/block';
import { bigIntToHex, bytesToHex, equalsBytes, intToHex } from '@ethereumjs/util';
import type { Chain } from '../../../chain/chain.js';
import { blockLogs, type LocatedLog } from '../../../chain/lookup.js';
import { blockHash } from '../../../consensus/ibft/hash.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { blockTag, expectParams, hexData } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';

/** Most blocks one eth_getLogs may scan (geth-style providers cap this too). */
export const MAX_LOG_RANGE = 10_000n;
/** Filters not polled for this long are removed. */
const FILTER_TTL_MS = 5 * 60_000;

interface LogCriteria {
  addresses?: Uint8Array[];
  /** Per position: null matches anything, else any of the listed topics. */
  topics: (Uint8Array[] | null)[];
}

function parseCriteria(o: Record<string, unknown>): LogCriteria {
  const c: LogCriteria = { topics: [] };
  if (o.address !== undefined && o.address !== null) {
    c.addresses = (Array.isArray(o.address) ? o.address : [o.address]).map((a) => hexData(a, 'address', 20));
  }
  if (o.topics !== undefined && o.topics !== null) {
    if (!Array.isArray(o.topics) || o.topics.length > 4) throw invalidParams('topics must be an array of at most 4 entries');
    c.topics = o.topics.map((t) => (t === null ? null : (Array.isArray(t) ? t : [t]).map((x) => hexData(x, 'topic', 32))));
  }
  return c;
}

function matches(l: LocatedLog, c: LogCriteria): boolean {
  const [address, topics] = l.log;
  if (c.addresses && !c.addresses.some((a) => equalsBytes(a, address))) return false;
  return c.topics.every((alts, i) => alts === null || (topics[i] !== undefined && alts.some((t) => equalsBytes(t, topics[i]!))));
}

function formatLog(l: LocatedLog): Record<string, unknown> {
  const [address, topics, data] = l.log;
  return {
    address: bytesToHex(address),
    topics: topics.map((t) => bytesToHex(t)),
    data: bytesToHex(data),
    blockNumber: bigIntToHex(l.block.header.number),
    blockHash: bytesToHex(blockHash(l.block.header)),
    transactionHash: bytesToHex(l.block.transactions[l.txIndex]!.hash()),
    transactionIndex: intToHex(l.txIndex),
    logIndex: intToHex(l.logIndex),
    removed: false,
  };
}

async function logsInRange(chain: Chain, from: bigint, to: bigint, c: LogCriteria): Promise<Record<string, unknown>[]> {
  if (to - from + 1n > MAX_LOG_RANGE) throw new RpcError(RpcErrorCode.InvalidInput, `block range too large: ${to - from + 1n} blocks (limit ${MAX_LOG_RANGE})`);
  const out: Record<string, unknown>[] = [];
  for (let n = from; n <= to; n++) {
    const block = await chain.blockByNumber(n);
    if (!block || block.transactions.length === 0) continue;
    out.push(...(await logsOfBlock(chain, block, c)));
  }
  return out;
}

async function logsOfBlock(chain: Chain, block: Block, c: LogCriteria) {
  return (await blockLogs(chain, block)).filter((l) => matches(l, c)).map(formatLog);
}

type Filter =
  | { kind: 'block'; next: bigint; touched: number }
  | { kind: 'logs'; criteria: LogCriteria; from: bigint; to?: bigint; next: bigint; touched: number };

export function logMethods({ chain }: RpcContext): RpcMethods {
  const filters = new Map<string, Filter>();
  let nextId = 1;
  const resolveNumber = async (v: unknown, dflt: bigint): Promise<bigint> => {
    if (v === undefined || v === null) return dflt;
    const tag = blockTag(v);
    if (tag.kind === 'number') return tag.number;
    if (tag.kind === 'tag') return tag.tag === 'earliest' ? 0n : chain.head.number;
    throw invalidParams('fromBlock/toBlock must be numbers or tags');
  };
  const sweep = () => {
    const now = Date.now();
    for (const [id, f] of filters) if (now - f.touched > FILTER_TTL_MS) filters.delete(id);
  };
  const getFilter = (p: unknown[]): [string, Filter] => {
    expectParams(p, 1);
    const id = String(p[0]);
    const f = filters.get(id);
    if (!f) throw new RpcError(RpcErrorCode.InvalidInput, 'filter not found');
    f.touched = Date.now();
    return [id, f];
  };
  return {
    eth_getLogs: async (p) => {
      expectParams(p, 1);
      const o = (p[0] ?? {}) as Record<string, unknown>;
      const c = parseCriteria(o);
      if (o.blockHash !== undefined && o.blockHash !== null) {
        const block = await chain.blockByHash(hexData(o.blockHash, 'blockHash', 32));
        if (!block) throw new RpcError(RpcErrorCode.InvalidInput, 'unknown block');
        return logsOfBlock(chain, block, c);
      }
      const from = await resolveNumber(o.fromBlock, chain.head.number);
      const to = await resolveNumber(o.toBlock, chain.head.number);
      if (from > to) throw invalidParams(`fromBlock ${from} is after toBlock ${to}`);
      if (to - from + 1n > MAX_LOG_RANGE) throw new RpcError(RpcErrorCode.InvalidInput, `block range too large: ${to - from + 1n} blocks (limit ${MAX_LOG_RANGE})`);
      return logsInRange(chain, from, to < chain.head.number ? to : chain.head.number, c);
    },
    eth_newBlockFilter: (p) => {
      expectParams(p, 0);
      sweep();
      const id = intToHex(nextId++);
      filters.set(id, { kind: 'block', next: chain.head.number + 1n, touched: Date.now() });
      return id;
    },
    eth_newFilter: async (p) => {
      expectParams(p, 1);
      sweep();
      const o = (p[0] ?? {}) as Record<string, unknown>;
      const criteria = parseCriteria(o);
      const from = await resolveNumber(o.fromBlock, chain.head.number + 1n);
      const id = intToHex(nextId++);
      const to = o.toBlock === undefined || o.toBlock === null || o.toBlock === 'latest' ? undefined : await resolveNumber(o.toBlock, chain.head.number);
      filters.set(id, { kind: 'logs', criteria, from, ...(to !== undefined ? { to } : {}), next: from, touched: Date.now() });
      return id;
    },
    eth_getFilterChanges: async (p) => {
      const [, f] = getFilter(p);
      const head = chain.head.number;
      if (f.kind === 'block') {
        const hashes: string[] = [];
        for (let n = f.next; n <= head; n++) hashes.push(bytesToHex((await chain.store.canonicalHash(n))!));
        f.next = head + 1n;
        return hashes;
      }
      const to = f.to !== undefined && f.to < head ? f.to : head;
      if (f.next > to) return [];
      const logs = await logsInRange(chain, f.next, to, f.criteria);
      f.next = to + 1n;
      return logs;
    },
    eth_getFilterLogs: async (p) => {
      const [, f] = getFilter(p);
      if (f.kind !== 'logs') throw new RpcError(RpcErrorCode.InvalidInput, 'filter is not a log filter');
      const head = chain.head.number;
      return logsInRange(chain, f.from, f.to !== undefined && f.to < head ? f.to : head, f.criteria);
    },
    eth_uninstallFilter: (p) => {
      expectParams(p, 1);
      return filters.delete(String(p[0]));
    },
  };
}
