import { crc32 } from 'node:zlib';
import { ArchiveError } from './errors.js';
import { isCompression, type Compression } from './compression.js';

/**
 * Basalt archive format, version 1 (spec: docs/archive-format.md).
 *
 *   archive := MAGIC (8) | FORMAT_VERSION (u16 BE) | header record | block record* | trailer record
 *   record  := type (u8) | length (u32 BE) | payload (length bytes) | crc32 (u32 BE, of type|length|payload)
 */
export const MAGIC = new TextEncoder().encode('BASALTAR');
export const FORMAT_VERSION = 1;
export const PREAMBLE_BYTES = MAGIC.length + 2;

export const RecordType = {
  Header: 0x01,
  Block: 0x02,
  Trailer: 0xff,
} as const;

export const RECORD_OVERHEAD = 1 + 4 + 4;
/** Largest RLP block accepted (a 30M-gas block of zero-byte calldata is ~7.5 MB). */
export const MAX_BLOCK_BYTES = 32 * 1024 * 1024;
/** Block record: number (8) | hash (32) | raw length (4) | compressed block RLP. */
export const BLOCK_PREFIX_BYTES = 8 + 32 + 4;
export const MAX_HEADER_BYTES = 64 * 1024;
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
  createdAt: string;
  clientVersion: string;
}

export interface ArchiveTrailer {
  blockCount: string;
  lastBlockHash: string;
  /** sha256 of every byte of the archive before the trailer record, 0x-hex. */
  digest: string;
}

export interface BlockRecord {
  number: bigint;
  hash: Uint8Array;
  rawLength: number;
  data: Uint8Array;
}

export function preamble(): Uint8Array {
  const out = new Uint8Array(PREAMBLE_BYTES);
  out.set(MAGIC);
  new DataView(out.buffer).setUint16(MAGIC.length, FORMAT_VERSION);
  return out;
}

export function checkPreamble(b: Uint8Array): void {
  for (let i = 0; i < MAGIC.length; i++) {
    if (b[i] !== MAGIC[i]) throw new ArchiveError('not a Basalt archive (bad magic bytes)');
  }
  const version = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(MAGIC.length);
  if (version !== FORMAT_VERSION) {
    throw new ArchiveError(`archive format version ${version} is not supported (this Basalt reads version ${FORMAT_VERSION}): upgrade Basalt`);
  }
}

export function encodeRecord(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_OVERHEAD + payload.length);
  const view = new DataView(out.buffer);
  out[0] = type;
  view.setUint32(1, payload.length);
  out.set(payload, 5);
  view.setUint32(5 + payload.length, crc32(out.subarray(0, 5 + payload.length)));
  return out;
}

export function encodeJson(value: object): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
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

export function decodeBlockPayload(p: Uint8Array): BlockRecord {
  if (p.length < BLOCK_PREFIX_BYTES) throw new ArchiveError(`block record is ${p.length} bytes, shorter than its ${BLOCK_PREFIX_BYTES}-byte prefix`);
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const rawLength = view.getUint32(40);
  if (rawLength > MAX_BLOCK_BYTES) throw new ArchiveError(`block record states ${rawLength} bytes, above the ${MAX_BLOCK_BYTES}-byte limit`);
  return { number: view.getBigUint64(0), hash: p.subarray(8, 40), rawLength, data: p.subarray(BLOCK_PREFIX_BYTES) };
}

const HEX32 = /^0x[0-9a-f]{64}$/;
const UINT = /^\d{1,20}$/;

export function decodeHeader(p: Uint8Array): ArchiveHeader {
  const h = parseJson(p, 'header') as Partial<ArchiveHeader>;
  if (h.format !== 'basalt-archive') throw new ArchiveError('archive header does not say "basalt-archive"');
  if (h.version !== FORMAT_VERSION) throw new ArchiveError(`archive header version ${String(h.version)} is not supported`);
  for (const k of ['chainId', 'startBlock', 'endBlock'] as const) {
    if (typeof h[k] !== 'string' || !UINT.test(h[k])) throw new ArchiveError(`archive header field ${k} is missing or not a number`);
  }
  if (typeof h.genesisHash !== 'string' || !HEX32.test(h.genesisHash)) throw new ArchiveError('archive header genesisHash is missing or malformed');
  if (typeof h.compression !== 'string' || !isCompression(h.compression)) throw new ArchiveError(`archive header compression "${String(h.compression)}" is unknown`);
  if (BigInt(h.startBlock!) < 1n || BigInt(h.startBlock!) > BigInt(h.endBlock!)) {
    throw new ArchiveError(`archive header range ${h.startBlock}-${h.endBlock} is invalid`);
  }
  return {
    format: 'basalt-archive',
    version: h.version,
    chainId: h.chainId!,
    genesisHash: h.genesisHash,
    startBlock: h.startBlock!,
    endBlock: h.endBlock!,
    compression: h.compression,
    createdAt: typeof h.createdAt === 'string' ? h.createdAt : '',
    clientVersion: typeof h.clientVersion === 'string' ? h.clientVersion : '',
  };
}

export function decodeTrailer(p: Uint8Array): ArchiveTrailer {
  const t = parseJson(p, 'trailer') as Partial<ArchiveTrailer>;
  if (typeof t.blockCount !== 'string' || !UINT.test(t.blockCount)) throw new ArchiveError('archive trailer blockCount is missing or not a number');
  if (typeof t.lastBlockHash !== 'string' || !HEX32.test(t.lastBlockHash)) throw new ArchiveError('archive trailer lastBlockHash is malformed');
  if (typeof t.digest !== 'string' || !HEX32.test(t.digest)) throw new ArchiveError('archive trailer digest is malformed');
  return { blockCount: t.blockCount, lastBlockHash: t.lastBlockHash, digest: t.digest };
}

function parseJson(p: Uint8Array, what: string): unknown {
  try {
    const v: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(p));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v;
  } catch {
    throw new ArchiveError(`archive ${what} is not valid JSON`);
  }
}
