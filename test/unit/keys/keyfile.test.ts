import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { privateKeyToAddress } from '../../../src/keys/address.js';
import { initSecrets } from '../../../src/keys/key-pair.js';
import { exposedKeys, LIBP2P_KEY_PATH, loadNodeKeys, readKeyFile, VALIDATOR_KEY_PATH } from '../../../src/keys/keyfile.js';
import { base58btc, libp2pPeerId } from '../../../src/keys/node-id.js';
import { UserError } from '../../../src/util/errors.js';
import { tempDir } from '../../helpers/cli.js';

describe('key files', () => {
  it('initSecrets writes 0600 keys in 0700 folders, even under a permissive umask', () => {
    const old = process.umask(0);
    try {
      const dir = join(tempDir(), 'n');
      const created = initSecrets(dir);
      for (const rel of [LIBP2P_KEY_PATH, VALIDATOR_KEY_PATH]) {
        expect(statSync(join(dir, rel)).mode & 0o777).toBe(0o600);
        expect(statSync(join(dir, rel, '..')).mode & 0o777).toBe(0o700);
      }
      const keys = loadNodeKeys(dir);
      expect(created.validatorAddress).toBe(keys.validatorAddress);
      expect(keys.validatorAddress.toLowerCase()).toBe(bytesToHex(privateToAddress(keys.validatorKey)));
      expect(bytesToHex(keys.libp2pKey)).not.toBe(bytesToHex(keys.validatorKey));
    } finally {
      process.umask(old);
    }
  });

  it('initSecrets refuses when either key exists', () => {
    const dir = join(tempDir(), 'n');
    initSecrets(dir);
    const before = readFileSync(join(dir, LIBP2P_KEY_PATH), 'utf8');
    expect(() => initSecrets(dir)).toThrow(UserError);
    expect(readFileSync(join(dir, LIBP2P_KEY_PATH), 'utf8')).toBe(before);
  });

  it('readKeyFile explains a missing, malformed or out-of-range key', () => {
    const dir = tempDir();
    expect(() => readKeyFile(join(dir, 'none.key'))).toThrow(/not found: run "basalt secrets init/);
    writeFileSync(join(dir, 'short.key'), 'abcd');
    expect(() => readKeyFile(join(dir, 'short.key'))).toThrow(/does not hold a 32-byte hex/);
    writeFileSync(join(dir, 'zero.key'), '0'.repeat(64));
    expect(() => readKeyFile(join(dir, 'zero.key'))).toThrow(/invalid secp256k1 key/);
    writeFileSync(join(dir, 'ok.key'), `0x${'11'.repeat(32)}\n`);
    expect(bytesToHex(readKeyFile(join(dir, 'ok.key')))).toBe(`0x${'11'.repeat(32)}`);
  });

  it('exposedKeys names each key others may read (cp -r under umask 022) and the chmod that closes it', () => {
    const dir = join(tempDir(), 'n');
    initSecrets(dir);
    expect(exposedKeys(dir)).toEqual([]);
    const [libp2p, validator] = [join(dir, LIBP2P_KEY_PATH), join(dir, VALIDATOR_KEY_PATH)];
    chmodSync(libp2p, 0o644);
    chmodSync(join(libp2p, '..'), 0o755);
    chmodSync(join(validator, '..'), 0o750); // the file stays 0600: only the folder is open
    const text = readFileSync(validator, 'utf8');
    expect(exposedKeys(dir)).toEqual([
      {
        path: libp2p,
        fix: `chmod 600 ${libp2p} && chmod 700 ${join(dir, 'keystore')}`,
        message: `key file ${libp2p} is open to other users (file 0644, folder 0755; keys belong in 0600 files in 0700 folders): run chmod 600 ${libp2p} && chmod 700 ${join(dir, 'keystore')}`,
      },
      expect.objectContaining({ path: validator, fix: `chmod 700 ${join(dir, 'consensus')}` }),
    ]);
    for (const e of exposedKeys(dir)) expect(e.message).not.toContain(text);
    // a path a shell would split is quoted, so the printed command can be pasted as it is
    const odd = join(tempDir(), "it's here");
    initSecrets(odd);
    chmodSync(join(odd, VALIDATOR_KEY_PATH), 0o640);
    expect(exposedKeys(odd).map((e) => e.fix)).toEqual([`chmod 600 '${odd.replace("'", "'\\''")}/${VALIDATOR_KEY_PATH}'`]);
    expect(exposedKeys(join(tempDir(), 'no-keys'))).toEqual([]);
  });

  it('privateKeyToAddress matches ethereumjs', () => {
    const key = new Uint8Array(32).fill(7);
    expect(bytesToHex(privateKeyToAddress(key))).toBe(bytesToHex(privateToAddress(key)));
  });
});

describe('libp2p node ID', () => {
  it('base58btc encodes like the reference alphabet, keeping leading zero bytes', () => {
    expect(base58btc(new TextEncoder().encode('Hello World!'))).toBe('2NEpo7TZRRrLZSi2U');
    expect(base58btc(new Uint8Array([0, 0, 1]))).toBe('112');
  });

  it('is the identity multihash of the protobuf secp256k1 public key', () => {
    const id = libp2pPeerId(new Uint8Array(32).fill(1));
    expect(id).toMatch(/^16Uiu2HA/);
    expect(id).toHaveLength(53);
    // Decode and check the structure: 0x00 0x25 | 0x08 0x02 0x12 0x21 | 33-byte compressed key
    const ALPHA = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    let n = 0n;
    for (const c of id) n = n * 58n + BigInt(ALPHA.indexOf(c));
    const hex = n.toString(16).padStart(78, '0');
    expect(hex.slice(0, 12)).toBe('002508021221');
    expect(['02', '03']).toContain(hex.slice(12, 14));
    expect(libp2pPeerId(new Uint8Array(32).fill(2))).not.toBe(id);
  });
});
