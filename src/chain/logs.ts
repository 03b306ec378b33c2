import type { Block } from '@ethereumjs/block';
import { equalsBytes } from '@ethereumjs/util';
import { Bloom } from '@ethereumjs/vm';
import type { Chain } from './chain.js';
import { blockLogs, type LocatedLog } from './lookup.js';
import type { Log } from '../storage/receipts.js';

/** Which logs to return: any of `addresses` (all when absent), and per topic position any of a list (null: anything). */
export interface LogQuery {
  addresses?: Uint8Array[];
  topics: (Uint8Array[] | null)[];
}

export function logMatches([address, topics]: Log, q: LogQuery): boolean {
  if (q.addresses && !q.addresses.some((a) => equalsBytes(a, address))) return false;
  return q.topics.every((alts, i) => alts === null || (topics[i] !== undefined && alts.some((t) => equalsBytes(t, topics[i]!))));
}

/** False when the block's logs bloom proves that no log of the block matches (no false negatives). */
export function bloomMayMatch(bloom: Bloom, q: LogQuery): boolean {
  if (q.addresses && !q.addresses.some((a) => bloom.check(a))) return false;
  return q.topics.every((alts) => alts === null || alts.some((t) => bloom.check(t)));
}

/** The matching logs of one block, with their positions. */
export async function matchingLogs(chain: Chain, block: Block, q: LogQuery): Promise<LocatedLog[]> {
  return (await blockLogs(chain, block)).filter((l) => logMatches(l.log, q));
}

/**
 * Matching logs of the canonical blocks from..to (inclusive, clamped to the head). Headers come first:
 * a block whose bloom rules the query out is never decoded and its receipts never read.
 */
export async function logsInRange(chain: Chain, from: bigint, to: bigint, q: LogQuery): Promise<LocatedLog[]> {
  const last = to < chain.head.number ? to : chain.head.number;
  const out: LocatedLog[] = [];
  for (let n = from; n <= last; n++) {
    const header = await chain.store.canonicalHeader(n);
    if (!header || header.gasUsed === 0n || !bloomMayMatch(new Bloom(header.logsBloom, chain.commonAt(n)), q)) continue;
    const block = await chain.blockByNumber(n);
    if (block) out.push(...(await matchingLogs(chain, block, q)));
  }
  return out;
}
