import { ClassicLevel } from 'classic-level';
import { UserError } from '../util/errors.js';
import { SYNC_MARK_KEY } from './schema.js';

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
 * Puts to one database in LevelDB batches of about `batchBytes`, for more writes than can be held (a
 * genesis state, a restore's state, a repository's packs loaded for a walk). A put copies its key
 * (after an optional one-byte prefix) and value into the writer's own buffer and makes no object:
 * the operations and views LevelDB's batch call takes are made when the batch is written (writeNow)
 * and die with it. Held from put to write (a chained batch), V8 promoted them (pretenured, whatever
 * the young generation's size) and the node's heap grew by ~110 MB of them between full collections
 * while it wrote a genesis of a million accounts; they also kept alive what their views pointed into.
 * `put` returns a promise only when it writes a batch, which the caller awaits before it puts more.
 */
export class BatchWriter {
  /** The batch being filled: keys and values back to back; `ends` holds each one's end. */
  private buf: Uint8Array;
  private fill = 0;
  private ends: number[] = [];
  private spare: Uint8Array | undefined;

  constructor(
    private readonly db: BytesDB,
    private readonly batchBytes: number,
  ) {
    this.buf = new Uint8Array(Math.max(batchBytes, 1024) + 1024);
  }

  /** Put `value` under `key`, after the byte `prefix` if one is given (copied: the caller may reuse both). */
  put(key: Uint8Array, value: Uint8Array, prefix?: number): Promise<void> | undefined {
    const keyBytes = key.length + (prefix === undefined ? 0 : 1);
    const need = keyBytes + value.length;
    if (this.fill + need > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.fill + need));
      grown.set(this.buf.subarray(0, this.fill));
      this.buf = grown;
    }
    if (prefix !== undefined) this.buf[this.fill] = prefix;
    this.buf.set(key, this.fill + keyBytes - key.length);
    this.fill += keyBytes;
    this.ends.push(this.fill);
    this.buf.set(value, this.fill);
    this.fill += value.length;
    this.ends.push(this.fill);
    return this.fill >= this.batchBytes ? this.write() : undefined;
  }

  /** Write what is left. */
  async finish(): Promise<void> {
    if (this.fill > 0) await this.write();
  }

  private async write(): Promise<void> {
    const buf = this.buf;
    // The operations are made and handed over in one call, so this frame does not hold them while
    // the write runs (see writeNow).
    const written = writeNow(this.db, operations(buf, this.ends));
    // Two buffers in turn: the next batch fills the other while this one is written (LevelDB copies a
    // batch when it is given, but abstract-level may hold it until the database is open).
    this.buf = this.spare ?? new Uint8Array(buf.length);
    this.spare = undefined;
    this.fill = 0;
    this.ends = [];
    await written;
    if (buf.length === this.buf.length) this.spare = buf;
  }
}

/** The puts of a BatchWriter batch: keys and values back to back in `buf`, `ends` each one's end. */
function operations(buf: Uint8Array, ends: readonly number[]): PutOperation[] {
  const ops: PutOperation[] = new Array(ends.length / 2);
  for (let i = 0, at = 0; i < ends.length; i += 2) {
    ops[i / 2] = { type: 'put', key: buf.subarray(at, ends[i]!), value: buf.subarray(ends[i]!, ends[i + 1]!) };
    at = ends[i + 1]!;
  }
  return ops;
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

/**
 * Make every write to `db` so far durable, as a write with `sync` would have: LevelDB then syncs its
 * log, which holds whatever its tables do not (each table it writes is synced). Writes in bulk go
 * without `sync` (a restore's millions of nodes); this before the data dir is renamed into place, so
 * that a power loss after the rename cannot leave a data dir that opens whole but lost state.
 */
export async function syncWrites(db: BytesDB): Promise<void> {
  await db.del(SYNC_MARK_KEY, { sync: true });
}
