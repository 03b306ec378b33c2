// Backup repository benchmark (issue #21). Prints figures, asserts nothing. Usage: npm run bench:repository
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench)
//
// The bench chain up to block N - STEP, backed up into a repository; then STEP more blocks, backed up
// again: what the second backup stored against a snapshot of the same chain (the same-run baseline,
// what a scheduled snapshot stores every time), and the restore of the second backup against the
// snapshot's restore.
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixture } from './lib/fixture.mjs';
import { dirBytes, mb, runCliMeasured } from './lib/util.mjs';

const STEP = Number(process.env.BASALT_BENCH_STEP ?? 100);
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-repo-'));
const report = (line) => process.stdout.write(`${line}\n`);
const run = async (args) => {
  const r = await runCliMeasured(args);
  if (r.code !== 0) throw new Error(`${args.slice(0, 2).join(' ')}: ${r.stderr}`);
  return { ...JSON.parse(r.stdout), peakRss: r.peakRss };
};
try {
  const fx = await ensureFixture();
  const src = join(work, 'src');
  cpSync(fx.dataDir, src, { recursive: true });
  const node = join(work, 'node');
  const repo = join(work, 'repo');
  const first = fx.blocks - STEP;
  const part = join(work, 'part.bsa');
  await run(['export', part, '1', String(first), '--data-dir', src, '--quiet', '--json']);
  await run(['import', part, '--data-dir', node, '--chain', fx.genesisPath, '--quiet', '--json']);
  const b1 = await run(['backup', 'create', '--data-dir', node, '--backup-dir', repo, '--json', '--quiet']);
  report(
    `first backup (block ${b1.head}): ${b1.durationMs} ms, stored ${mb(b1.added.bytes)} MB (${b1.added.blocks} blocks, ${b1.added.nodes} trie nodes, ${b1.added.codes} codes); peak RSS ${mb(b1.peakRss)} MB`,
  );

  const rest = join(work, 'rest.bsa');
  await run(['export', rest, String(first + 1), String(fx.blocks), '--data-dir', src, '--quiet', '--json']);
  await run(['import', rest, '--data-dir', node, '--quiet', '--json']);
  const b2 = await run(['backup', 'create', '--data-dir', node, '--backup-dir', repo, '--json', '--quiet']);
  report(
    `backup ${STEP} blocks later (block ${b2.head}): ${b2.durationMs} ms, stored ${mb(b2.added.bytes)} MB (${b2.added.blocks} blocks, ${b2.added.nodes} trie nodes, ${b2.added.codes} codes); peak RSS ${mb(b2.peakRss)} MB`,
  );

  // Baseline in the same run: a snapshot of the same chain, which a scheduled snapshot stores every time.
  const file = join(work, 'node.bsn');
  const snap = await run(['snapshot', file, '--data-dir', node, '--quiet', '--json']);
  const snapBytes = statSync(file).size;
  const b3 = await run(['backup', 'create', '--data-dir', node, '--backup-dir', repo, '--json', '--quiet']);
  report(`backup with nothing new: ${b3.durationMs} ms, stored ${mb(b3.added.bytes)} MB; peak RSS ${mb(b3.peakRss)} MB`);
  report(
    `snapshot of the same chain (peak RSS ${mb(snap.peakRss)} MB): ${snap.durationMs} ms, ${mb(snapBytes)} MB; the incremental backup stored ${((100 * b2.added.bytes) / snapBytes).toFixed(1)} % of it; repository after both backups ${mb(await dirBytes(repo))} MB`,
  );

  const r1 = await run(['backup', 'restore', '--backup-dir', repo, '--data-dir', join(work, 'from-repo'), '--chain', fx.genesisPath, '--json', '--quiet']);
  const r2 = await run(['restore', file, '--data-dir', join(work, 'from-snapshot'), '--chain', fx.genesisPath, '--json', '--quiet']);
  report(
    `restore from the repository: ${r1.durationMs} ms, peak RSS ${mb(r1.peakRss)} MB; from the snapshot: ${r2.durationMs} ms, peak RSS ${mb(r2.peakRss)} MB (ratio ${(r1.durationMs / r2.durationMs).toFixed(2)})`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
