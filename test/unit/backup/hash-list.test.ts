import { describe, expect, it } from 'vitest';
import { HashList } from '../../../src/backup/repository/pack.js';

const hashOf = (i: number) => {
  const h = new Uint8Array(32);
  new DataView(h.buffer).setUint32(0, i);
  h[31] = i & 0xff;
  return h;
};

describe('HashList', () => {
  it('gives back every hash in order, across its 1 MiB chunks, as single hashes and as runs of whole hashes', () => {
    for (const n of [0, 1, 32_767, 32_768, 32_769, 70_000]) {
      const list = new HashList();
      for (let i = 0; i < n; i++) list.push(hashOf(i));
      expect(list.length).toBe(n);
      let i = 0;
      for (const h of list) expect(Buffer.from(h).equals(Buffer.from(hashOf(i++)))).toBe(true);
      expect(i).toBe(n);
      for (const max of [32, 100, 8 * 1024 * 1024]) {
        const runs = [...list.runs(max)];
        expect(runs.every((r) => r.length % 32 === 0 && r.length > 0 && r.length <= Math.max(32, max - (max % 32)))).toBe(true);
        const all = Buffer.concat(runs);
        expect(all.length).toBe(n * 32);
        if (n > 0) expect(Buffer.from(all.subarray((n - 1) * 32)).equals(Buffer.from(hashOf(n - 1)))).toBe(true);
      }
    }
  });
});
