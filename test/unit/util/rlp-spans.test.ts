import { RLP } from '@ethereumjs/rlp';
import { describe, expect, it } from 'vitest';
import { RlpSpanError, rlpListItems, rlpPrefix, rlpSpanAt } from '../../../src/util/rlp-spans.js';

type Item = Uint8Array | Item[];
const bytesOf = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

describe('RLP spans', () => {
  it('finds every item of lists whose items take each prefix form, as RLP.decode reads them', () => {
    const items: Item[] = [
      Uint8Array.of(0x05), // a single byte under 0x80: no prefix
      Uint8Array.of(0x80), // a single byte at 0x80: a short string
      new Uint8Array(0), // empty
      bytesOf(55), // the longest short string
      bytesOf(56), // the shortest long string
      bytesOf(70_000), // a length of three bytes
      [], // an empty list
      [bytesOf(20), bytesOf(20)], // a short list
      [bytesOf(65), bytesOf(65), [bytesOf(300)]], // a long list, nested
    ];
    const encoded = RLP.encode(items);
    const list = rlpSpanAt(encoded, 0);
    expect(list).toMatchObject({ at: 0, end: encoded.length, list: true });
    const spans = rlpListItems(encoded, list);
    expect(spans).toHaveLength(items.length);
    spans.forEach((span, i) => {
      // Each span is exactly the item's encoding, and its payload what the item holds.
      expect(encoded.subarray(span.at, span.end), `item ${i}`).toEqual(RLP.encode(items[i]!));
      if (!span.list && span.end - span.at > 1) expect(encoded.subarray(span.payloadAt, span.end)).toEqual(items[i]);
    });
    expect(spans.map((s) => s.list)).toEqual([false, false, false, false, false, false, true, true, true]);
  });

  it('writes the prefixes RLP.encode writes, at every length boundary', () => {
    for (const n of [0, 1, 55, 56, 255, 256, 65_535, 65_536, 16_777_216]) {
      // (bytes of 0x90: a single byte under 0x80 would be its own encoding, which no prefix is for)
      expect(rlpPrefix(n, false), `string of ${n}`).toEqual(RLP.encode(bytesOf(n, 0x90)).subarray(0, rlpPrefix(n, false).length));
      const list = RLP.encode([new Uint8Array(Math.max(0, n - 4))]);
      const payload = list.length - rlpSpanAt(list, 0).payloadAt;
      expect(rlpPrefix(payload, true), `list of ${payload}`).toEqual(list.subarray(0, rlpSpanAt(list, 0).payloadAt));
    }
  });

  it('refuses items that run past their input or their list', () => {
    const good = RLP.encode([bytesOf(100), bytesOf(3)]);
    expect(() => rlpSpanAt(good.subarray(0, good.length - 1), 0)).toThrow(RlpSpanError);
    expect(() => rlpSpanAt(Uint8Array.of(0xb9, 0x01), 0)).toThrow(/length runs past/);
    expect(() => rlpSpanAt(new Uint8Array(0), 0)).toThrow(RlpSpanError);
    // A list of 3 bytes whose last item claims 3 bytes of its own (the input goes on past the list).
    const overrun = Uint8Array.of(0xc3, 0x01, 0x83, 0x01, 0x02, 0x03);
    expect(() => rlpListItems(overrun, rlpSpanAt(overrun, 0))).toThrow(/runs past/);
    expect(() => rlpListItems(good, rlpSpanAt(good, rlpSpanAt(good, 0).payloadAt))).toThrow(/not a list/);
  });
});
