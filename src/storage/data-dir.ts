import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError, errorMessage } from '../util/errors.js';

/**
 * A node's working directory, as Polygon SDK lays it out:
 *   blockchain/  LevelDB: headers, bodies, receipts, indexes, head pointer
 *   trie/        LevelDB: Merkle Patricia trie nodes and contract code (world state)
 *   keystore/    libp2p.key (networking identity)          - secret, 0600 in 0700
 *   consensus/   validator.key (IBFT sealing key)          - secret, 0600 in 0700
 */
export interface DataDirLayout {
  root: string;
  blockchain: string;
  trie: string;
  keystore: string;
  consensus: string;
}

export function dataDirLayout(dir: string): DataDirLayout {
  const root = resolve(dir);
  return {
    root,
    blockchain: join(root, 'blockchain'),
    trie: join(root, 'trie'),
    keystore: join(root, 'keystore'),
    consensus: join(root, 'consensus'),
  };
}

/** Create the data dir itself (0700: it holds keys). LevelDB creates its own folders. */
export function ensureDataDir(layout: DataDirLayout): void {
  try {
    mkdirSync(layout.root, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : code === 'EACCES' ? 'permission denied' : errorMessage(err);
    throw new UserError(`cannot make the data dir ${layout.root}: ${why}`, { code: 'FAILED_PRECONDITION' });
  }
}

/** Bytes of the files in a database's folder (LevelDB's tables and logs: its size on disk); 0 when absent. */
export function databaseBytes(path: string): number {
  if (!existsSync(path)) return 0;
  let n = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) if (e.isFile()) n += statSync(join(path, e.name)).size;
  return n;
}
