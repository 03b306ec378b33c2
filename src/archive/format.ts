import { BackupFileError } from '../container/errors.js';
import { isCompression, type Compression } from '../container/compression.js';
import { containerKind } from '../container/framing.js';
import { quoteUntrusted } from '../util/errors.js';

/**
 * Basalt archive format, version 1 (spec: docs/archive-format.md), over the shared container framing
 * (docs/container-format.md):
 *
 *   archive := "BASALTAR" | version 1 | header | block record* | trailer
 *   block   := number (u64 BE) | hash (32) | raw length (u32 BE) | compressed block RLP
 */
export const ARCHIVE = containerKind({
  magic: 'BASALTAR',
  version: 1,
  noun: 'archive',
  title: 'block archive',
  usedBy: '`basalt import` or `basalt archive verify`',
});
export const FORMAT_VERSION = ARCHIVE.version;

export const ArchiveRecord = { Block: 0x02 } as const;

/** Largest RLP block accepted (a 30M-gas block of zero-byte calldata is ~7.5 MB). */
export const MAX_BLOCK_BYTES = 32 * 1024 * 1024;
/** Block record: number (8) | hash (32) | raw length (4) | compressed block RLP. */
export const BLOCK_PREFIX_BYTES = 8 + 32 + 4;
export const MAX_RECORD_BYTES = BLOCK_PREFIX_BYTES + MAX_BLOCK_BYTES + 1024 * 1024;

export interface ArchiveHeader {
  format: 'basalt-archive';
  version: number;
  chainId: string;
  genesisHash: string;
  /** First and last block in the archive (inclusive). */
  startBlock: string;
  endBlock: string;
  compression: Compression;
  /**
   * Informational, in files written before Basalt 0.x stopped writing them (a header is now the same
   * bytes on every node, so two exports of one range have one digest). Read when present and a short
   * printable string (`informational`), dropped otherwise.
   */
  createdAt?: string;
  clientVersion?: string;
}

export interface ArchiveTrailer {
  blockCount: string;
  lastBlockHash: string;
  /** sha256 of every byte of the archive before the trailer record, 0x-hex. */
  digest: string;
}

/** A block as stored in a record: its RLP compressed, with the number and hash it claims. */
export interface BlockRecord {
  number: bigint;
  hash: Uint8Array;
  rawLength: number;
  data: Uint8Array;
}

export function encodeBlockPayload(r: BlockRecord): Uint8Array {
  const out = new Uint8Array(BLOCK_PREFIX_BYTES + r.data.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, r.number);
  out.set(r.hash, 8);
  view.setUint32(40, r.rawLength);
  out.set(r.data, BLOCK_PREFIX_BYTES);
  return out;
}

export function decodeBlockPayload(p: Uint8Array, maxRawBytes = MAX_BLOCK_BYTES): BlockRecord {
  if (p.length < BLOCK_PREFIX_BYTES) throw new BackupFileError(`block record is ${p.length} bytes, shorter than its ${BLOCK_PREFIX_BYTES}-byte prefix`);
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const rawLength = view.getUint32(40);
  if (rawLength > maxRawBytes) throw new BackupFileError(`block record states ${rawLength} bytes, above the ${maxRawBytes}-byte limit`);
  return { number: view.getBigUint64(0), hash: p.subarray(8, 40), rawLength, data: p.subarray(BLOCK_PREFIX_BYTES) };
}

export const HEX32 = /^0x[0-9a-f]{64}$/;
export const UINT = /^\d{1,20}$/;

export function decodeHeader(h: Record<string, unknown>): ArchiveHeader {
  if (h.format !== 'basalt-archive') throw new BackupFileError('archive header does not say "basalt-archive"');
  if (h.version !== FORMAT_VERSION) throw new BackupFileError(`archive header version ${quoteUntrusted(h.version)} is not supported`);
  const uint = (k: string): string => {
    const v = h[k];
    if (typeof v !== 'string' || !UINT.test(v)) throw new BackupFileError(`archive header field ${k} is missing or not a number`);
    return v;
  };
  const chainId = uint('chainId');
  const startBlock = uint('startBlock');
  const endBlock = uint('endBlock');
  if (typeof h.genesisHash !== 'string' || !HEX32.test(h.genesisHash)) throw new BackupFileError('archive header genesisHash is missing or malformed');
  if (typeof h.compression !== 'string' || !isCompression(h.compression))
    throw new BackupFileError(`archive header compression ${quoteUntrusted(h.compression)} is unknown`);
  if (BigInt(startBlock) < 1n || BigInt(startBlock) > BigInt(endBlock)) throw new BackupFileError(`archive header range ${startBlock}-${endBlock} is invalid`);
  return {
    format: 'basalt-archive',
    version: FORMAT_VERSION,
    chainId,
    genesisHash: h.genesisHash,
    startBlock,
    endBlock,
    compression: h.compression,
    ...informational(h),
  };
}

/** What an informational field may be to be kept: a short line of printable ASCII (an ISO time, a client name). */
const PRINTABLE_FIELD = /^[\x20-\x7e]{1,64}$/;

/**
 * The optional informational fields of a header, in their written order, only when present and short
 * printable strings (`archive inspect` prints them): anything else in them is dropped, unchecked and
 * unused.
 */
export function informational(h: Record<string, unknown>): { createdAt?: string; clientVersion?: string } {
  const keep = (v: unknown): v is string => typeof v === 'string' && PRINTABLE_FIELD.test(v);
  return {
    ...(keep(h.createdAt) ? { createdAt: h.createdAt } : {}),
    ...(keep(h.clientVersion) ? { clientVersion: h.clientVersion } : {}),
  };
}

export function decodeTrailer(t: Record<string, unknown>): ArchiveTrailer {
  if (typeof t.blockCount !== 'string' || !UINT.test(t.blockCount)) throw new BackupFileError('archive trailer blockCount is missing or not a number');
  if (typeof t.lastBlockHash !== 'string' || !HEX32.test(t.lastBlockHash)) throw new BackupFileError('archive trailer lastBlockHash is malformed');
  if (typeof t.digest !== 'string' || !HEX32.test(t.digest)) throw new BackupFileError('archive trailer digest is malformed');
  return { blockCount: t.blockCount, lastBlockHash: t.lastBlockHash, digest: t.digest };
}
