import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keccak256 as jsKeccak256 } from 'ethereum-cryptography/keccak.js';
import { keccak256, keccakBackend } from '../../../src/util/keccak.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('keccak256', () => {
  it('hashes in WebAssembly', () => {
    expect(keccakBackend).toBe('wasm');
  });

  it('gives the pure-JS digest for every length around the sponge rate (136 bytes) and for 4 MiB', () => {
    expect(hex(keccak256(new Uint8Array(0)))).toBe('c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
    for (const n of [1, 31, 32, 33, 135, 136, 137, 271, 272, 273, 1000, 4 * 1024 * 1024]) {
      const data = randomBytes(n);
      const d = keccak256(data);
      expect(d).toBeInstanceOf(Uint8Array);
      expect(d.length).toBe(32);
      expect(hex(d)).toBe(hex(jsKeccak256(data)));
    }
    const view = randomBytes(300).subarray(17, 217);
    expect(hex(keccak256(view))).toBe(hex(jsKeccak256(view)));
    const plain = Uint8Array.from(randomBytes(200));
    expect(hex(keccak256(plain.subarray(3)))).toBe(hex(jsKeccak256(plain.subarray(3))));
    // Each call starts afresh: a hash between two of the same input changes neither.
    const a = keccak256(plain);
    keccak256(randomBytes(5000));
    expect(hex(keccak256(plain))).toBe(hex(a));
  });
});
