import { createHash } from 'node:crypto';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { nativeSignDer, nativeVerifyDer, secp256k1Backend } from '../util/native-secp256k1.js';

/**
 * gossipsub (StrictSign) verifies the publisher's signature of every message it has not seen before,
 * and signs every message this node publishes, through libp2p's secp256k1 keys: pure JavaScript
 * (`@noble/curves`), ~1.3 ms a verify and ~0.8 ms a sign on the 2-core reference machine. Under a
 * flood of junk from one peer that was a quarter to a third of a validator's CPU, before any of our
 * own checks ran (CPU profile, issue #26). This moves the two methods of libp2p's secp256k1 key
 * classes onto libsecp256k1 (~0.05 ms each), with the same results: same digest (SHA-256 of the
 * message), same DER, low S only, RFC 6979 nonces (test/unit/p2p/native-peer-crypto.test.ts checks
 * them against the pure-JS methods, and that gossipsub's checks go through them).
 *
 * Installed once per process, before the first host is created; without the native binding the
 * pure-JS methods stay.
 */
let installed = false;
let verifies = 0;

/** How many publisher signatures went through libsecp256k1 in this process (tests). */
export function nativePeerVerifies(): number {
  return verifies;
}

function digestOf(message: Uint8Array | Iterable<Uint8Array>): Uint8Array {
  const hash = createHash('sha256');
  if (message instanceof Uint8Array) hash.update(message);
  else for (const part of message) hash.update(part);
  return hash.digest();
}

interface VerifyKey {
  _key: Uint8Array;
  verify(data: Uint8Array | Iterable<Uint8Array>, sig: Uint8Array, options?: { signal?: AbortSignal }): boolean;
}
interface SignKey {
  raw: Uint8Array;
  sign(message: Uint8Array | Iterable<Uint8Array>, options?: { signal?: AbortSignal }): Uint8Array;
}

/** Whether libp2p's secp256k1 keys sign and verify through libsecp256k1 in this process. */
export function installNativePeerCrypto(): boolean {
  if (installed) return true;
  if (secp256k1Backend !== 'libsecp256k1') return false;
  // The classes are not exported: take them from an instance. One copy of @libp2p/crypto is installed
  // (the test asserts gossipsub's verifications land here).
  const sample = privateKeyFromRaw(new Uint8Array(32).fill(1));
  const privateProto = Object.getPrototypeOf(sample) as SignKey;
  const publicProto = Object.getPrototypeOf(sample.publicKey) as VerifyKey;
  if (typeof privateProto.sign !== 'function' || typeof publicProto.verify !== 'function' || !(sample.publicKey as unknown as VerifyKey)._key) {
    return false;
  }
  publicProto.verify = function verify(this: VerifyKey, data, sig, options) {
    options?.signal?.throwIfAborted();
    verifies++;
    return nativeVerifyDer(this._key, sig, digestOf(data));
  };
  privateProto.sign = function sign(this: SignKey, message, options) {
    options?.signal?.throwIfAborted();
    return nativeSignDer(this.raw, digestOf(message));
  };
  installed = true;
  return true;
}
