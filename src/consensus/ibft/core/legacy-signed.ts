import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hexToBytes } from '@ethereumjs/util';
import { fsyncDir } from '../../../util/durable.js';
import { FileRefused, readBoundedFile } from '../../../util/bounded-read.js';
import { UserError, fileError } from '../../../util/errors.js';
import type { SignedState, SignedStore } from './sign-journal.js';

/**
 * The signed record of Basalt versions before the sign journal became the one record of what a
 * validator signed: `consensus/signed.json`, written by the single-validator sealer,
 * {"version":1,"number":"<decimal>","hash":"0x…","committed":true|false}. It is read once, folded
 * into the journal (as its floor) and removed, so an upgraded validator keeps the heights it must
 * never sign again.
 */
import { LEGACY_SIGNED_FILE } from './journal-files.js';

export { LEGACY_SIGNED_FILE };
const MAX_FILE_BYTES = 4096;

/** The record: the highest block signed, and whether it was committed (false: signed, then a crash before the commit). */
export interface LegacySigned {
  number: bigint;
  hash: string;
  committed: boolean;
}

/** The record in `consensusDir`, or undefined without one; a malformed file is an error (never "nothing signed"). */
export function readLegacySigned(consensusDir: string): LegacySigned | undefined {
  const path = join(consensusDir, LEGACY_SIGNED_FILE);
  const bad = (why: string) => new UserError(`${path} is malformed (${why}); restore it from a backup of this data dir`, { code: 'CORRUPT_FILE' });
  let text: string;
  try {
    text = readBoundedFile(path, MAX_FILE_BYTES, { regularOnly: true }).toString('utf8');
  } catch (err) {
    if (err instanceof FileRefused) throw bad(`it ${err.message}`);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(err, 'read', path, 'FAILED_PRECONDITION');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const o = v as { version?: unknown; number?: unknown; hash?: unknown; committed?: unknown };
  if (typeof o !== 'object' || o === null || o.version !== 1) throw bad('version is not 1');
  if (typeof o.number !== 'string' || !/^(0|[1-9]\d{0,19})$/.test(o.number)) throw bad('number');
  if (typeof o.hash !== 'string' || !/^0x[0-9a-f]{64}$/.test(o.hash)) throw bad('hash');
  if (typeof o.committed !== 'boolean') throw bad('committed');
  return { number: BigInt(o.number), hash: o.hash, committed: o.committed };
}

/**
 * `journal` with the legacy record folded in. A committed block N: never sign at or below N (floor N).
 * One signed but not committed (it never left the node): below N never, N again only in a later round
 * (floor N - 1, and a ROUND-CHANGE at N's round 0, so the first proposal there is a new round's).
 */
export function withLegacySigned(journal: SignedState | undefined, rec: LegacySigned): SignedState {
  const floor = rec.committed ? rec.number : rec.number - 1n;
  if (journal !== undefined && journal.height >= rec.number) {
    return journal.floor !== undefined && journal.floor >= floor ? journal : { ...journal, floor };
  }
  const hash = hexToBytes(rec.hash as `0x${string}`);
  return rec.committed ? { height: rec.number, round: 0, hash, kind: 'commit', floor } : { height: rec.number, round: 0, hash, kind: 'roundChange', floor };
}

/**
 * Fold `consensus/signed.json` into the journal of `store` and remove it: the journal is written
 * (durably) first, so a crash in between leaves the record to fold in again. Returns the record folded
 * in, or undefined when there was none.
 */
export async function migrateLegacySigned(consensusDir: string, store: SignedStore): Promise<LegacySigned | undefined> {
  const rec = readLegacySigned(consensusDir);
  if (rec === undefined) return undefined;
  const journal = store.load();
  const merged = withLegacySigned(journal, rec);
  if (merged !== journal) await store.save(merged);
  unlinkSync(join(consensusDir, LEGACY_SIGNED_FILE));
  fsyncDir(consensusDir);
  return rec;
}
