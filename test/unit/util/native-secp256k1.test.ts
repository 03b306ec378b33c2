import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLegacyTx, createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bigIntToBytes, bytesToHex, ecrecover, setLengthLeft } from '@ethereumjs/util';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { nativeEcrecover, secp256k1Backend } from '../../../src/util/native-secp256k1.js';
import { basaltCustomCrypto } from '../../../src/util/custom-crypto.js';
import { createCommonForChainId } from '../../../src/chain/chain-config.js';
import { recoverAddress, signHash } from '../../../src/util/secp256k1.js';

const N = secp256k1.CURVE.n;
const b32 = (x: bigint) => setLengthLeft(bigIntToBytes(x), 32);

/** Both implementations must agree exactly: the same key, or both refuse. Consensus depends on it. */
function outcome(f: () => Uint8Array): string {
  try {
    return bytesToHex(f());
  } catch {
    return 'throws';
  }
}
function expectSame(hash: Uint8Array, v: bigint, r: Uint8Array, s: Uint8Array, chainId?: bigint) {
  const reference = outcome(() => ecrecover(hash, v, r, s, chainId));
  expect(outcome(() => nativeEcrecover(hash, v, r, s, chainId))).toBe(reference);
  return reference;
}

describe('native secp256k1 recovery', () => {
  it('loads the prebuilt libsecp256k1 binding and hands it to every Common', () => {
    expect(secp256k1Backend).toBe('libsecp256k1');
    expect(basaltCustomCrypto.ecrecover).toBe(nativeEcrecover);
    expect(createCommonForChainId(100n).customCrypto.ecrecover).toBe(nativeEcrecover);
  });

  it('recovers the same key as the pure-JS default for real signatures, high-s twins and every v form', () => {
    for (let i = 0; i < 40; i++) {
      const key = secp256k1.utils.randomPrivateKey();
      const hash = keccak256(randomBytes(40));
      const sig = secp256k1.sign(hash, key);
      const r = b32(sig.r);
      const s = b32(sig.s);
      const expected = bytesToHex(secp256k1.getPublicKey(key, false).subarray(1));
      expect(expectSame(hash, BigInt(sig.recovery), r, s)).toBe(expected);
      expect(expectSame(hash, BigInt(sig.recovery + 27), r, s)).toBe(expected);
      expect(expectSame(hash, BigInt(sig.recovery) + 100n * 2n + 35n, r, s, 100n)).toBe(expected);
      // the high-s twin with the other recovery bit names the same key in both (transactions refuse it elsewhere)
      expect(expectSame(hash, BigInt(1 - sig.recovery), r, b32(N - sig.s))).toBe(expected);
      // a wrong recovery bit gives a different key (or none), identically
      expect(expectSame(hash, BigInt(1 - sig.recovery), r, s)).not.toBe(expected);
    }
  });

  it('refuses exactly what the default refuses: bad v, zero or out-of-range r and s, x not on the curve', () => {
    const hash = keccak256(randomBytes(8));
    const one = b32(1n);
    const cases: [bigint, Uint8Array, Uint8Array, bigint?][] = [
      [2n, one, one],
      [29n, one, one],
      [100n * 2n + 37n, one, one, 100n],
      [27n, b32(0n), one],
      [27n, one, b32(0n)],
      [27n, b32(N), one],
      [27n, one, b32(N)],
      [27n, b32(N + 1n), one],
      [27n, new Uint8Array(32).fill(0xff), one],
      [27n, one, new Uint8Array(32).fill(0xff)],
      [28n, b32(5n), b32(7n)],
      [27n, new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])], // short r and s are left-padded
      [27n, new Uint8Array(40).fill(3), new Uint8Array(33).fill(2)], // long ones are cut to their last 32 bytes
    ];
    for (const [v, r, s, chainId] of cases) expectSame(hash, v, r, s, chainId);
    // random garbage: whatever the default does, native does the same
    for (let i = 0; i < 200; i++) expectSame(keccak256(randomBytes(8)), BigInt(27 + (i % 2)), randomBytes(32), randomBytes(32));
  });

  it('transactions recover the same sender with the native Common as with the default', () => {
    const common = createCommonForChainId(100n);
    const key = secp256k1.utils.randomPrivateKey();
    const legacy = createLegacyTx({ nonce: 1n, gasPrice: 10n, gasLimit: 21000n, to: `0x${'11'.repeat(20)}`, value: 5n }, { common }).sign(key);
    const typed = createFeeMarket1559Tx(
      { chainId: 100n, nonce: 2n, maxFeePerGas: 10n, maxPriorityFeePerGas: 1n, gasLimit: 21000n, to: `0x${'22'.repeat(20)}` },
      { common },
    ).sign(key);
    for (const tx of [legacy, typed]) {
      const reference = ecrecover(tx.getHashedMessageToSign(), tx.v!, b32(tx.r!), b32(tx.s!), tx.type === 0 ? 100n : undefined);
      expect(bytesToHex(tx.getSenderPublicKey())).toBe(bytesToHex(reference));
    }
  });

  it('IBFT signatures from libsecp256k1 are byte for byte the pure-JS default (RFC 6979, low s)', () => {
    for (let i = 0; i < 200; i++) {
      const key = secp256k1.utils.randomPrivateKey();
      const hash = keccak256(randomBytes(8 + i));
      const reference = secp256k1.sign(hash, key);
      const expected = new Uint8Array(65);
      expected.set(reference.toCompactRawBytes());
      expected[64] = reference.recovery;
      expect(bytesToHex(signHash(hash, key))).toBe(bytesToHex(expected));
    }
  });

  it('IBFT seal recovery agrees with the signer and refuses high s', () => {
    const key = secp256k1.utils.randomPrivateKey();
    const hash = keccak256(randomBytes(16));
    const sig = signHash(hash, key);
    const address = keccak256(secp256k1.getPublicKey(key, false).subarray(1)).subarray(12);
    expect(bytesToHex(recoverAddress(hash, sig))).toBe(bytesToHex(address));
    const high = sig.slice();
    high.set(b32(N - BigInt(bytesToHex(sig.subarray(32, 64)))), 32);
    high[64] = 1 - sig[64]!;
    expect(() => recoverAddress(hash, high)).toThrow(/high s/);
  });

  it('IBFT seal recovery refuses r or s out of range, and s just above n/2', () => {
    const key = secp256k1.utils.randomPrivateKey();
    const hash = keccak256(randomBytes(16));
    const sig = signHash(hash, key);
    const withRS = (r: bigint | undefined, s: bigint | undefined) => {
      const out = sig.slice();
      if (r !== undefined) out.set(b32(r), 0);
      if (s !== undefined) out.set(b32(s), 32);
      return out;
    };
    for (const bad of [
      withRS(0n, undefined),
      withRS(N, undefined),
      withRS(N + 1n, undefined),
      withRS(undefined, 0n),
      withRS(undefined, N / 2n + 1n),
      withRS(undefined, N - 1n),
    ]) {
      expect(() => recoverAddress(hash, bad)).toThrow();
    }
    expect(() => recoverAddress(hash, withRS(undefined, N / 2n + 1n))).toThrow(/high s/);
    // s = n/2 exactly is low: it recovers some key (not the signer's), without a throw.
    expect(recoverAddress(hash, withRS(undefined, N / 2n))).toHaveLength(20);
  });
});
