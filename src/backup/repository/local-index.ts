import { openBytesDB, type BytesDB } from '../../storage/open-db.js';
import { readPack, type StateKind } from './pack.js';
import type { Repository } from './repository.js';

/** An item's hash → the local number (u32) of the last pack recorded as holding it. */
const ENTRY = { nodes: 0x6e, code: 0x63 } as const; // 'n', 'c'
/** A pack that complete backups name, loaded or committed: its sha256 → its local number. */
const PACK = 0x6b; // 'k'
/** A pack the backup under way stored (no manifest names it yet): its sha256 → its local number. */
const PENDING_PACK = 0x70; // 'p'
/** The next local number to give a pack (u32): never given twice, so an entry never points at a later pack by mistake. */
const NEXT = Uint8Array.of(0x4e); // 'N'
/** The layout of this database (1 byte). Absent: the first layout (hash keys without values), cleared and loaded again. */
const FORMAT = Uint8Array.of(0x46); // 'F'
const FORMAT_VERSION = 2;

const key = (prefix: number, hash: Uint8Array) => {
  const k = new Uint8Array(1 + hash.length);
  k[0] = prefix;
  k.set(hash, 1);
  return k;
};
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const readU32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
const BATCH = 10_000;

/**
 * Which trie nodes and codes the repository holds, kept in a LevelDB of its own on this machine (a cache
 * of the items of the packs complete backups name, loaded from the packs themselves), so that a backup
 * uploads only what no earlier backup did, in memory that does not grow with the state.
 *
 * Each item's entry names a pack by a local number; an item counts as held only while that pack is
 * committed: named by a complete backup (a manifest), whose state held the item's whole subtree, so a
 * node found here is skipped with everything under it. A pack the backup under way stores is pending
 * until its manifest is written (one small batch then makes it committed), so a backup that dies
 * half-way leaves entries that point at a pack never committed: ignored, as are those of a pack a prune
 * deleted, and the next sync sweeps both out. Each item is written once a backup (it was three writes: a
 * pending key, its committed key and the pending key's delete), and a prune costs a sweep of this
 * database, not a reload of every pack from the repository.
 */
export class LocalIndex {
  /** The local numbers of the committed packs (a few per backup: a set of numbers, not of items). */
  private committed = new Set<number>();
  /** Pending packs were dropped (a backup that failed or was killed): their entries are swept at the next sync. */
  private dropped = false;

  private constructor(private readonly db: BytesDB) {}

  static async open(path: string): Promise<LocalIndex> {
    const db = await openBytesDB(path, 'backup index', path);
    const idx = new LocalIndex(db);
    try {
      const format = await db.get(FORMAT);
      if (format === undefined || format[0] !== FORMAT_VERSION) {
        // The first layout (or an unknown one): a cache, so start over; sync loads the packs again.
        await db.clear();
        await db.put(FORMAT, Uint8Array.of(FORMAT_VERSION));
      }
      await idx.dropPending();
    } catch (err) {
      await db.close();
      throw err;
    }
    return idx;
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /**
   * Bring the cache in line with the repository, whose complete backups name `packs`: load the items of
   * packs not loaded yet; forget the packs no longer named (a prune deleted or rewrote them) and sweep
   * out the entries that point at no committed pack. A load cut short (a kill, a failed read, an abort
   * of `signal`: the node stopping, which ends a pack's download at once) leaves entries of a pack never
   * recorded as loaded: ignored, and swept at the next sweep.
   */
  async sync(repo: Repository, packs: Set<string>, signal?: AbortSignal): Promise<{ loaded: number; swept: number }> {
    const known = new Map<string, number>();
    for await (const [k, v] of this.db.iterator({ gt: Uint8Array.of(PACK), lt: Uint8Array.of(PACK + 1) }))
      known.set(Buffer.from(k.subarray(1)).toString('hex'), readU32(v));
    const gone = [...known.keys()].filter((p) => !packs.has(p));
    if (gone.length > 0) {
      const batch = this.db.batch();
      for (const p of gone) batch.del(key(PACK, Buffer.from(p, 'hex'))), known.delete(p);
      await batch.write();
    }
    this.committed = new Set(known.values());
    let loaded = 0;
    for (const pack of packs) {
      if (known.has(pack)) continue;
      const num = await this.allocate();
      let batch = this.db.batch();
      // The hashes computed from the pack's own items, not its index: an index is named after its pack,
      // not its content, so a replaced or damaged one must not make a backup skip what no pack holds.
      for await (const rec of readPack(repo, pack, signal)) {
        signal?.throwIfAborted();
        for (const it of rec.items) batch.put(key(ENTRY[rec.kind], it.hash), u32(num));
        if (batch.length >= BATCH) {
          await batch.write();
          batch = this.db.batch();
        }
      }
      batch.put(key(PACK, Buffer.from(pack, 'hex')), u32(num)); // last: a pack counts only once all its items point at it
      await batch.write();
      this.committed.add(num);
      loaded++;
    }
    const swept = gone.length > 0 || this.dropped ? await this.sweep() : 0;
    this.dropped = false;
    return { loaded, swept };
  }

  /**
   * For each hash: whether a complete backup's pack holds it. Not what the backup under way stored
   * (pending): its walk skips what its open pack holds, and stores a shared subtree again past that
   * (see backupToRepository).
   */
  async has(kind: StateKind, hashes: Uint8Array[]): Promise<boolean[]> {
    if (this.committed.size === 0) return hashes.map(() => false);
    const found = await this.db.getMany(hashes.map((h) => key(ENTRY[kind], h)));
    return found.map((f) => f !== undefined && f.length === 4 && this.committed.has(readU32(f)));
  }

  /** The backup under way stored these in `pack` (the pack and its index are in the repository). */
  async addPending(pack: string, hashes: Record<StateKind, Iterable<Uint8Array>>): Promise<void> {
    // In batches of BATCH (a pack holds ~350,000 items); the pack's own record last. A crash in between
    // leaves entries that point at a pack never committed: ignored.
    const num = await this.allocate();
    const value = u32(num);
    let batch = this.db.batch();
    for (const kind of ['nodes', 'code'] as const) {
      for (const h of hashes[kind]) {
        batch.put(key(ENTRY[kind], h), value);
        if (batch.length >= BATCH) {
          await batch.write();
          batch = this.db.batch();
        }
      }
    }
    batch.put(key(PENDING_PACK, Buffer.from(pack, 'hex')), value);
    await batch.write();
  }

  /** The backup's manifest is written: what it stored counts as the repository's from now on (one batch). */
  async commitPending(): Promise<void> {
    const batch = this.db.batch();
    const nums: number[] = [];
    for await (const [k, v] of this.db.iterator({ gt: Uint8Array.of(PENDING_PACK), lt: Uint8Array.of(PENDING_PACK + 1) })) {
      batch.put(key(PACK, k.subarray(1)), v);
      batch.del(k);
      nums.push(readU32(v));
    }
    await batch.write();
    for (const n of nums) this.committed.add(n);
  }

  /**
   * Forget what the backup under way stored: after a failure, before any retry. Its packs may hold
   * nodes whose subtrees it never reached, so nothing may be skipped for them (their entries point at
   * packs never committed).
   */
  async dropPending(): Promise<void> {
    const range = { gt: Uint8Array.of(PENDING_PACK), lt: Uint8Array.of(PENDING_PACK + 1) };
    for await (const _ of this.db.keys({ ...range, limit: 1 })) this.dropped = true;
    await this.db.clear(range);
  }

  /** A local number no pack had (persisted before any entry names it). */
  private async allocate(): Promise<number> {
    const stored = await this.db.get(NEXT);
    const num = stored === undefined ? 1 : readU32(stored);
    if (num === 0xffffffff) throw new Error('the backup index has given out every pack number: delete its folder, a backup rebuilds it');
    await this.db.put(NEXT, u32(num + 1));
    return num;
  }

  /** Delete the entries that point at no committed pack (a deleted one's, an interrupted backup's). */
  private async sweep(): Promise<number> {
    let swept = 0;
    for (const prefix of Object.values(ENTRY)) {
      let batch = this.db.batch();
      for await (const [k, v] of this.db.iterator({ gt: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) })) {
        if (v.length === 4 && this.committed.has(readU32(v))) continue;
        batch.del(k);
        swept++;
        if (batch.length >= BATCH) {
          await batch.write();
          batch = this.db.batch();
        }
      }
      await batch.write();
    }
    return swept;
  }
}
