import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openBytesDB, type BytesDB } from '../../storage/open-db.js';
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

  /** Read the packs (each checked: structure, digest against its name, every item's hash computed). */
  async load(repo: Repository, packs: Iterable<string>, onItems?: (kind: StateKind, items: { hash: Uint8Array; data: Uint8Array }[]) => void): Promise<void> {
    for (const sha of packs) {
      for await (const rec of readPack(repo, sha)) {
        const batch = this.db.batch();
        for (const it of rec.items) batch.put(key(rec.kind, it.hash), it.data);
        await batch.write();
        onItems?.(rec.kind, rec.items);
      }
    }
  }

  get reader(): StateReader {
    return {
      node: (h) => this.db.get(key('nodes', h)),
      code: (h) => this.db.get(key('code', h)),
      nodes: (hs) => this.db.getMany(hs.map((h) => key('nodes', h))),
    };
  }

  async close(): Promise<void> {
    await this.db.close();
    rmSync(this.path, { recursive: true, force: true });
  }
}

function key(kind: StateKind, hash: Uint8Array): Uint8Array {
  const k = new Uint8Array(1 + hash.length);
  k[0] = PREFIX[kind];
  k.set(hash, 1);
  return k;
}
