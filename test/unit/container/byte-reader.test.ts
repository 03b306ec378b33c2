import { afterEach, describe, expect, it, vi } from 'vitest';
import { ByteReader } from '../../../src/container/byte-reader.js';

async function* pieces(list: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of list) yield p;
}

describe('ByteReader', () => {
  afterEach(() => vi.restoreAllMocks());

  it('hands out exact counts across chunk boundaries, fewer only at the end', async () => {
    const r = new ByteReader(pieces([Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(4), Uint8Array.of(5, 6, 7, 8)]));
    expect([...(await r.read(2))]).toEqual([1, 2]);
    expect([...(await r.read(3))]).toEqual([3, 4, 5]);
    expect(await r.atEnd()).toBe(false);
    expect([...(await r.read(10))]).toEqual([6, 7, 8]);
    expect(r.offset).toBe(8);
    expect(await r.atEnd()).toBe(true);
    expect(await r.read(1)).toHaveLength(0);
  });

  it('reads a record sent as 200,000 one-byte chunks in one linear pass (no shift per chunk), and lets the consumed chunks go', async () => {
    const n = 200_000;
    const list = Array.from({ length: n + 10 }, (_, i) => Uint8Array.of(i & 0xff));
    const r = new ByteReader(pieces(list));
    const shift = vi.spyOn(Array.prototype, 'shift');
    const got = await r.read(n);
    const shifts = shift.mock.calls.length;
    shift.mockRestore();
    expect(shifts).toBe(0); // Array.prototype.shift moves every element left: quadratic over a record's chunks
    expect(got.every((b, i) => b === (i & 0xff))).toBe(true);
    for (let i = 0; i < 5; i++) expect((await r.read(1))[0]).toBe((n + i) & 0xff);
    expect(r.heldChunks).toBeLessThanOrEqual(10);
    expect([...(await r.read(5))]).toEqual([5, 6, 7, 8, 9].map((i) => (n + i) & 0xff));
    expect(await r.atEnd()).toBe(true);
  });
});
