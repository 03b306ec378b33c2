import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { UserError } from '../util/errors.js';

/**
 * Encrypted key backup, format version 1 (docs/key-backup-format.md). Pure functions on buffers:
 * the CLI (src/cli/secrets.ts) does the file handling.
 *
 *   offset  size  field
 *        0     8  magic "BASALTKB"
 *        8     2  format version, u16 big-endian = 1
 *       10     1  KDF id, u8 = 1 (scrypt)
 *       11     1  log2(N), u8
 *       12     4  r, u32 big-endian
 *       16     4  p, u32 big-endian
 *       20    32  salt (random)
 *       52    12  AES-GCM nonce (random)
 *       64     n  ciphertext
 *     64+n    16  GCM tag
 *
 * key = scrypt(NFKC(passphrase), salt, N = 2^log2N, r, p, 32 bytes); cipher = AES-256-GCM with that key
 * and nonce, the 64 header bytes as additional authenticated data, so no header field (a weaker N, a
 * different salt) can be changed unnoticed. Plaintext: UTF-8 JSON {"libp2p": "<64 hex>", "validator":
 * "<64 hex>"}.
 */
export const BACKUP_MAGIC = Buffer.from('BASALTKB', 'latin1');
export const BACKUP_VERSION = 1;
export const KDF_SCRYPT = 1;
export const HEADER_BYTES = 64;
export const TAG_BYTES = 16;
/** A version-1 backup is 236 bytes; anything this large is not one (and is never read whole). */
export const MAX_BACKUP_BYTES = 4096;

export interface KdfParams {
  log2N: number;
  r: number;
  p: number;
}

/** What backups are written with: 128 MiB of memory and about half a second per derivation. */
export const DEFAULT_KDF: Readonly<KdfParams> = Object.freeze({ log2N: 17, r: 8, p: 1 });

/**
 * The scrypt parameters a backup may use, checked before anything is derived (on backup and on restore):
 * a header asking for less is weak or forged, one asking for more is a memory or CPU bomb.
 */
export const KDF_LIMITS = Object.freeze({
  minLog2N: 15,
  maxLog2N: 20,
  minR: 8,
  maxR: 32,
  minP: 1,
  maxP: 16,
  /** scrypt's memory, 128·N·r bytes: at most 1 GiB. */
  maxMemoryBytes: 1024 * 1024 * 1024,
  /** N·r·p, the work: at most 8 times the default's. */
  maxWork: 2 ** 23,
});

export interface KeySet {
  libp2p: Uint8Array;
  validator: Uint8Array;
}

export interface BackupHeader {
  version: number;
  kdf: KdfParams;
}

export function checkPassphrase(passphrase: string): void {
  if (passphrase.length === 0) throw new UserError('the passphrase is empty');
  if (passphrase.length < 8) throw new UserError('the passphrase is too short: use at least 8 characters');
}

/** Throws a one-line UserError unless `kdf` is within KDF_LIMITS. */
export function checkKdfParams(kdf: KdfParams): void {
  const L = KDF_LIMITS;
  const { log2N, r, p } = kdf;
  const ok =
    Number.isInteger(log2N) &&
    Number.isInteger(r) &&
    Number.isInteger(p) &&
    log2N >= L.minLog2N &&
    log2N <= L.maxLog2N &&
    r >= L.minR &&
    r <= L.maxR &&
    p >= L.minP &&
    p <= L.maxP &&
    128 * 2 ** log2N * r <= L.maxMemoryBytes &&
    2 ** log2N * r * p <= L.maxWork;
  if (!ok) {
    throw new UserError(
      `key backup has unacceptable scrypt parameters (N=2^${log2N}, r=${r}, p=${p}; allowed: N 2^${L.minLog2N}..2^${L.maxLog2N}, ` +
        `r ${L.minR}..${L.maxR}, p ${L.minP}..${L.maxP}, at most 1 GiB of memory): tampered or foreign file?`,
    );
  }
}

/**
 * Checks everything that can be checked without the passphrase (size, magic, version, KDF id and
 * limits) and returns the header. decryptKeys calls it; the CLI calls it first so that a foreign file
 * is refused before anyone is asked for a passphrase.
 */
export function readBackupHeader(file: Uint8Array): BackupHeader {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length > MAX_BACKUP_BYTES) throw new UserError(`not a Basalt key backup: ${b.length} bytes is too large for one`);
  if (b.length < BACKUP_MAGIC.length || !b.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) {
    throw new UserError('not a Basalt key backup (bad magic bytes)');
  }
  if (b.length < HEADER_BYTES + TAG_BYTES) throw new UserError(`key backup is truncated (${b.length} bytes)`);
  const version = b.readUInt16BE(8);
  if (version !== BACKUP_VERSION) {
    throw new UserError(`key backup format version ${version} is not supported (this Basalt reads version ${BACKUP_VERSION}): upgrade Basalt`);
  }
  const kdfId = b.readUInt8(10);
  if (kdfId !== KDF_SCRYPT) throw new UserError(`key backup uses an unknown key derivation function (id ${kdfId})`);
  const kdf: KdfParams = { log2N: b.readUInt8(11), r: b.readUInt32BE(12), p: b.readUInt32BE(16) };
  checkKdfParams(kdf);
  return { version, kdf };
}

export function encryptKeys(keys: KeySet, passphrase: string, kdf: KdfParams = DEFAULT_KDF): Uint8Array {
  checkPassphrase(passphrase);
  checkKdfParams(kdf);
  checkKey(keys.libp2p, 'libp2p');
  checkKey(keys.validator, 'validator');
  const header = Buffer.alloc(HEADER_BYTES);
  BACKUP_MAGIC.copy(header, 0);
  header.writeUInt16BE(BACKUP_VERSION, 8);
  header.writeUInt8(KDF_SCRYPT, 10);
  header.writeUInt8(kdf.log2N, 11);
  header.writeUInt32BE(kdf.r, 12);
  header.writeUInt32BE(kdf.p, 16);
  const salt = randomBytes(32);
  const nonce = randomBytes(12);
  salt.copy(header, 20);
  nonce.copy(header, 52);
  const key = derive(passphrase, salt, kdf);
  const plaintext = Buffer.from(
    JSON.stringify({ libp2p: Buffer.from(keys.libp2p).toString('hex'), validator: Buffer.from(keys.validator).toString('hex') }),
    'utf8',
  );
  try {
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(header);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Uint8Array.from(Buffer.concat([header, ciphertext, cipher.getAuthTag()]));
  } finally {
    plaintext.fill(0);
    key.fill(0);
  }
}

export function decryptKeys(file: Uint8Array, passphrase: string): KeySet {
  const { kdf } = readBackupHeader(file);
  checkPassphrase(passphrase);
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const header = b.subarray(0, HEADER_BYTES);
  const key = derive(passphrase, b.subarray(20, 52), kdf);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, b.subarray(52, HEADER_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(header);
    decipher.setAuthTag(b.subarray(b.length - TAG_BYTES));
    plaintext = Buffer.concat([decipher.update(b.subarray(HEADER_BYTES, b.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new UserError('cannot decrypt the key backup: wrong passphrase, or the file was modified or truncated');
  } finally {
    key.fill(0);
  }
  try {
    const j = JSON.parse(plaintext.toString('utf8')) as { libp2p?: unknown; validator?: unknown } | null;
    const libp2p = hexKey(j?.libp2p);
    const validator = hexKey(j?.validator);
    if (libp2p === undefined || validator === undefined) throw new Error('bad key');
    return { libp2p, validator };
  } catch {
    throw new UserError('the key backup decrypted but does not hold two valid secp256k1 keys');
  } finally {
    plaintext.fill(0);
  }
}

function hexKey(v: unknown): Uint8Array | undefined {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) return undefined;
  const key = Uint8Array.from(Buffer.from(v, 'hex'));
  return secp256k1.utils.isValidPrivateKey(key) ? key : undefined;
}

function checkKey(key: Uint8Array, name: string): void {
  if (key.length !== 32 || !secp256k1.utils.isValidPrivateKey(key)) throw new UserError(`the ${name} key is not a valid secp256k1 private key`);
}

function derive(passphrase: string, salt: Uint8Array, kdf: KdfParams): Buffer {
  const N = 2 ** kdf.log2N;
  // OpenSSL needs 128·r·(N + 2 + p) bytes; Node's default maxmem (32 MiB) is below what we use.
  const needed = 128 * kdf.r * (N + 2 + kdf.p);
  try {
    return scryptSync(passphrase.normalize('NFKC'), salt, 32, { N, r: kdf.r, p: kdf.p, maxmem: needed + 1024 * 1024 });
  } catch (err) {
    // The parameters were checked (checkKdfParams): what fails is the allocation (OpenSSL's "malloc failure").
    throw new UserError(
      `cannot derive the key backup's key: scrypt N=2^${kdf.log2N}, r=${kdf.r}, p=${kdf.p} needs ${Math.round(needed / 2 ** 20)} MiB of memory ` +
        `(${(err as Error).message}): run it where that much memory is available`,
      { code: 'RESOURCE_EXHAUSTED' },
    );
  }
}
