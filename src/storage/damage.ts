import type { BytesDB } from './open-db.js';
import { UserError } from '../util/errors.js';

export type DatabaseName = 'blockchain' | 'trie';

/** What the operator should do about a damaged data dir: said once, in every damage message. */
export const DAMAGE_ADVICE = 'restore the data dir from a snapshot (`basalt restore`); `basalt db check --data-dir <dir>` lists the damage';

/**
 * A database of the data dir is damaged: LevelDB reported corruption or an I/O error, or a record that
 * must exist (a canonical block below the head) is missing. Never a plain "not found".
 */
export class StorageDamageError extends UserError {
  constructor(
    readonly database: DatabaseName,
    readonly path: string,
    readonly detail: string,
    cause?: unknown,
  ) {
    super(
      isDiskFull(detail)
        ? `the disk holding the ${database} database at ${path} is full (${detail}); free some space and start the node again (every block it reported committed is on disk; --min-free-disk keeps a margin so this is not reached)`
        : `the ${database} database at ${path} is damaged (${detail}); ${DAMAGE_ADVICE}`,
      { code: isDiskFull(detail) ? 'RESOURCE_EXHAUSTED' : 'DATA_LOSS', cause },
    );
    this.name = 'StorageDamageError';
  }
}

/** An I/O error that is the disk being full: not damage, and not fixed by a restore. */
function isDiskFull(detail: string): boolean {
  return /No space left on device|ENOSPC|Disk quota exceeded/i.test(detail);
}

/** Whether a LevelDB error means damage (corruption, I/O error) rather than a usage error. */
export function isLevelDamage(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'LEVEL_CORRUPTION' || e.code === 'LEVEL_IO_ERROR') return true;
    if (typeof e.message === 'string' && /^(Corruption|IO error):/.test(e.message)) return true;
  }
  return false;
}

function levelDetail(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  return (e?.cause?.message ?? e?.message ?? String(err)).split('\n')[0]!.slice(0, 300);
}

/**
 * Where damage is reported: the first one decides (the node stops on it); later ones are the same
 * story and are not repeated. Listeners run once, for the first damage.
 */
export class DamageMonitor {
  private first?: StorageDamageError;
  private readonly listeners: ((err: StorageDamageError) => void)[] = [];

  get damage(): StorageDamageError | undefined {
    return this.first;
  }

  onDamage(listener: (err: StorageDamageError) => void): void {
    if (this.first) listener(this.first);
    else this.listeners.push(listener);
  }

  /** Record damage and return the error to throw. */
  report(err: StorageDamageError): StorageDamageError {
    if (this.first) return err;
    this.first = err;
    for (const l of this.listeners.splice(0)) l(err);
    return err;
  }
}

/** A sink for damage found by code that knows a record must exist (the chain: canonical blocks below its head). */
export interface DamageReporter {
  missing(database: DatabaseName, detail: string): StorageDamageError;
}

/** The reporter of a set of watched databases. */
export function damageReporter(monitor: DamageMonitor, paths: Record<DatabaseName, string>): DamageReporter {
  return { missing: (database, detail) => monitor.report(new StorageDamageError(database, paths[database], detail)) };
}

/**
 * Route every read and write of `db` that fails with LevelDB corruption or an I/O error to `monitor`,
 * rethrown as a StorageDamageError. Other errors (and "not found", which is not an error) pass as they are.
 */
export function watchForDamage(db: BytesDB, database: DatabaseName, path: string, monitor: DamageMonitor): void {
  const guard = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      if (!isLevelDamage(err)) throw err;
      throw monitor.report(new StorageDamageError(database, path, levelDetail(err), err));
    });
  const get = db.get.bind(db);
  const getMany = db.getMany.bind(db);
  const put = db.put.bind(db);
  const del = db.del.bind(db);
  const batch = db.batch.bind(db) as (...a: unknown[]) => unknown;
  Object.assign(db, {
    get: (...a: unknown[]) => guard((get as (...x: unknown[]) => Promise<unknown>)(...a)),
    getMany: (...a: unknown[]) => guard((getMany as (...x: unknown[]) => Promise<unknown>)(...a)),
    put: (...a: unknown[]) => guard((put as (...x: unknown[]) => Promise<unknown>)(...a)),
    del: (...a: unknown[]) => guard((del as (...x: unknown[]) => Promise<unknown>)(...a)),
    batch: (...a: unknown[]) => {
      if (a.length > 0 && a[0] !== undefined) return guard(batch(...a) as Promise<void>);
      const chained = batch() as { write: (...x: unknown[]) => Promise<void> };
      const write = chained.write.bind(chained);
      chained.write = (...x: unknown[]) => guard(write(...x));
      return chained;
    },
  });
}
