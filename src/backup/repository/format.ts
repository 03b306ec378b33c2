import { containerKind } from '../../container/framing.js';
import { BackupFileError } from '../../container/errors.js';
import { isCompression, type Compression } from '../../container/compression.js';
import { MAX_BACKUP_TIME } from '../pieces.js';
import { quoteUntrusted } from '../../util/errors.js';

/**
 * A backup repository (docs/repository-format.md): immutable objects named by the sha256 of their
 * content, written once, in a flat namespace of a BackupTarget (a folder or an S3 prefix):
 *
 *   pack-<sha256>       trie nodes and contract codes (a container, kind PACK), each stored once in the repository
 *   index-<sha256>      the hashes of the nodes and codes in the pack of the same sha256 (kind INDEX)
 *   segment-<first>-<last>-<sha256>
 *                       blocks first..last with their receipts (kind SEGMENT), each verifiable on its own
 *   lock-<random>       a backup (shared) or prune (exclusive) under way (lock.ts)
 *   genesis-<sha256>    the genesis file the chain was created with (its bytes as the node holds them)
 *   manifest-<head>-<sha256>
 *                       one backup: the chain, its head, and the objects it needs (JSON)
 *
 * `sha256` is the container's digest (its trailer's, the sha256 of every byte before the trailer) or,
 * for a manifest, the sha256 of its bytes: a reader recomputes it and refuses an object whose name does
 * not match. A manifest is written last, after every object it names: a backup exists once its
 * manifest does.
 */
export const PACK = containerKind({
  magic: 'BASALTPK',
  version: 1,
  noun: 'state pack',
  title: 'backup repository state pack',
  usedBy: '`basalt backup restore`',
});
export const INDEX = containerKind({
  magic: 'BASALTIX',
  version: 1,
  noun: 'pack index',
  title: 'backup repository pack index',
  usedBy: '`basalt backup restore`',
});
export const SEGMENT = containerKind({
  magic: 'BASALTSG',
  version: 1,
  noun: 'history segment',
  title: 'backup repository history segment',
  usedBy: '`basalt backup restore`',
});

export const GENESIS = containerKind({
  magic: 'BASALTGN',
  version: 1,
  noun: 'genesis object',
  title: 'backup repository genesis file',
  usedBy: '`basalt backup restore`',
});

export const RepositoryRecord = {
  /** SEGMENT: the snapshot's block record (number | hash | rawLength | compressed RLP([block RLP, receipts RLP])). */
  Block: 0x03,
  /** PACK: rawLength (4) | compressed sequence of (u32 length | trie node). INDEX: their keccak256 hashes, 32 bytes each. */
  Nodes: 0x10,
  /** PACK: rawLength (4) | compressed sequence of (u32 length | contract code). INDEX: their hashes. */
  Code: 0x11,
  /** GENESIS: rawLength (4) | a compressed piece of the genesis file (at most GENESIS_PIECE_BYTES raw). */
  GenesisPiece: 0x20,
} as const;

/** Blocks per complete history segment: segment k holds blocks k·SEGMENT_BLOCKS + 1 … (k + 1)·SEGMENT_BLOCKS. */
export const SEGMENT_BLOCKS = 8192;
/** Raw state bytes a pack gathers before it is closed (trie nodes and codes, before compression). */
export const PACK_TARGET_BYTES = 32 * 1024 * 1024;
/** The largest record of an INDEX: hashes of one PACK record, 32 bytes per item of at least 1 byte (with its 4-byte length). */
export const MAX_INDEX_RECORD_BYTES = 8 * 1024 * 1024;
/** A manifest's largest size: it names a few objects per backup, and a reader holds it whole. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;
const UINT = /^\d{1,20}$/;

export type ObjectKind = 'pack' | 'index' | 'segment' | 'manifest' | 'genesis' | 'lock';

export interface ObjectName {
  kind: ObjectKind;
  /** The content's sha256, 64 hex digits. */
  sha256: string;
  /** Segments: the first and last block. Manifests: the head (in `last`). */
  first?: bigint;
  last?: bigint;
}

export const packName = (sha256: string) => `pack-${sha256}`;
export const genesisName = (sha256: string) => `genesis-${sha256}`;
export const indexName = (packSha256: string) => `index-${packSha256}`;
export const segmentName = (first: bigint, last: bigint, sha256: string) => `segment-${first}-${last}-${sha256}`;
/** The head zero-padded, so that names sort by head. */
export const manifestName = (head: bigint, sha256: string) => `manifest-${head.toString().padStart(20, '0')}-${sha256}`;

/** What a name in the repository is, or undefined for a name that is not a repository object (ignored: an operator's file, a staged upload). */
export function parseObjectName(name: string): ObjectName | undefined {
  const parts = name.split('-');
  const sha256 = parts.at(-1)!;
  if (!HEX64.test(sha256)) return undefined;
  switch (parts[0]) {
    case 'pack':
    case 'index':
    case 'genesis':
    case 'lock':
      return parts.length === 2 ? { kind: parts[0], sha256 } : undefined;
    case 'segment': {
      if (parts.length !== 4 || !UINT.test(parts[1]!) || !UINT.test(parts[2]!)) return undefined;
      const first = BigInt(parts[1]!);
      const last = BigInt(parts[2]!);
      return first >= 1n && first <= last ? { kind: 'segment', sha256, first, last } : undefined;
    }
    case 'manifest':
      return parts.length === 3 && UINT.test(parts[1]!) ? { kind: 'manifest', sha256, last: BigInt(parts[1]!) } : undefined;
    default:
      return undefined;
  }
}

/** The container digest (0x-prefixed, as trailers carry it) as an object name's sha256. */
export const digestHex = (digest: string) => digest.replace(/^0x/, '');

export interface SegmentHeader {
  format: 'basalt-segment';
  version: 1;
  chainId: string;
  genesisHash: string;
  startBlock: string;
  endBlock: string;
  compression: Compression;
}

export interface PackHeader {
  format: 'basalt-pack';
  version: 1;
  compression: Compression;
}

export interface IndexHeader {
  format: 'basalt-pack-index';
  version: 1;
  /** The pack these hashes are in (its sha256). */
  pack: string;
}

/**
 * One backup. `segments` cover blocks 1…head exactly, in order; `packs` hold every trie node and code of
 * the state under `head.stateRoot` (and may hold more: nodes of earlier states that a later backup
 * still shares are not told apart from the ones it no longer needs).
 */
export interface Manifest {
  format: 'basalt-backup';
  version: 1;
  chainId: string;
  genesisHash: string;
  /** The head block: number, IBFT hash, state root, and timestamp (unix seconds, decimal). */
  head: { number: string; hash: string; stateRoot: string; timestamp: string };
  /** The genesis file's object (a restore without --chain takes it from there, checked against genesisHash). */
  genesis: string;
  /** When the backup was taken, ISO 8601. */
  createdAt: string;
  segments: string[];
  packs: string[];
  /** What this backup added to the repository (the rest it shares with earlier backups). */
  added: { objects: number; bytes: number };
}

export function decodeSegmentHeader(h: Record<string, unknown>): SegmentHeader {
  const bad = (what: string): never => {
    throw new BackupFileError(`history segment header: ${what}`);
  };
  if (h.format !== 'basalt-segment') bad(`format is ${quoteUntrusted(h.format)}, not "basalt-segment"`);
  if (h.version !== 1) bad(`version ${quoteUntrusted(h.version)} is not 1`);
  for (const k of ['chainId', 'startBlock', 'endBlock'] as const) if (typeof h[k] !== 'string' || !UINT.test(h[k])) bad(`${k} is not a decimal string`);
  if (typeof h.genesisHash !== 'string' || !/^0x[0-9a-f]{64}$/.test(h.genesisHash)) bad('genesisHash is not a 32-byte hex string');
  if (typeof h.compression !== 'string' || !isCompression(h.compression)) bad(`compression ${quoteUntrusted(h.compression)} is unknown`);
  const start = BigInt(h.startBlock as string);
  const end = BigInt(h.endBlock as string);
  if (start < 1n || end < start) bad(`range ${start}…${end} is not a range of blocks after genesis`);
  return h as unknown as SegmentHeader;
}

export function decodePackHeader(h: Record<string, unknown>, noun = 'state pack'): PackHeader {
  if (h.format !== 'basalt-pack' || h.version !== 1) throw new BackupFileError(`${noun} header: not a version 1 basalt-pack`);
  if (typeof h.compression !== 'string' || !isCompression(h.compression))
    throw new BackupFileError(`${noun} header: compression ${quoteUntrusted(h.compression)} is unknown`);
  return h as unknown as PackHeader;
}

export function decodeIndexHeader(h: Record<string, unknown>): IndexHeader {
  if (h.format !== 'basalt-pack-index' || h.version !== 1) throw new BackupFileError('pack index header: not a version 1 basalt-pack-index');
  if (typeof h.pack !== 'string' || !HEX64.test(h.pack)) throw new BackupFileError('pack index header: pack is not a sha256');
  return h as unknown as IndexHeader;
}

/** Parse and check a manifest's JSON; throws BackupFileError naming the first problem. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  const bad = (what: string): never => {
    throw new BackupFileError(`backup manifest: ${what}`);
  };
  if (bytes.length > MAX_MANIFEST_BYTES) bad(`${bytes.length} bytes, above the ${MAX_MANIFEST_BYTES}-byte limit`);
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch {
    return bad('not UTF-8 JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) bad('not a JSON object');
  if (m.format !== 'basalt-backup' || m.version !== 1) bad('not a version 1 basalt-backup manifest');
  if (typeof m.chainId !== 'string' || !UINT.test(m.chainId)) bad('chainId is not a decimal string');
  if (typeof m.genesisHash !== 'string' || !/^0x[0-9a-f]{64}$/.test(m.genesisHash)) bad('genesisHash is not a 32-byte hex string');
  const head = m.head as Record<string, unknown> | undefined;
  if (typeof head !== 'object' || head === null) return bad('head is missing');
  for (const k of ['number', 'timestamp'] as const) if (typeof head[k] !== 'string' || !UINT.test(head[k])) bad(`head.${k} is not a decimal string`);
  if (BigInt(head.timestamp as string) > MAX_BACKUP_TIME) bad(`head.timestamp ${head.timestamp as string} is after the year 9999`);
  for (const k of ['hash', 'stateRoot'] as const)
    if (typeof head[k] !== 'string' || !/^0x[0-9a-f]{64}$/.test(head[k])) bad(`head.${k} is not a 32-byte hex string`);
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt))) bad('createdAt is not a time');
  if (typeof m.genesis !== 'string' || parseObjectName(m.genesis)?.kind !== 'genesis') bad('genesis does not name a genesis object');
  for (const k of ['segments', 'packs'] as const) {
    const list = m[k];
    if (!Array.isArray(list)) bad(`${k} is not a list`);
    for (const name of list as unknown[]) {
      const parsed = typeof name === 'string' ? parseObjectName(name) : undefined;
      if (parsed?.kind !== (k === 'segments' ? 'segment' : 'pack')) bad(`${k} names ${quoteUntrusted(name)}, not a ${k.slice(0, -1)}`);
    }
  }
  // The segments cover 1…head, in order, without a gap or an overlap.
  let next = 1n;
  for (const name of m.segments as string[]) {
    const s = parseObjectName(name)!;
    if (s.first !== next) bad(`segment ${name} starts at block ${s.first}, not ${next}`);
    next = s.last! + 1n;
  }
  if (next - 1n !== BigInt(head.number as string)) bad(`the segments end at block ${next - 1n}, not at the head ${head.number as string}`);
  const added = m.added as Record<string, unknown> | undefined;
  if (typeof added !== 'object' || added === null || !Number.isSafeInteger(added.objects) || !Number.isSafeInteger(added.bytes))
    bad('added is not {objects, bytes}');
  return m as unknown as Manifest;
}
