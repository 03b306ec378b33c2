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

/** Bounds on what one query collects (its answer is built in memory): the scan stops past either. */
export interface LogLimits {
  /** Most logs. */
  logs: number;
  /** Most bytes of the logs' data together; a first log larger on its own is still taken. */
  dataBytes: number;
}

/** What a query found: `more` is set when a limit stopped it, at the first matching log left out. */
export interface LogsFound {
  logs: LocatedLog[];
  more?: { block: bigint; logIndex: number };
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

/** Takes matching logs until a limit is reached, then notes where it stopped. */
class Collector implements LogsFound {
  readonly logs: LocatedLog[] = [];
  more?: { block: bigint; logIndex: number };
  private dataBytes = 0;

  constructor(private readonly limits: LogLimits) {}

  /** False (and `more` set) once `l` does not fit. */
  take(l: LocatedLog): boolean {
    const size = l.log[2].length;
    if (this.logs.length >= this.limits.logs || (this.logs.length > 0 && this.dataBytes + size > this.limits.dataBytes)) {
      this.more = { block: l.block.header.number, logIndex: l.logIndex };
      return false;
    }
    this.logs.push(l);
    this.dataBytes += size;
    return true;
  }
}

/** Collect the logs of `block` matching `q` from position `fromLogIndex` on; false once a limit stopped it. */
async function collect(chain: Chain, block: Block, q: LogQuery, into: Collector, fromLogIndex = 0): Promise<boolean> {
  for (const l of await blockLogs(chain, block)) if (l.logIndex >= fromLogIndex && logMatches(l.log, q) && !into.take(l)) return false;
  return true;
}

/** The matching logs of one block, with their positions, within `limits`. */
export async function matchingLogs(chain: Chain, block: Block, q: LogQuery, limits: LogLimits): Promise<LogsFound> {
  const into = new Collector(limits);
  await collect(chain, block, q, into);
  return into;
}

/**
 * Matching logs of the canonical blocks from..to (inclusive, clamped to the head), from the log at
 * `fromLogIndex` of block `from` on, until `limits` stop the scan. Headers come first: a block whose
 * bloom rules the query out is never decoded and its receipts never read.
 */
export async function logsInRange(chain: Chain, from: bigint, to: bigint, q: LogQuery, limits: LogLimits, fromLogIndex = 0): Promise<LogsFound> {
  const last = to < chain.head.number ? to : chain.head.number;
  const into = new Collector(limits);
  for (let n = from; n <= last; n++) {
    const header = await chain.store.canonicalHeader(n);
    if (!header || header.gasUsed === 0n || !bloomMayMatch(new Bloom(header.logsBloom, chain.commonAt(n)), q)) continue;
    const block = await chain.blockByNumber(n);
    if (block && !(await collect(chain, block, q, into, n === from ? fromLogIndex : 0))) break;
  }
  return into;
}
