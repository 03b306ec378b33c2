// MODEXP benchmark: the precompile as every EVM of the chain runs it (src/chain/precompiles.ts) against
// @ethereumjs's own (the same-run baseline), on inputs EIP-2565 prices low for their work: a long
// exponent with a one-byte and a 32-byte modulus. Prints figures, asserts nothing (the unit tests
// check the results are the same). Usage: npm run bench:precompiles
//   BASALT_BENCH_MODEXP_KB (default 100): the exponent's size in KB.
import { createCustomCommon, Mainnet } from '@ethereumjs/common';
import { getActivePrecompiles, paramsEVM } from '@ethereumjs/evm';

const KB = Number(process.env.BASALT_BENCH_MODEXP_KB ?? 100);
const { linearModexp, MODEXP_ADDRESS } = await import(new URL('../dist/chain/precompiles.js', import.meta.url).href);
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
