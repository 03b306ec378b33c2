// Backup repository: backups that complete a history segment (issue #21). Prints figures, asserts
// nothing. Usage: npm run bench:repository-segments
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench),
//   BASALT_BENCH_SEGMENT (blocks per segment, default 256), BASALT_BENCH_STEP (blocks between backups, default 100)
//
// The bench chain (12 transactions a block) imported half-way and backed up into a repository whose
// segments hold SEGMENT blocks (8,192 in a node; fewer here so that a 2,000-block chain completes several);
// then a backup every STEP blocks, as a node's scheduled backups would. For each backup: the blocks it
// stored against the blocks new since the last (the target: a backup costs what changed, also when it
// completes a segment), and its bytes against the same-run baseline of a snapshot at the same point.
// Then a prune, which merges the pieces of the complete segments, and a backup after it.
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureCopy } from './lib/fixture.mjs';
import { mb, runCliJson } from './lib/util.mjs';

const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);
const { openOfflineChain } = await dist('node/offline.js');
const { backupToRepository } = await dist('backup/repository/backup.js');
const { LocalIndex } = await dist('backup/repository/local-index.js');
const { Repository } = await dist('backup/repository/repository.js');
const { pruneRepository } = await dist('backup/repository/prune.js');
const { LocalDirTarget } = await dist('backup/targets/local-dir.js');

const SEGMENT = Number(process.env.BASALT_BENCH_SEGMENT ?? 256);
const STEP = Number(process.env.BASALT_BENCH_STEP ?? 100);
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-segments-'));
const report = (line) => process.stdout.write(`${line}\n`);
const run = runCliJson;
try {
  const { fx, node, importRange } = await fixtureCopy(work);
  const repoDir = join(work, 'repo');
  /** A backup of the node's data dir as it is (the library, for its segment size). */
  const backup = async () => {
    const { chain, close } = await openOfflineChain(node);
    const index = await LocalIndex.open(join(work, 'index'));
    try {
      return await backupToRepository(chain, new Repository(new LocalDirTarget(repoDir), join(work, 'staging')), index, {
        compression: 'zstd',
        segmentBlocks: SEGMENT,
      });
    } finally {
      await index.close();
      await close();
    }
  };
  const snapshotBytes = async () => {
    const file = join(work, 'node.bsn');
    await run(['snapshot', file, '--data-dir', node, '--quiet', '--json']);
    const bytes = statSync(file).size;
    rmSync(file);
    return bytes;
  };

  let head = Math.floor(fx.blocks / 2);
  await importRange(1, head);
  const first = await backup();
  report(
    `segments of ${SEGMENT} blocks; first backup (block ${first.head}): ${mb(first.added.bytes)} MB, ${first.added.blocks} blocks, ${first.durationMs} ms`,
  );
  const rows = [];
  while (head + STEP <= fx.blocks) {
    const from = head + 1;
    head += STEP;
    await importRange(from, head);
    const b = await backup();
    const completes = Math.floor(head / SEGMENT) > Math.floor((from - 1) / SEGMENT);
    const snap = await snapshotBytes();
    rows.push({ head, completes, blocks: Number(b.added.blocks), bytes: b.added.bytes, nodes: b.added.nodes, ms: b.durationMs, snap });
    report(
      `backup at block ${head}${completes ? ` (completes segment ${Math.floor(head / SEGMENT)})` : ''}: stored ${b.added.blocks} blocks of ${STEP} new (${(Number(b.added.blocks) / STEP).toFixed(2)}x), ${b.added.nodes} trie nodes, ${mb(b.added.bytes)} MB in ${b.durationMs} ms; ${(100 * (b.added.bytes / snap)).toFixed(1)} % of a snapshot at the same point (${mb(snap)} MB)`,
    );
  }
  const crossing = rows.filter((r) => r.completes);
  const plain = rows.filter((r) => !r.completes);
  const avg = (xs, f) => xs.reduce((n, x) => n + f(x), 0) / Math.max(1, xs.length);
  report(
    `${rows.length} backups ${STEP} blocks apart: blocks stored / new ${Math.max(...rows.map((r) => r.blocks / STEP)).toFixed(2)}x at most; ` +
      `the ${crossing.length} that complete a segment stored ${mb(avg(crossing, (r) => r.bytes))} MB on average, the ${plain.length} others ${mb(avg(plain, (r) => r.bytes))} MB`,
  );
  // The node's prune when retention removed nothing (history only: the packs unread), on a copy; then
  // a whole prune (every pack read and marked) of the repository itself.
  const copyDir = join(work, 'repo-copy');
  cpSync(repoDir, copyDir, { recursive: true });
  const h = await pruneRepository(new Repository(new LocalDirTarget(copyDir), join(work, 'staging')), {
    scratchDir: work,
    segmentBlocks: SEGMENT,
    historyOnly: true,
  });
  report(
    `history-only prune: ${h.merged} complete segments merged from their pieces in ${h.durationMs} ms, repository ${mb(h.bytesBefore)} -> ${mb(h.bytesAfter)} MB`,
  );
  rmSync(copyDir, { recursive: true, force: true });
  const repo = new Repository(new LocalDirTarget(repoDir), join(work, 'staging'));
  const p = await pruneRepository(repo, { scratchDir: work, segmentBlocks: SEGMENT });
  report(
    `whole prune: ${p.merged} complete segments merged from their pieces in ${p.durationMs} ms, repository ${mb(p.bytesBefore)} -> ${mb(p.bytesAfter)} MB`,
  );
  const again = await backup();
  report(`backup after the prune (nothing new): stored ${again.added.blocks} blocks, ${mb(again.added.bytes)} MB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
