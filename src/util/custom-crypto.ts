import type { CustomCrypto } from '@ethereumjs/common';
import { keccak256, keccakBackend } from './keccak.js';
import { nativeEcrecover, secp256k1Backend } from './native-secp256k1.js';

/**
 * The primitives every Common Basalt builds hands to @ethereumjs (transactions, block headers, the
 * state trie, the VM and its KECCAK256 opcode, the ECRECOVER precompile): public-key recovery in
 * libsecp256k1 where its prebuilt binding loads, and keccak256 in hash-wasm's WebAssembly build; the
 * pure-JS defaults otherwise. `BASALT_PURE_JS_CRYPTO=1` forces the defaults (benchmarks measure
 * against them). Keccak was left on the default while signature recovery dominated; with recovery
 * native it is the largest CPU cost of a block (trie node hashing): `bench:seal`'s 2,000 transfers went
 * from 235-287 tx/s (median 254 over 4 runs) to 259-355 (median 332 over 6), same session.
 */
export const basaltCustomCrypto: CustomCrypto = {
  ...(secp256k1Backend === 'libsecp256k1' ? { ecrecover: nativeEcrecover } : {}),
  ...(keccakBackend === 'wasm' ? { keccak256 } : {}),
};
