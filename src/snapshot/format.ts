import type { GenesisFile } from '../chain/chain-config.js';
import type { Compression } from '../archive/compression.js';
import { ArchiveError } from '../archive/errors.js';

/**
 * Basalt snapshot format, version 1 (spec: docs/snapshot-format.md). Same record framing as the
 * archive format (type | length | payload | crc32), with its own magic:
 *
 *   snapshot := "BASALTSN" | version (u16) | header | block* | nodes* | code* | trailer
 */
export const SNAPSHOT_MAGIC = new TextEncoder().encode('BASALTSN');
export const SNAPSHOT_VERSION = 1;

export const SnapshotRecord = {
  Header: 0x01,
  /** number (8) | hash (32) | rawLength (4) | compressed RLP([block RLP, receipts RLP]) */
  Block: 0x03,
  /** rawLength (4) | compressed sequence of (u32 length | trie node) */
  Nodes: 0x10,
  /** rawLength (4) | compressed sequence of (u32 length | contract code) */
  Code: 0x11,
  Trailer: 0xff,
} as const;

/** Raw bytes gathered into one nodes/code record before it is compressed and written. */
export const ITEMS_RECORD_BYTES = 1024 * 1024;
export const MAX_ITEMS_RAW_BYTES = 4 * 1024 * 1024;

export interface SnapshotHeader {
  format: 'basalt-snapshot';
  version: number;
  chainId: string;
  genesisHash: string;
  /** The genesis file the chain was created with: restore needs nothing else. */
  genesis: GenesisFile;
  head: { number: string; hash: string; stateRoot: string };
  compression: Compression;
  createdAt: string;
  clientVersion: string;
}

export interface SnapshotTrailer {
  blockCount: string;
  nodeCount: string;
  codeCount: string;
  lastBlockHash: string;
  digest: string;
}

export function preamble(): Uint8Array {
  const out = new Uint8Array(SNAPSHOT_MAGIC.length + 2);
  out.set(SNAPSHOT_MAGIC);
  new DataView(out.buffer).setUint16(SNAPSHOT_MAGIC.length, SNAPSHOT_VERSION);
  return out;
}

export function checkPreamble(b: Uint8Array): void {
  if (b.length < SNAPSHOT_MAGIC.length + 2 || SNAPSHOT_MAGIC.some((c, i) => b[i] !== c)) {
    const isArchive = new TextDecoder().decode(b.subarray(0, 8)) === 'BASALTAR';
    throw new ArchiveError(isArchive ? 'this is a block archive, not a snapshot: use `basalt import`' : 'not a Basalt snapshot (bad magic bytes)');
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(SNAPSHOT_MAGIC.length);
  if (v !== SNAPSHOT_VERSION) throw new ArchiveError(`snapshot format version ${v} is not supported (this Basalt reads ${SNAPSHOT_VERSION}): upgrade Basalt`);
}

/** Pack items as (u32 length | bytes)*. */
export function packItems(items: Uint8Array[]): Uint8Array {
  const size = items.reduce((n, i) => n + 4 + i.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  for (const i of items) {
    view.setUint32(off, i.length);
    out.set(i, off + 4);
    off += 4 + i.length;
  }
  return out;
}

export function unpackItems(b: Uint8Array): Uint8Array[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 4 > b.length) throw new ArchiveError('snapshot item list is truncated');
    const len = view.getUint32(off);
    if (off + 4 + len > b.length) throw new ArchiveError('snapshot item overruns its record');
    out.push(b.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}
