import { createHash } from 'node:crypto';
import { bytesToHex } from '@ethereumjs/util';
import { encodeBlockPayload, encodeJson, encodeRecord, preamble, RecordType, type ArchiveHeader, type BlockRecord } from './format.js';

/**
 * Produces an archive's bytes in order: preamble and header, block records, trailer. Keeps the
 * running sha256 digest and count for the trailer. Each call returns the bytes to write next.
 */
export class ArchiveWriter {
  private readonly digest = createHash('sha256');
  private count = 0n;
  private lastHash = '';
  private nextNumber: bigint;
  bytesWritten = 0;

  constructor(readonly header: ArchiveHeader) {
    this.nextNumber = BigInt(header.startBlock);
  }

  start(): Uint8Array {
    const pre = preamble();
    const rec = encodeRecord(RecordType.Header, encodeJson(this.header));
    const out = new Uint8Array(pre.length + rec.length);
    out.set(pre);
    out.set(rec, pre.length);
    return this.emit(out);
  }

  block(record: BlockRecord): Uint8Array {
    if (record.number !== this.nextNumber) throw new Error(`archive writer: block ${record.number} out of order (want ${this.nextNumber})`);
    this.nextNumber++;
    this.count++;
    this.lastHash = bytesToHex(record.hash);
    return this.emit(encodeRecord(RecordType.Block, encodeBlockPayload(record)));
  }

  /** The trailer; the digest covers every byte before it. */
  finish(): { bytes: Uint8Array; digest: string; blockCount: bigint } {
    const digest = `0x${this.digest.digest('hex')}`;
    const bytes = encodeRecord(RecordType.Trailer, encodeJson({ blockCount: this.count.toString(), lastBlockHash: this.lastHash, digest }));
    this.bytesWritten += bytes.length;
    return { bytes, digest, blockCount: this.count };
  }

  private emit(bytes: Uint8Array): Uint8Array {
    this.digest.update(bytes);
    this.bytesWritten += bytes.length;
    return bytes;
  }
}
