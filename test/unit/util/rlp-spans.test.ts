import { RLP } from '@ethereumjs/rlp';
import { describe, expect, it } from 'vitest';
import { RlpSpanError, type RlpViews, rlpCountItems, rlpDecodeViews, rlpListItems, rlpPrefix, rlpSpanAt } from '../../../src/util/rlp-spans.js';

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

  it("counts a list's items up to one past a bound, reading no further (a list of millions costs the bound)", () => {
    const encoded = RLP.encode([bytesOf(3), [bytesOf(2)], new Uint8Array(0), bytesOf(100)]);
    const list = rlpSpanAt(encoded, 0);
    expect(rlpCountItems(encoded, list, 10)).toBe(4);
    expect(rlpCountItems(encoded, list, 4)).toBe(4);
    expect(rlpCountItems(encoded, list, 3)).toBe(4);
    expect(rlpCountItems(encoded, list, 1)).toBe(2);
    expect(rlpCountItems(encoded, list, 0)).toBe(1);
    // Past the bound, nothing is read: a broken item there is not seen.
    const broken = Uint8Array.of(0xc3, 0x01, 0x02, 0xb8);
    expect(rlpCountItems(broken, rlpSpanAt(broken, 0), 1)).toBe(2);
    expect(() => rlpCountItems(broken, rlpSpanAt(broken, 0), 2)).toThrow(RlpSpanError);
    expect(() => rlpCountItems(encoded, rlpSpanAt(encoded, 1), 1)).toThrow('not a list');
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

  it('refuses what RLP.decode refuses as not canonical: a prefixed byte under 0x80, a long form for a short payload, a length with a leading zero', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['0x05 prefixed', Uint8Array.of(0x81, 0x05), /single byte under 0x80/],
      ['a 3-byte string in long form', Uint8Array.of(0xb8, 0x03, 1, 2, 3), /long form/],
      ['a 2-byte list in long form', Uint8Array.of(0xf8, 0x02, 0x01, 0x02), /long form/],
      ['a 56-byte string, length 0x0038', Uint8Array.from([0xb9, 0x00, 0x38, ...bytesOf(56)]), /leading zero/],
      ['a 56-byte list, length 0x0038', Uint8Array.from([0xf9, 0x00, 0x38, ...RLP.encode(bytesOf(54)).subarray(0, 56)]), /leading zero/],
    ];
    for (const [what, bytes, why] of cases) {
      expect(() => RLP.decode(bytes), what).toThrow();
      expect(() => rlpSpanAt(bytes, 0), what).toThrow(why);
      expect(() => rlpDecodeViews(bytes), what).toThrow(RlpSpanError);
    }
    // The shortest forms of each stay accepted: 0x80 alone, the byte 0x80 prefixed, 56 bytes in long form.
    expect(rlpDecodeViews(Uint8Array.of(0x81, 0x80))).toEqual(Uint8Array.of(0x80));
    expect(rlpDecodeViews(RLP.encode(bytesOf(56)))).toEqual(bytesOf(56));
  });

  it('reads any input as RLP.decode does, or refuses it as RLP.decode does (random items, cut, changed and grown)', () => {
    // A seeded generator: the same inputs every run.
    let seed = 0x2545f491;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const item = (depth: number): Item => {
      if (depth > 0 && rand(3) === 0) return Array.from({ length: rand(6) }, () => item(depth - 1));
      const n = [0, 1, 1, 2, 20, 55, 56, 57, 300][rand(9)]!;
      return Uint8Array.from({ length: n }, () => (rand(4) === 0 ? rand(0x80) : rand(256)));
    };
    const same = (a: RlpViews, b: unknown): boolean =>
      a instanceof Uint8Array
        ? b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i])
        : Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
    let refused = 0;
    for (let round = 0; round < 3_000; round++) {
      let bytes = RLP.encode(item(3));
      const change = rand(4);
      if (change === 1 && bytes.length > 1) bytes = bytes.subarray(0, 1 + rand(bytes.length - 1));
      else if (change === 2) {
        bytes = bytes.slice();
        bytes[rand(bytes.length)] = rand(256);
      } else if (change === 3) bytes = Uint8Array.from([...bytes, rand(256)]);
      let expected: unknown;
      try {
        expected = RLP.decode(bytes);
      } catch {
        expected = undefined;
      }
      if (expected === undefined) {
        refused++;
        expect(() => rlpDecodeViews(bytes, 64), `round ${round}`).toThrow(RlpSpanError);
      } else expect(same(rlpDecodeViews(bytes, 64), expected), `round ${round}`).toBe(true);
    }
    // The one difference: no input at all, which RLP.decode reads as an empty string, is no item.
    expect(RLP.decode(new Uint8Array(0))).toEqual(new Uint8Array(0));
    expect(() => rlpDecodeViews(new Uint8Array(0))).toThrow(RlpSpanError);
    // Both outcomes were tried, many times each.
    expect(refused).toBeGreaterThan(300);
    expect(refused).toBeLessThan(2_700);
  });

  it('gives views of its input, and bounds how deep lists nest', () => {
    const bytes = RLP.encode([bytesOf(20), [bytesOf(65)]]);
    const [first] = rlpDecodeViews(bytes) as Uint8Array[];
    expect(first!.buffer).toBe(bytes.buffer);
    expect(() => rlpDecodeViews(bytes, 1)).toThrow(/nest too deep/);
    expect(rlpDecodeViews(bytes, 2)).toHaveLength(2);
    expect(() => rlpDecodeViews(Uint8Array.from([...RLP.encode(bytesOf(3)), 0x01]))).toThrow(/bytes after/);
  });
});
