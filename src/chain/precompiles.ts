import type { Common } from '@ethereumjs/common';
import { getActivePrecompiles, type CustomPrecompile, type ExecResult, type PrecompileInput } from '@ethereumjs/evm';
import { bigIntToBytes, bytesToBigInt, createAddressFromString, setLengthLeft, setLengthRight } from '@ethereumjs/util';

/** MODEXP's address (EIP-198), unprefixed as @ethereumjs keys its precompiles. */
export const MODEXP_ADDRESS = '0000000000000000000000000000000000000005';

/**
 * Exponents up to this many bytes go through @ethereumjs's own MODEXP whole: its exponentiation shifts
 * the whole exponent once a bit, quadratic in the exponent's length, which only longer ones make costly.
 */
const SHORT_EXPONENT_BYTES = 64n;

/**
 * The precompiles Basalt runs differently from @ethereumjs, for every EVM (blocks built and imported,
 * simulations): MODEXP with an exponentiation linear in the exponent's length. @ethereumjs's
 * (`expMod`, v10) shifts the whole exponent once a bit: a 100 KB exponent, priced 267,000 gas under
 * EIP-2565 with a one-byte modulus, held the event loop ~7 s, so one transaction of 30M gas of them a
 * block's execution for minutes on every validator. Results, gas and failures are @ethereumjs's.
 */
export function chainPrecompiles(common: Common): CustomPrecompile[] {
  const original = getActivePrecompiles(common).get(MODEXP_ADDRESS);
  if (original === undefined) return [];
  return [{ address: createAddressFromString(`0x${MODEXP_ADDRESS}`), function: (input) => linearModexp(input, original) }];
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
