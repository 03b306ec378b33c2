import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RLP } from '@ethereumjs/rlp';
import { concatBytes } from '@ethereumjs/util';
import { keccak256 } from '../../../util/keccak.js';
import { FileRefused, readBoundedFile } from '../../../util/bounded-read.js';
import { UserError, errorMessage, fileError } from '../../../util/errors.js';
import { replaceFile } from '../../../util/durable.js';
import { SIGN_JOURNAL_FILE } from './journal-files.js';

export { SIGN_JOURNAL_FILE };

/**
 * What this validator last signed in consensus, kept so that a restart cannot make it sign a
 * conflicting value: the height, round and proposal hash of its last PREPARE or COMMIT, and the
 * latest value it saw prepared by a quorum at that height (its certificate and block, which its
 * ROUND-CHANGEs must keep carrying).
 */
export interface SignedState {
  height: bigint;
  round: number;
  hash: Uint8Array;
  /** 'roundChange': only a ROUND-CHANGE of this round is known signed (journaled before it was sent, or learned by recall), no value. */
  kind: 'prepare' | 'commit' | 'roundChange';
  prepared?: { round: number; hash: Uint8Array; prepares: Uint8Array[]; block: Uint8Array };
  /**
   * A value this key is known to have been locked on at this height without its certificate: learned
   * from a message of its own key that it did not send in this process (a COMMIT of `round`, or a
   * ROUND-CHANGE carrying a certificate of `round`), as after a restore. It binds as `prepared` does:
   * another value only on a round-change certificate at least this recent. `set`: the digest of the
   * validator set it was learned under (setDigest): an emergency change of the height's set releases it,
   * as it releases a prepared value that set cannot certify.
   */
  lock?: { round: number; hash: Uint8Array; set: Uint8Array };
  /**
   * Never sign at or below this height, whatever the rest says: the highest block recorded by an
   * earlier version's `signed.json` (legacy-signed.ts), carried from then on.
   */
  floor?: bigint;
}

/**
 * Whether `j` forbids signing anything at `height`: a height below the journal's (it signed later,
 * so the chain was rolled back beneath it) or at or below its floor.
 */
export function journalForbids(j: SignedState | undefined, height: bigint): boolean {
  return j !== undefined && (height < j.height || (j.floor !== undefined && height <= j.floor));
}

/** The most recent value `j` shows this key locked on at its height (its prepared value or its learned lock). */
export function lockOf(j: SignedState): { round: number; hash: Uint8Array } | undefined {
  const p = j.prepared;
  const l = j.lock;
  if (p === undefined) return l;
  return l !== undefined && l.round > p.round ? l : { round: p.round, hash: p.hash };
}

/** The digest of a validator set, in its order (a learned lock names the set it was learned under). */
export function setDigest(validators: Uint8Array[]): Uint8Array {
  return keccak256(concatBytes(...validators));
}

/** The highest block `j` shows this validator signed at (its floor may be above its height). */
export function signedUpTo(j: SignedState): bigint {
  return j.floor !== undefined && j.floor > j.height ? j.floor : j.height;
}

/** Where SignedState lives. `save` resolves only once the state is durable (fsynced). */
export interface SignedStore {
  load(): SignedState | undefined;
  save(s: SignedState): Promise<void>;
}

/** A store in memory (tests; a node without a data dir has nothing to protect across restarts). */
export class MemorySignedStore implements SignedStore {
  constructor(private state?: SignedState) {}
  load(): SignedState | undefined {
    return this.state;
  }
  async save(s: SignedState): Promise<void> {
    this.state = s;
  }
}

/**
 * The journal of a key that has signed nothing: written beside a key made here (`secrets init`, a node
 * or devnet creating its keys), never beside a restored one. A journal that exists is then this data
 * dir's own record, from the key's first day; one that is absent belongs to a data dir restored from a
 * backup or copied without its consensus/ folder, whose key may have signed what the data dir does not
 * know (the core's start guard waits for that). Height 0 (the genesis) forbids nothing.
 */
export const NOTHING_SIGNED: SignedState = { height: 0n, round: 0, hash: new Uint8Array(32), kind: 'roundChange' };

/**
 * Record in `consensusDir` that the key beside it has signed nothing, unless a journal is there (it is
 * never replaced: it may hold what the key signed). Durable when it returns; whether it wrote one.
 */
export function markNothingSigned(consensusDir: string): boolean {
  const store = new FileSignedStore(consensusDir);
  if (store.load() !== undefined) return false;
  store.saveSync(NOTHING_SIGNED);
  return true;
}

const VERSION = 1;
const KINDS = ['prepare', 'commit', 'roundChange'] as const;
/** A journal holds one block and a quorum of PREPAREs; anything far larger is not ours. */
const MAX_JOURNAL_BYTES = 64 * 1024 * 1024;

/**
 * The journal as one file in the data dir's consensus/ folder, replaced atomically on each save:
 * written to a temporary name, fsynced, renamed, folder fsynced. A missing file is "nothing signed";
 * a damaged one is refused (the node must not guess what it signed).
 */
export class FileSignedStore implements SignedStore {
  readonly path: string;
  private dirMade = false;

  constructor(private readonly dir: string) {
    this.path = join(dir, SIGN_JOURNAL_FILE);
  }

  load(): SignedState | undefined {
    const damaged = (why: string) =>
      new UserError(`consensus sign journal ${this.path} is damaged (${why}); refusing to sign without it`, { code: 'CORRUPT_FILE' });
    let bytes: Buffer;
    try {
      // Its size is checked on the file opened, before a byte is read: a file of gigabytes (sparse, or
      // not the journal) is refused, never allocated and read.
      bytes = readBoundedFile(this.path, MAX_JOURNAL_BYTES, { regularOnly: true });
    } catch (err) {
      if (err instanceof FileRefused) throw damaged(`it ${err.message}`);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError(err, 'read the consensus sign journal', this.path, 'FAILED_PRECONDITION');
    }
    try {
      return decodeSignedState(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    } catch (err) {
      throw damaged(errorMessage(err));
    }
  }

  async save(s: SignedState): Promise<void> {
    this.saveSync(s);
  }

  saveSync(s: SignedState): void {
    // Synchronously: a few hundred bytes and two fsyncs, in ~0.6 ms on this machine's disk, where the
    // nine thread-pool round trips of the asynchronous version took over twice that (bench:seal).
    // Nothing else of consensus may run before it is durable anyway.
    if (!this.dirMade) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.dirMade = true;
    }
    replaceFile(this.path, encodeSignedState(s), 0o600);
  }
}

/**
 * `[version, height, round, hash, kind, prepared, floor?, lock?]`: `prepared` is `[]` when none; a
 * record with a lock has 8 fields, its floor `[]` when none (an earlier version refuses such a record as
 * damaged, so it signs nothing rather than unlock).
 */
export function encodeSignedState(s: SignedState): Uint8Array {
  const p = s.prepared;
  const fields = [VERSION, s.height, s.round, s.hash, KINDS.indexOf(s.kind), p ? [p.round, p.hash, p.prepares, p.block] : []];
  if (s.lock !== undefined) return RLP.encode([...fields, s.floor ?? [], [s.lock.round, s.lock.hash, s.lock.set]]);
  return RLP.encode(s.floor === undefined ? fields : [...fields, s.floor]);
}

export function decodeSignedState(bytes: Uint8Array): SignedState {
  if (bytes.length > MAX_JOURNAL_BYTES) throw new Error(`${bytes.length} bytes`);
  const d = RLP.decode(bytes) as unknown;
  if (!Array.isArray(d) || d.length < 6 || d.length > 8) throw new Error('not a journal record');
  const [version, height, round, hash, kind, prepared, floor, lock] = d as unknown[];
  if (num(version) !== VERSION) throw new Error('unknown version');
  const k = KINDS[num(kind)];
  if (k === undefined || !(hash instanceof Uint8Array) || hash.length !== 32) throw new Error('bad fields');
  const noFloor = floor === undefined || (lock !== undefined && Array.isArray(floor) && floor.length === 0);
  const state: SignedState = { height: big(height), round: num(round), hash, kind: k, ...(noFloor ? {} : { floor: big(floor) }) };
  if (lock !== undefined) {
    const is32 = (x: unknown): x is Uint8Array => x instanceof Uint8Array && x.length === 32;
    if (!Array.isArray(lock) || lock.length !== 3 || !is32(lock[1]) || !is32(lock[2])) throw new Error('bad lock');
    state.lock = { round: num(lock[0]), hash: lock[1], set: lock[2] };
  }
  if (!Array.isArray(prepared)) throw new Error('bad prepared certificate');
  if (prepared.length > 0) {
    const [pr, ph, prepares, block] = prepared as unknown[];
    if (prepared.length !== 4 || !(ph instanceof Uint8Array) || ph.length !== 32 || !(block instanceof Uint8Array)) throw new Error('bad prepared certificate');
    if (!Array.isArray(prepares) || !prepares.every((x) => x instanceof Uint8Array)) throw new Error('bad prepares');
    state.prepared = { round: num(pr), hash: ph, prepares: prepares as Uint8Array[], block };
  }
  return state;
}

function big(x: unknown): bigint {
  if (!(x instanceof Uint8Array) || x.length > 8) throw new Error('bad number');
  let n = 0n;
  for (const b of x) n = (n << 8n) | BigInt(b);
  return n;
}

function num(x: unknown): number {
  const n = big(x);
  if (n > 0xffffffffn) throw new Error('bad number');
  return Number(n);
}
