import { bigIntToHex, bytesToHex, intToHex } from '@ethereumjs/util';
import type { Chain } from '../../../chain/chain.js';
import { logAlternatives, logsInRange, matchingLogs, type LogLimits, type LogQuery, type LogsFound } from '../../../chain/logs.js';
import type { LocatedLog } from '../../../chain/lookup.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { blockTag, expectParams, hexData } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';

/** Most blocks one eth_getLogs may scan (geth-style providers cap this too). */
export const MAX_LOG_RANGE = 10_000n;

/**
 * Most logs one answer carries (eth_getLogs, eth_getFilterLogs, a poll of eth_getFilterChanges), as
 * hosted providers cap it, and most bytes of their data together: the answer is built in memory, and a
 * range of log-heavy blocks held millions of logs (enough to exhaust the heap).
 */
export const MAX_LOG_RESULTS = 10_000;
export const MAX_LOG_DATA_BYTES = 8 * 1024 * 1024;
const LOG_LIMITS: LogLimits = { logs: MAX_LOG_RESULTS, dataBytes: MAX_LOG_DATA_BYTES };

const MAX_LOG_ADDRESSES = 1000;
const MAX_LOG_TOPIC_ALTERNATIVES = 1000;

/** The address/topics part of an eth_getLogs or eth_newFilter object. */
export function parseLogQuery(o: Record<string, unknown>): LogQuery {
  const q: LogQuery = { topics: [] };
  // As geth: at most 1,000 addresses, and 1,000 alternatives in a topic position (each is hashed and
  // matched against every block's bloom, and a filter keeps them).
  if (o.address !== undefined && o.address !== null) {
    if (Array.isArray(o.address) && o.address.length > MAX_LOG_ADDRESSES) throw invalidParams(`address: at most ${MAX_LOG_ADDRESSES} addresses`);
    q.addresses = logAlternatives((Array.isArray(o.address) ? o.address : [o.address]).map((a) => hexData(a, 'address', 20)));
  }
  if (o.topics !== undefined && o.topics !== null) {
    if (!Array.isArray(o.topics) || o.topics.length > 4) throw invalidParams('topics must be an array of at most 4 entries');
    if (o.topics.some((t) => Array.isArray(t) && t.length > MAX_LOG_TOPIC_ALTERNATIVES))
      throw invalidParams(`topics: at most ${MAX_LOG_TOPIC_ALTERNATIVES} alternatives in a position`);
    q.topics = o.topics.map((t) => (t === null ? null : logAlternatives((Array.isArray(t) ? t : [t]).map((x) => hexData(x, 'topic', 32)))));
  }
  return q;
}

/** fromBlock/toBlock: a number or a tag (earliest = 0, the others = the head). */
export function rangeBound(chain: Chain, v: unknown, dflt: bigint): bigint {
  if (v === undefined || v === null) return dflt;
  const tag = blockTag(v);
  if (tag.kind === 'number') return tag.number;
  if (tag.kind === 'tag') return tag.tag === 'earliest' ? 0n : chain.head.number;
  throw invalidParams('fromBlock/toBlock must be block numbers or tags (use blockHash for a hash)');
}

export function formatLog(l: LocatedLog): Record<string, unknown> {
  const [address, topics, data] = l.log;
  return {
    address: bytesToHex(address),
    topics: topics.map((t) => bytesToHex(t)),
    data: bytesToHex(data),
    blockNumber: bigIntToHex(l.block.number),
    blockHash: bytesToHex(l.block.hash),
    blockTimestamp: bigIntToHex(l.block.timestamp),
    transactionHash: bytesToHex(l.txHash),
    transactionIndex: intToHex(l.txIndex),
    logIndex: intToHex(l.logIndex),
    removed: false,
  };
}

/**
 * The logs of from..to, from the log at `fromLogIndex` of block `from` on, refusing ranges above
 * MAX_LOG_RANGE blocks; at most MAX_LOG_RESULTS logs and MAX_LOG_DATA_BYTES of data (`more`: the
 * first log left out).
 */
export async function findLogs(chain: Chain, from: bigint, to: bigint, q: LogQuery, fromLogIndex = 0): Promise<LogsFound> {
  if (from > to) throw invalidParams(`fromBlock ${from} is after toBlock ${to}`);
  if (to - from + 1n > MAX_LOG_RANGE) throw new RpcError(RpcErrorCode.InvalidInput, `block range too large: ${to - from + 1n} blocks (limit ${MAX_LOG_RANGE})`);
  return logsInRange(chain, from, to, q, LOG_LIMITS, fromLogIndex);
}

/** Logs of from..to, all of them or -32005 (see findLogs). */
export async function logsBetween(chain: Chain, from: bigint, to: bigint, q: LogQuery): Promise<Record<string, unknown>[]> {
  return whole(await findLogs(chain, from, to, q), from);
}

/**
 * The logs found, formatted, or -32005 when a limit cut them, in the words hosted providers use, with
 * the range whose answer fits when the cut is past the first block.
 */
function whole(found: LogsFound, from: bigint): Record<string, unknown>[] {
  if (!found.more) return found.logs.map(formatLog);
  const what = found.logs.length >= MAX_LOG_RESULTS ? `${MAX_LOG_RESULTS} results` : `${MAX_LOG_DATA_BYTES} bytes of log data`;
  const fits = found.more.block > from ? ` Try with this block range [${bigIntToHex(from)}, ${bigIntToHex(found.more.block - 1n)}].` : '';
  throw new RpcError(RpcErrorCode.LimitExceeded, `query returned more than ${what}.${fits}`);
}

export function logMethods({ chain }: RpcContext): RpcMethods {
  return {
    eth_getLogs: async (p) => {
      expectParams(p, 1);
      if (p[0] === null || typeof p[0] !== 'object') throw invalidParams('filter object expected');
      const o = p[0] as Record<string, unknown>;
      const q = parseLogQuery(o);
      if (o.blockHash !== undefined && o.blockHash !== null) {
        if (o.fromBlock !== undefined || o.toBlock !== undefined) throw invalidParams('blockHash cannot be combined with fromBlock/toBlock');
        const block = await chain.blockByHash(hexData(o.blockHash, 'blockHash', 32));
        if (!block) throw new RpcError(RpcErrorCode.InvalidInput, 'unknown block');
        return whole(await matchingLogs(chain, block, q, LOG_LIMITS), block.header.number);
      }
      const head = chain.head.number;
      const from = rangeBound(chain, o.fromBlock, head);
      const to = rangeBound(chain, o.toBlock, head);
      // "from the next block to latest" is a normal poll, not an error: nothing yet.
      if (from > to && from > head && (o.toBlock === undefined || o.toBlock === null || (typeof o.toBlock === 'string' && !o.toBlock.startsWith('0x'))))
        return [];
      return logsBetween(chain, from, to, q);
    },
  };
}
