/**
 * Where the items of RLP bytes are, without decoding them: for code that takes encoded fields apart
 * and puts them back together (a header's hash with part of its extraData left out) with byte copies
 * instead of a decode and an encode, and for reading a list's strings as views of its bytes (a header
 * restored from a backup: RLP.decode copies the list and then each item, most of a header's decode).
 * Bounds are checked: a span never runs past its list. Only the canonical encoding is accepted, as
 * RLP.decode accepts it: no prefixed single byte under 0x80, no long form for a short payload, no
 * length with a leading zero byte.
 */

/** One RLP item: its bytes from `at` (prefix included) to `end`, its payload from `payloadAt`. */
export interface RlpSpan {
  at: number;
  payloadAt: number;
  end: number;
  list: boolean;
}

export class RlpSpanError extends Error {}

/** The item that starts at `at` in `bytes`, which must end at or before `limit`. */
export function rlpSpanAt(bytes: Uint8Array, at: number, limit = bytes.length): RlpSpan {
  const b = bytes[at];
  if (b === undefined || at >= limit) throw new RlpSpanError('RLP item past the end of its input');
  let payloadAt: number;
  let length: number;
  let list = false;
  if (b < 0x80) [payloadAt, length] = [at, 1];
  else if (b < 0xb8) {
    [payloadAt, length] = [at + 1, b - 0x80];
    if (length === 1 && at + 1 < limit && bytes[at + 1]! < 0x80) throw new RlpSpanError('RLP prefixes a single byte under 0x80');
  } else if (b < 0xc0) [payloadAt, length] = [at + 1 + (b - 0xb7), lengthAt(bytes, at + 1, b - 0xb7, limit)];
  else if (b < 0xf8) [payloadAt, length, list] = [at + 1, b - 0xc0, true];
  else [payloadAt, length, list] = [at + 1 + (b - 0xf7), lengthAt(bytes, at + 1, b - 0xf7, limit), true];
  const end = payloadAt + length;
  if (end > limit) throw new RlpSpanError('RLP item runs past the end of its input');
  return { at, payloadAt, end, list };
}

/** The items of the list `span`, in order. */
export function rlpListItems(bytes: Uint8Array, span: RlpSpan): RlpSpan[] {
  if (!span.list) throw new RlpSpanError('RLP item is not a list');
  const items: RlpSpan[] = [];
  for (let at = span.payloadAt; at < span.end; ) {
    const item = rlpSpanAt(bytes, at, span.end);
    items.push(item);
    at = item.end;
  }
  return items;
}

/**
 * How many items the list `span` holds, counted from their spans (none made): at most `max` + 1, where
 * counting stops, so a list of millions of items costs no more than `max` of them.
 */
export function rlpCountItems(bytes: Uint8Array, span: RlpSpan, max: number): number {
  if (!span.list) throw new RlpSpanError('RLP item is not a list');
  let count = 0;
  for (let at = span.payloadAt; at < span.end && count <= max; count++) at = rlpSpanAt(bytes, at, span.end).end;
  return count;
}

/**
 * The two strings of an RLP list of exactly two strings (a block with its receipts, as backups and
 * peers carry them), each copied out: read by their spans, so a list of anything else is refused
 * before any of it is decoded (RLP.decode would first make every item of a list of millions).
 */
export function rlpStringPair(bytes: Uint8Array): [Uint8Array, Uint8Array] {
  const outer = rlpSpanAt(bytes, 0);
  if (outer.end !== bytes.length || !outer.list) throw new RlpSpanError('not a list of two strings');
  const first = rlpSpanAt(bytes, outer.payloadAt, outer.end);
  if (first.list || first.end >= outer.end) throw new RlpSpanError('not a list of two strings');
  const second = rlpSpanAt(bytes, first.end, outer.end);
  if (second.list || second.end !== outer.end) throw new RlpSpanError('not a list of two strings');
  return [bytes.slice(first.payloadAt, first.end), bytes.slice(second.payloadAt, second.end)];
}

/** An RLP value whose strings are views of the bytes it was read from. */
export type RlpViews = Uint8Array | RlpViews[];

/**
 * The one item `bytes` holds, as RLP.decode reads it, but each string a view of `bytes` (no copy:
 * whoever keeps one keeps `bytes`). Lists nest at most `maxDepth` deep. RlpSpanError otherwise.
 */
export function rlpDecodeViews(bytes: Uint8Array, maxDepth = 16): RlpViews {
  const span = rlpSpanAt(bytes, 0);
  if (span.end !== bytes.length) throw new RlpSpanError('bytes after the RLP item');
  return rlpItemViews(bytes, span, maxDepth);
}

/** The item `span` of `bytes`, as rlpDecodeViews reads a whole input. */
export function rlpItemViews(bytes: Uint8Array, span: RlpSpan, maxDepth = 16): RlpViews {
  if (!span.list) return bytes.subarray(span.payloadAt, span.end);
  if (maxDepth <= 0) throw new RlpSpanError('RLP lists nest too deep');
  return rlpListItems(bytes, span).map((item) => rlpItemViews(bytes, item, maxDepth - 1));
}

/** The RLP prefix of a string (`list` false) or list payload of `length` bytes. */
export function rlpPrefix(length: number, list: boolean): Uint8Array {
  const base = list ? 0xc0 : 0x80;
  if (length < 56) return Uint8Array.of(base + length);
  let digits = 0;
  for (let n = length; n > 0; n = Math.floor(n / 256)) digits++;
  const out = new Uint8Array(1 + digits);
  out[0] = base + 55 + digits;
  for (let i = digits, n = length; i > 0; i--, n = Math.floor(n / 256)) out[i] = n % 256;
  return out;
}

/** A big-endian length of `n` bytes at `at`, within `limit`. */
function lengthAt(bytes: Uint8Array, at: number, n: number, limit: number): number {
  if (at + n > limit) throw new RlpSpanError('RLP length runs past the end of its input');
  if (bytes[at] === 0) throw new RlpSpanError('RLP length has a leading zero byte');
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + bytes[at + i]!;
  if (length < 56) throw new RlpSpanError('RLP long form for a payload under 56 bytes');
  return length;
}
