import { fsyncFolderFiles } from '../util/durable.js';
import { openBytesDB, syncWrites, type BytesDB } from './open-db.js';
import type { DataDirLayout } from './data-dir.js';
import { DamageMonitor, damageReporter, watchForDamage, type DamageReporter } from './damage.js';

export interface NodeDatabases {
  blockchain: BytesDB;
  trie: BytesDB;
  /** Where LevelDB corruption and I/O errors met on either database are reported (see damage.ts). */
  damage: DamageMonitor;
  /** For code that finds a record missing that must exist (the chain, below its head). */
  reporter: DamageReporter;
  close(): Promise<void>;
}

/**
 * Open both LevelDB databases of a data dir. Each holds a LOCK file while open, so a second node
 * (or an offline tool) on the same dir fails here with one clear line.
 */
export async function openNodeDatabases(layout: DataDirLayout, opts: { createIfMissing?: boolean } = {}): Promise<NodeDatabases> {
  const blockchain = await openBytesDB(layout.blockchain, 'blockchain', layout.root, opts);
  let trie: BytesDB;
  try {
    trie = await openBytesDB(layout.trie, 'trie', layout.root, opts);
  } catch (err) {
    await blockchain.close();
    throw err;
  }
  const damage = new DamageMonitor();
  watchForDamage(blockchain, 'blockchain', layout.blockchain, damage);
  watchForDamage(trie, 'trie', layout.trie, damage);
  return {
    blockchain,
    trie,
    damage,
    reporter: damageReporter(damage, { blockchain: layout.blockchain, trie: layout.trie }),
    async close() {
      // Closing flushes LevelDB's memtable and releases the LOCK files.
      await Promise.allSettled([blockchain.close(), trie.close()]);
    },
  };
}

/**
 * Close both databases of a data dir written without `sync` (a restore's bulk writes, a point-in-time
 * restore's imported blocks) with everything durable, before the data dir is renamed into place: a
 * synced write of each (LevelDB syncs its log), then, closed, every file of theirs and both folders
 * fsynced (a log LevelDB switched away from, its memtable left uncompacted by the close, was never
 * synced). A power loss after the rename then cannot leave a head without its state.
 */
export async function closeDurably(dbs: NodeDatabases, layout: DataDirLayout): Promise<void> {
  await syncWrites(dbs.trie);
  await syncWrites(dbs.blockchain);
  await dbs.close();
  for (const dir of [layout.trie, layout.blockchain]) fsyncFolderFiles(dir);
}
