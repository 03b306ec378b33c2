// Sealing benchmark for one validator. Prints figures, asserts nothing. Usage: npm run bench:seal
//   BASALT_BENCH_SEAL_SECONDS (default 10): how long each phase measures.
// 1. Baseline, same run and same file system: one durable file replace (temp file, fsync, rename,
//    folder fsync), the unit a validator pays to remember what it signed before it signs.
// 2. Empty blocks as fast as the node seals them (--block-time 0.001): blocks/s and the interval
//    between 'sealed block' log lines. What a block costs apart from its transactions: building,
//    the sign journal's fsyncs, committing.
// 3. 2,000 transfers from one account sent at once through JSON-RPC at --block-time 0.001: the time
//    until the last is included.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { startNode } from './lib/node.mjs';
import { percentile, runCliMeasured, transferBurst } from './lib/util.mjs';

const SECONDS = Number(process.env.BASALT_BENCH_SEAL_SECONDS ?? 10);
const TRANSFERS = 2000;
const SENDER = new Wallet(`0x${'11'.repeat(32)}`);
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-seal-'));
const nodes = [];
const report = (line) => process.stdout.write(`${line}\n`);

try {
  const { replaceFile } = await import(new URL('../dist/util/durable.js', import.meta.url).href);
  const probe = join(work, 'probe');
  const bytes = new Uint8Array(200);
  for (let i = 0; i < 20; i++) replaceFile(probe, bytes, 0o600);
  const n = 300;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) replaceFile(probe, bytes, 0o600);
  const replaceMs = (performance.now() - t0) / n;
  report(`baseline: one durable file replace (write, fsync, rename, folder fsync) ${replaceMs.toFixed(2)} ms`);

  const dataDir = join(work, 'node');
  const init = await runCliMeasured(['secrets', 'init', '--data-dir', dataDir, '--json']);
  if (init.code !== 0) throw new Error(init.stderr);
  const { validatorAddress } = JSON.parse(init.stdout);
  const genesis = join(work, 'genesis.json');
  const g = await runCliMeasured(['genesis', '--dir', genesis, '--ibft-validator', validatorAddress, '--premine', `${SENDER.address}:${10n ** 24n}`]);
  if (g.code !== 0) throw new Error(g.stderr);

  // --- empty blocks ---
  let node = startNode(['--data-dir', dataDir, '--chain', genesis, '--seal', '--block-time', '0.001', '--no-jsonrpc']);
  nodes.push(node);
  const first = await node.waitFor((l) => l.event === 'block.sealed' && l.number >= 20, 'block 20', 60_000);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  await node.stop();
  const times = node.logs.filter((l) => l.event === 'block.sealed' && l.time >= first.time).map((l) => l.time);
  const gaps = times
    .slice(1)
    .map((t, i) => t - times[i])
    .sort((a, b) => a - b);
  const span = (times[times.length - 1] - times[0]) / 1000;
  const perBlock = (span * 1000) / (times.length - 1);
  report(
    `empty blocks at --block-time 0.001: ${((times.length - 1) / span).toFixed(0)} blocks/s, ${perBlock.toFixed(2)} ms a block (${(perBlock / replaceMs).toFixed(1)} durable replaces); interval p50 ${percentile(gaps, 50)} ms, p99 ${percentile(gaps, 99)} ms (n=${times.length})`,
  );

  // --- transfers ---
  node = startNode(['--data-dir', dataDir, '--chain', genesis, '--seal', '--block-time', '0.001']);
  nodes.push(node);
  const url = `http://${(await node.waitFor((l) => l.event === 'jsonrpc.listening', 'JSON-RPC')).address}`;
  const before = node.logs.filter((l) => l.event === 'block.sealed').length;
  const { acceptedMs, ms } = await transferBurst(url, SENDER, TRANSFERS);
  const blocks = node.logs.filter((l) => l.event === 'block.sealed').slice(before);
  const withTxs = blocks.filter((l) => l.txs > 0).length;
  report(
    `${TRANSFERS} transfers sent at once: accepted by JSON-RPC in ${acceptedMs.toFixed(0)} ms, all included after ${ms.toFixed(0)} ms (${((TRANSFERS / ms) * 1000).toFixed(0)} tx/s end to end, ${((TRANSFERS * 21_000) / ms / 1000).toFixed(1)} Mgas/s, in ${withTxs} blocks)`,
  );
  await node.stop();
} finally {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  rmSync(work, { recursive: true, force: true });
}
