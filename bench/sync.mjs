// Sync benchmark. Prints figures, asserts nothing. Usage: npm run bench:sync
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench),
//   BASALT_BENCH_LAG_BLOCKS (default 30): blocks sealed at 1 s for the follower-lag figure.
// 1. A node holding the benchmark chain serves it over libp2p; a new node syncs it from genesis
//    (full verification and execution, as import does). Compared with offline archive import of the
//    same chain in the same run.
// 2. A validator seals a block a second; a follower's lag behind it, per block: the follower's
//    'imported block' log time minus the validator's 'sealed block' log time (same machine clock).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixture } from './lib/fixture.mjs';
import { startNode } from './lib/node.mjs';
import { percentile, runCliMeasured } from './lib/util.mjs';

const LAG_BLOCKS = Number(process.env.BASALT_BENCH_LAG_BLOCKS ?? 30);
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-sync-'));
const nodes = [];
const report = (line) => process.stdout.write(`${line}\n`);

const node = (args) => {
  const n = startNode(args);
  nodes.push(n);
  return n;
};

try {
  const fx = await ensureFixture();
  report(`fixture: ${fx.blocks} blocks, ${fx.txs} transactions (transfers and contract storage writes)`);

  // --- sync from a peer ---
  const src = join(work, 'src');
  cpSync(fx.dataDir, src, { recursive: true });
  const server = node(['--data-dir', src, '--chain', fx.genesisPath, '--libp2p', '127.0.0.1:0']);
  const addr = (await server.waitFor((l) => l.event === 'p2p.listening', 'source listening')).addresses[0];
  const follower = node(['--data-dir', join(work, 'dst'), '--chain', fx.genesisPath, '--libp2p', '127.0.0.1:0', '--bootnode', addr]);
  const connected = await follower.waitFor((l) => l.event === 'peer.connected', 'peer connected');
  const done = await follower.waitFor((l) => l.event === 'sync.progress' && l.head === fx.blocks, 'synced to the head');
  const syncSec = (done.time - connected.time) / 1000;
  report(
    `sync from one peer over libp2p (loopback): ${(fx.blocks / syncSec).toFixed(0)} blocks/s, ${(fx.txs / syncSec).toFixed(0)} tx/s (${(syncSec * 1000).toFixed(0)} ms from handshake to head)`,
  );
  await follower.stop();
  await server.stop();

  // --- offline archive import of the same chain ---
  const archive = join(work, 'chain.bsa');
  const exp = await runCliMeasured(['export', archive, '--data-dir', src, '--compression', 'zstd', '--quiet', '--json']);
  if (exp.code !== 0) throw new Error(exp.stderr);
  const imp = await runCliMeasured(['import', archive, '--data-dir', join(work, 'imported'), '--chain', fx.genesisPath, '--quiet', '--json']);
  if (imp.code !== 0) throw new Error(imp.stderr);
  const importSec = JSON.parse(imp.stdout).durationMs / 1000;
  report(
    `offline archive import: ${(fx.blocks / importSec).toFixed(0)} blocks/s, ${(fx.txs / importSec).toFixed(0)} tx/s (${(importSec * 1000).toFixed(0)} ms); sync/import time ratio ${(syncSec / importSec).toFixed(2)}x`,
  );

  // --- follower lag at 1 s blocks ---
  const vDir = join(work, 'validator');
  const init = await runCliMeasured(['secrets', 'init', '--data-dir', vDir, '--json']);
  const { validatorAddress } = JSON.parse(init.stdout);
  const genesis = join(work, 'lag-genesis.json');
  const g = await runCliMeasured(['genesis', '--dir', genesis, '--ibft-validator', validatorAddress]);
  if (g.code !== 0) throw new Error(g.stderr);
  const validator = node(['--data-dir', vDir, '--chain', genesis, '--seal', '--block-time', '1', '--libp2p', '127.0.0.1:0']);
  const vAddr = (await validator.waitFor((l) => l.event === 'p2p.listening', 'validator listening')).addresses[0];
  const lagger = node(['--data-dir', join(work, 'lagger'), '--chain', genesis, '--libp2p', '127.0.0.1:0', '--bootnode', vAddr, '--log-level', 'debug']);
  await lagger.waitFor((l) => l.event === 'peer.connected', 'follower connected');
  const first = (await lagger.waitFor((l) => l.event === 'block.imported' || l.event === 'sync.progress', 'first block')).time;
  await validator.waitFor((l) => l.event === 'block.sealed' && l.time > first + (LAG_BLOCKS + 1) * 1000, `${LAG_BLOCKS} more blocks`, (LAG_BLOCKS + 30) * 1000);
  await new Promise((r) => setTimeout(r, 500));
  const sealed = new Map(validator.logs.filter((l) => l.event === 'block.sealed' && l.time > first).map((l) => [l.number, l.time]));
  const lags = lagger.logs.filter((l) => l.event === 'block.imported' && sealed.has(l.number)).map((l) => l.time - sealed.get(l.number));
  lags.sort((a, b) => a - b);
  report(
    `follower lag behind the validator at 1 s blocks: p50 ${percentile(lags, 50)} ms, p99 ${percentile(lags, 99)} ms, max ${lags[lags.length - 1]} ms (n=${lags.length} blocks, sealed-log to imported-log)`,
  );
} finally {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  rmSync(work, { recursive: true, force: true });
}
