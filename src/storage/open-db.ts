import { ClassicLevel } from 'classic-level';
import { UserError } from '../util/errors.js';

export type BytesDB = ClassicLevel<Uint8Array, Uint8Array>;

/**
 * classic-level, with chained batches (`db.batch()`) that hold their operations in JavaScript and write
 * them with one array `batch` call, as abstract-level's default does. classic-level's own chained batch
 * copies each put into a native LevelDB WriteBatch that is freed only when V8 collects the batch object
 * ("currently done on GC", its `_close`), and V8 does not know that memory is there: a thread that makes
 * little JavaScript garbage while it writes many batches (the node writing a genesis state built in a
 * worker: 4 MiB batches) kept them all, 780 MB of native memory at a million accounts. The array form
 * builds its WriteBatch when written and frees it when the write completes. Pinned by
 * test/unit/storage/open-db.test.ts.
 */
class BytesLevel extends ClassicLevel<Uint8Array, Uint8Array> {
  _chainedBatch(): unknown {
    return (Object.getPrototypeOf(ClassicLevel.prototype) as { _chainedBatch(this: unknown): unknown })._chainedBatch.call(this);
  }
}

/** A put as LevelDB's batch call takes it. */
export interface PutOperation {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

/**
 * Write `ops` in one LevelDB batch, which copies them when it is called: nothing here keeps them
 * (or the bytes their views point into) while the write runs. abstract-level's `batch(ops)` holds
 * its copies of them until the write completes, and a caller whose other work allocates meanwhile (a
 * restore reading ahead) had V8 promote every one (~500 MB of a million-account restore's garbage).
 * An open database only (no hooks, no 'write' listeners: BytesDB uses neither); otherwise the public
 * call.
 */
export function writeNow(db: BytesDB, ops: PutOperation[]): Promise<void> {
  if (db.status !== 'open') return db.batch(ops);
  return (db as unknown as { _batch(ops: PutOperation[], options: object): Promise<void> })._batch(ops, {});
}

/**
 * Open (creating if needed) a LevelDB database with byte keys and values.
 * LevelDB's LOCK file makes a second opener fail; we turn that into one clear line.
 */
export async function openBytesDB(path: string, what: string, dataDir: string, opts: { createIfMissing?: boolean } = {}): Promise<BytesDB> {
  // A subclass only in how it batches: the same database type for every caller.
  const db = new BytesLevel(path, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as BytesDB;
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
