/**
 * Where the items of RLP bytes are, without decoding them: for code that takes encoded fields apart
 * and puts them back together (a header's hash with part of its extraData left out) with byte copies
 * instead of a decode and an encode. Bounds are checked: a span never runs past its list.
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
  else if (b < 0xb8) [payloadAt, length] = [at + 1, b - 0x80];
  else if (b < 0xc0) [payloadAt, length] = [at + 1 + (b - 0xb7), lengthAt(bytes, at + 1, b - 0xb7, limit)];
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

/** The RLP prefix of a string (`list` false) or list payload of `length` bytes. */
export function rlpPrefix(length: number, list: boolean): Uint8Array {
  const base = list ? 0xc0 : 0x80;
  if (length < 56) return Uint8Array.of(base + length);
  const digits: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) digits.unshift(n % 256);
  return Uint8Array.from([base + 55 + digits.length, ...digits]);
}

/** A big-endian length of `n` bytes at `at`, within `limit`. */
function lengthAt(bytes: Uint8Array, at: number, n: number, limit: number): number {
  if (at + n > limit) throw new RlpSpanError('RLP length runs past the end of its input');
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + bytes[at + i]!;
  return length;
}
