import { createRequire } from 'node:module';
import { setLengthLeft } from '@ethereumjs/util';

/**
 * libsecp256k1 through the `secp256k1` package's prebuilt N-API binding. Public-key recovery there
 * takes ~0.1 ms against ~2.5 ms in the pure-JS default, and recovery is the hot path of everything
 * that checks a signature: every transaction's sender (pool admission, block execution, import) and
 * every IBFT seal. We load the binding itself (not the package's index, which would quietly fall back
 * to the slower `elliptic`); when it cannot load, everything stays on the pure-JS default.
 */
interface Secp256k1Binding {
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed?: boolean): Uint8Array;
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean;
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  signatureImport(der: Uint8Array, output?: Uint8Array): Uint8Array;
  signatureExport(sig: Uint8Array, output?: Uint8Array): Uint8Array;
}

function loadBinding(): Secp256k1Binding | undefined {
  if (process.env.BASALT_PURE_JS_CRYPTO === '1') return undefined;
  try {
    return createRequire(import.meta.url)('secp256k1/bindings.js') as Secp256k1Binding;
  } catch {
    return undefined;
  }
}

const binding = loadBinding();

/** Which implementation recovers public keys: logged at start-up, reported by benchmarks. */
export const secp256k1Backend: 'libsecp256k1' | 'pure-js' = binding ? 'libsecp256k1' : 'pure-js';

/**
 * Recover the uncompressed 64-byte public key (no 0x04 prefix) from a message hash and signature.
 * Same contract as `@ethereumjs/util`'s `ecrecover`, which the VM, the ECRECOVER precompile and
 * transactions call through `Common.customCrypto`: same v handling, r and s left-padded (or cut) to 32
 * bytes, throws on an invalid v, an out-of-range r or s, or a point that does not recover. Its results
 * are checked against the default on edge cases and random signatures in test/unit/util.
 * Only call when `secp256k1Backend === 'libsecp256k1'`.
 */
export function nativeEcrecover(msgHash: Uint8Array, v: bigint, r: Uint8Array, s: Uint8Array, chainId?: bigint): Uint8Array {
  if (!binding) throw new Error('libsecp256k1 binding is not loaded');
  const recovery = v === 0n || v === 1n ? v : chainId === undefined ? v - 27n : v - (chainId * 2n + 35n);
  if (recovery !== 0n && recovery !== 1n) throw new Error('Invalid signature v value');
  const sig = new Uint8Array(64);
  sig.set(setLengthLeft(r, 32), 0);
  sig.set(setLengthLeft(s, 32), 32);
  return binding.ecdsaRecover(sig, Number(recovery), msgHash, false).subarray(1);
}

/**
 * Verify a DER-encoded ECDSA signature over a 32-byte digest: the contract of libp2p's secp256k1 keys
 * (`@noble/curves` with `prehash: false, format: 'der'`, low-S only), where libsecp256k1 takes ~0.05 ms
 * against ~1.3 ms. A signature that does not parse, a high-S one, or a public key that is not a point is
 * `false`, never a throw. Only call when `secp256k1Backend === 'libsecp256k1'`.
 */
export function nativeVerifyDer(publicKey: Uint8Array, der: Uint8Array, digest: Uint8Array): boolean {
  if (!binding) throw new Error('libsecp256k1 binding is not loaded');
  if (digest.length !== 32 || (publicKey.length !== 33 && publicKey.length !== 65) || der.length > 72) return false;
  try {
    return binding.ecdsaVerify(binding.signatureImport(der, new Uint8Array(64)), digest, publicKey);
  } catch {
    return false;
  }
}

/**
 * Sign a 32-byte digest, DER-encoded: RFC 6979 nonces and low S, so byte for byte what `@noble/curves`
 * gives for the same key and digest (tested). Only call when `secp256k1Backend === 'libsecp256k1'`.
 */
export function nativeSignDer(privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
  if (!binding) throw new Error('libsecp256k1 binding is not loaded');
  const { signature } = binding.ecdsaSign(digest, privateKey);
  return binding.signatureExport(signature, new Uint8Array(72));
}

/**
 * Sign a 32-byte digest: the 64-byte compact r ‖ s and the recovery id, RFC 6979 nonces and low S,
 * byte for byte what `@noble/curves` gives (tested); ~0.05 ms against ~0.5 ms. Only call when
 * `secp256k1Backend === 'libsecp256k1'`.
 */
export function nativeSign(privateKey: Uint8Array, digest: Uint8Array): { signature: Uint8Array; recid: number } {
  if (!binding) throw new Error('libsecp256k1 binding is not loaded');
  return binding.ecdsaSign(digest, privateKey);
}
