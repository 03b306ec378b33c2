import { gunzipSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
import { BackupFileError } from './errors.js';
import { errorMessage } from '../util/errors.js';

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export function isCompression(v: string): v is Compression {
  return (COMPRESSIONS as readonly string[]).includes(v);
}

/** Compress one record's payload as an independent frame. */
export async function compressRecord(data: Uint8Array, c: Compression): Promise<Uint8Array> {
  switch (c) {
    case 'none':
      return data;
    case 'gzip':
      return gzipSync(data, { level: 6 });
    case 'zstd':
      return zstdCompress(Buffer.from(data.buffer, data.byteOffset, data.byteLength), 3);
  }
}

/**
 * The most bytes `frames` independent frames of `c` holding `raw` bytes in all can take, whatever the
 * data: what a writer can promise before it compresses (snapshot sync announces a snapshot's size from
 * it). zstd: ZSTD_COMPRESSBOUND per frame (x + x/256, plus up to 64 bytes for a frame under 128 KiB),
 * which covers the frame header and block headers of a one-shot compression; gzip: zlib's bound for
 * any settings (x + ⌈x/8⌉ + ⌈x/64⌉ + 5) plus the 18-byte gzip wrapper. The sum of per-frame bounds is
 * at most the bound of the sum plus the per-frame constants (the roundings counted among them), so
 * only the total and the count are needed.
 */
export function compressedBound(raw: number, c: Compression, frames = 1): number {
  switch (c) {
    case 'none':
      return raw;
    case 'gzip':
      return raw + Math.floor(raw / 8) + Math.floor(raw / 64) + frames * (2 + 5 + 18);
    case 'zstd':
      return raw + Math.floor(raw / 256) + frames * (ZSTD_SMALL_FRAME_MARGIN + ZSTD_FRAME_SLACK);
  }
}

/** ZSTD_COMPRESSBOUND's addition for a frame under 128 KiB: ((128 KiB - x) >> 11), at most 64. */
const ZSTD_SMALL_FRAME_MARGIN = 64;
/** Beyond the formula, room for a 4-byte checksum and a maximal frame header should a binding add them. */
const ZSTD_FRAME_SLACK = 32;

/**
 * Decompress one record's payload, which must come out exactly `rawLength` bytes. Never lets a
 * hostile frame (a decompression bomb) allocate much more than that: gzip is capped by zlib's
 * maxOutputLength; a zstd frame is walked first and its largest possible output bounded.
 */
export async function decompressRecord(data: Uint8Array, c: Compression, rawLength: number): Promise<Uint8Array> {
  let out: Uint8Array;
  switch (c) {
    case 'none':
      out = data;
      break;
    case 'gzip':
      try {
        out = gunzipSync(data, { maxOutputLength: rawLength + 1, finishFlush: zlibConstants.Z_SYNC_FLUSH });
      } catch (err) {
        throw new BackupFileError(`gzip frame is corrupt or larger than its stated ${rawLength} bytes (${errorMessage(err)})`);
      }
      break;
    case 'zstd': {
      const bound = zstdOutputBound(data);
      if (bound > 4 * rawLength + (1 << 20)) {
        throw new BackupFileError(`zstd frame could expand to ${bound} bytes, far beyond its stated ${rawLength}: refusing (decompression bomb?)`);
      }
      try {
        out = await zstdDecompress(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      } catch (err) {
        throw new BackupFileError(`zstd frame is corrupt (${errorMessage(err)})`);
      }
      break;
    }
  }
  if (out.length !== rawLength) throw new BackupFileError(`record decompressed to ${out.length} bytes, but states ${rawLength}`);
  return out;
}

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_MAX_BLOCK = 128 * 1024;

/**
 * Walk a zstd frame's headers (RFC 8878 §3.1.1) without decompressing, and return the most bytes it
 * could produce. Requires exactly one frame filling `data` (no trailing or skippable frames).
 */
export function zstdOutputBound(data: Uint8Array): number {
  const bad = (why: string) => new BackupFileError(`zstd frame is malformed: ${why}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 6 || view.getUint32(0, true) !== ZSTD_MAGIC) throw bad('bad magic number');
  const fhd = data[4]!;
  if (fhd & 0x08) throw bad('reserved bit set');
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  const hasChecksum = (fhd >> 2) & 1;
  const dictIdSize = [0, 1, 2, 4][fhd & 3]!;
  const fcsSize = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag]!;
  let pos = 5 + (singleSegment ? 0 : 1) + dictIdSize + fcsSize;
  let bound = 0;
  for (;;) {
    if (pos + 3 > data.length) throw bad('truncated block header');
    const bh = data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16);
    pos += 3;
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    if (type === 3) throw bad('reserved block type');
    if (size > ZSTD_MAX_BLOCK) throw bad('block larger than 128 KiB');
    if (type === 0) {
      pos += size; // raw
      bound += size;
    } else if (type === 1) {
      pos += 1; // RLE: one byte repeated `size` times
      bound += size;
    } else {
      pos += size; // compressed: at most 128 KiB out
      bound += ZSTD_MAX_BLOCK;
    }
    if (pos > data.length) throw bad('truncated block');
    if (last) break;
  }
  if (hasChecksum) pos += 4;
  if (pos !== data.length) throw bad(pos > data.length ? 'truncated checksum' : 'trailing bytes after the frame');
  return bound;
}
