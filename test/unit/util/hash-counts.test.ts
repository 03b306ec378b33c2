import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashCounts } from '../../../src/util/hash-counts.js';

const hashOf = (i: number) => createHash('sha256').update(String(i)).digest();

/** Every member of `ref` is found with its tag and count, and a few strangers are not. */
function agrees(t: HashCounts, ref: Map<string, { tag: number; count: number }>, stranger: (i: number) => Buffer): void {
  expect(t.size).toBe(ref.size);
  for (const [hex, v] of ref) {
    const slot = t.find(Buffer.from(hex, 'hex'));
    expect(slot, hex).toBeGreaterThanOrEqual(0);
    expect(t.tagAt(slot)).toBe(v.tag);
    expect(t.countAt(slot)).toBe(v.count);
  }
  for (let i = 0; i < 50; i++) expect(t.find(stranger(i))).toBe(-1);
}

describe('HashCounts: 32-byte hashes to a tag and a count, in a flat table', () => {
  it('agrees with a Map through random inserts, counts and removals across growth', () => {
    const t = new HashCounts();
    const ref = new Map<string, { tag: number; count: number }>();
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 120_000; step++) {
      const h = hashOf(rand(20_000));
      const hex = h.toString('hex');
      const slot = t.find(h);
      expect(slot >= 0).toBe(ref.has(hex));
      if (slot < 0) {
        const tag = rand(256);
        t.insert(h, tag, 1);
        ref.set(hex, { tag, count: 1 });
      } else if (rand(3) === 0) {
        t.setCountAt(slot, t.countAt(slot) + 1);
        ref.get(hex)!.count++;
      } else {
        t.removeAt(slot);
        ref.delete(hex);
      }
    }
    agrees(t, ref, (i) => hashOf(1_000_000 + i));
    // Empty it: every removal keeps the rest findable (backward shift, no tombstones).
    for (const hex of [...ref.keys()]) {
      t.removeAt(t.find(Buffer.from(hex, 'hex')));
      ref.delete(hex);
      if (ref.size % 997 === 0) agrees(t, ref, (i) => hashOf(2_000_000 + i));
    }
    expect(t.size).toBe(0);
    expect(t.first()).toBeUndefined();
  });

  it('hashes alike in the 8 bytes its slot comes from share one run, and removals in that run keep every other one', () => {
    const t = new HashCounts();
    const base = randomBytes(32);
    const alike = (i: number) => {
      const h = Buffer.from(base);
      h.writeUInt32BE(i, 28); // differs only past the slot's bytes
      return h;
    };
    for (let i = 0; i < 500; i++) t.insert(alike(i), i % 2, i + 1);
    for (let i = 0; i < 500; i += 3) t.removeAt(t.find(alike(i)));
    for (let i = 0; i < 500; i++) {
      const slot = t.find(alike(i));
      if (i % 3 === 0) expect(slot).toBe(-1);
      else expect([t.tagAt(slot), t.countAt(slot)]).toEqual([i % 2, i + 1]);
    }
    expect(() => t.insert(alike(1), 0, 1)).toThrow(/already/);
  });

  it('takes views at any offset, gives a member back as bytes, and refuses other lengths', () => {
    const t = new HashCounts();
    const buf = randomBytes(32 * 3 + 5);
    const h = buf.subarray(5 + 32, 5 + 64);
    t.insert(h, 9, 2);
    expect(t.find(Uint8Array.from(h))).toBeGreaterThanOrEqual(0);
    expect(Buffer.from(t.first()!)).toEqual(Buffer.from(h));
    expect(() => t.find(new Uint8Array(16))).toThrow(RangeError);
  });
});
