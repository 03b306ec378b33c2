import { bytesToHex } from '@ethereumjs/util';
import { decodeBlockPayload, encodeBlockPayload } from '../../archive/format.js';
import { type Compression, decompressRecord } from '../../container/compression.js';
import { BackupFileError } from '../../container/errors.js';
import { RecordType } from '../../container/framing.js';
import { ContainerReader } from '../../container/reader.js';
import { ContainerWriter } from '../../container/writer.js';
import { MAX_BLOCK_WITH_RECEIPTS_BYTES, MAX_SNAPSHOT_RECORD_BYTES } from '../../snapshot/format.js';
import { prepareBlockRecord } from '../../snapshot/writer.js';
import { errorMessage } from '../../util/errors.js';
import { rlpListItems, rlpSpanAt, RlpSpanError, rlpStringPair } from '../../util/rlp-spans.js';
import { mapAhead } from '../../util/map-ahead.js';
import { decodeSegmentHeader, digestHex, parseObjectName, RepositoryRecord, SEGMENT, segmentName, type Manifest, type SegmentHeader } from './format.js';
import type { Repository } from './repository.js';

export interface SegmentBlock {
  number: bigint;
  /** The hash its record states (the restore checks it against the block). */
  hash: Uint8Array;
  blockRlp: Uint8Array;
  receiptsRlp: Uint8Array;
}

/**
 * The blocks of a history segment in order, its structure checked as it is read: the header names this
 * chain and the range its name says, blocks first…last each once in order, a trailer whose count and
 * last hash match, and a digest that is the name's. What the blocks mean (seals, roots) is the
 * restore's to verify.
 */
/** Whether the manifest's history holds block `n` with this hash (reads the one segment holding it). */
export async function holdsBlock(repo: Repository, m: Manifest, n: bigint, hash: string, signal?: AbortSignal): Promise<boolean> {
  return (await blockHashesIn(repo, m, [n], signal)).get(n) === hash;
}

/**
 * The hashes of the blocks `numbers` in the manifest's history (0x hex; block 0: its genesis hash),
 * each segment holding one of them read once, up to the highest wanted in it.
 */
export async function blockHashesIn(repo: Repository, m: Manifest, numbers: Iterable<bigint>, signal?: AbortSignal): Promise<Map<bigint, string>> {
  const wanted = new Set(numbers);
  const out = new Map<bigint, string>();
  if (wanted.delete(0n)) out.set(0n, m.genesisHash);
  for (const name of m.segments) {
    const s = parseObjectName(name);
    if (s?.first === undefined || s.last === undefined) continue;
    const here = [...wanted].filter((n) => n >= s.first! && n <= s.last!);
    if (here.length === 0) continue;
    const highest = here.reduce((a, b) => (b > a ? b : a));
    for await (const b of readSegment(repo, name, m, signal)) {
      if (wanted.has(b.number)) out.set(b.number, bytesToHex(b.hash));
      if (b.number >= highest) break;
    }
  }
  return out;
}

/**
 * The last block of the manifest's history after block `after` whose timestamp is at or before
 * `time`, with its timestamp; undefined when the block after `after` is already later.
 */
export async function lastBlockAtOrBefore(
  repo: Repository,
  m: Manifest,
  after: bigint,
  time: bigint,
  signal?: AbortSignal,
): Promise<{ number: bigint; timestamp: bigint } | undefined> {
  let last: { number: bigint; timestamp: bigint } | undefined;
  for (const name of m.segments) {
    const s = parseObjectName(name);
    if (s?.last === undefined || s.last <= after) continue;
    for await (const b of readSegment(repo, name, m, signal)) {
      if (b.number <= after) continue;
      const timestamp = headerTimestamp(b.blockRlp, name);
      if (timestamp > time) return last;
      last = { number: b.number, timestamp };
    }
  }
  return last;
}

/** A block's header timestamp, read from its RLP without decoding the block. */
function headerTimestamp(blockRlp: Uint8Array, where: string): bigint {
  try {
    const block = rlpSpanAt(blockRlp, 0);
    const header = rlpListItems(blockRlp, block)[0];
    if (header === undefined) throw new RlpSpanError('no header');
    const field = rlpListItems(blockRlp, header)[11];
    if (field === undefined || field.list || field.end - field.payloadAt > 8) throw new RlpSpanError('no timestamp');
    let t = 0n;
    for (let i = field.payloadAt; i < field.end; i++) t = (t << 8n) | BigInt(blockRlp[i]!);
    return t;
  } catch (err) {
    if (err instanceof RlpSpanError) throw new BackupFileError(`${where}: a block's header is malformed (${err.message})`);
    throw err;
  }
}

export async function* readSegment(
  repo: Repository,
  name: string,
  chain: { chainId: string; genesisHash: string },
  /** Ends a read in progress (the back-fill of a node that stops). */
  signal?: AbortSignal,
): AsyncGenerator<SegmentBlock> {
  const o = parseObjectName(name);
  if (o?.kind !== 'segment') throw new BackupFileError(`${name} is not a history segment`);
  const r = new ContainerReader(repo.get(name, signal), SEGMENT, MAX_SNAPSHOT_RECORD_BYTES);
  try {
    const h = decodeSegmentHeader(await r.header());
    if (h.chainId !== chain.chainId || h.genesisHash !== chain.genesisHash) throw new BackupFileError(`history segment ${name} is of another chain`);
    if (BigInt(h.startBlock) !== o.first || BigInt(h.endBlock) !== o.last)
      throw new BackupFileError(`history segment ${name} holds blocks ${h.startBlock}…${h.endBlock}`);
    let next = o.first!;
    let last = '';
    for (;;) {
      const rec = await r.next(next <= o.last! ? `block ${next}` : 'the trailer');
      if (rec.type === RecordType.Trailer) {
        const { fields, digest } = await r.finish(rec);
        if (digestHex(digest) !== o.sha256) throw new BackupFileError(`history segment ${name} is damaged: its content hashes to ${digestHex(digest)}`);
        if (next !== o.last! + 1n) throw new BackupFileError(`history segment ${name} ends after block ${next - 1n}`);
        if (fields.blockCount !== (o.last! - o.first! + 1n).toString() || fields.lastBlockHash !== last)
          throw new BackupFileError(`history segment ${name}: its trailer does not match its blocks`);
        return;
      }
      if (rec.type !== RepositoryRecord.Block) throw new BackupFileError(`history segment ${name}: a record of type ${rec.type}`);
      const b = decodeBlockPayload(rec.payload, MAX_BLOCK_WITH_RECEIPTS_BYTES);
      if (b.number !== next) throw new BackupFileError(`history segment ${name} holds block ${b.number} where block ${next} should be`);
      const raw = await decompressRecord(b.data, h.compression, b.rawLength);
      let pair: [Uint8Array, Uint8Array];
      try {
        pair = rlpStringPair(raw);
      } catch (err) {
        throw new BackupFileError(`block ${b.number} in history segment ${name} is not a [block, receipts] pair: ${errorMessage(err)}`);
      }
      last = bytesToHex(b.hash);
      next++;
      yield { number: b.number, hash: b.hash.slice(), blockRlp: pair[0], receiptsRlp: pair[1] };
    }
  } finally {
    await r.close();
  }
}

/** Blocks compressed ahead of the one written. */
const BLOCKS_AHEAD = 32;

/**
 * Blocks first..last with their receipts, from the node's database (a backup) or from other segments (a
 * prune's merge), from `blocks` (which must yield exactly those, in order), as a
 * history segment. Written to a staged file to learn its name (its digest: the same blocks always make
 * the same bytes); stored unless `stored` names it already.
 */
export async function writeSegment(
  repo: Repository,
  blocks: AsyncIterable<SegmentBlock>,
  s: { chainId: string; genesisHash: string; first: bigint; last: bigint; compression: Compression },
  stored: ReadonlySet<string>,
  onBlock: (n: bigint) => void,
  signal: AbortSignal | undefined,
): Promise<{ name: string; bytes: number }> {
  const header: SegmentHeader = {
    format: 'basalt-segment',
    version: 1,
    chainId: s.chainId,
    genesisHash: s.genesisHash,
    startBlock: s.first.toString(),
    endBlock: s.last.toString(),
    compression: s.compression,
  };
  const out = new ContainerWriter(SEGMENT, MAX_SNAPSHOT_RECORD_BYTES);
  const staged = repo.staging();
  try {
    staged.write(out.start(header));
    let last = '';
    let next = s.first;
    const prepared = mapAhead(blocks, BLOCKS_AHEAD, (b) => prepareBlockRecord(b.number, b.hash, b.blockRlp, b.receiptsRlp, s.compression));
    for await (const b of prepared) {
      signal?.throwIfAborted();
      if (b.number !== next || next > s.last) throw new Error(`blocks ${s.first}…${s.last}: block ${b.number} where ${next} belongs`);
      staged.write(out.record(RepositoryRecord.Block, encodeBlockPayload(b)));
      last = bytesToHex(b.hash);
      next++;
      onBlock(b.number);
    }
    if (next !== s.last + 1n) throw new Error(`blocks ${s.first}…${s.last}: ${next - s.first} read`);
    const { bytes, digest } = out.finish({ blockCount: (next - s.first).toString(), lastBlockHash: last });
    staged.write(bytes);
    staged.finish();
    const name = segmentName(s.first, s.last, digestHex(digest));
    if (stored.has(name)) {
      staged.discard();
      return { name, bytes: 0 };
    }
    const size = staged.bytes;
    await repo.put(name, staged, signal);
    return { name, bytes: size };
  } catch (err) {
    staged.discard();
    throw err;
  }
}
