import { existsSync } from 'node:fs';
import { dataDirLayout, databaseBytes } from '../storage/data-dir.js';
import { openBytesDB, type BytesDB } from '../storage/open-db.js';
import { blockchainKeyKind, trieKeyKind } from '../storage/schema.js';
import { UserError } from '../util/errors.js';

/** One kind of entry of one database: how many, and the bytes of their keys and values (uncompressed). */
export interface InspectRow {
  database: 'blockchain' | 'trie';
  kind: string;
  entries: number;
  keyBytes: number;
  valueBytes: number;
}

export interface DbInspectReport {
  dataDir: string;
  rows: InspectRow[];
  /** Bytes of each database's folder on disk (LevelDB's compressed tables and logs). */
  onDisk: { blockchain: number; trie: number };
}

/** Entries read per LevelDB trip. */
const READ_BATCH = 1000;

/**
 * geth's `db inspect` for a stopped node: every entry of both databases counted by what it is (the key
 * prefixes of storage/schema.ts), with the bytes of its keys and values, and each database's size on
 * disk. Reads every entry once, in key order, a batch at a time: memory does not grow with the data dir.
 */
export async function inspectDataDir(dir: string, opts: { onEntries?: (entries: number, bytes: number) => void } = {}): Promise<DbInspectReport> {
  const layout = dataDirLayout(dir);
  if (!existsSync(layout.blockchain)) throw new UserError(`${layout.root} is not a Basalt data dir (no blockchain/ database)`, { code: 'NOT_FOUND' });
  const rows = new Map<string, InspectRow>();
  let entries = 0;
  let bytes = 0;
  const count = async (db: BytesDB, database: InspectRow['database'], kindOf: (key: Uint8Array) => string) => {
    const it = db.iterator();
    try {
      for (;;) {
        const batch = await it.nextv(READ_BATCH);
        if (batch.length === 0) break;
        for (const [key, value] of batch) {
          const kind = kindOf(key);
          const id = `${database}\u0000${kind}`;
          let row = rows.get(id);
          if (!row) rows.set(id, (row = { database, kind, entries: 0, keyBytes: 0, valueBytes: 0 }));
          row.entries++;
          row.keyBytes += key.length;
          row.valueBytes += value.length;
          bytes += key.length + value.length;
        }
        entries += batch.length;
        opts.onEntries?.(entries, bytes);
      }
    } finally {
      await it.close();
    }
  };
  for (const [database, path, kindOf] of [
    ['blockchain', layout.blockchain, blockchainKeyKind],
    ['trie', layout.trie, trieKeyKind],
  ] as const) {
    if (!existsSync(path)) continue;
    const db = await openBytesDB(path, database, layout.root, { createIfMissing: false });
    try {
      await count(db, database, kindOf);
    } finally {
      await db.close();
    }
  }
  const sorted = [...rows.values()].sort((a, b) =>
    a.database !== b.database ? (a.database < b.database ? -1 : 1) : b.keyBytes + b.valueBytes - (a.keyBytes + a.valueBytes),
  );
  return { dataDir: layout.root, rows: sorted, onDisk: { blockchain: databaseBytes(layout.blockchain), trie: databaseBytes(layout.trie) } };
}
