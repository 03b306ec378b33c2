// The transaction pool's admission cost, empty against full. Prints figures, asserts nothing.
// Usage: npm run bench:txpool
//   BASALT_BENCH_POOL_SENDERS  senders filling the pool, one transaction each (default 5120: 4,096 + 1,024, geth's limits)
// A pool over a real chain (LevelDB, a genesis funding every sender): first the same-run baseline,
// newcomers taken into an empty pool; then the pool filled; then newcomers a full pool refuses (a tip no
// higher than any pooled one), executable and queued; then newcomers it takes, each evicting one.
// Senders are recovered before timing (the intake's native recovery is not the pool's cost); each
// newcomer's account is read from the state, as a stranger's is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';

const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);
const { Chain } = await dist('chain/chain.js');
const { ibftEngineFor, makeGenesisFile, DEFAULT_BASE_FEE } = await dist('consensus/ibft/genesis.js');
const { openBytesDB } = await dist('storage/open-db.js');
const { TxPool } = await dist('txpool/txpool.js');

const SENDERS = Number(process.env.BASALT_BENCH_POOL_SENDERS ?? 5120);
const NEWCOMERS = 500;
const report = (line) => process.stdout.write(`${line}\n`);
const key = (i) => {
  const k = new Uint8Array(32).fill(7);
  k[28] = 1;
  k[29] = (i >> 16) & 0xff;
  k[30] = (i >> 8) & 0xff;
  k[31] = i & 0xff;
  return k;
};
const keys = Array.from({ length: SENDERS + 4 * NEWCOMERS }, (_, i) => key(i));
const validator = key(0xfffff);
const genesis = makeGenesisFile({
  name: 'bench-txpool',
  chainId: 100,
  validators: [privateToAddress(validator)],
  premine: keys.map((k) => ({ address: bytesToHex(privateToAddress(k)), balance: 10n ** 24n })),
  gasLimit: 30_000_000n,
  baseFee: DEFAULT_BASE_FEE,
  timestamp: 1_700_000_000n,
});
const dir = mkdtempSync(join(tmpdir(), 'basalt-bench-txpool-'));
const blockchainDb = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
const trieDb = await openBytesDB(join(dir, 'trie'), 'trie', dir);
const chain = await Chain.open({ blockchainDb, trieDb, genesis, engine: ibftEngineFor(genesis, 'bench genesis') });
const tx = (k, nonce, tip) => {
  const t = createFeeMarket1559Tx(
    {
      nonce,
      to: '0x000000000000000000000000000000000000beef',
      value: 1n,
      gasLimit: 21_000n,
      maxFeePerGas: 10n ** 11n,
      maxPriorityFeePerGas: tip,
      chainId: 100n,
    },
    { common: chain.commonAt(0n) },
  ).sign(k);
  t.getSenderAddress();
  return t;
};
/** Mean ms per `pool.add` of `txs`, and how many it refused. */
async function admit(pool, txs) {
  let refused = 0;
  const t0 = performance.now();
  for (const t of txs) await pool.add(t).catch(() => refused++);
  return { ms: (performance.now() - t0) / txs.length, refused };
}
try {
  let next = SENDERS;
  const fresh = (nonce, tip) => Array.from({ length: NEWCOMERS }, () => tx(keys[next++], nonce, tip));
  const baseline = await admit(new TxPool(chain), fresh(0n, 5n));
  const pool = new TxPool(chain);
  for (let i = 0; i < SENDERS; i++) await pool.add(tx(keys[i], 0n, 10n + BigInt(i % 50)));
  const { pending, queued } = pool.status();
  report(`pool filled: ${pending} executable, ${queued} queued, ${(pool.bytes / 1024).toFixed(0)} KiB`);
  report(`baseline, empty pool: ${baseline.ms.toFixed(3)} ms a transaction taken (${NEWCOMERS - baseline.refused} taken)`);
  const refused = await admit(pool, fresh(0n, 1n));
  report(
    `full pool, executable newcomer refused: ${refused.ms.toFixed(3)} ms (${(refused.ms / baseline.ms).toFixed(2)}x the baseline; ${refused.refused} refused)`,
  );
  const queuedRefused = await admit(pool, fresh(1n, 1n));
  report(
    `full pool, queued newcomer refused: ${queuedRefused.ms.toFixed(3)} ms (${(queuedRefused.ms / baseline.ms).toFixed(2)}x; ${queuedRefused.refused} refused)`,
  );
  const taken = await admit(pool, fresh(0n, 1000n));
  report(`full pool, newcomer taken (evicting one): ${taken.ms.toFixed(3)} ms (${(taken.ms / baseline.ms).toFixed(2)}x; ${NEWCOMERS - taken.refused} taken)`);
} finally {
  await chain.close();
  await blockchainDb.close();
  await trieDb.close();
  rmSync(dir, { recursive: true, force: true });
}
