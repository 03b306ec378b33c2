import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import { keccak256 } from 'ethereum-cryptography/keccak.js';

/** The 20-byte Ethereum address of a secp256k1 private key. */
export function privateKeyToAddress(privateKey: Uint8Array): Uint8Array {
  const pub = secp256k1.getPublicKey(privateKey, false);
  return keccak256(pub.subarray(1)).subarray(12);
}
