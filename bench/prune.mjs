// Offline state pruning benchmark (issue #22). Prints figures, asserts nothing. Usage: npm run bench:prune
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench),
//   BASALT_BENCH_KEEP (default 128): the states kept.
//
// The bench chain (12 transactions a block, every state kept: an archive node) copied, then `basalt
// prune --state-history KEEP`: its time, peak RSS, trie/ before and after, what `db inspect` counts
// before and after. Same-run baseline: `db check --full` of the same data dir before the prune (a walk
// of the head's state and of the whole chain), and a second prune (nothing left to delete).
// Then online: a new node syncs the chain from a peer holding it, once with --state-history KEEP
// (pruning every BASALT_BENCH_PRUNE_INTERVAL blocks, default 256, while it syncs) and once as an
// archive node (the same-run baseline): time to the head, prunes logged, trie/ at the end.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixture } from './lib/fixture.mjs';
import { startNode } from './lib/node.mjs';
import { dirBytes, mb, runCliMeasured } from './lib/util.mjs';

const KEEP = process.env.BASALT_BENCH_KEEP ?? '128';
const INTERVAL = process.env.BASALT_BENCH_PRUNE_INTERVAL ?? '256';
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-prune-'));
const report = (line) => process.stdout.write(`${line}\n`);
const run = async (args) => {
  const r = await runCliMeasured(args);
  if (r.code !== 0) throw new Error(`${args.slice(0, 2).join(' ')}: ${r.stderr}`);
  return { ...JSON.parse(r.stdout), ms: r.ms, peakRss: r.peakRss };
};
const trieRows = (inspect) => {
  const row = (kind) => inspect.rows.find((r) => r.database === 'trie' && r.kind === kind) ?? { entries: 0, keyBytes: 0, valueBytes: 0 };
  const nodes = row('trie nodes');
  return `${nodes.entries.toLocaleString('en')} trie nodes (${mb(nodes.keyBytes + nodes.valueBytes)} MB of keys and values), trie/ ${mb(inspect.onDisk.trie)} MB on disk`;
};
try {
  const fx = await ensureFixture();
  const dir = join(work, 'node');
  cpSync(fx.dataDir, dir, { recursive: true });
  const check = await run(['db', 'check', '--data-dir', dir, '--full', '--json', '--quiet']);
  const before = await run(['db', 'inspect', '--data-dir', dir, '--json', '--quiet']);
  report(`chain of ${fx.blocks} blocks (${fx.txs} transactions), every state: ${trieRows(before)}; db inspect ${(before.ms / 1000).toFixed(1)} s`);
  report(`baseline, db check --full: ${(check.ms / 1000).toFixed(1)} s, peak RSS ${mb(check.peakRss)} MB`);
  const p = await run(['prune', '--data-dir', dir, '--state-history', KEEP, '--json', '--quiet']);
  const after = await run(['db', 'inspect', '--data-dir', dir, '--json', '--quiet']);
  report(
    `prune --state-history ${KEEP}: ${(p.ms / 1000).toFixed(1)} s, peak RSS ${mb(p.peakRss)} MB; kept blocks ${p.keptFrom}-${p.head} (${p.nodesKept.toLocaleString('en')} nodes), deleted ${p.deleted.toLocaleString('en')} of ${p.keysScanned.toLocaleString('en')} entries; trie/ ${mb(p.bytesBefore)} -> ${mb(p.bytesAfter)} MB`,
  );
  report(`after: ${trieRows(after)}`);
  const again = await run(['prune', '--data-dir', dir, '--state-history', KEEP, '--json', '--quiet']);
  report(`second prune: ${(again.ms / 1000).toFixed(1)} s, deleted ${again.deleted}`);
  const checked = await run(['db', 'check', '--data-dir', dir, '--full', '--json', '--quiet']);
  report(`db check --full after: ${checked.ok ? 'ok' : `PROBLEMS: ${checked.problems.slice(0, 3).join('; ')}`}`);

  // Online: a node syncing the chain prunes as it goes; the same sync as an archive node is the baseline.
  const source = join(work, 'source');
  cpSync(fx.dataDir, source, { recursive: true });
  const server = startNode(['--data-dir', source, '--chain', fx.genesisPath, '--libp2p', '127.0.0.1:0', '--state-history', 'all']);
  try {
    const addr = (await server.waitFor((l) => l.event === 'p2p.listening', 'source listening')).addresses[0];
    for (const mode of [KEEP, 'all']) {
      const dataDir = join(work, `synced-${mode}`);
      const follower = startNode([
        '--data-dir',
        dataDir,
        '--chain',
        fx.genesisPath,
        '--libp2p',
        '127.0.0.1:0',
        '--bootnode',
        addr,
        '--state-history',
        mode,
        '--state-prune-interval',
        INTERVAL,
      ]);
      let s;
      try {
        const connected = await follower.waitFor((l) => l.event === 'peer.connected', 'peer connected');
        const done = await follower.waitFor((l) => l.event === 'sync.progress' && l.head === fx.blocks, 'synced to the head');
        s = { sec: (done.time - connected.time) / 1000, prunes: follower.logs.filter((l) => l.event === 'state.pruned') };
      } finally {
        await follower.stop();
      }
      report(
        `sync of ${fx.blocks} blocks, --state-history ${mode}${mode === 'all' ? ' (baseline)' : ` --state-prune-interval ${INTERVAL}`}: ${s.sec.toFixed(1)} s to the head (${(fx.blocks / s.sec).toFixed(0)} blocks/s), ${s.prunes.length} prunes (${s.prunes.map((p) => `${p.deleted} deleted in ${p.ms} ms`).join(', ') || 'none'}); trie/ ${mb(await dirBytes(join(dataDir, 'trie')))} MB after`,
      );
    }
  } finally {
    await server.stop();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
