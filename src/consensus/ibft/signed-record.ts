import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { replaceFile } from '../../util/durable.js';
import { UserError } from '../../util/errors.js';

/** The file, in the data dir's `consensus/` folder. */
export const SIGNED_RECORD_FILE = 'signed.json';
const MAX_FILE_BYTES = 4096;

/** The highest block this validator signed, and whether it is known to have been committed. */
export interface SignedBlock {
  number: bigint;
  hash: string;
  /**
   * false between signing and the local commit. A block is announced (served, sent) only after its
   * commit, so a block signed but never committed (a crash in between) never left the node, and the
   * same height may be signed again; a committed one may have been seen, and may not.
   */
  committed: boolean;
}

/**
 * The validator's memory of what it signed, kept in `consensus/signed.json` so that a data dir rolled
 * back (a lost write-ahead log, an old backup put in place) never makes it sign a second block at a
 * height it already signed (equivocation). Every update is written to a temporary file, fsynced,
 * renamed over the record and the folder fsynced, BEFORE the signed block is committed.
 * A data dir without the file has nothing recorded.
 *
 * Format (JSON): {"version":1,"number":"<decimal>","hash":"0x…","committed":true|false}.
 */
export class SignedRecord {
  private constructor(
    private readonly dir: string,
    private current: SignedBlock | undefined,
  ) {}

  /** Read the record of `consensusDir`; a malformed file is an error (never silently "nothing signed"). */
  static open(consensusDir: string): SignedRecord {
    const path = join(consensusDir, SIGNED_RECORD_FILE);
    let text: string;
    try {
      const data = readFileSync(path);
      if (data.length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
      text = data.toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new SignedRecord(consensusDir, undefined);
      throw new UserError(`cannot read ${path}: ${(err as Error).message}`, { code: 'FAILED_PRECONDITION' });
    }
    return new SignedRecord(consensusDir, parseRecord(text, path));
  }

  get highest(): SignedBlock | undefined {
    return this.current;
  }

  /**
   * Why block `number` may not be signed, or undefined if it may: a height at or below a committed
   * signed block, or below any signed block, is refused.
   */
  refusal(number: bigint): string | undefined {
    const c = this.current;
    if (!c) return undefined;
    if (number > c.number || (number === c.number && !c.committed)) return undefined;
    return `this validator already signed block ${c.number} (${c.hash}), and block ${number} is at or below it: the chain was rolled back`;
  }

  /** Record, durably, that block `number` is about to be signed (before it is committed). Throws if refused. */
  signing(number: bigint, hash: Uint8Array): void {
    const why = this.refusal(number);
    if (why) throw new Error(why);
    this.write({ number, hash: bytesToHex(hash), committed: false });
  }

  /** Record, durably, that the signed block was committed (from now on its height is never signed again). */
  committed(number: bigint, hash: Uint8Array): void {
    this.write({ number, hash: bytesToHex(hash), committed: true });
  }

  private write(rec: SignedBlock): void {
    const path = join(this.dir, SIGNED_RECORD_FILE);
    replaceFile(
      path,
      new TextEncoder().encode(`${JSON.stringify({ version: 1, number: rec.number.toString(), hash: rec.hash, committed: rec.committed })}\n`),
      0o600,
    );
    this.current = rec;
  }
}

function parseRecord(text: string, path: string): SignedBlock {
  const bad = (why: string) => new UserError(`${path} is malformed (${why}); restore it from a backup of this data dir`, { code: 'CORRUPT_FILE' });
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
