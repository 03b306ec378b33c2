import { createCustomCommon, Mainnet } from '@ethereumjs/common';
import { getActivePrecompiles, paramsEVM, type ExecResult, type PrecompileInput } from '@ethereumjs/evm';
import { bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { chainPrecompiles, expModBytes, linearModexp, MODEXP_ADDRESS } from '../../../src/chain/precompiles.js';

const commonOf = (hardfork: string) => {
  const c = createCustomCommon({ chainId: 100 }, Mainnet, { hardfork });
  c.updateParams(paramsEVM as never);
  return c;
};

/** A deterministic stream of bytes (xorshift32). */
function prng(seed: number): (n: number) => Uint8Array {
  let x = seed;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  };
}

const word = (n: number) => {
  const w = new Uint8Array(32);
  new DataView(w.buffer).setUint32(28, n);
  return w;
};
const input = (b: Uint8Array, e: Uint8Array, m: Uint8Array, cut = 0) => {
  const all = new Uint8Array([...word(b.length), ...word(e.length), ...word(m.length), ...b, ...e, ...m]);
  return all.subarray(0, all.length - cut);
};
const outcome = (r: ExecResult) => ({ gas: r.executionGasUsed, value: bytesToHex(r.returnValue), error: r.exceptionError?.error });

describe('MODEXP with an exponentiation linear in the exponent', () => {
  it("gives @ethereumjs's result, gas and failure for every input: long and short exponents, zeros, ones, inputs cut short, too little gas, every gas rule", async () => {
    const bytes = prng(0x5eed);
    let fast = 0;
    for (const fork of ['istanbul', 'berlin', 'prague', 'osaka']) {
      const common = commonOf(fork);
      const original = getActivePrecompiles(common).get(MODEXP_ADDRESS)!;
      for (let i = 0; i < 150; i++) {
        const r = bytes(8);
        const pick = <T>(xs: T[], k: number) => xs[r[k]! % xs.length]!;
        const bLen = pick([0, 1, 3, 32, 40], 0);
        const eLen = pick([0, 1, 32, 64, 65, 100, 257, 600, 1100], 1);
        const mLen = pick([0, 1, 2, 3, 4, 8, 32, 64, 100], 2);
        const b = bytes(bLen);
        const e = bytes(eLen);
        const m = bytes(mLen);
        if (r[3]! % 5 === 0) e.fill(0, 0, Math.min(eLen, 40)); // leading zeros
        if (r[3]! % 7 === 0) e.fill(0); // exponent 0
        if (r[4]! % 6 === 0) m.fill(0); // modulus 0
        if (r[4]! % 6 === 1 && mLen > 0) m.fill(0), (m[mLen - 1] = 1); // modulus 1
        if (r[5]! % 8 === 0) b.fill(0);
        const cut = r[6]! % 4 === 0 ? Math.min(r[7]!, mLen + 10) : 0;
        const gasLimit = pick([0n, 199n, 500n, 20_000n, 1_000_000n, 50_000_000n], 7);
        const opts = { data: input(b, e, m, cut), gasLimit, common, _EVM: {} as never } as PrecompileInput;
        const ours = await linearModexp(opts, original);
        expect(outcome(ours), `${fork} #${i}`).toEqual(outcome(await original(opts)));
        if (eLen > 64 && ours.exceptionError === undefined && mLen > 0) fast++;
      }
    }
    expect(fast).toBeGreaterThan(50); // the linear path ran, not only @ethereumjs's
  });

  it('expModBytes is base^exponent mod modulus', () => {
    const pow = (b: bigint, e: bigint, m: bigint) => {
      let r = 1n % m;
      for (let i = 0n; i < e; i++) r = (r * b) % m;
      return r;
    };
    for (const [b, e, m] of [
      [3n, 0n, 7n],
      [3n, 200n, 1000003n],
      [0n, 5n, 13n],
      [12345n, 77n, 1n],
      [2n ** 70n + 5n, 300n, 2n ** 61n - 1n],
      // either side of the moduli whose products are exact in a double (2^26)
      [2n ** 26n - 2n, 1000n, 2n ** 26n - 1n],
      [2n ** 26n - 1n, 1000n, 2n ** 26n],
      [2n ** 26n, 1000n, 2n ** 26n + 1n],
      [12345678n, 999n, 2n ** 26n - 5n],
    ] as const) {
      const bytes = new Uint8Array([0, 0, Number(e >> 8n), Number(e & 0xffn)]);
      expect(expModBytes(b, bytes, m)).toBe(pow(b, e, m));
    }
  });

  it('is what every EVM of the chain runs at MODEXP (chainPrecompiles names its address)', () => {
    const list = chainPrecompiles(commonOf('prague'));
    expect(list.map((p) => (p.address as { toString(): string }).toString())).toEqual([`0x${MODEXP_ADDRESS}`]);
  });
});
