import { RLP } from '@ethereumjs/rlp';
import { bytesToHex } from '@ethereumjs/util';
import { encodeBlockPayload } from '../archive/format.js';
import { compressRecord } from '../container/compression.js';
import { packItems } from '../container/framing.js';
import { ContainerWriter } from '../container/writer.js';
import { SNAPSHOT, SnapshotRecord, type SnapshotHeader } from './format.js';

/**
 * Produces a snapshot's bytes in order: preamble and header, blocks 1..head with their receipts, the
 * head's state as nodes and code records, trailer with counts and digest. Each call returns the
 * bytes to write next.
 */
export class SnapshotWriter {
  private readonly out = new ContainerWriter(SNAPSHOT);
  private nextBlock = 1n;
  private lastHash = '';
  private nodeCount = 0;
  private codeCount = 0;

  constructor(readonly header: SnapshotHeader) {}

  get bytesWritten(): number {
    return this.out.bytesWritten;
  }

  start(): Uint8Array {
    return this.out.start(this.header);
  }

  async block(number: bigint, hash: Uint8Array, blockRlp: Uint8Array, receiptsRlp: Uint8Array): Promise<Uint8Array> {
    if (number !== this.nextBlock) throw new Error(`snapshot writer: block ${number} out of order (want ${this.nextBlock})`);
    const raw = RLP.encode([blockRlp, receiptsRlp]);
    const data = await compressRecord(raw, this.header.compression);
    this.nextBlock++;
    this.lastHash = bytesToHex(hash);
    return this.out.record(SnapshotRecord.Block, encodeBlockPayload({ number, hash, rawLength: raw.length, data }));
  }

  /** One record of trie nodes (`kind` 'nodes') or contract codes ('code'). */
  async items(kind: 'nodes' | 'code', items: Uint8Array[]): Promise<Uint8Array> {
    const raw = packItems(items);
    const data = await compressRecord(raw, this.header.compression);
    const payload = new Uint8Array(4 + data.length);
    new DataView(payload.buffer).setUint32(0, raw.length);
    payload.set(data, 4);
    if (kind === 'nodes') this.nodeCount += items.length;
    else this.codeCount += items.length;
    return this.out.record(kind === 'nodes' ? SnapshotRecord.Nodes : SnapshotRecord.Code, payload);
  }

  finish(): { bytes: Uint8Array; digest: string; nodes: number; codes: number } {
    const { bytes, digest } = this.out.finish({
      blockCount: (this.nextBlock - 1n).toString(),
      nodeCount: String(this.nodeCount),
      codeCount: String(this.codeCount),
      lastBlockHash: this.lastHash,
    });
    return { bytes, digest, nodes: this.nodeCount, codes: this.codeCount };
  }
}
