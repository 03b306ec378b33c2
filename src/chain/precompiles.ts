import type { Common } from '@ethereumjs/common';
import {
  type CustomPrecompile,
  type EVMBN254Interface,
  type ExecResult,
  getActivePrecompiles,
  NobleBN254,
  type PrecompileInput,
  RustBN254,
} from '@ethereumjs/evm';
import { bigIntToBytes, bytesToBigInt, createAddressFromString, setLengthLeft, setLengthRight } from '@ethereumjs/util';
import { initRustBN } from 'rustbn-wasm';
import { blake2fCompress } from './blake2f.js';

const rustbn = await initRustBN();

/** MODEXP's address (EIP-198), unprefixed as @ethereumjs keys its precompiles. */
export const MODEXP_ADDRESS = '0000000000000000000000000000000000000005';

/**
 * Exponents up to this many bytes go through @ethereumjs's own MODEXP whole: its exponentiation shifts
 * the whole exponent once a bit, quadratic in the exponent's length, which only longer ones make costly.
 */
const SHORT_EXPONENT_BYTES = 64n;

/** BLAKE2F's address (EIP-152). */
export const BLAKE2F_ADDRESS = '0000000000000000000000000000000000000009';

/**
 * The precompiles Basalt runs differently from @ethereumjs, for every EVM (blocks built and imported,
 * simulations), each with @ethereumjs's results, gas and failures, only faster where a paying sender
 * could make them hold every validator far longer than their gas would at ordinary opcodes (5-7
 * Mgas/s here):
 * - MODEXP with an exponentiation linear in the exponent's length. @ethereumjs's (`expMod`, v10)
 *   shifts the whole exponent once a bit: a 100 KB exponent, priced 267,000 gas under EIP-2565 with
 *   a one-byte modulus, held the event loop ~7 s, so one transaction of 30M gas of them a block's
 *   execution for minutes on every validator.
 * - BLAKE2F with the work vector in locals (`blake2f.ts`): ~12 Mgas/s where @ethereumjs's runs
 *   ~1.9 (a 30M-gas block of it: ~16 s).
 * The BN254 precompiles run on `chainBn254`, an EVM option beside these.
 */
export function chainPrecompiles(common: Common): CustomPrecompile[] {
  const active = getActivePrecompiles(common);
  const out: CustomPrecompile[] = [];
  const modexp = active.get(MODEXP_ADDRESS);
  if (modexp !== undefined) out.push({ address: createAddressFromString(`0x${MODEXP_ADDRESS}`), function: (input) => linearModexp(input, modexp) });
  const blake2f = active.get(BLAKE2F_ADDRESS);
  if (blake2f !== undefined) out.push({ address: createAddressFromString(`0x${BLAKE2F_ADDRESS}`), function: (input) => fastBlake2f(input, blake2f) });
  return out;
}

/**
 * The BN254 arithmetic of every EVM of the chain (ECADD, ECMUL, the pairing check; EVM option
 * `bn254`). ECMUL and the pairing run on @ethereumjs's own WebAssembly alternative to its default
 * (`RustBN254`: the Parity `bn` library other clients run), ECADD stays on the default (noble-curves,
 * pure JavaScript), faster there than the WebAssembly's hex round trip. The precompiles, their gas and
 * their checks stay @ethereumjs's; measured here (bench:precompiles) ECMUL runs ~9-13 Mgas/s against
 * ~1.6-1.8 (a 30M-gas block of it: ~17 s), the pairing ~6 against ~3.2. An input either rejects fails
 * the call with all its gas (the precompile's error can differ, OUT_OF_GAS against REVERT: no effect
 * differs).
 */
export const chainBn254: EVMBN254Interface = (() => {
  const noble = new NobleBN254();
  return Object.assign(new RustBN254(rustbn), { add: (input: Uint8Array) => noble.add(input) });
})();

/**
 * BLAKE2F as @ethereumjs runs it, but F: an input of the wrong length or final flag, or with gas for
 * fewer rounds than it asks, goes to `original` (which fails it before any work); the rest is charged
 * as `original` charges and compressed by blake2fCompress.
 */
export function fastBlake2f(input: PrecompileInput, original: (input: PrecompileInput) => Promise<ExecResult> | ExecResult): Promise<ExecResult> | ExecResult {
  const { data } = input;
  if (data.length !== 213 || data[212]! > 1) return original(input);
  const gas = input.common.param('blake2RoundGas') * BigInt(new DataView(data.buffer, data.byteOffset, 4).getUint32(0));
  if (gas > input.gasLimit) return original(input);
  return { executionGasUsed: gas, returnValue: blake2fCompress(data) };
}

/**
 * MODEXP as @ethereumjs runs it, but the exponentiation: the gas, the length checks and every failure
 * come from `original` run on the input with its modulus zeroed (it then charges the same, checks the
 * same and skips the exponentiation: a modulus of 0 gives `mLen` zero bytes), and the result from
 * expModBytes, the same number.
 */
export async function linearModexp(input: PrecompileInput, original: (input: PrecompileInput) => Promise<ExecResult> | ExecResult): Promise<ExecResult> {
  const data = input.data.length < 96 ? setLengthRight(input.data, 96) : input.data;
  const bLen = bytesToBigInt(data.subarray(0, 32));
  const eLen = bytesToBigInt(data.subarray(32, 64));
  const mLen = bytesToBigInt(data.subarray(64, 96));
  const mStart = 96n + bLen + eLen;
  // A short exponent, or a modulus that is all zeros (none, or past the input): nothing costly to do.
  if (eLen <= SHORT_EXPONENT_BYTES || mLen === 0n || mStart >= BigInt(data.length)) return original(input);
  const mEnd = mStart + mLen < BigInt(data.length) ? mStart + mLen : BigInt(data.length);
  const zeroed = new Uint8Array(data);
  zeroed.fill(0, Number(mStart), Number(mEnd));
  const charged = await original({ ...input, data: zeroed });
  if (charged.exceptionError !== undefined) return charged;
  const part = (start: bigint, length: bigint) => setLengthRight(data.subarray(Number(start), Number(start + length)), Number(length));
  const M = bytesToBigInt(part(mStart, mLen));
  if (M === 0n) return charged;
  const R = expModBytes(bytesToBigInt(part(96n, bLen)), part(96n + bLen, eLen), M);
  return { executionGasUsed: charged.executionGasUsed, returnValue: setLengthLeft(R === 0n ? new Uint8Array() : bigIntToBytes(R), Number(mLen)) };
}

/** Moduli below this square below 2^52: their products are exact in a double, ~20x faster than BigInt's. */
const NUMBER_MODULUS = 1n << 26n;

/** `base` to the power of the big-endian `exponent`, modulo `modulus` (> 0): left to right, a squaring a bit. */
export function expModBytes(base: bigint, exponent: Uint8Array, modulus: bigint): bigint {
  let i = exponent.findIndex((b) => b !== 0);
  if (i < 0) return 1n % modulus;
  if (modulus < NUMBER_MODULUS) {
    const m = Number(modulus);
    const b = Number(base % modulus);
    let r = 1 % m;
    for (; i < exponent.length; i++) {
      const byte = exponent[i]!;
      for (let bit = 7; bit >= 0; bit--) {
        r = (r * r) % m;
        if ((byte >> bit) & 1) r = (r * b) % m;
      }
    }
    return BigInt(r);
  }
  const b = base % modulus;
  let r = 1n;
  for (; i < exponent.length; i++) {
    const byte = exponent[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      r = (r * r) % modulus;
      if ((byte >> bit) & 1) r = (r * b) % modulus;
    }
  }
  return r;
}
