import { bytesToHex } from '@ethereumjs/util';
import { ContainerWriter } from '../container/writer.js';
import { ARCHIVE, ArchiveRecord, encodeBlockPayload, type ArchiveHeader, type BlockRecord } from './format.js';

/**
 * Produces an archive's bytes in order: preamble and header, block records (consecutive numbers from
 * the header's start), trailer with the count, last hash and digest. Each call returns the bytes to
 * write next.
 */
export class ArchiveWriter {
  private readonly out = new ContainerWriter(ARCHIVE);
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
