import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BatchWriter, openBytesDB, type BytesDB } from '../../storage/open-db.js';
import { removeStaleTemps } from '../../util/stale-temp.js';
import type { StateReader } from '../../storage/trie-node-store.js';
import { readPack, type StateKind } from './pack.js';
import type { Repository } from './repository.js';

const PREFIX: Record<StateKind, number> = { nodes: 0x6e, code: 0x63 };

/**
 * The items of some packs in a scratch LevelDB, each under the hash computed from it (readPack), so a
 * state can be walked out of them (restore, prune, verify) in memory that does not grow with it. The
 * packs a manifest names may hold nodes of earlier states too: only what a walk reaches is used.
 */
export class PackScratch {
  /** With `owners`: each pack loaded, by its number in the owner keys. */
  private readonly ordinals = new Map<string, number>();

  private constructor(
    private readonly db: BytesDB,
    private readonly path: string,
  ) {}

  /**
   * A new scratch database `<base>-<pid>` in `dir`. Those a killed run left there (`<base>-<pid>` of a
   * process that is gone) are removed first.
   */
  static async open(dir: string, base: string): Promise<PackScratch> {
    mkdirSync(dir, { recursive: true });
    removeStaleTemps(dir, `${base}-`);
    const path = join(dir, `${base}-${process.pid}`);
    rmSync(path, { recursive: true, force: true });
    return new PackScratch(await openBytesDB(path, 'scratch', path), path);
  }

  /**
   * Read the packs (each checked: structure, digest against its name, every item's hash computed).
   * With `listItems`, also what each pack holds, record by record (packItems), so that a prune counts
   * and moves a pack's live items without reading the pack a second time. With `owners`, also which
   * packs hold each item, for `readerOf`.
   */
  async load(
    repo: Repository,
    packs: Iterable<string>,
    onItems?: (kind: StateKind, items: { hash: Uint8Array; data: Uint8Array }[]) => void,
    opts: { listItems?: boolean; owners?: boolean } = {},
  ): Promise<void> {
    // In batches of ~128 KiB that copy what they write (BatchWriter: a record's 1 MiB of operations
    // held across its write were all promoted by V8).
    const writer = new BatchWriter(this.db, LOAD_BATCH_BYTES);
    for (const sha of packs) {
      let record = 0;
      let ord: Uint8Array | undefined;
      if (opts.owners) {
        this.ordinals.set(sha, this.ordinals.get(sha) ?? this.ordinals.size);
        ord = u32(this.ordinals.get(sha)!);
      }
      for await (const rec of readPack(repo, sha)) {
        for (const item of rec.items) {
          const w = writer.put(item.hash, item.data, PREFIX[rec.kind]);
          if (w !== undefined) await w;
          if (ord === undefined) continue;
          // The pack that holds it (the last loaded, if more than one does), and each pack that does.
          const w1 = writer.put(ownerKey(rec.kind, item.hash), ord);
          if (w1 !== undefined) await w1;
          const w2 = writer.put(ownersKey(rec.kind, item.hash, ord), EMPTY);
          if (w2 !== undefined) await w2;
        }
        if (opts.listItems) {
          const listed = new Uint8Array(rec.items.length * 32);
          rec.items.forEach((it, i) => listed.set(it.hash, i * 32));
          const w = writer.put(listKey(sha, record++, rec.kind), listed);
          if (w !== undefined) await w;
        }
        onItems?.(rec.kind, rec.items);
      }
    }
    await writer.finish();
  }

  /** What pack `sha` holds, a record at a time, as `load` with `listItems` read it from the pack itself. */
  async *packItems(sha: string): AsyncGenerator<{ kind: StateKind; hashes: Uint8Array[] }> {
    const from = listKey(sha, 0, 'nodes');
    from.fill(0, LIST_PREFIX_BYTES);
    const to = new Uint8Array(from);
    to.fill(0xff, LIST_PREFIX_BYTES);
    for await (const [k, v] of this.db.iterator({ gte: from, lte: to })) {
      const kind: StateKind = k[k.length - 1] === PREFIX.code ? 'code' : 'nodes';
      const hashes: Uint8Array[] = [];
      for (let i = 0; i < v.length; i += 32) hashes.push(v.subarray(i, i + 32));
      yield { kind, hashes };
    }
  }

  /** An item's bytes, as loaded. */
  item(kind: StateKind, hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key(kind, hash));
  }

  get reader(): StateReader {
    return {
      node: (h) => this.db.get(key('nodes', h)),
      code: (h) => this.db.get(key('code', h)),
      nodes: (hs) => this.db.getMany(hs.map((h) => key('nodes', h))),
    };
  }

  /**
   * A reader of the items that one of `packs` holds, of those loaded with `owners` (a pack not loaded
   * holds nothing): a state complete under it is complete in those packs alone, as a restore of a
   * manifest naming them reads it.
   */
  readerOf(packs: Iterable<string>): StateReader {
    const allowed = new Set<number>();
    for (const sha of packs) {
      const o = this.ordinals.get(sha);
      if (o !== undefined) allowed.add(o);
    }
    if (allowed.size === this.ordinals.size) return this.reader;
    const held = async (kind: StateKind, hashes: Uint8Array[]): Promise<boolean[]> => {
      const first = await this.db.getMany(hashes.map((h) => ownerKey(kind, h)));
      return Promise.all(first.map((o, i) => o !== undefined && (allowed.has(fromU32(o)) || this.heldElsewhere(kind, hashes[i]!, allowed))));
    };
    const only = async (kind: StateKind, hashes: Uint8Array[]) => {
      const [data, ok] = await Promise.all([this.db.getMany(hashes.map((h) => key(kind, h))), held(kind, hashes)]);
      return data.map((d, i) => (ok[i] ? d : undefined));
    };
    return {
      node: async (h) => (await only('nodes', [h]))[0],
      code: async (h) => (await only('code', [h]))[0],
      nodes: (hs) => only('nodes', hs),
    };
  }

  /** Whether one of `allowed` holds an item beside the pack its owner key names (an item stored in two packs). */
  private async heldElsewhere(kind: StateKind, hash: Uint8Array, allowed: ReadonlySet<number>): Promise<boolean> {
    const from = ownersKey(kind, hash, u32(0));
    const to = ownersKey(kind, hash, u32(0xffffffff));
    for await (const k of this.db.keys({ gte: from, lte: to })) if (allowed.has(fromU32(k.subarray(k.length - 4)))) return true;
    return false;
  }

  async close(): Promise<void> {
    await this.db.close();
    rmSync(this.path, { recursive: true, force: true });
  }
}

/**
 * The key of a pack's record `record`: 'l', a zero byte, the pack's 32-byte hash, the record's number
 * (4 bytes, big-endian, so in order) and its kind; always 39 bytes, so one pack's records are the keys
 * from its prefix and five zero bytes to its prefix and five 0xff bytes. Item keys ('n' or 'c' and a
 * hash) never fall in that range.
 */
const LIST_PREFIX_BYTES = 2 + 32;
function listKey(sha: string, record: number, kind: StateKind): Uint8Array {
  const k = new Uint8Array(LIST_PREFIX_BYTES + 5);
  k[0] = 0x6c;
  k.set(Buffer.from(sha, 'hex'), 2);
  new DataView(k.buffer).setUint32(LIST_PREFIX_BYTES, record);
  k[LIST_PREFIX_BYTES + 4] = PREFIX[kind];
  return k;
}

/** Bytes of items (keys and values) in one of `load`'s LevelDB batches. */
const LOAD_BATCH_BYTES = 128 * 1024;

/** 'o', the kind and the item's hash: the number of a pack that holds it (4 bytes). */
function ownerKey(kind: StateKind, hash: Uint8Array): Uint8Array {
  const k = new Uint8Array(2 + hash.length);
  k[0] = 0x6f;
  k[1] = PREFIX[kind];
  k.set(hash, 2);
  return k;
}

/** 'p', the kind, the item's hash and the number of a pack that holds it: one key (no value) per pack holding it. */
function ownersKey(kind: StateKind, hash: Uint8Array, ord: Uint8Array): Uint8Array {
  const k = new Uint8Array(2 + hash.length + 4);
  k[0] = 0x70;
  k[1] = PREFIX[kind];
  k.set(hash, 2);
  k.set(ord, 2 + hash.length);
  return k;
}

const EMPTY = new Uint8Array(0);
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const fromU32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0);

function key(kind: StateKind, hash: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + hash.length);
  k[0] = PREFIX[kind];
  k.set(hash, 1);
  return k;
}
