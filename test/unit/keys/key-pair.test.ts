import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { halfPairError, initSecrets, recoverKeyPair, writeKeyPair } from '../../../src/keys/key-pair.js';
import { keyFileBytes, LIBP2P_KEY_PATH, loadNodeKeys, newNodeKeys, VALIDATOR_KEY_PATH, type NodeKeys } from '../../../src/keys/keyfile.js';
import { tempDir } from '../../helpers/cli.js';

/** The pid of a process that has exited. */
const DEAD_PID = spawnSync(process.execPath, ['-e', '']).pid!;

const temp = (dir: string, rel: string, pid = DEAD_PID) => join(dir, dirname(rel), `.${rel.split('/')[1]}.${pid}.tmp`);

/** Every file under `dir`, relative, sorted. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/**
 * The data dir a writeKeyPair by DEAD_PID leaves when killed after `step` (see src/keys/key-pair.ts):
 * 1 = folders made, 2 = libp2p temp half written, 3 = both temps written, 4 = libp2p.key linked,
 * 5 = validator.key linked, 6 = libp2p temp removed.
 */
function crashedWrite(step: number, keys: NodeKeys): string {
  const dir = join(tempDir('basalt-keys-'), 'n');
  for (const rel of [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH]) mkdirSync(join(dir, dirname(rel)), { recursive: true, mode: 0o700 });
  const l = keyFileBytes(keys.libp2pKey);
  const v = keyFileBytes(keys.validatorKey);
  if (step === 2) writeFileSync(temp(dir, LIBP2P_KEY_PATH), l.subarray(0, 20), { mode: 0o600 });
  if (step >= 3) {
    writeFileSync(temp(dir, LIBP2P_KEY_PATH), l, { mode: 0o600 });
    writeFileSync(temp(dir, VALIDATOR_KEY_PATH), v, { mode: 0o600 });
  }
  if (step >= 4) linkSync(temp(dir, LIBP2P_KEY_PATH), join(dir, LIBP2P_KEY_PATH));
  if (step >= 5) linkSync(temp(dir, VALIDATOR_KEY_PATH), join(dir, VALIDATOR_KEY_PATH));
  if (step >= 6) unlinkSync(temp(dir, LIBP2P_KEY_PATH));
  return dir;
}

describe('writeKeyPair', () => {
  it('writes both keys 0600 in 0700 folders, leaving no temp file', () => {
    const old = process.umask(0);
    try {
      const dir = join(tempDir(), 'n');
      const keys = newNodeKeys();
      writeKeyPair(dir, keys);
      expect(files(dir)).toEqual([VALIDATOR_KEY_PATH, LIBP2P_KEY_PATH]);
      for (const rel of [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH]) {
        expect(statSync(join(dir, rel)).mode & 0o777).toBe(0o600);
        expect(statSync(join(dir, rel, '..')).mode & 0o777).toBe(0o700);
        expect(statSync(join(dir, rel)).nlink).toBe(1);
      }
      expect(loadNodeKeys(dir)).toEqual(keys);
    } finally {
      process.umask(old);
    }
  });

  it('refuses if either key exists, and writes nothing', () => {
    const dir = join(tempDir(), 'n');
    mkdirSync(join(dir, 'consensus'), { recursive: true });
    writeFileSync(join(dir, VALIDATOR_KEY_PATH), 'ab'.repeat(32));
    expect(() => writeKeyPair(dir, newNodeKeys())).toThrow(/consensus\/validator\.key already exists: refusing to overwrite a key/);
    expect(files(dir)).toEqual([VALIDATOR_KEY_PATH]);
    expect(existsSync(join(dir, 'keystore'))).toBe(false);
  });

  it('takes the first key back when the second cannot be written', () => {
    const dir = join(tempDir(), 'n');
    mkdirSync(dir);
    symlinkSync(join(dir, 'nowhere'), join(dir, 'consensus')); // the second folder cannot be made
    expect(() => writeKeyPair(dir, newNodeKeys())).toThrow(/^cannot write the keys into .*\/n: /);
    expect(readdirSync(dir)).toEqual(['consensus']);
  });
});

describe('recoverKeyPair after a crash at each step of writeKeyPair', () => {
  it.each([1, 2, 3])('step %i (before the commit): the temp files are removed and the data dir has no keys', (step) => {
    const keys = newNodeKeys();
    const dir = crashedWrite(step, keys);
    const notes: string[] = [];
    expect(recoverKeyPair(dir, (n) => notes.push(n))).toEqual({ kind: 'none' });
    expect(files(dir)).toEqual([]);
    expect(notes.every((n) => /^removed .*\.tmp, left by an interrupted key write/.test(n))).toBe(true);
    expect(notes).toHaveLength(step === 1 ? 0 : step === 2 ? 1 : 2);
    // and a re-run proceeds
    const again = newNodeKeys();
    writeKeyPair(dir, again);
    expect(loadNodeKeys(dir)).toEqual(again);
  });

  it.each([4, 5, 6])('step %i (after the commit): the write is finished, both keys are the ones written', (step) => {
    const keys = newNodeKeys();
    const dir = crashedWrite(step, keys);
    const notes: string[] = [];
    expect(recoverKeyPair(dir, (n) => notes.push(n))).toEqual({ kind: 'both' });
    expect(files(dir)).toEqual([VALIDATOR_KEY_PATH, LIBP2P_KEY_PATH]);
    expect(loadNodeKeys(dir)).toEqual(keys);
    expect(statSync(join(dir, VALIDATOR_KEY_PATH)).mode & 0o777).toBe(0o600);
    expect(notes.some((n) => n.startsWith('finished writing'))).toBe(step === 4);
    for (const n of notes) for (const k of [keys.libp2pKey, keys.validatorKey]) expect(n).not.toContain(Buffer.from(k).toString('hex'));
    // recovery is idempotent
    expect(recoverKeyPair(dir)).toEqual({ kind: 'both' });
  });

  it('does not finish a validator key whose write never reached the commit (libp2p.key is not from that write)', () => {
    const keys = newNodeKeys();
    const dir = crashedWrite(3, keys);
    writeFileSync(join(dir, LIBP2P_KEY_PATH), keyFileBytes(newNodeKeys().libp2pKey));
    const state = recoverKeyPair(dir);
    expect(state).toEqual({ kind: 'one', present: join(dir, LIBP2P_KEY_PATH), missing: join(dir, VALIDATOR_KEY_PATH), missingIsEmpty: false });
    expect(files(dir)).toEqual([LIBP2P_KEY_PATH]);
  });

  it('leaves the temp files of a process that still runs, with an error naming one', () => {
    const keys = newNodeKeys();
    const dir = crashedWrite(3, keys);
    for (const rel of [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH]) linkSync(temp(dir, rel), temp(dir, rel, process.ppid));
    for (const rel of [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH]) unlinkSync(temp(dir, rel));
    const before = files(dir);
    expect(() => recoverKeyPair(dir)).toThrow(new RegExp(`\\.tmp is being written by process ${process.ppid}: wait for it`));
    expect(files(dir)).toEqual(before);
  });

  it('treats a temp file with its own pid as left by a former process (containers reuse pids)', () => {
    const dir = crashedWrite(1, newNodeKeys());
    writeFileSync(temp(dir, VALIDATOR_KEY_PATH, process.pid), 'ab');
    expect(recoverKeyPair(dir)).toEqual({ kind: 'none' });
    expect(files(dir)).toEqual([]);
  });
});

describe('recoverKeyPair with empty key files (left by earlier versions, which wrote keys in place)', () => {
  it('removes an empty key when the other is missing or empty: the data dir has no keys, and init proceeds', () => {
    for (const other of ['missing', 'empty']) {
      const dir = join(tempDir(), 'n');
      mkdirSync(join(dir, 'keystore'), { recursive: true });
      writeFileSync(join(dir, LIBP2P_KEY_PATH), '');
      if (other === 'empty') {
        mkdirSync(join(dir, 'consensus'));
        writeFileSync(join(dir, VALIDATOR_KEY_PATH), '');
      }
      const notes: string[] = [];
      const created = initSecrets(dir, (n) => notes.push(n));
      expect(notes[0]).toMatch(/^removed .*libp2p\.key: empty \(0 bytes\)/);
      expect(loadNodeKeys(dir).validatorAddress).toBe(created.validatorAddress);
    }
  });

  it('keeps a real key beside an empty one and says which is which', () => {
    const dir = join(tempDir(), 'n');
    writeKeyPair(dir, newNodeKeys());
    const libp2p = readFileSync(join(dir, LIBP2P_KEY_PATH));
    writeFileSync(join(dir, VALIDATOR_KEY_PATH), '');
    const state = recoverKeyPair(dir);
    expect(state).toEqual({ kind: 'one', present: join(dir, LIBP2P_KEY_PATH), missing: join(dir, VALIDATOR_KEY_PATH), missingIsEmpty: true });
    if (state.kind !== 'one') throw new Error('unreachable');
    expect(halfPairError(state).message).toMatch(/libp2p\.key exists but .*validator\.key is empty \(0 bytes\): a node needs both keys/);
    expect(readFileSync(join(dir, LIBP2P_KEY_PATH)).equals(libp2p)).toBe(true);
    expect(() => initSecrets(dir)).toThrow(/libp2p\.key already exists: refusing to overwrite a key/);
  });
});
