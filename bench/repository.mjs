// Backup repository benchmark (issue #21). Prints figures, asserts nothing. Usage: npm run bench:repository
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench),
//   BASALT_BENCH_BACKUPS (default 20)
//
// The bench chain imported half-way and backed up into a repository; then, BACKUPS times, the next
// blocks imported and backed up again, as a node's scheduled backups would. The same-run baseline is a
// snapshot at each of the same points: what today's scheduled snapshots store every time. Then the
// restore of the newest backup against the restore of the newest snapshot.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureCopy } from './lib/fixture.mjs';
import { dirBytes, mb, runCliJson } from './lib/util.mjs';

const BACKUPS = Number(process.env.BASALT_BENCH_BACKUPS ?? 20);
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-repo-'));
const report = (line) => process.stdout.write(`${line}\n`);
const run = runCliJson;
try {
  const { fx, node, importRange } = await fixtureCopy(work);
  const repo = join(work, 'repo');
  const half = Math.floor(fx.blocks / 2);
  const step = Math.floor((fx.blocks - half) / BACKUPS);
  const snapshotBytes = async (n) => {
    const file = join(work, `node-${n}.bsn`);
    const s = await run(['snapshot', file, '--data-dir', node, '--quiet', '--json']);
    const bytes = statSync(file).size;
    return { file, bytes, ms: s.durationMs, peakRss: s.peakRss };
  };

  await importRange(1, half);
  const b1 = await run(['backup', 'create', '--data-dir', node, '--backup-dir', repo, '--json', '--quiet']);
  let snap = await snapshotBytes(0);
  let snapshotsTotal = snap.bytes;
  report(
    `first backup (block ${b1.head}): ${b1.durationMs} ms, stored ${mb(b1.added.bytes)} MB (${b1.added.blocks} blocks, ${b1.added.nodes} trie nodes, ${b1.added.codes} codes), peak RSS ${mb(b1.peakRss)} MB; snapshot of the same chain ${mb(snap.bytes)} MB in ${snap.ms} ms, peak RSS ${mb(snap.peakRss)} MB`,
  );
  const incremental = [];
  for (let i = 1; i <= BACKUPS; i++) {
    const from = half + (i - 1) * step + 1;
    await importRange(from, from + step - 1);
    const b = await run(['backup', 'create', '--data-dir', node, '--backup-dir', repo, '--json', '--quiet']);
    rmSync(snap.file);
    snap = await snapshotBytes(i);
    snapshotsTotal += snap.bytes;
    incremental.push({ bytes: b.added.bytes, ms: b.durationMs, nodes: b.added.nodes, snapshot: snap.bytes, peakRss: b.peakRss });
  }
  const avg = (f) => incremental.reduce((n, x) => n + f(x), 0) / incremental.length;
  const max = (f) => Math.max(...incremental.map(f));
  report(
    `${BACKUPS} backups ${step} blocks apart: stored ${mb(avg((x) => x.bytes))} MB each on average (max ${mb(max((x) => x.bytes))} MB; ${avg((x) => x.nodes).toFixed(0)} trie nodes), ${avg((x) => x.ms).toFixed(0)} ms (max ${max((x) => x.ms)} ms), peak RSS max ${mb(max((x) => x.peakRss))} MB; ` +
      `${(100 * avg((x) => x.bytes / x.snapshot)).toFixed(1)} % of a snapshot at the same point on average`,
  );
  const repoBytes = await dirBytes(repo);
  report(
    `repository after ${BACKUPS + 1} backups: ${mb(repoBytes)} MB; ${BACKUPS + 1} snapshots at the same points: ${mb(snapshotsTotal)} MB (${(snapshotsTotal / repoBytes).toFixed(1)}x)`,
  );
  const b3 = await run(['backup', 'create', '--data-dir', node, '--backup-dir', repo, '--json', '--quiet']);
  report(`backup with nothing new: ${b3.durationMs} ms, stored ${mb(b3.added.bytes)} MB`);

  const r1 = await run(['backup', 'restore', '--backup-dir', repo, '--data-dir', join(work, 'from-repo'), '--chain', fx.genesisPath, '--json', '--quiet']);
  const r2 = await run(['restore', snap.file, '--data-dir', join(work, 'from-snapshot'), '--chain', fx.genesisPath, '--json', '--quiet']);
  report(
    `restore of block ${r1.head} from the repository: ${r1.durationMs} ms, peak RSS ${mb(r1.peakRss)} MB; from the snapshot: ${r2.durationMs} ms, peak RSS ${mb(r2.peakRss)} MB (ratio ${(r1.durationMs / r2.durationMs).toFixed(2)})`,
  );
  const v = await run(['backup', 'verify', '--backup-dir', repo, '--json']);
  const p = await run(['backup', 'prune', '--backup-dir', repo, '--json']);
  report(
    `verify of the repository: ${v.valid ? 'valid' : 'INVALID'}; prune with every backup kept: ${p.durationMs} ms, ${mb(p.bytesBefore)} -> ${mb(p.bytesAfter)} MB`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
