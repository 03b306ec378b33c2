import { bytesToHex } from '@ethereumjs/util';
import { decodeBlockPayload } from '../archive/format.js';
import { decompressRecord } from '../container/compression.js';
import { BackupFileError } from '../container/errors.js';
import { RecordType, unpackItems } from '../container/framing.js';
import { ContainerReader } from '../container/reader.js';
import {
  decodeSnapshotHeader,
  decodeSnapshotTrailer,
  GENESIS_PIECE_BYTES,
  MAX_BLOCK_WITH_RECEIPTS_BYTES,
  MAX_HEADER_RLP_BYTES,
  MAX_ITEMS_RAW_BYTES,
  MIN_ITEM_BYTES,
  MAX_SNAPSHOT_RECORD_BYTES,
  SNAPSHOT,
  SNAPSHOT_VERSION_HEADERS,
  SnapshotRecord,
  type SnapshotHeader,
  type SnapshotTrailer,
} from './format.js';
import { errorMessage } from '../util/errors.js';
import { rlpStringPair } from '../util/rlp-spans.js';

export type SnapshotEvent =
  | { kind: 'header'; header: SnapshotHeader }
  /** Version 2, right after the header: the genesis file's next bytes (they add up to header.genesisBytes). */
  | { kind: 'genesis'; piece: Uint8Array; bytesRead: number }
  /** A block's RLP and its receipts' RLP, with the number and hash its record claims (not yet checked). */
  | { kind: 'block'; number: bigint; hash: Uint8Array; blockRlp: Uint8Array; receiptsRlp: Uint8Array; bytesRead: number }
  /** Version 3, below the head: a block's header RLP alone, with the number and hash its record claims (not yet checked). */
  | { kind: 'blockHeader'; number: bigint; hash: Uint8Array; headerRlp: Uint8Array; bytesRead: number }
  /** Trie nodes or contract codes of the head's state, decompressed (not yet checked against any hash). */
  | { kind: 'nodes' | 'code'; items: Uint8Array[]; bytesRead: number }
  | { kind: 'trailer'; trailer: SnapshotTrailer; bytesRead: number };

/**
 * Parse a snapshot stream, checking its structure as it goes: magic and version, one header (in
 * version 2 followed by the genesis records, which must add up to the genesis its header states, at
 * most MAX_GENESIS_BYTES, each piece at most GENESIS_PIECE_BYTES; version 1's header event carries the
 * genesis object, version 2's genesis follows it as 'genesis' events, never held whole), blocks
 * 1..head in order (in version 3, header records below the head and the head whole), then state records only, and a trailer whose counts, last hash and digest match
 * what was read, then nothing more. Decompresses with the header's codec under each record's stated
 * size. What the blocks and state mean (seals, roots, hashes) is for the restore to verify.
 * Throws BackupFileError at the first problem, naming it.
 */
export async function* readSnapshot(source: AsyncIterable<Uint8Array>): AsyncGenerator<SnapshotEvent> {
  const reader = new ContainerReader(source, SNAPSHOT, MAX_SNAPSHOT_RECORD_BYTES);
  try {
    const decoded = decodeSnapshotHeader(await reader.header(), reader.version);
    const header = decoded.header;
    yield { kind: 'header', header };
    if (decoded.genesisBytes !== undefined) {
      for await (const piece of readGenesis(reader, decoded.genesisBytes, header.compression)) yield { kind: 'genesis', piece, bytesRead: reader.offset };
    }
    const head = BigInt(header.head.number);
    const { compression } = header;
    let next = 1n;
    let nodes = 0;
    let codes = 0;
    let lastHash = '';
    let inState = false;
    // Block records are decompressed up to READ_AHEAD_BLOCKS (READ_AHEAD_BYTES) ahead of the one
    // given out: zstd runs on libuv's thread pool while the consumer checks the blocks before.
    const ahead: { number: bigint; hash: Uint8Array; raw: Promise<Uint8Array>; bytesRead: number; size: number; headerOnly: boolean }[] = [];
    let aheadBytes = 0;
    // Version 3: blocks below the head are header records, the head a block record.
    const headersOnly = reader.version === SNAPSHOT_VERSION_HEADERS;
    const blockOut = async (): Promise<SnapshotEvent> => {
      const b = ahead.shift()!;
      aheadBytes -= b.size;
      const raw = await b.raw;
      if (b.headerOnly) return { kind: 'blockHeader', number: b.number, hash: b.hash, headerRlp: raw, bytesRead: b.bytesRead };
      let blockRlp: Uint8Array;
      let receiptsRlp: Uint8Array;
      try {
        [blockRlp, receiptsRlp] = rlpStringPair(raw);
      } catch (err) {
        throw new BackupFileError(`block ${b.number} in the snapshot cannot be decoded: ${errorMessage(err)}`);
      }
      return { kind: 'block', number: b.number, hash: b.hash, blockRlp, receiptsRlp, bytesRead: b.bytesRead };
    };
    for (;;) {
      const rec = await reader.next(next <= head ? `block ${next}` : 'the state');
      if (rec.type !== SnapshotRecord.Block && rec.type !== SnapshotRecord.Header) while (ahead.length > 0) yield await blockOut();
      if (rec.type === RecordType.Trailer) {
        if (next - 1n !== head) throw new BackupFileError(`snapshot is incomplete: it holds blocks up to ${next - 1n}, its header says ${head}`);
        const t = decodeSnapshotTrailer((await reader.finish(rec)).fields);
        if (t.blockCount !== head.toString() || t.nodeCount !== String(nodes) || t.codeCount !== String(codes)) {
          throw new BackupFileError('snapshot trailer counts do not match its content (corrupt snapshot)');
        }
        if (t.lastBlockHash !== lastHash) throw new BackupFileError('snapshot trailer names another last block (corrupt snapshot)');
        yield { kind: 'trailer', trailer: t, bytesRead: reader.offset };
        return;
      }
      if (rec.type === SnapshotRecord.Block || rec.type === SnapshotRecord.Header) {
        const headerOnly = rec.type === SnapshotRecord.Header;
        if (inState) throw new BackupFileError('snapshot has a block record after its state records');
        if (headerOnly && !headersOnly) throw new BackupFileError(`snapshot of version ${reader.version} has a header record`);
        const r = decodeBlockPayload(rec.payload, headerOnly ? MAX_HEADER_RLP_BYTES : MAX_BLOCK_WITH_RECEIPTS_BYTES);
        if (r.number !== next) throw new BackupFileError(`snapshot holds block ${r.number} where block ${next} should be`);
        if (next > head) throw new BackupFileError(`snapshot holds block ${next}, beyond the head ${head} its header states`);
        if (headersOnly && headerOnly !== next < head) {
          throw new BackupFileError(
            headerOnly
              ? `snapshot holds its head ${next} as a header record`
              : `snapshot holds block ${next} whole, below its head ${head} (version 3: headers only)`,
          );
        }
        const raw = decompressRecord(r.data, compression, r.rawLength);
        raw.catch(() => undefined); // awaited in order by blockOut; an early failure must not go unhandled
        ahead.push({ number: r.number, hash: r.hash, raw, bytesRead: reader.offset, size: r.rawLength + r.data.length, headerOnly });
        aheadBytes += r.rawLength + r.data.length;
        lastHash = bytesToHex(r.hash);
        next++;
        if (ahead.length >= READ_AHEAD_BLOCKS || aheadBytes >= READ_AHEAD_BYTES) yield await blockOut();
      } else if (rec.type === SnapshotRecord.Nodes || rec.type === SnapshotRecord.Code) {
        if (next - 1n !== head) throw new BackupFileError(`snapshot state starts after block ${next - 1n}, before its head ${head}`);
        inState = true;
        const items = await decodeItems(rec.payload, compression, rec.type === SnapshotRecord.Nodes ? 'nodes' : 'code');
        // No writer makes one; a stream of them would pass every check of the state, costing nothing to send.
        if (items.length === 0) throw new BackupFileError('snapshot has an empty state record');
        if (rec.type === SnapshotRecord.Nodes) nodes += items.length;
        else codes += items.length;
        yield { kind: rec.type === SnapshotRecord.Nodes ? 'nodes' : 'code', items, bytesRead: reader.offset };
      } else if (rec.type === SnapshotRecord.Genesis) {
        throw new BackupFileError(
          decoded.genesisBytes === undefined ? 'snapshot of version 1 has a genesis record' : 'snapshot has a genesis record after its whole genesis',
        );
      } else {
        throw new BackupFileError(`unknown snapshot record type ${rec.type}`);
      }
    }
  } finally {
    await reader.close();
  }
}

/** How far block records are decompressed ahead of the block given out (readSnapshot). */
const READ_AHEAD_BLOCKS = 32;
const READ_AHEAD_BYTES = 16 << 20;

/** The genesis records of a version 2 snapshot, right after its header: `total` bytes of JSON in all. */
async function* readGenesis(reader: ContainerReader, total: number, compression: SnapshotHeader['compression']): AsyncGenerator<Uint8Array> {
  let read = 0;
  while (read < total) {
    const rec = await reader.next('the genesis');
    if (rec.type !== SnapshotRecord.Genesis)
      throw new BackupFileError(`snapshot genesis is incomplete: ${read} of its ${total} bytes before record type ${rec.type}`);
    if (rec.payload.length < 4) throw new BackupFileError('snapshot genesis record is too short');
    const rawLength = new DataView(rec.payload.buffer, rec.payload.byteOffset, 4).getUint32(0);
    if (rawLength < 1 || rawLength > GENESIS_PIECE_BYTES)
      throw new BackupFileError(`snapshot genesis record states ${rawLength} bytes, outside 1..${GENESIS_PIECE_BYTES}`);
    if (read + rawLength > total) throw new BackupFileError(`snapshot genesis records hold more than the ${total} bytes its header states`);
    const piece = await decompressRecord(rec.payload.subarray(4), compression, rawLength);
    read += rawLength;
    yield piece;
  }
}

async function decodeItems(payload: Uint8Array, compression: SnapshotHeader['compression'], kind: 'nodes' | 'code'): Promise<Uint8Array[]> {
  if (payload.length < 4) throw new BackupFileError('snapshot state record is too short');
  const rawLength = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
  if (rawLength > MAX_ITEMS_RAW_BYTES) throw new BackupFileError(`snapshot state record states ${rawLength} bytes, above the limit`);
  return unpackItems(await decompressRecord(payload.subarray(4), compression, rawLength), 'snapshot', MIN_ITEM_BYTES[kind]);
}
