// Snapshot/restore benchmark (issue #5). Prints figures, asserts nothing. Usage: npm run bench:snapshot
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench)
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixture } from './lib/fixture.mjs';
import { dirBytes, mb, runCliMeasured } from './lib/util.mjs';

const work = mkdtempSync(join(tmpdir(), 'basalt-bench-snap-'));
const report = (line) => process.stdout.write(`${line}\n`);
try {
  const fx = await ensureFixture();
  const src = join(work, 'src');
  cpSync(fx.dataDir, src, { recursive: true });
  const dataDirBytes = (await dirBytes(join(src, 'blockchain'))) + (await dirBytes(join(src, 'trie')));
  report(`fixture: ${fx.blocks} blocks, ${fx.txs} transactions; data dir (blockchain/ + trie/) ${mb(dataDirBytes)} MB`);

  const file = join(work, 'node.bsn');
  const snap = await runCliMeasured(['snapshot', file, '--data-dir', src, '--quiet', '--json']);
  if (snap.code !== 0) throw new Error(snap.stderr);
  const s = JSON.parse(snap.stdout);
  const size = statSync(file).size;
  report(
    `snapshot: ${s.durationMs} ms, ${mb(size / (s.durationMs / 1000))} MB/s, ${mb(size)} MB (${s.nodes} state nodes, ${s.codes} codes); size / data dir ${(size / dataDirBytes).toFixed(4)}; peak RSS ${mb(snap.peakRss)} MB`,
  );

  const restored = join(work, 'restored');
  const rest = await runCliMeasured(['restore', file, '--data-dir', restored, '--chain', fx.genesisPath, '--quiet', '--json']);
  if (rest.code !== 0) throw new Error(rest.stderr);
  const r = JSON.parse(rest.stdout);
  report(
    `restore: ${r.durationMs} ms, ${mb(size / (r.durationMs / 1000))} MB/s, peak RSS ${mb(rest.peakRss)} MB; restored data dir ${mb((await dirBytes(join(restored, 'blockchain'))) + (await dirBytes(join(restored, 'trie'))))} MB`,
  );

  // Baseline in the same run: rebuilding the same chain by import (full replay).
  const archive = join(work, 'chain.bsa');
  const exp = await runCliMeasured(['export', archive, '--data-dir', src, '--quiet', '--json']);
  if (exp.code !== 0) throw new Error(exp.stderr);
  const imp = await runCliMeasured(['import', archive, '--data-dir', join(work, 'replayed'), '--chain', fx.genesisPath, '--quiet', '--json']);
  if (imp.code !== 0) throw new Error(imp.stderr);
  const i = JSON.parse(imp.stdout);
  report(
    `import by replay of the same ${fx.blocks} blocks: ${i.durationMs} ms; restore is ${(i.durationMs / r.durationMs).toFixed(1)}x faster (import/restore time ratio)`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
