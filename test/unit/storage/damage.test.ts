import { describe, expect, it } from 'vitest';
import { DamageMonitor, StorageDamageError, isLevelDamage, watchForDamage } from '../../../src/storage/damage.js';
import type { BytesDB } from '../../../src/storage/open-db.js';

const corruption = () => Object.assign(new Error('Corruption: block checksum mismatch'), { code: 'LEVEL_CORRUPTION' });
const ioError = () => Object.assign(new Error('IO error: /x/000005.ldb: Input/output error'), { code: 'LEVEL_IO_ERROR' });

/** A stand-in for a classic-level database whose every operation fails with `err()`. */
function failingDb(err: () => Error): BytesDB {
  const fail = () => Promise.reject(err());
  return {
    get: fail,
    getMany: fail,
    put: fail,
    del: fail,
    batch: (ops?: unknown) => (ops === undefined ? { put() {}, write: fail } : fail()),
  } as unknown as BytesDB;
}

describe('storage damage', () => {
  it('tells LevelDB corruption and I/O errors from other errors, also when wrapped', () => {
    expect(isLevelDamage(corruption())).toBe(true);
    expect(isLevelDamage(ioError())).toBe(true);
    expect(isLevelDamage(new Error('wrapped', { cause: new Error('Corruption: bad block contents') }))).toBe(true);
    expect(isLevelDamage(Object.assign(new Error('x'), { code: 'LEVEL_DATABASE_NOT_OPEN' }))).toBe(false);
    expect(isLevelDamage(Object.assign(new Error('x'), { code: 'LEVEL_NOT_FOUND' }))).toBe(false);
    expect(isLevelDamage(new Error('not found'))).toBe(false);
    expect(isLevelDamage(undefined)).toBe(false);
  });

  it('routes corruption met by any read or write to the monitor, once, as a StorageDamageError naming the database', async () => {
    const db = failingDb(corruption);
    const monitor = new DamageMonitor();
    const seen: StorageDamageError[] = [];
    monitor.onDamage((e) => seen.push(e));
    watchForDamage(db, 'blockchain', '/data/blockchain', monitor);

    await expect(db.get(new Uint8Array(1))).rejects.toBeInstanceOf(StorageDamageError);
    await expect(db.put(new Uint8Array(1), new Uint8Array(1))).rejects.toBeInstanceOf(StorageDamageError);
    await expect(db.batch([])).rejects.toBeInstanceOf(StorageDamageError);
    await expect(db.batch().write()).rejects.toBeInstanceOf(StorageDamageError);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.code).toBe('DATA_LOSS');
    expect(seen[0]!.message).toMatch(
      /^the blockchain database at \/data\/blockchain is damaged \(Corruption: block checksum mismatch\); restore .*basalt restore/,
    );
    // A listener registered late still hears of it.
    let late: StorageDamageError | undefined;
    monitor.onDamage((e) => (late = e));
    expect(late).toBe(seen[0]);
  });

  it('lets other errors through unchanged and reports nothing', async () => {
    const odd = new Error('Database is not open');
    const db = failingDb(() => odd);
    const monitor = new DamageMonitor();
    watchForDamage(db, 'trie', '/data/trie', monitor);
    await expect(db.get(new Uint8Array(1))).rejects.toBe(odd);
    expect(monitor.damage).toBeUndefined();
  });

  it('tells a full disk from damage: free space and restart, not restore', () => {
    const full = new StorageDamageError('blockchain', '/d/blockchain', 'IO error: /d/blockchain/000012.log: No space left on device');
    expect(full.message).toMatch(/disk holding the blockchain database .* is full .*free some space and start the node again/);
    expect(full.message).not.toMatch(/basalt restore/);
    expect(full.code).toBe('RESOURCE_EXHAUSTED');
    const damaged = new StorageDamageError('trie', '/d/trie', 'Corruption: block checksum mismatch');
    expect(damaged.message).toMatch(/is damaged .*basalt restore/);
    expect(damaged.code).toBe('DATA_LOSS');
  });
});
