import { bytesToHex } from '@ethereumjs/util';
import { ContainerWriter } from '../container/writer.js';
import { UserError } from '../util/errors.js';
import { ARCHIVE, ArchiveRecord, encodeBlockPayload, MAX_BLOCK_BYTES, MAX_RECORD_BYTES, type ArchiveHeader, type BlockRecord } from './format.js';

/**
 * Produces an archive's bytes in order: preamble and header, block records (consecutive numbers from
 * the header's start), trailer with the count, last hash and digest. Each call returns the bytes to
 * write next. A block above the limits readArchive applies (MAX_BLOCK_BYTES of RLP, MAX_RECORD_BYTES
 * of record) is refused before its record is returned.
 */
export class ArchiveWriter {
  private readonly out = new ContainerWriter(ARCHIVE, MAX_RECORD_BYTES);
  private count = 0n;
  private lastHash = '';
  private nextNumber: bigint;

  constructor(readonly header: ArchiveHeader) {
    this.nextNumber = BigInt(header.startBlock);
  }

  get bytesWritten(): number {
    return this.out.bytesWritten;
  }

  start(): Uint8Array {
    return this.out.start(this.header);
  }

  block(record: BlockRecord): Uint8Array {
    if (record.number !== this.nextNumber) throw new Error(`archive writer: block ${record.number} out of order (want ${this.nextNumber})`);
    if (record.rawLength > MAX_BLOCK_BYTES) {
      throw new UserError(
        `cannot write the archive: block ${record.number} is ${record.rawLength} bytes of RLP, above the ${MAX_BLOCK_BYTES}-byte limit of the archive format`,
        { code: 'FAILED_PRECONDITION' },
      );
    }
    this.nextNumber++;
    this.count++;
    this.lastHash = bytesToHex(record.hash);
    return this.out.record(ArchiveRecord.Block, encodeBlockPayload(record));
  }

  /** The trailer; the digest covers every byte before it. */
  finish(): { bytes: Uint8Array; digest: string; blockCount: bigint } {
    const { bytes, digest } = this.out.finish({ blockCount: this.count.toString(), lastBlockHash: this.lastHash });
    return { bytes, digest, blockCount: this.count };
  }
}
