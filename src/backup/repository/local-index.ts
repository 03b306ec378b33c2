import { openBytesDB, type BytesDB } from '../../storage/open-db.js';
import { readPack, type StateKind } from './pack.js';
import type { Repository } from './repository.js';

const COMMITTED = { nodes: 0x6e, code: 0x63 } as const; // 'n', 'c': in a pack some manifest names
const PENDING = { nodes: 0x70, code: 0x71 } as const; // 'p', 'q': stored by the backup under way, no manifest yet
const PACK = 0x6b; // 'k': a pack whose items are loaded
const DIRTY = Uint8Array.of(0x64); // 'd': a load or a commit under way (cut short: rebuild)

const key = (prefix: number, hash: Uint8Array) => {
  const k = new Uint8Array(1 + hash.length);
  k[0] = prefix;
  k.set(hash, 1);
  return k;
};
const EMPTY = new Uint8Array(0);
const BATCH = 10_000;

/**
 * Which trie nodes and codes the repository holds, kept in a LevelDB of its own on this machine (a cache
 * of the items of the packs complete backups name, rebuilt from the packs when missing or stale), so that a backup uploads
 * only what no earlier backup did, in memory that does not grow with the state.
 *
 * What it says is present is in a pack that a complete backup (a manifest) names, whose state held the
 * node's whole subtree: a node found here is skipped with everything under it. What the backup under
 * way stores is kept apart (pending) until its manifest is written, so a backup that dies half-way
 * leaves no entry whose subtree may be incomplete; `open` drops pending entries an interrupted backup left.
 */
export class LocalIndex {
  /** Whether the last sync found no complete backup's pack: nothing to look up (a first backup). */
  private empty = false;

  private constructor(private readonly db: BytesDB) {}

  static async open(path: string): Promise<LocalIndex> {
    const db = await openBytesDB(path, 'backup index', path);
    const idx = new LocalIndex(db);
    try {
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
   * Bring the cache in line with the repository, whose complete backups name `packs`: load the indexes of
   * packs not seen yet; if a pack seen before is no longer named (deleted by retention), start over.
   */
  async sync(repo: Repository, packs: Set<string>): Promise<{ loaded: number; rebuilt: boolean }> {
    const known: string[] = [];
    for await (const k of this.db.keys({ gt: Uint8Array.of(PACK), lt: Uint8Array.of(PACK + 1) })) known.push(Buffer.from(k.subarray(1)).toString('hex'));
    let rebuilt = false;
    // A load or commit cut short (a kill, a failed read) may have left hashes without their pack's key,
    // which no later check would find: start over then, as when a pack is gone.
    if ((await this.db.get(DIRTY)) !== undefined || known.some((p) => !packs.has(p))) {
      await this.db.put(DIRTY, EMPTY);
      for (const p of [COMMITTED.nodes, COMMITTED.code, PACK]) await this.clear(p);
      known.length = 0;
      rebuilt = true;
    }
    const have = new Set(known);
    let loaded = 0;
    for (const pack of packs) {
      if (have.has(pack)) continue;
      await this.db.put(DIRTY, EMPTY);
      let batch = this.db.batch();
      // The hashes computed from the pack's own items, not its index: an index is named after its pack,
      // not its content, so a replaced or damaged one must not make a backup skip what no pack holds.
      for await (const rec of readPack(repo, pack)) {
        for (const it of rec.items) batch.put(key(COMMITTED[rec.kind], it.hash), EMPTY);
        if (batch.length >= BATCH) {
          await batch.write();
          batch = this.db.batch();
        }
      }
      batch.put(key(PACK, Buffer.from(pack, 'hex')), EMPTY); // last: a pack is known only once all its hashes are
      await batch.write();
      loaded++;
    }
    await this.db.del(DIRTY);
    this.empty = packs.size === 0;
    return { loaded, rebuilt };
  }

  /**
   * For each hash: whether a complete backup's pack holds it. Not what the backup under way stored
   * (pending): its walk skips what its open pack holds, and stores a shared subtree again past that
   * (see backupToRepository).
   */
  async has(kind: StateKind, hashes: Uint8Array[]): Promise<boolean[]> {
    if (this.empty) return hashes.map(() => false);
    const found = await this.db.getMany(hashes.map((h) => key(COMMITTED[kind], h)));
    return found.map((f) => f !== undefined);
  }

  /** The backup under way stored these (its pack and the pack's index are in the repository). */
  async addPending(pack: string, hashes: Record<StateKind, Iterable<Uint8Array>>): Promise<void> {
    // In batches of BATCH (a pack holds ~350,000 items); the pack's own entry last. A crash in between
    // leaves pending entries only, which the next open drops.
    let batch = this.db.batch();
    for (const kind of ['nodes', 'code'] as const) {
      for (const h of hashes[kind]) {
        batch.put(key(PENDING[kind], h), EMPTY);
        if (batch.length >= BATCH) {
          await batch.write();
          batch = this.db.batch();
        }
      }
    }
    batch.put(key(PENDING.nodes, Buffer.concat([Buffer.from('pack:'), Buffer.from(pack, 'hex')])), EMPTY);
    await batch.write();
  }

  /** The backup's manifest is written: what it stored counts as the repository's from now on. */
  async commitPending(): Promise<void> {
    await this.db.put(DIRTY, EMPTY);
    const packMark = Buffer.from('pack:');
    for (const kind of ['nodes', 'code'] as const) {
      const p = PENDING[kind];
      let batch = this.db.batch();
      for await (const k of this.db.keys({ gt: Uint8Array.of(p), lt: Uint8Array.of(p + 1) })) {
        const rest = k.subarray(1);
        if (kind === 'nodes' && rest.length === packMark.length + 32 && Buffer.from(rest.subarray(0, packMark.length)).equals(packMark)) {
          batch.put(key(PACK, rest.subarray(packMark.length)), EMPTY);
        } else batch.put(key(COMMITTED[kind], rest), EMPTY);
        batch.del(k);
        if (batch.length >= BATCH) {
          await batch.write();
          batch = this.db.batch();
        }
      }
      await batch.write();
    }
    await this.db.del(DIRTY);
    this.empty = false;
  }

  /**
   * Forget what the backup under way stored: after a failure, before any retry. Its packs may hold
   * nodes whose subtrees it never reached, so nothing may be skipped for them.
   */
  async dropPending(): Promise<void> {
    for (const p of Object.values(PENDING)) await this.clear(p);
  }

  private async clear(prefix: number): Promise<void> {
    await this.db.clear({ gt: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) });
  }
}
