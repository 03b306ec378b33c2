import { BackupFileError } from '../container/errors.js';
import { isCompression, type Compression } from '../container/compression.js';
import { containerKind } from '../container/framing.js';
import { HEX32, informational, UINT } from '../archive/format.js';

/**
 * Basalt snapshot format, version 1 (spec: docs/snapshot-format.md), over the shared container framing
 * (docs/container-format.md):
 *
 *   snapshot := "BASALTSN" | version 1 | header | block* | nodes* | code* | trailer
 */
export const SNAPSHOT = containerKind({ magic: 'BASALTSN', version: 1, noun: 'snapshot', title: 'snapshot', usedBy: '`basalt restore`' });
export const SNAPSHOT_VERSION = SNAPSHOT.version;

export const SnapshotRecord = {
  /** number (8) | hash (32) | rawLength (4) | compressed RLP([block RLP, receipts RLP]) — the archive's block payload. */
  Block: 0x03,
  /** rawLength (4) | compressed sequence of (u32 length | trie node) */
  Nodes: 0x10,
  /** rawLength (4) | compressed sequence of (u32 length | contract code) */
  Code: 0x11,
} as const;

/** Raw bytes gathered into one nodes/code record before it is compressed and written. */
export const ITEMS_RECORD_BYTES = 1024 * 1024;
export const MAX_ITEMS_RAW_BYTES = 4 * 1024 * 1024;
/** A block with its receipts: the archive's block limit plus room for receipts. */
export const MAX_BLOCK_WITH_RECEIPTS_BYTES = 64 * 1024 * 1024;
export const MAX_SNAPSHOT_RECORD_BYTES = 44 + MAX_BLOCK_WITH_RECEIPTS_BYTES + 1024 * 1024;

export interface SnapshotHeader {
  format: 'basalt-snapshot';
  version: number;
  chainId: string;
  genesisHash: string;
  /** The genesis file the chain was created with, as JSON (a restore parses and checks it). */
  genesis: object;
  head: { number: string; hash: string; stateRoot: string };
  compression: Compression;
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

export function decodeSnapshotHeader(h: Record<string, unknown>): SnapshotHeader {
  const head = h.head as Record<string, unknown> | undefined;
  const hex32 = (v: unknown) => typeof v === 'string' && HEX32.test(v);
  const uint = (v: unknown) => typeof v === 'string' && UINT.test(v);
  if (h.format !== 'basalt-snapshot' || h.version !== SNAPSHOT_VERSION) throw new BackupFileError('snapshot header has an unknown format or version');
  if (!uint(h.chainId) || !hex32(h.genesisHash)) throw new BackupFileError('snapshot header chain fields are malformed');
  if (typeof head !== 'object' || head === null || !uint(head.number) || !hex32(head.hash) || !hex32(head.stateRoot)) {
    throw new BackupFileError('snapshot header head fields are malformed');
  }
  if (typeof h.compression !== 'string' || !isCompression(h.compression)) throw new BackupFileError('snapshot header compression is unknown');
  if (typeof h.genesis !== 'object' || h.genesis === null || Array.isArray(h.genesis)) throw new BackupFileError('snapshot header has no genesis');
  return {
    format: 'basalt-snapshot',
    version: SNAPSHOT_VERSION,
    chainId: h.chainId as string,
    genesisHash: h.genesisHash as string,
    genesis: h.genesis,
    head: { number: head.number as string, hash: head.hash as string, stateRoot: head.stateRoot as string },
    compression: h.compression,
    ...informational(h),
  };
}

export function decodeSnapshotTrailer(t: Record<string, unknown>): SnapshotTrailer {
  const field = (k: keyof SnapshotTrailer): string => {
    const v = t[k];
    if (typeof v !== 'string') throw new BackupFileError('snapshot trailer is malformed');
    return v;
  };
  return { blockCount: field('blockCount'), nodeCount: field('nodeCount'), codeCount: field('codeCount'), lastBlockHash: field('lastBlockHash'), digest: field('digest') };
}
