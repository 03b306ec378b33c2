import { crc32 } from 'node:zlib';
import { BackupFileError } from './errors.js';
import { jsonDepthExceeds } from '../util/json-depth.js';

/**
 * The framing shared by Basalt's backup files (spec: docs/container-format.md):
 *
 *   file      := magic (8) | version (u16 BE) | header record | body record* | trailer record
 *   record    := type (u8) | length (u32 BE) | payload | crc32 (u32 BE, of type|length|payload)
 *
 * The header (type 0x01) and trailer (type 0xff) are JSON objects; the trailer's `digest` is the
 * sha256 of every byte before the trailer record. Each format names its magic, version and body records.
 */
export interface ContainerKind {
  /** 8 ASCII bytes. */
  magic: string;
  /** The version written unless a writer asks for another of `versions`. */
  version: number;
  /** Every version a reader of this kind accepts (default: `version` alone). */
  versions?: readonly number[];
  /** For messages: "archive", "snapshot". */
  noun: string;
  /** What the file is, said to someone who expected another kind: "block archive". */
  title: string;
  /** What to tell an operator who handed this kind of file to another command. */
  usedBy: string;
}

export const RecordType = { Header: 0x01, Trailer: 0xff } as const;

export const PREAMBLE_BYTES = 10;
export const RECORD_OVERHEAD = 1 + 4 + 4;
/** The largest header record payload a reader accepts, and so a writer writes. */
export const MAX_HEADER_BYTES = 64 * 1024;

const KINDS: ContainerKind[] = [];

/** Declare a format's kind, so that a reader of another kind can name it when handed the wrong file. */
export function containerKind(kind: ContainerKind): ContainerKind {
  if (new TextEncoder().encode(kind.magic).length !== 8) throw new Error(`container magic "${kind.magic}" is not 8 bytes`);
  KINDS.push(kind);
  return kind;
}

export function encodePreamble(kind: ContainerKind, version = kind.version): Uint8Array {
  const out = new Uint8Array(PREAMBLE_BYTES);
  out.set(new TextEncoder().encode(kind.magic));
  new DataView(out.buffer).setUint16(8, version);
  return out;
}

/** The versions a reader of `kind` accepts. */
export function readableVersions(kind: ContainerKind): readonly number[] {
  return kind.versions ?? [kind.version];
}

/** Check the magic and version; returns the version. */
export function checkPreamble(b: Uint8Array, kind: ContainerKind): number {
  const magic = new TextDecoder('latin1').decode(b.subarray(0, 8));
  if (b.length < PREAMBLE_BYTES || magic !== kind.magic) {
    const other = KINDS.find((k) => k.magic === magic && k !== kind);
    throw new BackupFileError(
      other
        ? `this is a ${other.title}, not ${/^[aeiou]/.test(kind.noun) ? 'an' : 'a'} ${kind.noun}: use ${other.usedBy}`
        : `not a Basalt ${kind.noun} (bad magic bytes)`,
    );
  }
  const version = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(8);
  const known = readableVersions(kind);
  if (!known.includes(version)) {
    const reads = known.length === 1 ? `version ${known[0]}` : `versions ${known.slice(0, -1).join(', ')} and ${known[known.length - 1]}`;
    throw new BackupFileError(`${kind.noun} format version ${version} is not supported (this Basalt reads ${reads}): upgrade Basalt`);
  }
  return version;
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

/**
 * How deep a header's or trailer's JSON may nest. A snapshot of version 1 holds its genesis file in its
 * header, and a genesis file nests at most 64 deep (Genesis.read's bound); a file nested 20,000 deep
 * fits in a 64 KiB header, and what walks it (JSON.stringify of the genesis) overflows the stack.
 */
export const MAX_JSON_DEPTH = 80;

/** A JSON object from a header or trailer payload, nested at most MAX_JSON_DEPTH deep; anything else is a BackupFileError. */
export function parseJsonObject(payload: Uint8Array, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    throw new BackupFileError(`${what} is not valid JSON`);
  }
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) throw new BackupFileError(`${what} nests deeper than ${MAX_JSON_DEPTH} levels (corrupt or hostile file)`);
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new BackupFileError(`${what} is not valid JSON`);
  }
}

/** Items packed as (u32 length | bytes)*. */
export function packItems(items: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(items.reduce((n, i) => n + 4 + i.length, 0));
  const view = new DataView(out.buffer);
  let off = 0;
  for (const i of items) {
    view.setUint32(off, i.length);
    out.set(i, off + 4);
    off += 4 + i.length;
  }
  return out;
}

/**
 * The items of a (u32 length | bytes)* list, as views of `b`. Each must be at least `minItemBytes`
 * long (no writer packs an empty one): checked before it is taken, so a few hundred bytes of zstd that
 * decompress to megabytes of zero lengths are refused at the first, not made into a million views.
 */
export function unpackItems(b: Uint8Array, what: string, minItemBytes = 1): Uint8Array[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 4 > b.length) throw new BackupFileError(`${what} item list is truncated`);
    const len = view.getUint32(off);
    if (off + 4 + len > b.length) throw new BackupFileError(`${what} item overruns its record`);
    if (len < minItemBytes) throw new BackupFileError(`${what} holds an item of ${len} bytes, below the ${minItemBytes} of its kind (corrupt or hostile file)`);
    out.push(b.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}
