import { describe, expect, it } from 'vitest';
import { decryptKeys, encryptKeys, type KdfParams } from '../../../src/keys/backup.js';

const keys = { libp2p: new Uint8Array(32).fill(0x11), validator: new Uint8Array(32).fill(0x22) };
const FAST: KdfParams = { log2N: 15, r: 8, p: 1 }; // the minimum restore accepts: keeps the tests quick
const PASS = 'correct horse battery';

describe('encrypted key backup', () => {
  const file = encryptKeys(keys, PASS, FAST);

  it('round-trips, and never holds a key in the clear', () => {
    const back = decryptKeys(file, PASS);
    expect(back.libp2p).toEqual(keys.libp2p);
    expect(back.validator).toEqual(keys.validator);
    const text = Buffer.from(file).toString('latin1');
    expect(text).not.toContain('1111111111');
    expect(Buffer.from(file).includes(Buffer.from(keys.validator))).toBe(false);
    // a second backup of the same keys differs (random salt and nonce)
    expect(Buffer.from(encryptKeys(keys, PASS, FAST)).equals(Buffer.from(file))).toBe(false);
  });

  it('refuses a wrong passphrase', () => {
    expect(() => decryptKeys(file, 'correct horse battery!')).toThrow(/wrong passphrase, or the file was modified/);
  });

  it('refuses a change to any byte', () => {
    for (let pos = 0; pos < file.length; pos += 7) {
      const b = Uint8Array.from(file);
      b[pos]! ^= 0x01;
      expect(() => decryptKeys(b, PASS), `byte ${pos}`).toThrow();
    }
  });

  it('refuses weakened or hostile scrypt parameters even with a matching tag', () => {
    const weak = Uint8Array.from(file);
    weak[11] = 10; // N = 2^10
    expect(() => decryptKeys(weak, PASS)).toThrow(/unacceptable scrypt parameters/);
    const bomb = Uint8Array.from(file);
    bomb[11] = 30; // N = 2^30: a memory bomb
    expect(() => decryptKeys(bomb, PASS)).toThrow(/unacceptable scrypt parameters/);
  });

  it('refuses truncated and foreign files', () => {
    expect(() => decryptKeys(file.subarray(0, file.length - 1), PASS)).toThrow();
    expect(() => decryptKeys(file.subarray(0, 20), PASS)).toThrow(/too short|bad magic/);
    expect(() => decryptKeys(Buffer.from('{"libp2p":"00"}'), PASS)).toThrow(/not a Basalt key backup/);
  });

  it('refuses empty and short passphrases', () => {
    expect(() => encryptKeys(keys, '', FAST)).toThrow(/empty/);
    expect(() => encryptKeys(keys, 'short', FAST)).toThrow(/at least 8/);
  });
});
