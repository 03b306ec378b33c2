import { chmodSync, lstatSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError, fileError } from '../util/errors.js';
import { processRuns } from '../util/stale-temp.js';
import { exists, fsyncDir, linkNew, writeSyncedNew } from '../util/durable.js';
import { keyFileBytes, LIBP2P_KEY_PATH, makeKeyFolder, newNodeKeys, readKeyFile, VALIDATOR_KEY_PATH, type NodeKeys } from './keyfile.js';

/**
 * A node's two keys on disk, written both or neither, and brought back to one of those after a crash
 * (docs/key-backup-format.md, "Keys on disk").
 *
 * writeKeyPair, in this order:
 *   1. keystore/ and consensus/ made (0700), the data dir fsynced;
 *   2. each key written to a temp file beside its name, `.libp2p.key.<pid>.tmp` and
 *      `.validator.key.<pid>.tmp` (0600, never over anything), each fsynced; both folders fsynced;
 *   3. the commit: keystore/libp2p.key hard-linked to its temp file (fails if the name exists), folder fsynced;
 *   4. consensus/validator.key linked to its temp file, folder fsynced;
 *   5. both temp files removed, folders fsynced.
 * So a crash leaves temp files of a process that no longer runs, and possibly libp2p.key without
 * validator.key. recoverKeyPair resolves that: if libp2p.key exists with the same bytes as that
 * process's libp2p temp file, the write had passed step 2 and its validator temp file is complete:
 * step 4 is finished. All temp files of dead processes are then removed. An empty (0-byte) key file,
 * which versions before this one left when killed while writing a key in place, holds no key: if the
 * other key is missing or empty too, both are removed and the data dir has no keys.
 */

export const KEY_PATHS = [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH] as const;

const TEMP_FILE = /^\.(libp2p|validator)\.key\.(\d+)\.tmp$/;
const MAX_TEMP_BYTES = 1024;

export type KeyPairState =
  | { kind: 'none' }
  | { kind: 'both' }
  /** `present` is a key file (or anything at its name); `missing` is absent or empty. */
  | { kind: 'one'; present: string; missing: string; missingIsEmpty: boolean };

function tempPath(root: string, rel: string, pid: number): string {
  return join(root, dirname(rel), `.${basename(rel)}.${pid}.tmp`);
}

function fsStep<T>(what: string, path: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fileError(err, what, path);
  }
}

/** Temp files in a key folder, by the pid that wrote them; none if the folder is missing or not a folder. */
function tempFiles(root: string): Map<number, string[]> {
  const byPid = new Map<number, string[]>();
  for (const rel of KEY_PATHS) {
    const dir = join(root, dirname(rel));
    const isDir = fsStep('read folder', dir, () => {
      try {
        return statSync(dir).isDirectory();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // missing, or a dangling symlink
        throw err;
      }
    });
    if (!isDir) continue;
    for (const name of fsStep('read folder', dir, () => readdirSync(dir))) {
      const m = TEMP_FILE.exec(name);
      if (!m) continue;
      const pid = Number(m[2]);
      byPid.set(pid, [...(byPid.get(pid) ?? []), join(dir, name)]);
    }
  }
  return byPid;
}

/** The bytes of a small regular file, or undefined if it is missing, not a file or too large to be a key. */
function smallFile(path: string): Buffer | undefined {
  try {
    const st = lstatSync(path);
    if (!st.isFile() || st.size > MAX_TEMP_BYTES) return undefined;
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Finish step 4 of an interrupted write by process `pid`, if it had reached its commit. */
function rollForward(root: string, pid: number, report: (note: string) => void): void {
  const libp2p = join(root, LIBP2P_KEY_PATH);
  const validator = join(root, VALIDATOR_KEY_PATH);
  const libp2pTemp = tempPath(root, LIBP2P_KEY_PATH, pid);
  const validatorTemp = tempPath(root, VALIDATOR_KEY_PATH, pid);
  if (fsStep('read key file', validator, () => exists(validator))) return;
  const committed = smallFile(libp2p);
  const ours = smallFile(libp2pTemp);
  if (committed === undefined || ours === undefined || !committed.equals(ours)) return;
  try {
    readKeyFile(validatorTemp);
  } catch {
    return; // cannot happen after step 2; never finish a write with a key that is not whole
  }
  fsStep('write key file', validator, () => {
    linkNew(validatorTemp, validator);
    fsyncDir(dirname(validator));
  });
  report(`finished writing ${validator}, interrupted (process ${pid} died after writing ${libp2p})`);
}

function keyFileState(path: string): 'absent' | 'empty' | 'present' {
  return fsStep('read key file', path, () => {
    if (!exists(path)) return 'absent';
    const st = lstatSync(path);
    return st.isFile() && st.size === 0 ? 'empty' : 'present';
  });
}

/**
 * Bring the keys of `dataDir` back to a whole state after a crash (see above) and return the state.
 * Repairs are reported through `report`, naming files only. A temp file of a process that still runs
 * is a write in progress: a one-line error.
 */
export function recoverKeyPair(dataDir: string, report: (note: string) => void = () => {}): KeyPairState {
  const root = resolve(dataDir);
  if (!fsStep('read data dir', root, () => exists(root))) return { kind: 'none' };
  const byPid = tempFiles(root);
  for (const [pid, files] of byPid) {
    if (processRuns(pid)) {
      throw new UserError(`${files[0]} is being written by process ${pid}: wait for it to finish (if no such process runs, remove the file)`);
    }
  }
  for (const [pid, files] of byPid) {
    rollForward(root, pid, report);
    for (const file of files) {
      fsStep('remove', file, () => unlinkSync(file));
      report(`removed ${file}, left by an interrupted key write (process ${pid})`);
    }
  }
  if (byPid.size > 0) for (const rel of KEY_PATHS) fsStep('sync folder', dirname(join(root, rel)), () => fsyncDir(dirname(join(root, rel))));

  const [libp2p, validator] = KEY_PATHS.map((rel) => join(root, rel)) as [string, string];
  const states = [keyFileState(libp2p), keyFileState(validator)] as const;
  if (states[0] === 'present' && states[1] === 'present') return { kind: 'both' };
  if (states[0] === 'present' || states[1] === 'present') {
    const [present, missing, missingState] = states[0] === 'present' ? [libp2p, validator, states[1]] : [validator, libp2p, states[0]];
    return { kind: 'one', present, missing, missingIsEmpty: missingState === 'empty' };
  }
  for (const [i, path] of [libp2p, validator].entries()) {
    if (states[i] !== 'empty') continue;
    fsStep('remove', path, () => {
      unlinkSync(path);
      fsyncDir(dirname(path));
    });
    report(`removed ${path}: empty (0 bytes), left by an interrupted key write`);
  }
  return { kind: 'none' };
}

/** The one-line error for a data dir holding one key of the two. */
export function halfPairError(state: { present: string; missing: string; missingIsEmpty: boolean }): UserError {
  return new UserError(
    `${state.present} exists but ${state.missing} ${state.missingIsEmpty ? 'is empty (0 bytes)' : 'does not'}: a node needs both keys. ` +
      'Restore both from a backup into a data dir without keys, or move the remaining key away to start with new keys',
  );
}

/**
 * Write a node's two keys into `dataDir`, both or neither (steps above); refuses (EEXIST) if either
 * name exists. On an error, what this call created is removed again.
 */
export function writeKeyPair(dataDir: string, keys: Pick<NodeKeys, 'libp2pKey' | 'validatorKey'>): void {
  const root = resolve(dataDir);
  const entries = [
    { rel: LIBP2P_KEY_PATH, key: keys.libp2pKey },
    { rel: VALIDATOR_KEY_PATH, key: keys.validatorKey },
  ].map(({ rel, key }) => ({ key, path: join(root, rel), dir: dirname(join(root, rel)), temp: tempPath(root, rel, process.pid) }));
  const newDirs = fsStep('write the keys into', root, () => [...entries.map((e) => e.dir), root].filter((d) => !exists(d)));
  const temps: string[] = [];
  const linked: string[] = [];
  try {
    for (const e of entries) if (exists(e.path)) throw Object.assign(new Error('EEXIST'), { code: 'EEXIST', path: e.path });
    for (const e of entries) makeKeyFolder(e.dir);
    fsyncDir(root);
    if (newDirs.includes(root)) {
      try {
        fsyncDir(dirname(root));
      } catch {
        // a parent we may write but not open (e.g. 0311): the keys' own folders are still flushed
      }
    }
    for (const e of entries) {
      temps.push(e.temp); // its name carries our pid: ours to remove, even half written
      writeSyncedNew(e.temp, keyFileBytes(e.key), 0o600);
      chmodSync(e.temp, 0o600);
    }
    for (const e of entries) fsyncDir(e.dir);
    for (const e of entries) {
      const tempKept = linkNew(e.temp, e.path);
      linked.push(e.path);
      if (!tempKept) temps.splice(temps.indexOf(e.temp), 1);
      fsyncDir(e.dir);
    }
    for (const e of entries) {
      if (!Buffer.from(readKeyFile(e.path)).equals(Buffer.from(e.key))) throw new UserError(`the key read back from ${e.path} differs from the one written`);
    }
    for (const t of temps.splice(0)) unlinkSync(t);
    for (const e of entries) fsyncDir(e.dir);
  } catch (err) {
    for (const path of [...temps, ...linked]) {
      try {
        unlinkSync(path);
      } catch {
        // best effort
      }
    }
    for (const d of newDirs) {
      try {
        rmdirSync(d); // only if still empty
      } catch {
        // best effort
      }
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST' && entries.some((x) => x.path === e.path))
      throw new UserError(`${e.path ?? 'a key file'} already exists: refusing to overwrite a key`);
    throw fileError(err, 'write the keys into', root);
  }
}

export interface CreatedSecrets {
  validatorAddress: string;
  nodeId: string;
}

/**
 * Create the node's two secp256k1 keys (after recovering an interrupted write). Refuses if either
 * exists: overwriting a validator key would lose the identity the chain knows the node by.
 */
export function initSecrets(dataDir: string, report?: (note: string) => void): CreatedSecrets {
  const state = recoverKeyPair(dataDir, report);
  if (state.kind !== 'none') {
    const path = state.kind === 'one' ? state.present : join(resolve(dataDir), LIBP2P_KEY_PATH);
    throw new UserError(`${path} already exists: refusing to overwrite a key (use another --data-dir)`);
  }
  const keys = newNodeKeys();
  writeKeyPair(dataDir, keys);
  return { validatorAddress: keys.validatorAddress, nodeId: keys.nodeId };
}
