import { BackupFileError } from '../container/errors.js';
import { isCompression, type Compression } from '../container/compression.js';
import { containerKind } from '../container/framing.js';
import { HEX32, informational, UINT } from '../archive/format.js';
import { quoteUntrusted } from '../util/errors.js';

/**
 * Basalt snapshot format, versions 1 to 3 (spec: docs/snapshot-format.md), over the shared container
 * framing (docs/container-format.md):
 *
 *   snapshot := "BASALTSN" | version 1 | header | block* | nodes* | code* | trailer
 *             | "BASALTSN" | version 2 | header | genesis+ | block* | nodes* | code* | trailer
 *             | "BASALTSN" | version 3 | header | genesis+ | blockHeader* | block{head} | nodes* | code* | trailer
 *
 * Version 1 carries the genesis file in the header; a writer uses it whenever the header then fits in
 * MAX_HEADER_BYTES (every ordinary chain), so Basalt versions that read only version 1 still read those
 * snapshots. Version 2, for a genesis too large for the header, carries it in genesis records instead.
 * Version 3 (snapshot sync's, asked for by peers that back-fill history) is version 2 without the
 * history: the blocks below the head are header records.
 */
export const SNAPSHOT = containerKind({ magic: 'BASALTSN', version: 1, versions: [1, 2, 3], noun: 'snapshot', title: 'snapshot', usedBy: '`basalt restore`' });
/** The version of a snapshot whose genesis is in its header. */
export const SNAPSHOT_VERSION = SNAPSHOT.version;
/** The version of a snapshot whose genesis is in genesis records. */
export const SNAPSHOT_VERSION_GENESIS_RECORDS = 2;
/**
 * The version of a snapshot without history: version 2's layout, with the blocks below the head as
 * header records (the restored node back-fills their bodies and receipts from its peers).
 */
export const SNAPSHOT_VERSION_HEADERS = 3;

export const SnapshotRecord = {
  /** Version 2 only, right after the header: rawLength (4) | compressed piece of the genesis file's JSON. */
  Genesis: 0x04,
  /** number (8) | hash (32) | rawLength (4) | compressed RLP([block RLP, receipts RLP]) — the archive's block payload. */
  Block: 0x03,
  /** Version 3 only, blocks 1..head-1: number (8) | hash (32) | rawLength (4) | compressed header RLP. */
  Header: 0x05,
  /** rawLength (4) | compressed sequence of (u32 length | trie node) */
  Nodes: 0x10,
  /** rawLength (4) | compressed sequence of (u32 length | contract code) */
  Code: 0x11,
} as const;

/** Raw bytes gathered into one nodes/code record before it is compressed and written. */
export const ITEMS_RECORD_BYTES = 1024 * 1024;
export const MAX_ITEMS_RAW_BYTES = 4 * 1024 * 1024;
/**
 * The shortest item a state record of each kind holds (snapshots' and repository packs'): a trie node
 * is stored by its hash only when its RLP is 32 bytes or more (shorter ones live inline in their
 * parent; a root of a hashed-key trie is longer), and an empty code is not stored.
 */
export const MIN_ITEM_BYTES = { nodes: 32, code: 1 } as const;
// A block header alone, and a block with its receipts: the block bounds (util/rlp-bounds.ts), which the
// block builder keeps every block it builds within.
export { MAX_BLOCK_WITH_RECEIPTS_BYTES, MAX_HEADER_RLP_BYTES } from '../util/rlp-bounds.js';
import { MAX_BLOCK_WITH_RECEIPTS_BYTES } from '../util/rlp-bounds.js';
export const MAX_SNAPSHOT_RECORD_BYTES = 44 + MAX_BLOCK_WITH_RECEIPTS_BYTES + 1024 * 1024;
/** The most genesis JSON one genesis record holds (its rawLength); all but the last hold exactly this. */
export const GENESIS_PIECE_BYTES = 1024 * 1024;
/**
 * The largest genesis file (its JSON, UTF-8) a snapshot may carry. Node's strings hold at most 2^29 - 24
 * characters, so no Basalt can load a genesis file near 512 MiB anyway; this stays well below that.
 */
export const MAX_GENESIS_BYTES = 256 * 1024 * 1024;

/** A genesis file as bytes, too large to hold: its size, and its bytes streamed on each `open()`. */
export interface GenesisStream {
  size: number;
  open(): AsyncIterable<Uint8Array>;
}

export function isGenesisStream(g: object | undefined): g is GenesisStream {
  return g !== undefined && typeof (g as { open?: unknown }).open === 'function';
}

export interface SnapshotHeader {
  format: 'basalt-snapshot';
  version: number;
  chainId: string;
  genesisHash: string;
  /**
   * The genesis file the chain was created with. Written: as JSON (an object: version 1 when the header
   * fits) or as bytes (version 2, in genesis records). Read: the object of a version 1 file; absent in
   * version 2, whose genesis records follow the header (readSnapshot's 'genesis' events, `genesisBytes` in all).
   */
  genesis?: object | GenesisStream;
  /** Read from a version 2 file: the bytes of its genesis records. */
  genesisBytes?: number;
  head: { number: string; hash: string; stateRoot: string };
  compression: Compression;
  /**
   * 'tree': the state's nodes in tree order (a subtree two places share comes for each; see StateOrder
   * in backup/state-walk.ts), which a reader checks without remembering every node. Absent: each node
   * once (every file of earlier Basalt versions), which the reader checks remembering each (16 bytes a
   * node). A Basalt version before this field refuses a file in tree order whose state repeats a
   * subtree ("state node … is not referred to by the state before it").
   */
  stateOrder?: 'tree';
  /** Informational, only in files of earlier Basalt versions (see ArchiveHeader). */
  createdAt?: string;
  clientVersion?: string;
}

export interface SnapshotTrailer {
  blockCount: string;
  nodeCount: string;
  codeCount: string;
  lastBlockHash: string;
  digest: string;
}

/**
 * A snapshot header as read: of version 1, whole; of version 2, without its genesis, which follows in
 * `genesisBytes` bytes of genesis records.
 */
export type DecodedSnapshotHeader = { header: SnapshotHeader; genesisBytes?: undefined } | { header: SnapshotHeader; genesisBytes: number };

/** The header record's fields, in a file of `version` (its preamble's). */
export function decodeSnapshotHeader(h: Record<string, unknown>, version: number = SNAPSHOT_VERSION): DecodedSnapshotHeader {
  const head = h.head as Record<string, unknown> | undefined;
  const hex32 = (v: unknown) => typeof v === 'string' && HEX32.test(v);
  const uint = (v: unknown) => typeof v === 'string' && UINT.test(v);
  if (h.format !== 'basalt-snapshot' || h.version !== version) throw new BackupFileError('snapshot header has an unknown format or version');
  if (!uint(h.chainId) || !hex32(h.genesisHash)) throw new BackupFileError('snapshot header chain fields are malformed');
  if (typeof head !== 'object' || head === null || !uint(head.number) || !hex32(head.hash) || !hex32(head.stateRoot)) {
    throw new BackupFileError('snapshot header head fields are malformed');
  }
  if (typeof h.compression !== 'string' || !isCompression(h.compression)) throw new BackupFileError('snapshot header compression is unknown');
  if (h.stateOrder !== undefined && h.stateOrder !== 'tree')
    throw new BackupFileError(`snapshot header has an unknown stateOrder ${quoteUntrusted(h.stateOrder)} (a newer Basalt's file?)`);
  const fields = {
    chainId: h.chainId as string,
    genesisHash: h.genesisHash as string,
    head: { number: head.number as string, hash: head.hash as string, stateRoot: head.stateRoot as string },
    compression: h.compression,
    ...(h.stateOrder === 'tree' ? { stateOrder: 'tree' as const } : {}),
  };
  if (version === SNAPSHOT_VERSION_GENESIS_RECORDS || version === SNAPSHOT_VERSION_HEADERS) {
    if (h.genesis !== undefined || !uint(h.genesisBytes)) throw new BackupFileError('snapshot header genesisBytes is missing or malformed');
    const genesisBytes = Number(h.genesisBytes);
    if (genesisBytes < 1 || genesisBytes > MAX_GENESIS_BYTES) {
      throw new BackupFileError(`snapshot header states a genesis of ${genesisBytes} bytes, outside 1..${MAX_GENESIS_BYTES} (corrupt or hostile snapshot)`);
    }
    return { header: { format: 'basalt-snapshot', version, ...fields, genesisBytes, ...informational(h) }, genesisBytes };
  }
  if (typeof h.genesis !== 'object' || h.genesis === null || Array.isArray(h.genesis)) throw new BackupFileError('snapshot header has no genesis');
  return {
    header: {
      format: 'basalt-snapshot',
      version,
      chainId: fields.chainId,
      genesisHash: fields.genesisHash,
      genesis: h.genesis,
      head: fields.head,
      compression: fields.compression,
      ...(fields.stateOrder ? { stateOrder: fields.stateOrder } : {}),
      ...informational(h),
    },
  };
}

export function decodeSnapshotTrailer(t: Record<string, unknown>): SnapshotTrailer {
  const field = (k: keyof SnapshotTrailer): string => {
    const v = t[k];
    if (typeof v !== 'string') throw new BackupFileError('snapshot trailer is malformed');
    return v;
  };
  return {
    blockCount: field('blockCount'),
    nodeCount: field('nodeCount'),
    codeCount: field('codeCount'),
    lastBlockHash: field('lastBlockHash'),
    digest: field('digest'),
  };
}
