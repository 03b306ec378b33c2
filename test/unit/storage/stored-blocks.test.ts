import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex as hex } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockStore } from '../../../src/storage/block-store.js';
import { openBytesDB, type BytesDB } from '../../../src/storage/open-db.js';
import * as schema from '../../../src/storage/schema.js';

/** A block's parts as the store keeps them; storedBlocks only reads bytes, so any RLP does. */
const hashOf = (n: number, side = 0) =>
  new Uint8Array(32)
    .fill(side + 1)
    .fill(n & 0xff, 0, 1)
    .fill(n >> 8, 1, 2);
const headerOf = (n: number, side = 0) => RLP.encode([Uint8Array.of(side), new Uint8Array(4).fill(n & 0xff)]);
// Every 97th block is large (700 KB): the iterators' byte limit (1 MiB) cuts their batches there.
const bodyOf = (n: number) =>
  n % 97 === 0 ? RLP.encode([new Uint8Array(700_000).fill(n & 0xff)]) : RLP.encode(Array.from({ length: n % 3 }, (_, i) => Uint8Array.of(0x02, i, n & 0xff)));

describe('BlockStore.storedBlocks (range reads with iterators in step)', () => {
  let db: BytesDB;
  let store: BlockStore;
  const HEAD = 600; // more than two of the iterators' batches

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-chain-'));
    db = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
    store = new BlockStore(db, { commonAt: () => undefined as never });
    const batch = db.batch();
    for (let n = 1; n <= HEAD; n++) {
      const h = hashOf(n);
      batch.put(schema.canonicalHashKey(BigInt(n)), h);
      batch.put(schema.headerKey(BigInt(n), h), headerOf(n));
      batch.put(schema.bodyKey(BigInt(n), h), bodyOf(n));
      batch.put(schema.receiptsKey(BigInt(n), h), RLP.encode([Uint8Array.of(n & 0xff)]));
      // A side block at every tenth number: same number, another hash, never canonical.
      if (n % 10 === 0) {
        const s = hashOf(n, 7);
        batch.put(schema.headerKey(BigInt(n), s), headerOf(n, 7));
        batch.put(schema.bodyKey(BigInt(n), s), bodyOf(n + 1));
        batch.put(schema.receiptsKey(BigInt(n), s), RLP.encode([]));
      }
    }
    await batch.write();
  });
  afterAll(async () => db.close());

  const collect = async (s: BlockStore, from: bigint, to: bigint) => {
    const out = [];
    for await (const b of s.storedBlocks(from, to)) out.push(b);
    return out;
  };

  it('gives each canonical block of the range, in order, exactly as storedBlock does', async () => {
    for (const [from, to] of [
      [1n, BigInt(HEAD)],
      [255n, 513n],
      [256n, 256n],
      [7n, 6n],
    ] as const) {
      const got = await collect(store, from, to);
      expect(got.map((b) => b.number)).toEqual(Array.from({ length: Math.max(0, Number(to - from) + 1) }, (_, i) => from + BigInt(i)));
      for (const b of got) {
        const one = await store.storedBlock(b.number);
        expect(hex(b.hash)).toBe(hex(one.hash));
        expect(hex(b.blockRlp)).toBe(hex(one.blockRlp));
        expect(hex(b.receiptsRlp)).toBe(hex(one.receiptsRlp));
        expect(hex(b.hash)).toBe(hex(hashOf(Number(b.number))));
      }
    }
  });

  it('reads from its snapshot view, not writes made after it', async () => {
    const view = store.openSnapshot();
    try {
      await db.put(schema.canonicalHashKey(300n), hashOf(300, 7)); // a re-org to the side block after the view
      const got = await collect(view.store, 299n, 301n);
      expect(hex(got[1]!.hash)).toBe(hex(hashOf(300)));
      expect(hex((await collect(store, 300n, 300n))[0]!.hash)).toBe(hex(hashOf(300, 7)));
    } finally {
      await db.put(schema.canonicalHashKey(300n), hashOf(300));
      await view.close();
    }
  });

  it('throws at a block with a missing part, naming it, after giving every block before it', async () => {
    await db.del(schema.receiptsKey(530n, hashOf(530)));
    const got: bigint[] = [];
    await expect(
      (async () => {
        for await (const b of store.storedBlocks(1n, BigInt(HEAD))) got.push(b.number);
      })(),
    ).rejects.toThrow(/block 530 is missing from the database/);
    expect(got.at(-1)).toBe(529n);
    await db.del(schema.canonicalHashKey(580n));
    await expect(collect(store, 575n, 590n)).rejects.toThrow(/block 580 is missing/);
  });
});

describe('BlockStore.canonicalStateRoots (by range)', () => {
  it('gives each canonical block state root in order, as canonicalStateRoot does one by one; undefined where the index has no entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-roots-'));
    const db = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
    try {
      const store = new BlockStore(db, { commonAt: () => undefined as never });
      const rootOf = (n: number, side = 0) =>
        new Uint8Array(32)
          .fill(side + 3)
          .fill(n & 0xff, 0, 1)
          .fill(n >> 8, 1, 2);
      const header = (n: number, side = 0) => RLP.encode([hashOf(n - 1), new Uint8Array(32), new Uint8Array(20), rootOf(n, side)]);
      const batch = db.batch();
      for (let n = 1; n <= 3000; n++) {
        batch.put(schema.canonicalHashKey(BigInt(n)), hashOf(n));
        batch.put(schema.headerKey(BigInt(n), hashOf(n)), header(n));
        if (n % 10 === 0) batch.put(schema.headerKey(BigInt(n), hashOf(n, 7)), header(n, 7)); // a side block, passed over
      }
      await batch.write();
      await db.del(schema.canonicalHashKey(1500n));
      const got: { number: bigint; root: string | undefined }[] = [];
      for await (const r of store.canonicalStateRoots(1n, 3000n)) got.push({ number: r.number, root: r.root && hex(r.root) });
      expect(got.map((r) => r.number)).toEqual(Array.from({ length: 3000 }, (_, i) => BigInt(i + 1)));
      for (const r of got) {
        const one = await store.canonicalStateRoot(r.number);
        expect(r.root).toBe(one && hex(one));
        expect(r.root).toBe(r.number === 1500n ? undefined : hex(rootOf(Number(r.number))));
      }
      // A header without a 32-byte state root is damage, as one by one.
      await db.put(schema.headerKey(2000n, hashOf(2000)), RLP.encode([Uint8Array.of(1)]));
      await expect(
        (async () => {
          for await (const _ of store.canonicalStateRoots(1990n, 2010n));
        })(),
      ).rejects.toThrow(/block 2000 has no 32-byte state root/);
    } finally {
      await db.close();
    }
  });
});
