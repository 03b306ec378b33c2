import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashSet } from '../../../src/util/hash-set.js';

const hashOf = (i: number) => createHash('sha256').update(String(i)).digest();

describe('HashSet: 32-byte hashes in a flat table', () => {
  it('agrees with a Set across growth: members, repeats and strangers', () => {
    const set = new HashSet();
    const ref = new Set<string>();
    for (let i = 0; i < 200_000; i++) {
      const h = hashOf(i % 150_000); // the last 50,000 are repeats
      expect(set.add(h)).toBe(!ref.has(h.toString('hex')));
      ref.add(h.toString('hex'));
    }
    expect(set.size).toBe(150_000);
    for (let i = 0; i < 150_000; i += 997) expect(set.has(hashOf(i))).toBe(true);
    for (let i = 150_000; i < 160_000; i++) expect(set.has(hashOf(i))).toBe(false);
    // A flat table: well under the ~120 bytes a member of a Set of hex strings.
    expect(set.bytes / set.size).toBeLessThanOrEqual(64);
  });

  it('takes views at any offset, and the all-zero hash', () => {
    const set = new HashSet();
    const buf = randomBytes(32 * 10 + 3);
    for (let i = 0; i < 10; i++) expect(set.add(buf.subarray(3 + i * 32, 3 + (i + 1) * 32))).toBe(true);
    expect(set.has(Uint8Array.from(buf.subarray(3 + 32, 3 + 64)))).toBe(true);
    const zero = new Uint8Array(32);
    expect(set.has(zero)).toBe(false);
    expect(set.add(zero)).toBe(true);
    expect(set.add(zero)).toBe(false);
    expect(set.has(zero)).toBe(true);
    expect(set.size).toBe(11);
    expect(() => set.add(new Uint8Array(8))).toThrow(RangeError);
  });

  it('hashes alike in their first 8 bytes (where the slot comes from) are still told apart', () => {
    const set = new HashSet();
    const base = randomBytes(32);
    for (let i = 0; i < 1_000; i++) {
      const h = Buffer.from(base);
      h.writeUInt32BE(i, 8);
      expect(set.add(h)).toBe(true);
    }
    expect(set.size).toBe(1_000);
  });

  it('clear() empties a set, the zero hash too, and it fills again', () => {
    const set = new HashSet();
    const hashes = Array.from({ length: 300 }, () => randomBytes(32));
    for (const h of hashes) set.add(h);
    set.add(new Uint8Array(32));
    set.clear();
    expect(set.size).toBe(0);
    expect(hashes.some((h) => set.has(h))).toBe(false);
    expect(set.has(new Uint8Array(32))).toBe(false);
    for (const h of hashes) expect(set.add(h)).toBe(true);
    expect(set.size).toBe(300);
  });
});
