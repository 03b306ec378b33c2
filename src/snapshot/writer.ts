import { RLP } from '@ethereumjs/rlp';
import { bytesToHex } from '@ethereumjs/util';
import { BLOCK_PREFIX_BYTES, encodeBlockPayload } from '../archive/format.js';
import { compressedBound, compressRecord } from '../container/compression.js';
import { encodeJson, packItems, PREAMBLE_BYTES, RECORD_OVERHEAD } from '../container/framing.js';
import { ContainerWriter } from '../container/writer.js';
import { ITEMS_RECORD_BYTES, SNAPSHOT, SnapshotRecord, type SnapshotHeader } from './format.js';

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
    const { bytes, digest } = this.out.finish(trailerFields(this.nextBlock - 1n, this.nodeCount, this.codeCount, this.lastHash));
    return { bytes, digest, nodes: this.nodeCount, codes: this.codeCount };
  }
}

function trailerFields(blocks: bigint, nodes: number, codes: number, lastBlockHash: string): Record<string, string> {
  return { blockCount: blocks.toString(), nodeCount: String(nodes), codeCount: String(codes), lastBlockHash };
}

/** What a snapshot holds, in sizes: enough to bound its length before writing it (snapshotSizeBound). */
export interface SnapshotSizes {
  header: SnapshotHeader;
  /** Blocks 1..head: how many, and the sum of blockRawBound over them. */
  blocks: { count: bigint; raw: number };
  /** State trie nodes and contract codes: how many, and their bytes in all. */
  nodes: { count: number; bytes: number };
  codes: { count: number; bytes: number };
}

/** RLP length of a byte string of `n` bytes, at most (a single byte below 0x80 takes one byte, not two). */
function rlpBound(n: number): number {
  let lengthBytes = 0;
  for (let m = n; m > 0; m = Math.floor(m / 256)) lengthBytes++;
  return n < 56 ? n + 1 : n + 1 + lengthBytes;
}

/** The most bytes a block record's uncompressed data, RLP([block RLP, receipts RLP]), can take. */
export function blockRawBound(blockRlpLength: number, receiptsRlpLength: number): number {
  return rlpBound(rlpBound(blockRlpLength) + rlpBound(receiptsRlpLength));
}

/**
 * The most bytes a snapshot with these contents takes, in its header's compression, computed without
 * compressing anything: the preamble and header exactly, each block record's framing plus the
 * compression bound of its data, the state records likewise, the trailer exactly. Snapshot sync
 * announces it before the first byte (`sync/snapshot-protocol.ts`), and the peer bans a server that
 * sends more, so it must hold for every snapshot createSnapshot writes. It relies on how createSnapshot
 * groups items into records (`backup/snapshot.ts`): a nodes record is closed once it holds
 * ITEMS_RECORD_BYTES of items, so all but the last hold at least that; a code record is closed before
 * the next code would take it to ITEMS_RECORD_BYTES, so any two consecutive ones hold at least that
 * together. Items count 4 bytes each for their length.
 */
export function snapshotSizeBound(s: SnapshotSizes): number {
  const c = s.header.compression;
  const head = PREAMBLE_BYTES + RECORD_OVERHEAD + encodeJson(s.header).length;
  const blockCount = Number(s.blocks.count);
  const blocks = blockCount * (RECORD_OVERHEAD + BLOCK_PREFIX_BYTES) + compressedBound(s.blocks.raw, c, blockCount);
  const items = (it: { count: number; bytes: number }, records: number) => {
    const raw = it.bytes + 4 * it.count;
    const n = Math.min(it.count, records);
    return n * (RECORD_OVERHEAD + 4) + compressedBound(raw, c, n);
  };
  const nodesRaw = s.nodes.bytes + 4 * s.nodes.count;
  const codesRaw = s.codes.bytes + 4 * s.codes.count;
  const nodes = items(s.nodes, Math.floor(nodesRaw / ITEMS_RECORD_BYTES) + 1);
  const codes = items(s.codes, 2 * Math.floor(codesRaw / ITEMS_RECORD_BYTES) + 2);
  const hash = `0x${'0'.repeat(64)}`;
  const trailer = RECORD_OVERHEAD + encodeJson({ ...trailerFields(s.blocks.count, s.nodes.count, s.codes.count, hash), digest: hash }).length;
  return head + blocks + nodes + codes + trailer;
}
