import { openBytesDB, type BytesDB } from './open-db.js';
import type { DataDirLayout } from './data-dir.js';

export interface NodeDatabases {
  blockchain: BytesDB;
  trie: BytesDB;
  close(): Promise<void>;
}

/**
 * Open both LevelDB databases of a data dir. Each holds a LOCK file while open, so a second node
 * (or an offline tool) on the same dir fails here with one clear line.
 */
export async function openNodeDatabases(layout: DataDirLayout): Promise<NodeDatabases> {
  const blockchain = await openBytesDB(layout.blockchain, 'blockchain', layout.root);
  let trie: BytesDB;
  try {
    trie = await openBytesDB(layout.trie, 'trie', layout.root);
  } catch (err) {
    await blockchain.close();
    throw err;
  }
  return {
    blockchain,
    trie,
    async close() {
      // Closing flushes LevelDB's memtable and releases the LOCK files.
      await Promise.allSettled([blockchain.close(), trie.close()]);
    },
  };
}
