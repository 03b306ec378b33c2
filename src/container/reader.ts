import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { ByteReader } from './byte-reader.js';
import { BackupFileError } from './errors.js';
import { quoteUntrusted } from '../util/errors.js';
import { checkPreamble, MAX_HEADER_BYTES, parseJsonObject, PREAMBLE_BYTES, RecordType, RECORD_OVERHEAD, type ContainerKind } from './framing.js';

export interface RawRecord {
  type: number;
  payload: Uint8Array;
}

/**
 * Reads a container record by record with bounded memory (the largest record the format allows),
 * checking the preamble, each record's checksum and length limit, and at the trailer the digest of
 * everything before it and that nothing follows. What the records mean is the format's business.
 */
export class ContainerReader {
  private readonly reader: ByteReader;
  private readonly digest = createHash('sha256');
  /** The file's format version, from its preamble (known once `header` has returned). */
  version = 0;

  constructor(
    source: AsyncIterable<Uint8Array>,
    private readonly kind: ContainerKind,
    private readonly maxRecordBytes: number,
  ) {
    this.reader = new ByteReader(source);
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.reader.offset;
  }

  /** The preamble and the header record's JSON object. */
  async header(): Promise<Record<string, unknown>> {
    const pre = await this.reader.read(PREAMBLE_BYTES);
    if (pre.length < PREAMBLE_BYTES) {
      throw new BackupFileError(pre.length === 0 ? `${this.kind.noun} is empty` : `not a Basalt ${this.kind.noun} (too short)`, { code: 'TRUNCATED' });
    }
    this.version = checkPreamble(pre, this.kind);
    this.digest.update(pre);
    // The header's own limit, not the format's record limit: a first record stating 32 MiB is refused
    // before any of it is read.
    const first = await this.next('the header', { bytes: MAX_HEADER_BYTES, name: `${this.kind.noun} header` });
    if (first.type !== RecordType.Header) throw new BackupFileError(`${this.kind.noun} starts with record type ${first.type}, not a header`);
    return parseJsonObject(first.payload, `${this.kind.noun} header`);
  }

  /**
   * Check a trailer read by `next`: its digest must be the content's, and nothing may follow it.
   * Returns the trailer's fields.
   */
  async finish(trailer: RawRecord): Promise<{ fields: Record<string, unknown>; digest: string }> {
    const fields = parseJsonObject(trailer.payload, `${this.kind.noun} trailer`);
    const actual = `0x${this.digest.digest('hex')}`;
    if (fields.digest !== actual) {
      throw new BackupFileError(
        `${this.kind.noun} digest mismatch: trailer says ${quoteUntrusted(fields.digest)}, content hashes to ${actual} (corrupt ${this.kind.noun})`,
      );
    }
    if (!(await this.reader.atEnd())) throw new BackupFileError(`${this.kind.noun} has data after its trailer (corrupt or concatenated file)`);
    return { fields, digest: actual };
  }

  /** Stop reading the source (lets a file stream close). */
  close(): Promise<void> {
    return this.reader.close();
  }

  /**
   * The next record, its checksum checked. `what` names what is expected there, for messages; a record
   * stating more than `limit` (the format's record limit unless given, with the name of what it bounds)
   * is refused before it is read. Every record but the trailer goes into the digest; a trailer is
   * checked by `finish`.
   */
  async next(what: string, limit?: { bytes: number; name: string }): Promise<RawRecord> {
    const noun = this.kind.noun;
    const at = this.reader.offset;
    const head = await this.reader.read(5);
    // The source ended early (TRUNCATED): a file cut short, or a peer's stream that stopped, which
    // snapshot sync must tell apart from content that is wrong.
    if (head.length === 0)
      throw new BackupFileError(`${noun} is incomplete: it ends before ${what} and has no trailer (truncated? use the complete file)`, { code: 'TRUNCATED' });
    if (head.length < 5) throw new BackupFileError(`${noun} is truncated inside ${what} (at byte ${at})`, { code: 'TRUNCATED' });
    const type = head[0]!;
    const length = new DataView(head.buffer, head.byteOffset, 5).getUint32(1);
    if (limit !== undefined && length > limit.bytes) {
      throw new BackupFileError(
        `${limit.name} is too large: its record states ${length} bytes, above the ${limit.bytes}-byte limit (corrupt or hostile ${noun})`,
      );
    }
    if (length > this.maxRecordBytes) {
      throw new BackupFileError(`record at byte ${at} states ${length} bytes, above the ${this.maxRecordBytes}-byte limit (corrupt or hostile ${noun})`);
    }
    const rest = await this.reader.read(length + 4);
    if (rest.length < length + 4) throw new BackupFileError(`${noun} is truncated inside ${what} (at byte ${at})`, { code: 'TRUNCATED' });
    const raw = new Uint8Array(RECORD_OVERHEAD + length);
    raw.set(head);
    raw.set(rest, 5);
    const stored = new DataView(raw.buffer).getUint32(5 + length);
    if (crc32(raw.subarray(0, 5 + length)) !== stored) throw new BackupFileError(`checksum mismatch in ${what} (record at byte ${at}): the ${noun} is corrupt`);
    if (type !== RecordType.Trailer) this.digest.update(raw);
    return { type, payload: raw.subarray(5, 5 + length) };
  }
}
