import { bigIntToHex, bytesToHex, intToHex } from '@ethereumjs/util';
import type { Chain } from '../../../chain/chain.js';
import { logsInRange, matchingLogs, type LogQuery } from '../../../chain/logs.js';
import type { LocatedLog } from '../../../chain/lookup.js';
import { blockHash } from '../../../consensus/ibft/hash.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { blockTag, expectParams, hexData } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';

/** Most blocks one eth_getLogs may scan (geth-style providers cap this too). */
export const MAX_LOG_RANGE = 10_000n;

const MAX_LOG_ADDRESSES = 1000;
const MAX_LOG_TOPIC_ALTERNATIVES = 1000;

/** The address/topics part of an eth_getLogs or eth_newFilter object. */
export function parseLogQuery(o: Record<string, unknown>): LogQuery {
  const q: LogQuery = { topics: [] };
  // As geth: at most 1,000 addresses, and 1,000 alternatives in a topic position (each is hashed and
  // matched against every block's bloom, and a filter keeps them).
  if (o.address !== undefined && o.address !== null) {
    if (Array.isArray(o.address) && o.address.length > MAX_LOG_ADDRESSES) throw invalidParams(`address: at most ${MAX_LOG_ADDRESSES} addresses`);
    q.addresses = (Array.isArray(o.address) ? o.address : [o.address]).map((a) => hexData(a, 'address', 20));
  }
  if (o.topics !== undefined && o.topics !== null) {
    if (!Array.isArray(o.topics) || o.topics.length > 4) throw invalidParams('topics must be an array of at most 4 entries');
    if (o.topics.some((t) => Array.isArray(t) && t.length > MAX_LOG_TOPIC_ALTERNATIVES))
      throw invalidParams(`topics: at most ${MAX_LOG_TOPIC_ALTERNATIVES} alternatives in a position`);
    q.topics = o.topics.map((t) => (t === null ? null : (Array.isArray(t) ? t : [t]).map((x) => hexData(x, 'topic', 32))));
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
    blockNumber: bigIntToHex(l.block.header.number),
    blockHash: bytesToHex(blockHash(l.block.header)),
    blockTimestamp: bigIntToHex(l.block.header.timestamp),
    transactionHash: bytesToHex(l.block.transactions[l.txIndex]!.hash()),
    transactionIndex: intToHex(l.txIndex),
    logIndex: intToHex(l.logIndex),
    removed: false,
  };
}

/** Logs of from..to, refusing ranges above MAX_LOG_RANGE blocks. */
export async function logsBetween(chain: Chain, from: bigint, to: bigint, q: LogQuery): Promise<Record<string, unknown>[]> {
  if (from > to) throw invalidParams(`fromBlock ${from} is after toBlock ${to}`);
  if (to - from + 1n > MAX_LOG_RANGE) throw new RpcError(RpcErrorCode.InvalidInput, `block range too large: ${to - from + 1n} blocks (limit ${MAX_LOG_RANGE})`);
  return (await logsInRange(chain, from, to, q)).map(formatLog);
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
        return (await matchingLogs(chain, block, q)).map(formatLog);
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
