import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBytesDB, type BytesDB } from '../../../src/storage/open-db.js';
import { NodeCache, TrieNodeStore } from '../../../src/storage/trie-node-store.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const val = (n: number, len = 10) => new Uint8Array(len).fill(n);
/** LevelDB hands back Buffers; compare contents, not classes. */
const plain = (v: Uint8Array | undefined) => (v === undefined ? undefined : Uint8Array.from(v));

describe('NodeCache', () => {
  it('evicts the least recently used entries once over its byte budget', () => {
    const c = new NodeCache(3 * (1000 + 64 * 2 + 96));
    for (const n of [1, 2, 3]) c.set(hex(n), val(n, 1000));
    expect(c.size).toBe(3);
    c.get(hex(1)); // 1 is now the most recent; 2 is the oldest
    c.set(hex(4), val(4, 1000));
    expect(c.get(hex(2))).toBeUndefined();
    expect(c.get(hex(1))).toEqual(val(1, 1000));
    expect(c.get(hex(3))).toEqual(val(3, 1000));
    expect(c.get(hex(4))).toEqual(val(4, 1000));
    expect(c.sizeBytes).toBeLessThanOrEqual(c.maxBytes);
  });

  it('re-setting a key replaces its value without counting it twice', () => {
    const c = new NodeCache();
    c.set(hex(1), val(1, 100));
    const once = c.sizeBytes;
    c.set(hex(1), val(2, 100));
    expect(c.sizeBytes).toBe(once);
    expect(c.get(hex(1))).toEqual(val(2, 100));
  });
});

describe('TrieNodeStore cache', () => {
  let dir: string;
  let db: BytesDB;
  let reads: number;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'basalt-trie-store-'));
    db = await openBytesDB(join(dir, 'trie'), 'trie', dir);
    reads = 0;
    const get = db.get.bind(db);
    db.get = ((...args: Parameters<typeof get>) => {
      reads++;
      return get(...args);
    }) as typeof db.get;
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves flushed nodes without reading the database, and discarded ones not at all', async () => {
    const store = new TrieNodeStore(db);
    await store.put(hex(1), val(1));
    await store.flush();
    expect(plain(await store.get(hex(1)))).toEqual(val(1));
    expect(reads).toBe(0);

    await store.put(hex(2), val(2));
    store.discard(); // a block that failed verification: its nodes must not surface from the cache
    expect(plain(await store.get(hex(2)))).toBeUndefined();
    expect(reads).toBe(1);
  });

  it('caches database reads for the live store and its scratch views, never scratch writes', async () => {
    await db.put(Buffer.from(hex(3), 'hex'), val(3));
    const store = new TrieNodeStore(db);
    expect(plain(await store.get(hex(3)))).toEqual(val(3));
    expect(plain(await store.get(hex(3)))).toEqual(val(3));
    expect(reads).toBe(1);

    const scratch = store.scratch();
    expect(plain(await scratch.get(hex(3)))).toEqual(val(3));
    expect(reads).toBe(1);
    await scratch.put(hex(4), val(4));
    expect(plain(await scratch.get(hex(4)))).toEqual(val(4));
    expect(plain(await store.get(hex(4)))).toBeUndefined();
  });

  it('snapshot views read the database as of the snapshot, not the cache', async () => {
    const store = new TrieNodeStore(db);
    const snap = store.openSnapshot();
    try {
      await store.put(hex(5), val(5));
      await store.flush();
      expect(plain(await store.get(hex(5)))).toEqual(val(5));
      expect(plain(await snap.store.get(hex(5)))).toBeUndefined();
    } finally {
      await snap.close();
    }
  });

  it('a sweep takes what it deletes out of the cache and leaves the kept nodes in it', async () => {
    const store = new TrieNodeStore(db);
    for (const n of [6, 7]) await store.put(hex(n), val(n));
    await store.flush(); // both cached
    const swept = await store.sweep({ node: (h) => Buffer.from(h).toString('hex') === hex(6), code: () => true });
    expect(swept).toEqual({ scanned: 2, deleted: 1 });
    expect(plain(await store.get(hex(6)))).toEqual(val(6));
    expect(reads).toBe(0); // still served from memory
    expect(plain(await store.get(hex(7)))).toBeUndefined(); // gone from disk and from the cache
    expect(reads).toBe(1);
  });
});

describe('StateWriter', () => {
  it('copies what it is handed: the caller reuses one buffer for every item, across batches, and every item is stored as given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-state-writer-'));
    const db = await openBytesDB(join(dir, 'trie'), 'trie', dir);
    try {
      const writer = new TrieNodeStore(db).stateWriter(4096);
      // One buffer for every hash and value, overwritten after each call, as the genesis build's packs are.
      const scratch = new Uint8Array(32 + 20_000);
      const lengths = [0, 1, 31, 32, 100, 4095, 4096, 4097, 20_000, 7];
      const want = new Map<string, Uint8Array>();
      let codeHash = '';
      let writes = 0;
      for (let i = 0; i < 600; i++) {
        const len = lengths[i % lengths.length]!;
        const hash = scratch.subarray(0, 32).fill(i % 251);
        hash[0] = i >> 8;
        hash[1] = i & 0xff;
        const data = scratch.subarray(32, 32 + len).fill((i * 7) % 256);
        want.set(Buffer.from(hash).toString('hex'), Uint8Array.from(data));
        if (i === 300) codeHash = Buffer.from(hash).toString('hex');
        const w = i === 300 ? writer.code(hash, data) : writer.node(hash, data);
        if (w !== undefined) {
          writes++;
          await w;
        }
        scratch.fill(0xee); // the caller's buffer changes at once
      }
      await writer.finish();
      expect(writes).toBeGreaterThan(10); // many batches, some holding a value larger than the batch
      expect(writer.nodes).toBe(599);
      expect(writer.codes).toBe(1);
      const store = new TrieNodeStore(db);
      for (const [hash, data] of want) {
        const key = Buffer.from(hash, 'hex');
        const stored = hash === codeHash ? await store.code(key) : await db.get(key);
        expect(plain(stored ?? undefined), hash).toEqual(data);
      }
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
