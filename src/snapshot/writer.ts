import { RLP } from '@ethereumjs/rlp';
import { bytesToHex } from '@ethereumjs/util';
import { BLOCK_PREFIX_BYTES, encodeBlockPayload } from '../archive/format.js';
import { compressedBound, compressRecord, type Compression } from '../container/compression.js';
import { encodeJson, MAX_HEADER_BYTES, packItems, PREAMBLE_BYTES, RECORD_OVERHEAD } from '../container/framing.js';
import { ContainerWriter } from '../container/writer.js';
import { UserError } from '../util/errors.js';
import {
  GENESIS_PIECE_BYTES,
  ITEMS_RECORD_BYTES,
  MAX_BLOCK_WITH_RECEIPTS_BYTES,
  MAX_GENESIS_BYTES,
  MAX_ITEMS_RAW_BYTES,
  MAX_SNAPSHOT_RECORD_BYTES,
  SNAPSHOT,
  SNAPSHOT_VERSION,
  SNAPSHOT_VERSION_GENESIS_RECORDS,
  SNAPSHOT_VERSION_HEADERS,
  MAX_HEADER_RLP_BYTES,
  SnapshotRecord,
  isGenesisStream,
  type GenesisStream,
  type SnapshotHeader,
} from './format.js';

/** How a snapshot's header is written (snapshotLayout). */
export interface SnapshotLayout {
  version: number;
  /** The header record's object. */
  header: object;
  /** Version 2: the genesis file's bytes, written in genesis records after the header. */
  genesis?: GenesisStream;
}

const cannot = (what: string) => new UserError(`cannot write the snapshot: ${what}`, { code: 'FAILED_PRECONDITION' });

/**
 * Version 1, the genesis inside the header, when that header fits in MAX_HEADER_BYTES: the same bytes
 * as every Basalt has written, which earlier versions (and peers syncing from this node) read. Otherwise
 * version 2, the genesis in records of its own. With `headersOnly` (no history below the head), version
 * 3, the genesis in records as in version 2. A genesis over MAX_GENESIS_BYTES is refused.
 */
export function snapshotLayout(header: SnapshotHeader, headersOnly = false): SnapshotLayout {
  const given = header.genesis;
  if (given === undefined) throw new Error('snapshot writer: the header has no genesis');
  let genesis: GenesisStream;
  if (isGenesisStream(given)) {
    // Bytes: a genesis too large to be read whole (createSnapshot reads a small one as an object).
    genesis = given;
  } else {
    const json = encodeJson(given);
    if (json.length < MAX_HEADER_BYTES && !headersOnly) {
      const whole = { ...header, version: SNAPSHOT_VERSION };
      if (encodeJson(whole).length <= MAX_HEADER_BYTES) return { version: SNAPSHOT_VERSION, header: whole };
    }
    genesis = {
      size: json.length,
      async *open() {
        yield json;
      },
    };
  }
  if (genesis.size > MAX_GENESIS_BYTES)
    throw cannot(`the chain's genesis file is ${genesis.size} bytes of JSON, above the ${MAX_GENESIS_BYTES}-byte limit of the snapshot format`);
  if (genesis.size < 1) throw cannot("the chain's genesis file is empty");
  const { format, chainId, genesisHash, head, compression, stateOrder } = header;
  const version = headersOnly ? SNAPSHOT_VERSION_HEADERS : SNAPSHOT_VERSION_GENESIS_RECORDS;
  return {
    version,
    header: { format, version, chainId, genesisHash, genesisBytes: String(genesis.size), head, compression, ...(stateOrder ? { stateOrder } : {}) },
    genesis,
  };
}

/** The most bytes the preamble, header and genesis records of `layout` take, compressed with `c`. */
function layoutBound(layout: SnapshotLayout, c: Compression): number {
  const header = PREAMBLE_BYTES + RECORD_OVERHEAD + encodeJson(layout.header).length;
  if (!layout.genesis) return header;
  const pieces = Math.ceil(layout.genesis.size / GENESIS_PIECE_BYTES);
  return header + pieces * (RECORD_OVERHEAD + 4) + compressedBound(layout.genesis.size, c, pieces);
}

/**
 * Produces a snapshot's bytes in order: preamble and header (with the genesis records of a version 2
 * file), blocks 1..head with their receipts, the head's state as nodes and code records, trailer with
 * counts and digest. Each call returns the bytes to write next. Whatever readSnapshot would refuse
 * for its size (a genesis, block or state record above the format's limits) fails with a UserError
 * before its bytes are returned; a genesis too large fails already in the constructor.
 */
/** A block checked and compressed for its record (SnapshotWriter.prepareBlock). */
export interface PreparedBlock {
  number: bigint;
  hash: Uint8Array;
  rawLength: number;
  data: Uint8Array;
  /** A header record (version 3, below the head) rather than a block with receipts. */
  headerOnly?: boolean;
}

export class SnapshotWriter {
  private readonly out = new ContainerWriter(SNAPSHOT, MAX_SNAPSHOT_RECORD_BYTES);
  private readonly layout: SnapshotLayout;
  private nextBlock = 1n;
  private lastHash = '';
  private nodeCount = 0;
  private codeCount = 0;

  /** `headersOnly`: version 3, blocks 1..head-1 as header records (prepareHeader), the head whole. */
  constructor(
    readonly header: SnapshotHeader,
    readonly headersOnly = false,
  ) {
    this.layout = snapshotLayout(header, headersOnly);
  }

  /** The format version this snapshot is written in. */
  get version(): number {
    return this.layout.version;
  }

  get bytesWritten(): number {
    return this.out.bytesWritten;
  }

  /**
   * The preamble and header, then in version 2 one piece per genesis record (GENESIS_PIECE_BYTES each,
   * the last the rest), streamed: a large genesis is never held whole. Its bytes must add up to the
   * size the header states, or the snapshot fails here, before anything wrong is written.
   */
  async *start(): AsyncGenerator<Uint8Array> {
    yield this.out.start(this.layout.header, this.layout.version);
    const genesis = this.layout.genesis;
    if (!genesis) return;
    const piece = Buffer.alloc(GENESIS_PIECE_BYTES);
    let fill = 0;
    let total = 0;
    const emit = async (raw: Uint8Array) => this.out.record(SnapshotRecord.Genesis, await rawLengthPayload(raw, this.header.compression));
    for await (const chunk of genesis.open()) {
      total += chunk.length;
      if (total > genesis.size) throw new Error(`snapshot writer: the genesis holds more than the ${genesis.size} bytes it stated`);
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(GENESIS_PIECE_BYTES - fill, chunk.length - at);
        piece.set(chunk.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === GENESIS_PIECE_BYTES) {
          yield await emit(piece);
          fill = 0;
        }
      }
    }
    if (fill > 0) yield await emit(piece.subarray(0, fill));
    if (total !== genesis.size) throw new Error(`snapshot writer: the genesis holds ${total} bytes, not the ${genesis.size} it stated`);
  }

  async block(number: bigint, hash: Uint8Array, blockRlp: Uint8Array, receiptsRlp: Uint8Array): Promise<Uint8Array> {
    return this.blockRecord(await this.prepareBlock(number, hash, blockRlp, receiptsRlp));
  }

  /**
   * A block's record content, checked against the format's limit and compressed, without writing it:
   * a producer prepares blocks ahead, several at once, and writes them in order with blockRecord.
   */
  prepareBlock(number: bigint, hash: Uint8Array, blockRlp: Uint8Array, receiptsRlp: Uint8Array): Promise<PreparedBlock> {
    return prepareBlockRecord(number, hash, blockRlp, receiptsRlp, this.header.compression);
  }

  /** A header's record content (version 3, below the head), checked against the format's limit and compressed. */
  async prepareHeader(number: bigint, hash: Uint8Array, headerRlp: Uint8Array): Promise<PreparedBlock> {
    if (headerRlp.length > MAX_HEADER_RLP_BYTES) {
      throw cannot(`the header of block ${number} is ${headerRlp.length} bytes, above the ${MAX_HEADER_RLP_BYTES}-byte limit of the snapshot format`);
    }
    return { number, hash, rawLength: headerRlp.length, data: await compressRecord(headerRlp, this.header.compression), headerOnly: true };
  }

  /** The record of the next block, prepared by prepareBlock (or prepareHeader below the head of a version 3 snapshot). */
  blockRecord(b: PreparedBlock): Uint8Array {
    if (b.number !== this.nextBlock) throw new Error(`snapshot writer: block ${b.number} out of order (want ${this.nextBlock})`);
    const head = BigInt(this.header.head.number);
    if ((b.headerOnly === true) !== (this.headersOnly && b.number < head)) {
      throw new Error(`snapshot writer: block ${b.number} ${b.headerOnly ? 'as a header record' : 'whole'} in a snapshot of version ${this.version}`);
    }
    this.nextBlock++;
    this.lastHash = bytesToHex(b.hash);
    return this.out.record(b.headerOnly ? SnapshotRecord.Header : SnapshotRecord.Block, encodeBlockPayload(b));
  }

  /** One record of trie nodes (`kind` 'nodes') or contract codes ('code'). */
  async items(kind: 'nodes' | 'code', items: Uint8Array[]): Promise<Uint8Array> {
    const raw = packItems(items);
    if (raw.length > MAX_ITEMS_RAW_BYTES) {
      const what = kind === 'code' && items.length === 1 ? `a contract code of ${items[0]!.length} bytes` : `a ${kind} record of ${raw.length} bytes`;
      throw cannot(`${what} is above the ${MAX_ITEMS_RAW_BYTES}-byte limit of the snapshot format's state records`);
    }
    const payload = await rawLengthPayload(raw, this.header.compression);
    if (kind === 'nodes') this.nodeCount += items.length;
    else this.codeCount += items.length;
    return this.out.record(kind === 'nodes' ? SnapshotRecord.Nodes : SnapshotRecord.Code, payload);
  }

  finish(): { bytes: Uint8Array; digest: string; nodes: number; codes: number } {
    const { bytes, digest } = this.out.finish(trailerFields(this.nextBlock - 1n, this.nodeCount, this.codeCount, this.lastHash));
    return { bytes, digest, nodes: this.nodeCount, codes: this.codeCount };
  }
}

/**
 * A block with its receipts as the content of a block record (the snapshot's, and a backup repository's
 * history segment's), checked against the format's limit and compressed.
 */
export async function prepareBlockRecord(
  number: bigint,
  hash: Uint8Array,
  blockRlp: Uint8Array,
  receiptsRlp: Uint8Array,
  compression: Compression,
): Promise<PreparedBlock> {
  const raw = RLP.encode([blockRlp, receiptsRlp]);
  if (raw.length > MAX_BLOCK_WITH_RECEIPTS_BYTES) {
    throw cannot(`block ${number} with its receipts is ${raw.length} bytes, above the ${MAX_BLOCK_WITH_RECEIPTS_BYTES}-byte limit of the snapshot format`);
  }
  return { number, hash, rawLength: raw.length, data: await compressRecord(raw, compression) };
}

/** rawLength (u32) | `raw` compressed as one frame: the payload of a state or genesis record. */
async function rawLengthPayload(raw: Uint8Array, c: Compression): Promise<Uint8Array> {
  const data = await compressRecord(raw, c);
  const payload = new Uint8Array(4 + data.length);
  new DataView(payload.buffer).setUint32(0, raw.length);
  payload.set(data, 4);
  return payload;
}

function trailerFields(blocks: bigint, nodes: number, codes: number, lastBlockHash: string): Record<string, string> {
  return { blockCount: blocks.toString(), nodeCount: String(nodes), codeCount: String(codes), lastBlockHash };
}

/** What a snapshot holds, in sizes: enough to bound its length before writing it (snapshotSizeBound). */
export interface SnapshotSizes {
  header: SnapshotHeader;
  /** Blocks 1..head (1..head-1 when `headers` is there): how many, and the sum of blockRawBound over them. */
  blocks: { count: bigint; raw: number };
  /** Version 3: the header records of blocks 1..head-1, how many, and their RLP bytes. */
  headers?: { count: bigint; raw: number };
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
 * compressing anything: the preamble and header exactly (and the genesis records' framing plus the
 * compression bound of the genesis, in version 2), each block record's framing plus the
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
  const head = layoutBound(snapshotLayout(s.header, s.headers !== undefined), c);
  const blockCount = Number(s.blocks.count);
  const headerCount = Number(s.headers?.count ?? 0n);
  const blocks =
    (blockCount + headerCount) * (RECORD_OVERHEAD + BLOCK_PREFIX_BYTES) +
    compressedBound(s.blocks.raw, c, blockCount) +
    compressedBound(s.headers?.raw ?? 0, c, headerCount);
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
  const trailer =
    RECORD_OVERHEAD + encodeJson({ ...trailerFields(s.blocks.count + (s.headers?.count ?? 0n), s.nodes.count, s.codes.count, hash), digest: hash }).length;
  return head + blocks + nodes + codes + trailer;
}
