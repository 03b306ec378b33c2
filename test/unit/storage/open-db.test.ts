import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchWriter, openBytesDB, type BytesDB, writeNow } from '../../../src/storage/open-db.js';

const root = mkdtempSync(join(tmpdir(), 'basalt-open-db-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Anonymous memory of this process (heap, native allocations), in MiB. */
const anonMiB = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
const bytes = (...b: number[]) => Uint8Array.from(b);
/** What a read gave, as plain numbers (classic-level hands back Buffers). */
const plainOf = (vs: (Uint8Array | undefined)[]) => vs.map((v) => (v === undefined ? undefined : [...v]));

/**
 * Write `count` chained batches of one `size`-byte value each, making next to no JavaScript garbage
 * (one value reused), so that V8 has no reason to collect; the growth of anonymous memory, in MiB.
 */
async function growthOverBatches(db: BytesDB, count: number, size: number): Promise<number> {
  const value = new Uint8Array(size).fill(7);
  const before = anonMiB();
  for (let i = 0; i < count; i++) {
    const batch = db.batch();
    batch.put(bytes(1, i), value);
    await batch.write();
  }
  return anonMiB() - before;
}

describe('openBytesDB', () => {
  it('writes chained batches: puts, deletes, a cleared batch, a closed one', async () => {
    const db = await openBytesDB(join(root, 'rt'), 'test', root);
    try {
      await db.put(bytes(9), bytes(9));
      const batch = db.batch();
      batch.put(bytes(1), bytes(10)).put(bytes(2), bytes(20)).del(bytes(9));
      expect(batch.length).toBe(3);
      await batch.write();
      expect(plainOf(await db.getMany([bytes(1), bytes(2), bytes(9)]))).toEqual([[10], [20], undefined]);

      const cleared = db.batch().put(bytes(3), bytes(30));
      cleared.clear();
      cleared.put(bytes(4), bytes(40));
      await cleared.write();
      expect(plainOf(await db.getMany([bytes(3), bytes(4)]))).toEqual([undefined, [40]]);

      const dropped = db.batch().put(bytes(5), bytes(50));
      await dropped.close();
      expect(await db.get(bytes(5))).toBeUndefined();
    } finally {
      await db.close();
    }
  });

  it.skipIf(process.platform !== 'linux')("frees a written batch's memory at once, where classic-level's own batch waits for V8 to collect it", async () => {
    const COUNT = 40;
    const SIZE = 2 * 1024 * 1024;
    // The reason openBytesDB batches its own way: classic-level's native batch keeps each written
    // WriteBatch (here 80 MiB in all) until a garbage collection that nothing here triggers.
    const plain = new ClassicLevel<Uint8Array, Uint8Array>(join(root, 'plain'), { keyEncoding: 'view', valueEncoding: 'view' });
    await plain.open();
    const kept = await growthOverBatches(plain as BytesDB, COUNT, SIZE);
    await plain.close();

    const db = await openBytesDB(join(root, 'ours'), 'test', root);
    const grown = await growthOverBatches(db, COUNT, SIZE);
    await db.close();
    expect(kept, `classic-level's batches kept ${kept.toFixed(0)} MiB`).toBeGreaterThan(60);
    expect(grown, `openBytesDB's batches kept ${grown.toFixed(0)} MiB`).toBeLessThan(24);
  });
});

describe('writeNow', () => {
  it('writes a batch that LevelDB copied when called (the caller may reuse its bytes at once), and refuses a closed database', async () => {
    const db = await openBytesDB(join(root, 'write-now'), 'trie', root);
    const buf = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const written = writeNow(db, [
      { type: 'put', key: buf.subarray(0, 2), value: buf.subarray(2, 4) },
      { type: 'put', key: buf.subarray(4, 5), value: buf.subarray(5, 6) },
    ]);
    buf.fill(0); // before the write completes
    await written;
    expect(plainOf(await db.getMany([bytes(1, 2), bytes(5), bytes(0, 0)]))).toEqual([[3, 4], [6], undefined]);
    await db.close();
    await expect(writeNow(db, [{ type: 'put', key: bytes(9), value: bytes(9) }])).rejects.toThrow(/not open/);
  });
});

describe('BatchWriter', () => {
  it('puts each value under its key, after its prefix byte if given, in batches of about its size (a value larger than a batch fills one at once)', async () => {
    const db = await openBytesDB(join(root, 'batch-writer'), 'trie', root);
    const writer = new BatchWriter(db, 1024);
    const reused = Uint8Array.from([1, 2, 3]);
    const big = new Uint8Array(5000).fill(7);
    const written: boolean[] = [];
    const put = async (key: Uint8Array, value: Uint8Array, prefix?: number) => {
      const w = writer.put(key, value, prefix);
      written.push(w !== undefined);
      if (w !== undefined) await w;
    };
    await put(reused.subarray(0, 1), reused.subarray(1, 2));
    await put(reused.subarray(0, 1), reused.subarray(2, 3), 0x63);
    reused.fill(9); // copied at the put
    expect(plainOf(await db.getMany([bytes(1), bytes(0x63, 1)]))).toEqual([undefined, undefined]); // not written yet
    await put(bytes(4, 5), big, 0x6e);
    await put(bytes(6), new Uint8Array(0));
    expect(written).toEqual([false, false, true, false]);
    expect(plainOf(await db.getMany([bytes(1), bytes(0x63, 1), bytes(6)]))).toEqual([[2], [3], undefined]);
    await writer.finish();
    const [stored] = await db.getMany([bytes(0x6e, 4, 5)]);
    expect(stored?.length).toBe(5000);
    expect(plainOf(await db.getMany([bytes(6)]))).toEqual([[]]);
    await db.close();
  });
});
