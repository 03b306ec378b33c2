// Real-contract workload (issue #24). Prints figures, asserts nothing. Usage: npm run bench:contracts
//   BASALT_BENCH_TPS (default 400): the rate `basalt loadtest` sends at; BASALT_BENCH_SECONDS (default 20);
//   BASALT_BENCH_MODES (default transfer,erc20,swap).
// For each mode of `basalt loadtest` (plain transfers; ERC-20 transfers; swaps on a constant-product
// pool, contracts/Loadtest.sol), in Mgas/s, the unit other clients publish:
// 1. sealing: one validator alone (--block-time 1) under the load: mined tx/s, Mgas/s, inclusion p50/p99;
// 2. import: that validator's chain exported, then imported into a new data dir (verify and execute
//    every block): the chain's gas over the import's own time;
// 3. sync: a new node syncs the same chain from it over libp2p (loopback): gas over handshake to head;
// 4. network: four validators on this machine under the same load sent to one of them: mined tx/s and
//    Mgas/s, against 1's figure (same run).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rpc, startIbftNetwork } from './lib/ibft-net.mjs';
import { startNode } from './lib/node.mjs';
import { runCliMeasured } from './lib/util.mjs';

const TPS = Number(process.env.BASALT_BENCH_TPS ?? 400);
const SECONDS = Number(process.env.BASALT_BENCH_SECONDS ?? 20);
const MODES = (process.env.BASALT_BENCH_MODES ?? 'transfer,erc20,swap').split(',');
const FUNDER_KEY = `0x${'77'.repeat(32)}`;
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-contracts-'));
const report = (line) => process.stdout.write(`${line}\n`);
const { runLoadtest } = await import(new URL('../dist/rpc/jsonrpc/loadtest.js', import.meta.url).href);
const { createAddressFromPrivateKey, hexToBytes } = await import('@ethereumjs/util');
const funder = createAddressFromPrivateKey(hexToBytes(FUNDER_KEY)).toString();
const open = [];
const mgas = (gas, seconds) => (gas / seconds / 1e6).toFixed(2);

/** The load of `mode` against `url`: loadtest's figures. */
const load = (url, mode) => runLoadtest({ rpcUrl: url, funderKey: hexToBytes(FUNDER_KEY), mode, tps: TPS, durationMs: SECONDS * 1000, drainMs: 120_000 });
const line = (r) =>
  `${r.mined}/${r.sent} mined (${r.reverted} reverted), ${r.minedPerSecond.toFixed(0)} tx/s, ${r.mgasPerSecond.toFixed(2)} Mgas/s, ${Math.round(r.gasUsed / Math.max(1, r.mined))} gas a tx, inclusion p50 ${r.latencyP50Ms} ms p99 ${r.latencyP99Ms} ms`;

/** Blocks and gas of the chain up to its head (read over JSON-RPC). */
async function chainGas(url) {
  const head = Number(BigInt(await rpc(url, 'eth_blockNumber')));
  let gas = 0;
  let txs = 0;
  for (let n = 1; n <= head; n++) {
    const b = await rpc(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false]);
    gas += Number(BigInt(b.gasUsed));
    txs += b.transactions.length;
  }
  return { head, gas, txs };
}

try {
  report(`basalt loadtest at ${TPS} tx/s for ${SECONDS} s a run; modes: ${MODES.join(', ')}`);
  for (const mode of MODES) {
    const dir = join(work, mode);
    // 1. Sealing, one validator alone.
    const single = await startIbftNetwork({ work: join(dir, 'single'), count: 1, blockTime: 1, premine: [`${funder}:${10n ** 27n}`] });
    open.push(single);
    const one = await load(single.rpcUrls[0], mode);
    report(`[${mode}] sealing, 1 validator: ${line(one)}`);
    const chain = await chainGas(single.rpcUrls[0]);
    await single.stop();

    // 2. Import of that chain (export offline, import into a new data dir).
    const archive = join(dir, 'chain.bsa');
    const exp = await runCliMeasured(['export', archive, '--data-dir', single.dirs[0], '--quiet', '--json']);
    if (exp.code !== 0) throw new Error(exp.stderr);
    const imp = await runCliMeasured(['import', archive, '--data-dir', join(dir, 'imported'), '--chain', single.genesis, '--quiet', '--json']);
    if (imp.code !== 0) throw new Error(imp.stderr);
    const importSec = JSON.parse(imp.stdout).durationMs / 1000;
    report(
      `[${mode}] import: ${chain.head} blocks, ${chain.txs} txs, ${(chain.gas / 1e6).toFixed(1)} Mgas in ${importSec.toFixed(2)} s: ${mgas(chain.gas, importSec)} Mgas/s, ${(chain.txs / importSec).toFixed(0)} tx/s`,
    );

    // 3. Sync of that chain from the validator's data dir (served, not sealing) over libp2p.
    const server = startNode(['--data-dir', single.dirs[0], '--chain', single.genesis, '--libp2p', '127.0.0.1:0', '--no-grpc-address']);
    open.push(server);
    const addr = (await server.waitFor((l) => l.event === 'p2p.listening', 'source listening')).addresses[0];
    const follower = startNode([
      '--data-dir',
      join(dir, 'follower'),
      '--chain',
      single.genesis,
      '--libp2p',
      '127.0.0.1:0',
      '--bootnode',
      addr,
      '--no-grpc-address',
    ]);
    open.push(follower);
    const connected = await follower.waitFor((l) => l.event === 'peer.connected', 'peer connected');
    const done = await follower.waitFor((l) => l.event === 'sync.progress' && l.head >= chain.head, 'synced to the head');
    const syncSec = (done.time - connected.time) / 1000;
    report(`[${mode}] sync from one peer: ${mgas(chain.gas, syncSec)} Mgas/s, ${(chain.txs / syncSec).toFixed(0)} tx/s (${syncSec.toFixed(2)} s)`);
    await follower.stop();
    await server.stop();

    // 4. Four validators, the load sent to one of them.
    const net = await startIbftNetwork({ work: join(dir, 'net'), count: 4, blockTime: 1, premine: [`${funder}:${10n ** 27n}`] });
    open.push(net);
    await net.waitForHeight(3, 120_000);
    const four = await load(net.rpcUrls[0], mode);
    report(`[${mode}] 4 validators: ${line(four)}`);
    report(`[${mode}] 4 validators / 1 alone: ${((100 * four.minedPerSecond) / one.minedPerSecond).toFixed(0)}% of tx/s`);
    await net.stop();
  }
} finally {
  for (const n of open) await n.stop();
  rmSync(work, { recursive: true, force: true });
}
