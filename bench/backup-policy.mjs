// Scheduled backups benchmark: what backing up costs a sealing node, and what restoring from
// pieces costs against a full replay. Prints figures, asserts nothing. Usage: npm run bench:backup-policy
//   BASALT_BENCH_SECONDS (default 20): length of each phase (without, then with the scheduler)
//   BASALT_BENCH_BLOCK_TIME (default 0.25): seconds between blocks
// Phase 1 runs the node under transaction load without backups, phase 2 on the same data dir with a
// snapshot every 5 s and an archive every 1 s (far shorter than any real schedule, to make the cost
// visible). In both, block intervals come from the node's "sealed block" log times and JSON-RPC
// latency from eth_getBalance calls made throughout. Then the pieces are restored to the newest block
// (snapshot + archives, every archive block re-executed) and compared with a full replay of the same
// blocks from one archive (`import` into a fresh data dir).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { startNode } from './lib/node.mjs';
import { CLI, percentile, runCliMeasured } from './lib/util.mjs';

const SECONDS = Number(process.env.BASALT_BENCH_SECONDS ?? 20);
const BLOCK_TIME = process.env.BASALT_BENCH_BLOCK_TIME ?? '0.25';
const SENDERS = 8;
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-backup-'));
const report = (line) => process.stdout.write(`${line}\n`);
const cli = (args) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};

const wallets = Array.from({ length: SENDERS }, (_, i) => new Wallet(`0x${(i + 2000).toString(16).padStart(64, '0')}`));
const nonces = wallets.map(() => 0);
const dataDir = join(work, 'node');
const backups = join(work, 'backups');
const validator = JSON.parse(cli(['secrets', 'init', '--data-dir', dataDir, '--json'])).validatorAddress;
const genesis = join(work, 'genesis.json');
cli(['genesis', '--dir', genesis, '--ibft-validator', validator, ...wallets.flatMap((w) => ['--premine', `${w.address}:${10n ** 24n}`])]);

async function phase(label, extra) {
  const node = startNode(['--data-dir', dataDir, '--chain', genesis, '--seal', '--block-time', BLOCK_TIME, '--no-grpc-address', ...extra]);
  try {
    const url = `http://${(await node.waitForEvent('jsonrpc.listening', 'JSON-RPC', 30_000)).address}`;
    const call = async (method, params = []) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      });
      const body = await res.json();
      if (body.error) throw new Error(`${method}: ${body.error.message}`);
      return body.result;
    };
    const startedAt = Date.now();
    const end = startedAt + SECONDS * 1000;
    const latencies = [];
    let sent = 0;
    const load = (async () => {
      while (Date.now() < end) {
        const i = sent % SENDERS;
        const raw = await wallets[i].signTransaction({
          type: 2,
          chainId: 100,
          nonce: nonces[i]++,
          to: wallets[(i + 1) % SENDERS].address,
          value: 1n,
          gasLimit: 21000,
          maxFeePerGas: 10n ** 10n,
          maxPriorityFeePerGas: 1n,
        });
        await call('eth_sendRawTransaction', [raw]);
        sent++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const reads = (async () => {
      let i = 0;
      while (Date.now() < end) {
        const t0 = performance.now();
        await call('eth_getBalance', [wallets[i++ % SENDERS].address, 'latest']);
        latencies.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await Promise.all([load, reads]);
    const lines = node.logs;
    const sealed = lines.filter((l) => l.event === 'block.sealed' && l.time >= startedAt + 2000).map((l) => l.time);
    const intervals = sealed
      .slice(1)
      .map((t, i) => t - sealed[i])
      .sort((a, b) => a - b);
    latencies.sort((a, b) => a - b);
    const pieces = lines.filter((l) => l.event === 'backup.stored');
    report(
      `${label}: ${sent} txs, ${sealed.length} blocks; block interval p50 ${percentile(intervals, 50)} ms, p99 ${percentile(intervals, 99)} ms, max ${intervals[intervals.length - 1]} ms; ` +
        `eth_getBalance p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms` +
        (pieces.length
          ? `; ${pieces.filter((p) => p.kind === 'snapshot').length} snapshots, ${pieces.filter((p) => p.kind === 'archive').length} archives stored`
          : ''),
    );
  } finally {
    await node.stop();
  }
}

try {
  report(`block time ${BLOCK_TIME} s, ${SECONDS} s per phase, ~50 transfers/s, eth_getBalance every ~10 ms`);
  await phase('without backups', []);
  await phase('with scheduler ', ['--backup-dir', backups, '--backup-snapshot-interval', '5s', '--backup-archive-interval', '1s']);

  const list = JSON.parse(cli(['backup', 'list', '--backup-dir', backups, '--json']));
  const head = list[list.length - 1].endBlock;
  const snaps = list.filter((p) => p.kind === 'snapshot');
  const newestSnap = snaps[snaps.length - 1];
  const after = list.filter((p) => p.kind === 'archive' && BigInt(p.startBlock) > BigInt(newestSnap.endBlock));
  const r = await runCliMeasured(['backup', 'restore', '--backup-dir', backups, '--data-dir', join(work, 'restored'), '--chain', genesis, '--quiet', '--json']);
  if (r.code !== 0) throw new Error(r.stderr);
  report(
    `backup restore to block ${head} from snapshot at ${newestSnap.endBlock} + ${after.length} archives: ${(r.ms / 1000).toFixed(2)} s wall, ${(JSON.parse(r.stdout).durationMs / 1000).toFixed(2)} s in the restore (peak RSS ${(r.peakRss / 1e6).toFixed(0)} MB)`,
  );
  // Just below the newest snapshot: the snapshot before it, then the archives up to there.
  const below = String(BigInt(newestSnap.endBlock) - 1n);
  const o = await runCliMeasured([
    'backup',
    'restore',
    '--backup-dir',
    backups,
    '--data-dir',
    join(work, 'restored-old'),
    '--chain',
    genesis,
    '--at-block',
    below,
    '--quiet',
    '--json',
  ]);
  if (o.code !== 0) throw new Error(o.stderr);
  const oj = JSON.parse(o.stdout);
  report(
    `backup restore --at-block ${below} from ${oj.snapshot.split('-')[1].replace(/^0+/, '')} + ${oj.archives.length} archives (${oj.blocksImported} blocks re-executed): ${(o.ms / 1000).toFixed(2)} s wall, ${(oj.durationMs / 1000).toFixed(2)} s in the restore`,
  );
  const plain = await runCliMeasured(['restore', join(backups, newestSnap.file), '--data-dir', join(work, 'plain'), '--chain', genesis, '--quiet', '--json']);
  if (plain.code !== 0) throw new Error(plain.stderr);
  report(
    `basalt restore of that snapshot alone: ${(plain.ms / 1000).toFixed(2)} s wall, ${(JSON.parse(plain.stdout).durationMs / 1000).toFixed(2)} s in the restore`,
  );

  const full = join(work, 'full.bsa');
  cli(['export', full, '1', head, '--data-dir', dataDir, '--quiet']);
  const replay = await runCliMeasured(['import', full, '--data-dir', join(work, 'replayed'), '--chain', genesis, '--quiet']);
  if (replay.code !== 0) throw new Error(replay.stderr);
  report(`full replay of blocks 1-${head} (import of one archive): ${(replay.ms / 1000).toFixed(2)} s (peak RSS ${(replay.peakRss / 1e6).toFixed(0)} MB)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
