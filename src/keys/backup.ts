import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { UserError } from '../util/errors.js';

/**
 * Encrypted key backup, format version 1 (docs/key-backup-format.md):
 *
 *   "BASALTKB" (8) | version u16 = 1 | kdf u8 = 1 (scrypt) | log2(N) u8 | r u32 | p u32 |
 *   salt (32) | nonce (12) | ciphertext | tag (16)
 *
 * The key is scrypt(passphrase, salt, N, r, p) -> 32 bytes; the cipher is AES-256-GCM, with every
 * byte before the ciphertext bound as additional data, so no header field can be changed unnoticed.
 * The plaintext is JSON {"libp2p": hex, "validator": hex}.
 */
const MAGIC = Buffer.from('BASALTKB');
const VERSION = 1;
const KDF_SCRYPT = 1;
const HEADER_BYTES = 8 + 2 + 1 + 1 + 4 + 4 + 32 + 12;
const TAG_BYTES = 16;

export interface KdfParams {
  log2N: number;
  r: number;
  p: number;
}

/** Strong defaults: 128 MiB and about half a second per derivation on a small server. */
export const DEFAULT_KDF: KdfParams = { log2N: 17, r: 8, p: 1 };
/** Refused on restore: a file asking for less is weak or forged, more is a memory bomb. */
const MIN_LOG2N = 15;
const MAX_LOG2N = 20;

export interface KeySet {
  libp2p: Uint8Array;
  validator: Uint8Array;
}

export function encryptKeys(keys: KeySet, passphrase: string, kdf: KdfParams = DEFAULT_KDF): Uint8Array {
  checkPassphrase(passphrase);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt16BE(VERSION, 8);
  header.writeUInt8(KDF_SCRYPT, 10);
  header.writeUInt8(kdf.log2N, 11);
  header.writeUInt32BE(kdf.r, 12);
  header.writeUInt32BE(kdf.p, 16);
  const salt = randomBytes(32);
  const nonce = randomBytes(12);
  salt.copy(header, 20);
  nonce.copy(header, 52);
  const key = derive(passphrase, salt, kdf);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(header);
  const plaintext = Buffer.from(JSON.stringify({ libp2p: Buffer.from(keys.libp2p).toString('hex'), validator: Buffer.from(keys.validator).toString('hex') }));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  plaintext.fill(0);
  key.fill(0);
  return Buffer.concat([header, ct, cipher.getAuthTag()]);
}

export function decryptKeys(file: Uint8Array, passphrase: string): KeySet {
  const b = Buffer.from(file);
  if (b.length < HEADER_BYTES + TAG_BYTES || !b.subarray(0, 8).equals(MAGIC)) throw new UserError('not a Basalt key backup (bad magic bytes or too short)');
  const version = b.readUInt16BE(8);
  if (version !== VERSION) throw new UserError(`key backup version ${version} is not supported: upgrade Basalt`);
  if (b.readUInt8(10) !== KDF_SCRYPT) throw new UserError('key backup uses an unknown key derivation');
  const kdf: KdfParams = { log2N: b.readUInt8(11), r: b.readUInt32BE(12), p: b.readUInt32BE(16) };
  if (kdf.log2N < MIN_LOG2N || kdf.log2N > MAX_LOG2N || kdf.r < 1 || kdf.r > 32 || kdf.p < 1 || kdf.p > 16) {
    throw new UserError(`key backup has unacceptable scrypt parameters (N=2^${kdf.log2N}, r=${kdf.r}, p=${kdf.p}): tampered file?`);
  }
  const header = b.subarray(0, HEADER_BYTES);
  const key = derive(passphrase, b.subarray(20, 52), kdf);
  const decipher = createDecipheriv('aes-256-gcm', key, b.subarray(52, 64));
  decipher.setAAD(header);
  decipher.setAuthTag(b.subarray(b.length - TAG_BYTES));
  let plaintext: Buffer;
  try {
    plaintext = Buffer.concat([decipher.update(b.subarray(HEADER_BYTES, b.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new UserError('cannot decrypt the key backup: wrong passphrase, or the file was modified');
  } finally {
    key.fill(0);
  }
  try {
    const j = JSON.parse(plaintext.toString('utf8')) as { libp2p?: unknown; validator?: unknown };
    const hex = (v: unknown) => {
      if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw new Error('bad key');
      return Uint8Array.from(Buffer.from(v, 'hex'));
    };
    return { libp2p: hex(j.libp2p), validator: hex(j.validator) };
  } catch {
    throw new UserError('key backup decrypted but holds no valid keys');
  } finally {
    plaintext.fill(0);
  }
}

export function checkPassphrase(passphrase: string): void {
  if (passphrase.length === 0) throw new UserError('the passphrase is empty');
  if (passphrase.length < 8) throw new UserError('the passphrase is too short: use at least 8 characters');
}

function derive(passphrase: string, salt: Uint8Array, kdf: KdfParams): Buffer {
  const N = 2 ** kdf.log2N;
  return scryptSync(passphrase.normalize('NFKC'), salt, 32, { N, r: kdf.r, p: kdf.p, maxmem: 256 * N * kdf.r + 64 * 1024 * 1024 });
}
