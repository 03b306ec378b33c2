import { describe, expect, it } from 'vitest';
import { JsonStreamError, JsonTokenizer, JsonValueBuilder } from '../../../src/util/json-stream.js';

const LIMITS = { maxTokenBytes: 1024, maxDepth: 16 };

/** Parse `text` fed in pieces of `size` bytes; returns what the builder made. */
function parse(text: string | Uint8Array, size: number, limits = LIMITS): unknown {
  const b = new JsonValueBuilder(1 << 30, () => new Error('budget'));
  const t = new JsonTokenizer(b, limits);
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  for (let i = 0; i < bytes.length; i += size) t.feed(bytes.subarray(i, i + size));
  t.end();
  return b.built;
}

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function randomValue(r: (n: number) => number, depth: number): unknown {
  const k = r(depth > 4 ? 5 : 7);
  if (k === 0) return null;
  if (k === 1) return r(2) === 0;
  if (k === 2) return [0, -1, 1.5, 1e21, -2.5e-7, 12345678901234][r(6)];
  if (k === 3 || k === 4) return ['', 'a', 'é', 'line\nbreak', 'quote"', 'back\\slash', '\u0001', '0x00aa', '😀', '__proto__'][r(10)];
  if (k === 5) return Array.from({ length: r(4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = r(4); i > 0; i--)
    Object.defineProperty(o, ['a', 'b', '__proto__', 'k"q', ''][r(5)]!, {
      value: randomValue(r, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return o;
}

describe('JsonTokenizer', () => {
  it('reads what JSON.parse reads, fed in pieces of every size, whitespace and escapes included', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const r = prng(seed);
      const text = JSON.stringify(randomValue(r, 0), null, seed % 3 === 0 ? 2 : undefined);
      const want = JSON.parse(text);
      for (const size of [1, 2, 3, 7, 64, 1 << 20]) expect(parse(text, size), `seed ${seed}, pieces of ${size}`).toEqual(want);
    }
  });

  it('a later duplicate key wins, and "__proto__" is an own key, as with JSON.parse', () => {
    const text = '{"a":1,"a":2,"__proto__":{"x":1}}';
    const got = parse(text, 3) as Record<string, unknown>;
    expect(got).toEqual(JSON.parse(text));
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(Object.keys(got)).toEqual(['a', '__proto__']);
  });

  it('refuses what JSON.parse refuses, naming the byte', () => {
    const bad = [
      '',
      ' ',
      '{',
      '{"a"}',
      '{"a":}',
      '{"a":1,}',
      '[1,]',
      '[1 2]',
      '{"a":1}}',
      '{} {}',
      'tru',
      'nul',
      '01x',
      '"abc',
      '"a\\x"',
      '"\u0001"',
      "{'a':1}",
      '[',
      ']',
      '{"a":1]',
      '+1',
      '.5',
    ];
    for (const text of bad) {
      expect(() => JSON.parse(text), text).toThrow();
      for (const size of [1, 4, 100]) expect(() => parse(text, size), `${JSON.stringify(text)} in pieces of ${size}`).toThrow(JsonStreamError);
    }
    expect(() => parse('{"a":1,}', 100)).toThrow(/unexpected '}' where a key should be at byte 7/);
  });

  it('bounds strings, literals and nesting, however the bytes come', () => {
    const long = `"${'x'.repeat(LIMITS.maxTokenBytes + 1)}"`;
    for (const size of [1, 100, 1 << 20]) expect(() => parse(long, size)).toThrow(/a string longer than 1024 bytes/);
    expect(parse(`"${'x'.repeat(LIMITS.maxTokenBytes)}"`, 7)).toBe('x'.repeat(LIMITS.maxTokenBytes));
    expect(() => parse('1'.repeat(LIMITS.maxTokenBytes + 1), 50)).toThrow(/a literal longer than 1024 bytes/);
    expect(() => parse('['.repeat(17) + ']'.repeat(17), 3)).toThrow(/nesting deeper than 16/);
    expect(parse('['.repeat(16) + ']'.repeat(16), 3)).toEqual(JSON.parse('['.repeat(16) + ']'.repeat(16)));
  });

  it('a string cut inside a multi-byte character or an escape is read whole', () => {
    const text = JSON.stringify({ k: 'aé😀\\"\u00e9' });
    for (let size = 1; size <= 6; size++) expect(parse(text, size)).toEqual(JSON.parse(text));
  });

  it('the value builder stops at its budget', () => {
    const b = new JsonValueBuilder(20, () => new Error('over budget'));
    const t = new JsonTokenizer(b, LIMITS);
    expect(() => t.feed(Buffer.from(JSON.stringify({ a: 'x'.repeat(30) })))).toThrow(/over budget/);
  });
});
