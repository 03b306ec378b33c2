import { chmodSync, mkdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { bytesToHex, hexToBytes, toChecksumAddress } from '@ethereumjs/util';
import { UserError, fileError } from '../util/errors.js';
import { privateKeyToAddress } from './address.js';
import { fsyncDir, linkNew, writeSyncedNew } from '../util/durable.js';
import { libp2pPeerId } from './node-id.js';

/** Where the keys live inside a data dir (the Polygon SDK layout). */
export const LIBP2P_KEY_PATH = 'keystore/libp2p.key';
export const VALIDATOR_KEY_PATH = 'consensus/validator.key';
/** A key file is 64 hex digits; anything much larger is not one (and is never read whole). */
const MAX_KEY_FILE_BYTES = 1024;

export interface NodeKeys {
  validatorKey: Uint8Array;
  /** EIP-55 checksummed. */
  validatorAddress: string;
  libp2pKey: Uint8Array;
  nodeId: string;
}

/** A key's folder, made 0700 even if it existed (mkdir's mode is filtered by the umask and skipped for existing folders). */
export function makeKeyFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** The key as its file holds it: 64 hex digits, no newline. */
export function keyFileBytes(key: Uint8Array): Uint8Array {
  return Buffer.from(bytesToHex(key).slice(2), 'latin1');
}

/**
 * Write one key, mode 0600, in a 0700 folder, never over an existing file: a temp file next to it,
 * fsynced, linked to its name, folder fsynced. (A node's two keys: writeKeyPair, both or neither.)
 */
export function writeKeyFile(path: string, key: Uint8Array): void {
  const dir = dirname(path);
  makeKeyFolder(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeSyncedNew(tmp, keyFileBytes(key), 0o600);
    chmodSync(tmp, 0o600);
    linkNew(tmp, path);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed, or never created
    }
  }
  fsyncDir(dir);
}

export function readKeyFile(path: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new UserError(`key file ${path} is not a file`);
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`key file ${path} not found: run "basalt secrets init --data-dir <dir>" first`);
    }
    throw fileError(err, 'read key file', path);
  }
  if (size === 0) throw new UserError(`key file ${path} is empty (0 bytes): left by an interrupted write? restore the keys from a backup`);
  if (size > MAX_KEY_FILE_BYTES) throw new UserError(`key file ${path} does not hold a 32-byte hex secp256k1 key (${size} bytes)`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw fileError(err, 'read key file', path);
  }
  text = text.trim().replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new UserError(`key file ${path} does not hold a 32-byte hex secp256k1 key`);
  const key = hexToBytes(`0x${text}`);
  if (!secp256k1.utils.isValidPrivateKey(key)) throw new UserError(`key file ${path} holds an invalid secp256k1 key`);
  return key;
}

export function loadValidatorKey(dataDir: string): Uint8Array {
  return readKeyFile(join(dataDir, VALIDATOR_KEY_PATH));
}

/** The addresses a pair of keys goes by. */
export function nodeKeys(validatorKey: Uint8Array, libp2pKey: Uint8Array): NodeKeys {
  return {
    validatorKey,
    validatorAddress: toChecksumAddress(bytesToHex(privateKeyToAddress(validatorKey))),
    libp2pKey,
    nodeId: libp2pPeerId(libp2pKey),
  };
}

/** Two fresh random keys, in memory only. */
export function newNodeKeys(): NodeKeys {
  return nodeKeys(secp256k1.utils.randomPrivateKey(), secp256k1.utils.randomPrivateKey());
}

/** A key that users other than its owner may read or change: its file or its folder has a group or other permission bit. */
export interface ExposedKey {
  path: string;
  /** The command that closes it: `chmod 600 <file>`, `chmod 700 <folder>`, or both joined by `&&`. */
  fix: string;
  /** One line naming the file, the modes and the fix (never the key). */
  message: string;
}

/**
 * The keys of `dataDir` whose file or folder has any group or other permission bit (not 0600, not 0700):
 * what a `cp -r` or `tar x` under umask 022 leaves (0644 files in 0755 folders). Basalt writes 0600 keys
 * in 0700 folders (writeKeyFile) and never changes the modes of keys it did not write: the callers warn.
 * A key that cannot be stat'ed is left to readKeyFile's error.
 */
export function exposedKeys(dataDir: string): ExposedKey[] {
  const exposed: ExposedKey[] = [];
  for (const path of [join(dataDir, LIBP2P_KEY_PATH), join(dataDir, VALIDATOR_KEY_PATH)]) {
    const dir = dirname(path);
    let fileMode: number;
    let dirMode: number;
    try {
      fileMode = statSync(path).mode & 0o777;
      dirMode = statSync(dir).mode & 0o777;
    } catch {
      continue;
    }
    const fixes = [...(fileMode & 0o077 ? [`chmod 600 ${shellWord(path)}`] : []), ...(dirMode & 0o077 ? [`chmod 700 ${shellWord(dir)}`] : [])];
    if (fixes.length === 0) continue;
    const fix = fixes.join(' && ');
    const octal = (m: number) => m.toString(8).padStart(4, '0');
    exposed.push({
      path,
      fix,
      message: `key file ${path} is open to other users (file ${octal(fileMode)}, folder ${octal(dirMode)}; keys belong in 0600 files in 0700 folders): run ${fix}`,
    });
  }
  return exposed;
}

/** `s` as one word for a POSIX shell: as it is when plain, else single-quoted. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export function loadNodeKeys(dataDir: string): NodeKeys {
  const validatorKey = loadValidatorKey(dataDir);
  return nodeKeys(validatorKey, readKeyFile(join(dataDir, LIBP2P_KEY_PATH)));
}
