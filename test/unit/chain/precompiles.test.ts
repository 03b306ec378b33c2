import { createCustomCommon, Mainnet } from '@ethereumjs/common';
import { getActivePrecompiles, NobleBN254, paramsEVM, type ExecResult, type PrecompileInput } from '@ethereumjs/evm';
import { bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { chainEvmOpts } from '../../../src/chain/forks.js';
import { BLAKE2F_ADDRESS, chainBn254, chainPrecompiles, expModBytes, fastBlake2f, linearModexp, MODEXP_ADDRESS } from '../../../src/chain/precompiles.js';

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

  it('is what every EVM of the chain runs at MODEXP and BLAKE2F, with the WebAssembly BN254 (chainEvmOpts, which the executor, simulations and traces take)', () => {
    const list = chainPrecompiles(commonOf('prague'));
    expect(list.map((p) => (p.address as { toString(): string }).toString())).toEqual([`0x${MODEXP_ADDRESS}`, `0x${BLAKE2F_ADDRESS}`]);
    const opts = chainEvmOpts(commonOf('prague'));
    expect(opts.bn254).toBe(chainBn254);
    expect(opts.customPrecompiles.length).toBe(2);
  });
});

/** BLAKE2F's input (EIP-152): rounds (u32 big-endian), 208 bytes of h, m and t, the final flag. */
const blake2fInput = (rounds: number, body: Uint8Array, flag: number) => {
  const data = new Uint8Array(213);
  new DataView(data.buffer).setUint32(0, rounds);
  data.set(body.subarray(0, 208), 4);
  data[212] = flag;
  return data;
};

describe('BLAKE2F with the work vector in locals', () => {
  it("gives @ethereumjs's result, gas and failure for every input: rounds from 0 to 1,000, both final flags, bad flags and lengths, too little gas", async () => {
    const bytes = prng(0xb1a4e);
    const common = commonOf('prague');
    const original = getActivePrecompiles(common).get(BLAKE2F_ADDRESS)!;
    let ran = 0;
    for (let i = 0; i < 600; i++) {
      const r = bytes(4);
      const rounds = i < 100 ? i : i < 500 ? (r[0]! << 2) | (r[1]! & 3) : [0xffffffff, 0x80000000, 12, 1][i % 4]!;
      let data = blake2fInput(rounds, bytes(208), r[2]! % 10 === 0 ? r[3]! : r[2]! & 1);
      if (i % 37 === 0) data = data.subarray(0, 212);
      if (i % 41 === 0) data = new Uint8Array([...data, 0]);
      const gasLimit = i % 9 === 0 ? BigInt(rounds) - 1n : 10_000n;
      const opts = { data, gasLimit, common, _EVM: {} as never } as PrecompileInput;
      const ours = await fastBlake2f(opts, original);
      expect(outcome(ours), `#${i}: ${rounds} rounds`).toEqual(outcome(await original(opts)));
      if (ours.exceptionError === undefined) ran++;
    }
    expect(ran).toBeGreaterThan(300); // most ran through the new F, not only @ethereumjs's failures
  });

  it("gives EIP-152's test vectors 5 to 7 (12 rounds of BLAKE2b's 'abc', the flag off, one round)", async () => {
    const common = commonOf('prague');
    const original = getActivePrecompiles(common).get(BLAKE2F_ADDRESS)!;
    const h = '48c9bdf267e6096a3ba7ca8485ae67bb2bf894fe72f36e3cf1361d5f3af54fa5d182e6ad7f520e511f6c3e2b8c68059b6bbd41fbabd9831f79217e1319cde05b';
    const body = Uint8Array.from(Buffer.from(`${h}${'616263'.padEnd(256, '0')}${'03'.padEnd(32, '0')}`, 'hex'));
    const run = async (rounds: number, flag: number) =>
      bytesToHex(
        (await fastBlake2f({ data: blake2fInput(rounds, body, flag), gasLimit: 100n, common, _EVM: {} as never } as PrecompileInput, original)).returnValue,
      );
    expect(await run(12, 1)).toBe(
      '0xba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
    );
    expect(await run(12, 0)).toBe(
      '0x75ab69d3190a562c51aef8d88f1c2775876944407270c42c9844252c26d2875298743e7f6d5ea2f2d3e8d226039cd31b4e426ac4f2d3d666a610c2116fde4735',
    );
    expect(await run(1, 1)).toBe(
      '0xb63a380cb2897d521994a85234ee2c181b5f844d2c624c002677e9703449d2fba551b3a8333bcdf5f2f7e08993d53923de3d64fcc68c034e717b9293fed7a421',
    );
  });
});

const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const word256 = (n: bigint) => n.toString(16).padStart(64, '0');
const G1 = word256(1n) + word256(2n);
const NEG_G1 = word256(1n) + word256(P - 2n);
const G2 =
  '198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c21800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed' +
  '090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa';

describe('BN254 on the WebAssembly backend (chainBn254)', () => {
  it("gives the default backend's results for ECADD, ECMUL and the pairing check, valid and invalid points, and fails the same inputs with all their gas", async () => {
    const common = commonOf('prague');
    const active = getActivePrecompiles(common);
    const bytes = prng(0xb254);
    const noble = { _bn254: new NobleBN254() } as never;
    const wasm = { _bn254: chainBn254 } as never;
    const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
    const small = (n: number) => word256(BigInt(n));
    const cases: [string, Uint8Array][] = [];
    const g1s = [G1, NEG_G1, word256(0n) + word256(0n), word256(1n) + word256(3n), word256(P) + word256(2n), word256(P + 1n) + word256(2n)];
    for (const a of g1s) for (const b of g1s) cases.push(['06', fromHex(a + b)]);
    cases.push(['06', new Uint8Array()], ['06', fromHex(G1)], ['06', fromHex(G1 + G1 + G1)]);
    for (const a of g1s) for (const k of [0n, 1n, 2n, 7n, P - 1n, (1n << 256n) - 1n]) cases.push(['07', fromHex(a + word256(k))]);
    cases.push(['07', fromHex(G1)], ['07', fromHex(G1 + small(5).slice(0, 30))]);
    const badG2 = `${G2.slice(0, 255)}0`;
    for (const pairs of [
      '',
      G1 + G2,
      G1 + G2 + NEG_G1 + G2,
      G1 + G2 + G1 + G2,
      word256(0n) + word256(0n) + G2,
      G1 + '0'.repeat(256),
      G1 + badG2,
      word256(1n) + word256(3n) + G2,
      G1 + word256(P) + G2.slice(64),
      (G1 + G2).repeat(3) + NEG_G1 + G2,
    ])
      cases.push(['08', fromHex(pairs)]);
    cases.push(['08', fromHex(G1 + G2).subarray(0, 191)]);
    for (let i = 0; i < 60; i++) cases.push([['06', '07', '08'][i % 3]!, bytes(i % 3 === 2 ? 192 : 128)]);
    let ok = 0;
    for (const [at, data] of cases) {
      const run = active.get(at.padStart(40, '0'))!;
      const opts = (evm: never) => ({ data, gasLimit: 1_000_000n, common, _EVM: evm }) as PrecompileInput;
      const a = await run(opts(noble));
      const b = await run(opts(wasm));
      const label = `${at} ${bytesToHex(data).slice(0, 80)}`;
      expect(b.exceptionError === undefined, label).toBe(a.exceptionError === undefined);
      expect(b.executionGasUsed, label).toBe(a.executionGasUsed);
      expect(bytesToHex(b.returnValue), label).toBe(bytesToHex(a.returnValue));
      if (a.exceptionError === undefined) ok++;
    }
    expect(ok).toBeGreaterThan(30);
  });
});
