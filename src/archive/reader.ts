import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { bytesToHex } from '@ethereumjs/util';
import { ByteReader } from './byte-reader.js';
import { ArchiveError } from './errors.js';
import {
  checkPreamble,
  decodeBlockPayload,
  decodeHeader,
  decodeTrailer,
  MAX_HEADER_BYTES,
  MAX_RECORD_BYTES,
  PREAMBLE_BYTES,
  RecordType,
  type ArchiveHeader,
  type ArchiveTrailer,
  type BlockRecord,
} from './format.js';

export type ArchiveEvent =
  | { kind: 'header'; header: ArchiveHeader }
  | { kind: 'block'; record: BlockRecord; bytesRead: number }
  | { kind: 'trailer'; trailer: ArchiveTrailer; bytesRead: number };

/**
 * Parse an archive stream, checking its structure as it goes: magic and version, one header, block
 * records with valid checksums and consecutive numbers inside the stated range, and a trailer whose
 * count, last hash and sha256 digest match what was read, then nothing more. Block contents are not
 * decoded here (see block-codec.ts). Throws ArchiveError at the first problem, naming it.
 */
export async function* readArchive(source: AsyncIterable<Uint8Array>): AsyncGenerator<ArchiveEvent> {
  const reader = new ByteReader(source);
  const digest = createHash('sha256');
  try {
    const pre = await reader.read(PREAMBLE_BYTES);
    if (pre.length < PREAMBLE_BYTES) throw new ArchiveError(pre.length === 0 ? 'archive is empty' : 'not a Basalt archive (too short)');
    checkPreamble(pre);
    digest.update(pre);

    const first = await readRecord(reader, 'header');
    if (first.type !== RecordType.Header) throw new ArchiveError(`archive starts with record type ${first.type}, not a header`);
    if (first.payload.length > MAX_HEADER_BYTES) throw new ArchiveError('archive header is too large');
    digest.update(first.raw);
    const header = decodeHeader(first.payload);
    yield { kind: 'header', header };

    const start = BigInt(header.startBlock);
    const end = BigInt(header.endBlock);
    let next = start;
    let lastHash: string | undefined;
    for (;;) {
      const rec = await readRecord(reader, next === start ? `block ${next}` : `the record after block ${next - 1n}`);
      if (rec.type === RecordType.Trailer) {
        const trailer = decodeTrailer(rec.payload);
        const count = next - start;
        if (next - 1n !== end) throw new ArchiveError(`archive is incomplete: it ends at block ${next - 1n}, but its header says ${end}`);
        if (BigInt(trailer.blockCount) !== count) throw new ArchiveError(`archive trailer counts ${trailer.blockCount} blocks, but ${count} were read`);
        if (trailer.lastBlockHash !== lastHash) throw new ArchiveError(`archive trailer names last block ${trailer.lastBlockHash}, but it was ${lastHash}`);
        const actual = `0x${digest.digest('hex')}`;
        if (trailer.digest !== actual) throw new ArchiveError(`archive digest mismatch: trailer says ${trailer.digest}, content hashes to ${actual} (corrupt archive)`);
        if (!(await reader.atEnd())) throw new ArchiveError('archive has data after its trailer (corrupt or concatenated archive)');
        yield { kind: 'trailer', trailer, bytesRead: reader.offset };
        return;
      }
      if (rec.type !== RecordType.Block) throw new ArchiveError(`unknown record type ${rec.type} after block ${next - 1n}`);
      digest.update(rec.raw);
      const record = decodeBlockPayload(rec.payload);
      if (record.number !== next) throw new ArchiveError(`archive holds block ${record.number} where block ${next} should be (blocks out of order or missing)`);
      if (next > end) throw new ArchiveError(`archive holds block ${next}, beyond the end ${end} its header states`);
      lastHash = bytesToHex(record.hash);
      next++;
      yield { kind: 'block', record, bytesRead: reader.offset };
    }
  } finally {
    await reader.close();
  }
}

export interface RawRecord {
  type: number;
  payload: Uint8Array;
  /** The whole record as read (for the digest). */
  raw: Uint8Array;
}

export async function readRecord(reader: ByteReader, what: string): Promise<RawRecord> {
  const at = reader.offset;
  const head = await reader.read(5);
  if (head.length === 0) throw new ArchiveError(`archive is incomplete: it ends before ${what} and has no trailer (truncated? export again or use the complete file)`);
  if (head.length < 5) throw new ArchiveError(`archive is truncated inside ${what} (at byte ${at})`);
  const type = head[0]!;
  const length = new DataView(head.buffer).getUint32(1);
  if (length > MAX_RECORD_BYTES) throw new ArchiveError(`record at byte ${at} states ${length} bytes, above the ${MAX_RECORD_BYTES}-byte limit (corrupt or hostile archive)`);
  const rest = await reader.read(length + 4);
  if (rest.length < length + 4) throw new ArchiveError(`archive is truncated inside ${what} (at byte ${at})`);
  const raw = new Uint8Array(5 + length + 4);
  raw.set(head);
  raw.set(rest, 5);
  const stored = new DataView(raw.buffer).getUint32(5 + length);
  if (crc32(raw.subarray(0, 5 + length)) !== stored) throw new ArchiveError(`checksum mismatch in ${what} (record at byte ${at}): the archive is corrupt`);
  return { type, payload: raw.subarray(5, 5 + length), raw };
}
