import type { CustomCrypto } from '@ethereumjs/common';
import { nativeEcrecover, secp256k1Backend } from './native-secp256k1.js';

/**
 * The primitives every Common Basalt builds hands to @ethereumjs (transactions, the VM, the
 * ECRECOVER precompile): public-key recovery in libsecp256k1 where its prebuilt binding loads, the
 * pure-JS defaults otherwise. `BASALT_PURE_JS_CRYPTO=1` forces the defaults (benchmarks measure
 * against them). Keccak stays on the default: a native keccak (the `keccak` package) hashed 3-6x
 * faster in isolation but made no measurable difference to import or restore, so it is not worth
 * a second native dependency.
 */
export const basaltCustomCrypto: CustomCrypto = secp256k1Backend === 'libsecp256k1' ? { ecrecover: nativeEcrecover } : {};
