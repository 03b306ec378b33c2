import { ClassicLevel } from 'classic-level';
import { UserError } from '../util/errors.js';

export type BytesDB = ClassicLevel<Uint8Array, Uint8Array>;

/**
 * Open (creating if needed) a LevelDB database with byte keys and values.
 * LevelDB's LOCK file makes a second opener fail; we turn that into one clear line.
 */
export async function openBytesDB(path: string, what: string, dataDir: string, opts: { createIfMissing?: boolean } = {}): Promise<BytesDB> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
  try {
    await db.open({ createIfMissing: opts.createIfMissing ?? true });
  } catch (err) {
    if (isLockedError(err)) {
      throw new UserError(`data dir ${dataDir} is locked by another running node (${what} database is in use); stop that node or use another --data-dir`, {
        code: 'LOCKED',
        cause: err,
      });
    }
    throw new UserError(`cannot open the ${what} database at ${path}: ${causeMessage(err)}`, { code: 'FAILED_PRECONDITION', cause: err });
  }
  return db;
}

function isLockedError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === 'LEVEL_LOCKED' || e?.cause?.code === 'LEVEL_LOCKED';
}

function causeMessage(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  return e?.cause?.message ?? e?.message ?? String(err);
}
