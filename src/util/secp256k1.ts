import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { keccak256 } from './keccak.js';
import { nativeEcrecover, nativeSign, secp256k1Backend } from './native-secp256k1.js';

/**
 * Sign a 32-byte hash; returns the 65-byte r ‖ s ‖ v signature used by IBFT seals and messages (v is
 * 0 or 1). Deterministic (RFC 6979) and low-s: the same bytes from libsecp256k1 and the pure-JS default.
 */
export function signHash(hash: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(65);
  if (secp256k1Backend === 'libsecp256k1') {
    const { signature, recid } = nativeSign(privateKey, hash);
    out.set(signature);
    out[64] = recid;
    return out;
  }
  const sig = secp256k1.sign(hash, privateKey);
  out.set(sig.toCompactRawBytes());
  out[64] = sig.recovery;
  return out;
}

/** Recover the signer's address from a 65-byte r ‖ s ‖ v signature; throws if it is malformed. */
export function recoverAddress(hash: Uint8Array, sig: Uint8Array): Uint8Array {
  if (sig.length !== 65) throw new Error(`signature is ${sig.length} bytes (want 65)`);
  const v = sig[64]!;
  if (v > 1) throw new Error(`signature recovery id ${v} (want 0 or 1)`);
  let pub: Uint8Array;
  if (secp256k1Backend === 'libsecp256k1') {
    // libsecp256k1 refuses r or s of 0 or >= n; the low-s rule is ours (a seal has one encoding).
    if (compareBytes(sig.subarray(32, 64), HALF_N) > 0) throw new Error('signature has a high s value');
    pub = nativeEcrecover(hash, BigInt(v), sig.subarray(0, 32), sig.subarray(32, 64));
  } else {
    const signature = secp256k1.Signature.fromCompact(sig.subarray(0, 64)).addRecoveryBit(v);
    if (signature.hasHighS()) throw new Error('signature has a high s value');
    pub = signature.recoverPublicKey(hash).toRawBytes(false).subarray(1);
  }
  return keccak256(pub).subarray(12);
}

/** n / 2 of secp256k1, big-endian: the largest low s. */
const HALF_N = Uint8Array.from(Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex'));

/** Two 32-byte big-endian numbers compared. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
