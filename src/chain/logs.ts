import type { Block } from '@ethereumjs/block';
import type { Chain } from './chain.js';
import { blockLogs, type LocatedLog } from './lookup.js';
import type { Log } from '../storage/receipts.js';
import { keccak256 } from '../util/keccak.js';

/**
 * One position of a log query (its addresses, or a topic position's alternatives): any of `keys`, each
 * a value's bytes as a latin1 string (one character a byte: a compact key, looked up in O(1)), with the
 * three bits each value sets in a logs bloom, worked out once rather than hashed again for every block.
 */
export interface LogAlternatives {
  readonly keys: ReadonlySet<string>;
  /** Bit positions (0-2047) in a logs bloom, three a key. */
  readonly bloomBits: Uint16Array;
}

/**
 * Which logs to return: any of `addresses` (all when absent), and per topic position any of its
 * alternatives (null: anything). The one matcher of eth_getLogs, polling filters and logs subscriptions.
 */
export interface LogQuery {
  addresses?: LogAlternatives;
  topics: (LogAlternatives | null)[];
}

/** The key of an address or topic in LogAlternatives. */
function keyOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Alternatives for one position of a query (duplicates held once). */
export function logAlternatives(values: Uint8Array[]): LogAlternatives {
  const keys = new Set<string>();
  const bits: number[] = [];
  for (const v of values) {
    const key = keyOf(v);
    if (keys.has(key)) continue;
    keys.add(key);
    // As a logs bloom (ethereumjs' Bloom.add): the low 11 bits of each of the hash's first three 16-bit words.
    const h = keccak256(v);
    for (let i = 0; i < 6; i += 2) bits.push(((h[i]! << 8) | h[i + 1]!) & 2047);
  }
  return { keys, bloomBits: Uint16Array.from(bits) };
}

/** Addresses and topic alternatives a query holds: what it costs to keep (filters and subscriptions are bounded by it). */
export function logQueryEntries(q: LogQuery): number {
  return (q.addresses?.keys.size ?? 0) + q.topics.reduce((n, alts) => n + (alts?.keys.size ?? 0), 0);
}

/** A log's address and topics as keys: made once, for all the queries the log is matched against. */
export interface LogKeys {
  address: string;
  topics: string[];
}

export function logKeys([address, topics]: Log): LogKeys {
  return { address: keyOf(address), topics: topics.map(keyOf) };
}

export function keysMatch(k: LogKeys, q: LogQuery): boolean {
  if (q.addresses && !q.addresses.keys.has(k.address)) return false;
  return q.topics.every((alts, i) => alts === null || (k.topics[i] !== undefined && alts.keys.has(k.topics[i]!)));
}

export function logMatches(log: Log, q: LogQuery): boolean {
  return keysMatch(logKeys(log), q);
}

/** False when a block's logs bloom (its 256 bytes) proves that no log of the block matches (no false negatives). */
export function bloomMayMatch(bloom: Uint8Array, q: LogQuery): boolean {
  if (q.addresses && !bloomMayHold(bloom, q.addresses)) return false;
  return q.topics.every((alts) => alts === null || bloomMayHold(bloom, alts));
}

function bloomMayHold(bloom: Uint8Array, alts: LogAlternatives): boolean {
  const bits = alts.bloomBits;
  for (let i = 0; i < bits.length; i += 3) if (bloomBit(bloom, bits[i]!) && bloomBit(bloom, bits[i + 1]!) && bloomBit(bloom, bits[i + 2]!)) return true;
  return false;
}

/** Bit `bit` of a logs bloom, numbered from the last byte's lowest bit (as ethereumjs' Bloom). */
function bloomBit(bloom: Uint8Array, bit: number): boolean {
  return (bloom[255 - (bit >> 3)]! & (1 << (bit & 7))) !== 0;
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
      this.more = { block: l.block.number, logIndex: l.logIndex };
      return false;
    }
    this.logs.push(l);
    this.dataBytes += size;
    return true;
  }
}

/** Collect the logs of `block` matching `q` from position `fromLogIndex` on; false once a limit stopped it. */
async function collect(chain: Chain, block: Block, q: LogQuery, into: Collector, fromLogIndex = 0): Promise<boolean> {
  for (const l of await blockLogs(chain, block, (log, logIndex) => logIndex >= fromLogIndex && logMatches(log, q))) if (!into.take(l)) return false;
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
    if (!header || header.gasUsed === 0n || !bloomMayMatch(header.logsBloom, q)) continue;
    const block = await chain.blockByNumber(n);
    if (block && !(await collect(chain, block, q, into, n === from ? fromLogIndex : 0))) break;
  }
  return into;
}
