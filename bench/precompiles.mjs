// Precompile benchmark: the precompiles every EVM of the chain runs differently from @ethereumjs
// (src/chain/precompiles.ts) against @ethereumjs's own (the same-run baseline), on the inputs that cost
// the most time per gas: MODEXP with a long exponent (a one-byte and a 32-byte modulus), BLAKE2F,
// and the BN254 ECMUL and pairing check on the WebAssembly backend against noble-curves. Prints
// figures, asserts nothing (the unit tests check the results are the same).
// Usage: npm run bench:precompiles
//   BASALT_BENCH_MODEXP_KB (default 100): the exponent's size in KB.
import { createCustomCommon, Mainnet } from '@ethereumjs/common';
import { getActivePrecompiles, NobleBN254, paramsEVM } from '@ethereumjs/evm';

const KB = Number(process.env.BASALT_BENCH_MODEXP_KB ?? 100);
const { linearModexp, fastBlake2f, chainBn254, MODEXP_ADDRESS, BLAKE2F_ADDRESS } = await import(new URL('../dist/chain/precompiles.js', import.meta.url).href);
const common = createCustomCommon({ chainId: 100 }, Mainnet, { hardfork: 'prague' });
common.updateParams(paramsEVM);
const original = getActivePrecompiles(common).get(MODEXP_ADDRESS);
const word = (n) => {
  const w = new Uint8Array(32);
  new DataView(w.buffer).setUint32(28, n);
  return w;
};
const report = (line) => process.stdout.write(`${line}\n`);
report(`MODEXP, exponent of ${KB} KB of 0xff, base 3 (Prague's gas rule, EIP-2565)`);
for (const mLen of [1, 32]) {
  const e = new Uint8Array(KB * 1024).fill(0xff);
  const m = new Uint8Array(mLen).fill(0xfb);
  const data = new Uint8Array([...word(1), ...word(e.length), ...word(mLen), 3, ...e, ...m]);
  const opts = { data, gasLimit: 50_000_000n, common, _EVM: {} };
  const time = async (f) => {
    const t0 = performance.now();
    const r = await f(opts);
    return { ms: performance.now() - t0, r };
  };
  const ours = await time((o) => linearModexp(o, original));
  const theirs = await time(original);
  const same = Buffer.from(ours.r.returnValue).equals(Buffer.from(theirs.r.returnValue)) && ours.r.executionGasUsed === theirs.r.executionGasUsed;
  const gas = Number(ours.r.executionGasUsed);
  report(
    `  ${String(mLen).padStart(2)}-byte modulus: ${gas.toLocaleString('en-US')} gas; linear ${ours.ms.toFixed(0)} ms (${(gas / 1000 / ours.ms).toFixed(1)} Mgas/s), @ethereumjs ${theirs.ms.toFixed(0)} ms (${(gas / 1000 / theirs.ms).toFixed(2)} Mgas/s): ${(theirs.ms / ours.ms).toFixed(1)}x faster, same result: ${same}`,
  );
}

// The others: Mgas/s of ours against @ethereumjs's, each the median of 5 runs after a warm-up.
const median = async (f, runs = 5) => {
  await f();
  const times = [];
  let r;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    r = await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[runs >> 1], r };
};
const compare = async (label, ours, theirs) => {
  const a = await median(ours);
  const b = await median(theirs);
  const gas = Number(a.r.executionGasUsed);
  const same = Buffer.from(a.r.returnValue).equals(Buffer.from(b.r.returnValue)) && a.r.executionGasUsed === b.r.executionGasUsed && !a.r.exceptionError;
  report(
    `${label}: ${gas.toLocaleString('en-US')} gas; ours ${a.ms.toFixed(1)} ms (${(gas / 1000 / a.ms).toFixed(1)} Mgas/s), @ethereumjs ${b.ms.toFixed(1)} ms (${(gas / 1000 / b.ms).toFixed(2)} Mgas/s): ${(b.ms / a.ms).toFixed(1)}x faster, same result: ${same}`,
  );
};
const all = getActivePrecompiles(common);
const blake = new Uint8Array(213);
new DataView(blake.buffer).setUint32(0, 1_000_000);
blake[212] = 1;
const blakeOpts = { data: blake, gasLimit: 50_000_000n, common, _EVM: {} };
const originalBlake = all.get(BLAKE2F_ADDRESS);
await compare(
  'BLAKE2F, 1,000,000 rounds',
  () => fastBlake2f(blakeOpts, originalBlake),
  () => originalBlake(blakeOpts),
);
const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const w = (n) => n.toString(16).padStart(64, '0');
const G2 =
  '198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c21800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed' +
  '090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa';
const bytes = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const noble = { _bn254: new NobleBN254() };
const wasm = { _bn254: chainBn254 };
const bn = async (label, at, data, repeat) => {
  const run = all.get(at.padStart(40, '0'));
  const many = (evm) => async () => {
    let r;
    for (let i = 0; i < repeat; i++) r = await run({ data, gasLimit: 50_000_000n, common, _EVM: evm });
    return { ...r, executionGasUsed: r.executionGasUsed * BigInt(repeat) };
  };
  await compare(label, many(wasm), many(noble));
};
await bn('ECMUL x 100, a 254-bit scalar', '07', bytes(w(1n) + w(2n) + w(P - 7n)), 100);
await bn('ECADD x 1,000', '06', bytes(w(1n) + w(2n) + w(1n) + w(2n)), 1000);
await bn('pairing check, 10 pairs', '08', bytes(`${w(1n)}${w(2n)}${G2}${w(1n)}${w(P - 2n)}${G2}`.repeat(5)), 1);
