import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { listPieces, type ListedPiece } from '../backup/pieces.js';
import type { RestorePoint } from '../backup/point-in-time.js';
import { backupsOf, Repository } from '../backup/repository/repository.js';
import type { HistoryMode } from '../backup/repository/restore.js';
import type { SealCheck } from '../backup/restore.js';
import { openTarget } from '../backup/targets/open.js';
import type { BackupTarget } from '../backup/targets/target.js';
import { backupNowRemote } from '../rpc/grpc/backup-client.js';
import { errorMessage, UserError } from '../util/errors.js';
import { removeStaleTemps } from '../util/stale-temp.js';
import { noteStaleTemps, parseBlockNumberArg } from './archive-io.js';
import { addGrpcDialOptions, grpcClientTls, type GrpcDialOpts } from './grpc-dial.js';
import { parseTrustedBlock, sealsNote, sealsOption, TRUSTED_BLOCK_HELP } from './options.js';
import { formatBytes, formatDuration, ProgressReporter, restoreProgress } from './progress.js';

/** `basalt backup list|verify|restore|now`: the pieces a node's scheduled backups wrote. */
export function backupCommand(): Command {
  const backup = new Command('backup').description(
    'backups into a folder or S3: scheduled pieces, or a deduplicating repository; list, verify, restore to a point in time, create, prune, take one now',
  );
  backup
    .command('list')
    .description("list a backup target's snapshots and archives, and its repository's backups")
    .requiredOption('--backup-dir <dir>', 'the folder or s3://bucket/prefix')
    .option('--json', 'print a JSON array', false)
    .action(async (opts: { backupDir: string; json: boolean }) => {
      const pieces = await withTarget(opts.backupDir, async (t) => [
        ...(await guarded(t, 'list', () => listPieces(t))),
        ...(await guarded(t, 'list', () => listRepositoryBackups(t))),
      ]);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(pieces.map(describe))}\n`);
        return;
      }
      if (pieces.length === 0) {
        process.stdout.write(`no backups in ${opts.backupDir}\n`);
        return;
      }
      const rows = [
        // STORED: when the target stored it, which decides the newest (a timeline left by a restore ends higher).
        ['KIND', 'BLOCKS', 'TIME (LAST BLOCK)', 'STORED', 'SIZE', 'DIGEST', 'FILE'],
        ...pieces.map((p) => [p.kind, `${p.startBlock}-${p.endBlock}`, iso(p.time), storedIso(p.storedAt), formatBytes(p.bytes), p.digest8, p.file]),
      ];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      process.stdout.write(`${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')}\n`);
    });
  backup
    .command('verify')
    .description('check every piece, or every object of a repository, offline: checksums, digests, block hashes, seals, links, and that each backup is whole')
    .requiredOption('--backup-dir <dir>', 'the folder or s3://bucket/prefix')
    .option('--read-data-subset <n/m>', 'a backup repository: read only the n-th of m parts of its packs and segments (no state check)', parseSubset)
    .option(
      '--chain <genesis>',
      'pieces: the genesis file of your chain; they must be of it, and its quorum rule and emergency validator-set changes decide their seals (default: the genesis file the newest snapshot carries; archives alone carry none)',
    )
    .option('--json', 'print the report as JSON', false)
    .action(async (opts: { backupDir: string; json: boolean; readDataSubset?: { n: number; of: number }; chain?: string }) => {
      const repository = await withTarget(opts.backupDir, async (t) => {
        if (!(await guarded(t, 'list', () => holdsRepository(t)))) return undefined;
        if (opts.chain) throw new UserError('--chain applies to backup pieces; a backup repository holds the genesis files of its backups');
        const { verifyRepository } = await import('../backup/repository/verify.js');
        const local = join(tmpdir(), `basalt-verify-${process.pid}`);
        try {
          return await guarded(t, 'verify', () =>
            verifyRepository(new Repository(t, local), {
              scratchDir: t.stagingDir ?? local,
              ...(opts.readDataSubset ? { subset: opts.readDataSubset } : {}),
            }),
          );
        } finally {
          rmSync(local, { recursive: true, force: true });
        }
      });
      if (repository) {
        if (opts.json) process.stdout.write(`${JSON.stringify({ valid: repository.problems.length === 0, ...repository })}\n`);
        else {
          for (const b of repository.backups)
            process.stdout.write(
              `${b.ok ? 'ok     ' : 'DAMAGED'}  ${b.name}${b.copyOf ? ` (another manifest of the backup ${b.copyOf}${b.ok ? ', left by an interrupted prune; the next prune deletes it' : ', which this one is not a good copy of'})` : ''}${b.problem ? `: ${b.problem}` : ''}\n`,
            );
          if (repository.problems.length === 0)
            process.stdout.write(
              `OK: ${repository.backups.filter((b) => b.copyOf === undefined).length} backups, ${repository.objectsRead} objects read (packs, segments, genesis files)${opts.readDataSubset ? ` (part ${opts.readDataSubset.n} of ${opts.readDataSubset.of})` : ''}\n`,
            );
        }
        if (repository.problems.length > 0) {
          throw new UserError(`${repository.problems.length} damaged or missing: ${repository.problems.join('; ')}`, { code: 'CORRUPT_FILE' });
        }
        return;
      }
      if (opts.readDataSubset) throw new UserError('--read-data-subset applies to a backup repository; this target holds pieces');
      const report = await withTarget(opts.backupDir, async (t) => {
        const pieces = await guarded(t, 'list', () => listPieces(t));
        if (pieces.length === 0) throw new UserError(`no backup pieces in ${opts.backupDir}`, { code: 'NOT_FOUND' });
        const { verifyPieces } = await import('../backup/verify-pieces.js'); // the EVM stack loads only for the commands that need it
        const { readGenesis } = await import('../chain/genesis-source.js');
        const genesis = opts.chain === undefined ? undefined : await readGenesis(opts.chain);
        return verifyPieces(t, pieces, { ...(genesis ? { genesis, scratchDir: t.stagingDir ?? tmpdir() } : {}) });
      });
      if (opts.json) {
        const pieces = report.pieces.map((p) => ({
          ...describe(p),
          ok: p.ok,
          ...(p.digest ? { fullDigest: p.digest } : {}),
          ...(p.problem ? { problem: p.problem } : {}),
        }));
        process.stdout.write(`${JSON.stringify({ valid: report.problems.length === 0, pieces, problems: report.problems, notChecked: report.notChecked })}\n`);
      } else {
        for (const p of report.pieces) process.stdout.write(`${p.ok ? 'ok     ' : 'DAMAGED'}  ${p.file}${p.problem ? `: ${p.problem}` : ''}\n`);
        for (const line of report.notChecked) process.stdout.write(`not checked: ${line}\n`);
        if (report.problems.length === 0)
          process.stdout.write(`OK: ${report.pieces.length} pieces, blocks 1-${report.pieces[report.pieces.length - 1]!.endBlock}, one unbroken chain\n`);
      }
      if (report.problems.length > 0) {
        throw new UserError(`${report.problems.length} damaged or missing: ${report.problems.join('; ')}`, { code: 'CORRUPT_FILE' });
      }
    });
  backup
    .command('restore')
    .description(
      'build a new data dir from the pieces or the repository: the newest snapshot or backup at or before the point, then the blocks up to it, every block verified',
    )
    .requiredOption('--backup-dir <dir>', 'the folder or s3://bucket/prefix')
    .requiredOption('--data-dir <dir>', 'the NEW data dir to create (must not exist or be empty)')
    .requiredOption('--chain <genesis>', 'genesis file of your chain: the pieces must belong to it (the trust anchor)')
    .option('--at-block <n>', 'restore up to this block (default: the newest block backed up)', parseBlockNumberArg('--at-block'))
    .option('--at-time <iso>', 'restore up to the last block at or before this time (e.g. 2026-11-25T06:00:00Z)', parseTime)
    .addOption(
      new Option(
        '--history <mode>',
        "from a repository: 'backfill' restores the headers (checked as in 'full') and the head, and the node back-fills the older bodies and receipts from the repository while it serves; 'full' restores every block before it is done",
      )
        .choices(['backfill', 'full'])
        .default('backfill'),
    )
    .option('--trusted-block <n:hash>', TRUSTED_BLOCK_HELP, parseTrustedBlock)
    .addOption(sealsOption('set-changes'))
    .option('--json', 'print the summary as JSON on stdout', false)
    .option('--quiet', 'no progress output', false)
    .action(
      async (opts: {
        backupDir: string;
        dataDir: string;
        chain: string;
        atBlock?: bigint;
        atTime?: bigint;
        history: HistoryMode;
        trustedBlock?: { number: bigint; hash: Uint8Array };
        seals: SealCheck;
        json: boolean;
        quiet: boolean;
      }) => {
        if (opts.atBlock !== undefined && opts.atTime !== undefined) throw new UserError('pass only one of --at-block and --at-time');
        if (opts.atBlock === 0n) throw new UserError('--at-block must be at least 1 (block 0 is the genesis: start a node on the genesis file instead)');
        const { readGenesis } = await import('../chain/genesis-source.js');
        const { planRestore, restoreToPoint } = await import('../backup/point-in-time.js');
        const { removeStaleRestores } = await import('../backup/restore.js');
        const genesis = await readGenesis(opts.chain);
        const target = resolve(opts.dataDir);
        // What restores into this target killed part-way left: the point-in-time work folder, and the
        // folder a restore of a snapshot or a backup works in (as `basalt restore` removes it).
        noteStaleTemps(removeStaleTemps(dirname(target), `.${basename(target)}.pitr-`));
        noteStaleTemps(removeStaleRestores(target));
        const at: RestorePoint = {
          ...(opts.atBlock !== undefined ? { block: opts.atBlock } : {}),
          ...(opts.atTime !== undefined ? { time: opts.atTime } : {}),
        };
        const progress = restoreProgress('restore', opts.quiet || opts.json);
        const fromRepository = await withTarget(opts.backupDir, async (t) => {
          if (!(await guarded(t, 'list', () => holdsRepository(t)))) return undefined;
          const { restoreRepositoryAt } = await import('../backup/repository/restore.js');
          return guarded(t, 'restore', () =>
            restoreRepositoryAt(new Repository(t, NO_STAGING), at, {
              dataDir: target,
              genesis,
              history: opts.history,
              ...(opts.trustedBlock ? { trustedBlock: opts.trustedBlock } : {}),
              seals: opts.seals,
              onStep: (what) => {
                progress.stop();
                if (!opts.quiet && !opts.json) process.stderr.write(`restore: ${what}\n`);
              },
              onProgress: progress.onProgress,
            }),
          ).finally(() => progress.stop());
        });
        if (fromRepository) {
          const r = fromRepository;
          if (opts.json) {
            process.stdout.write(
              `${JSON.stringify({ dataDir: r.dataDir, head: r.head.toString(), headHash: r.headHash, backup: r.manifest, blocksImported: r.blocksImported.toString(), nodes: r.nodes, codes: r.codes, durationMs: r.durationMs, sealedBlocks: r.sealedBlocks, ...(r.historyGap ? { backfill: { from: r.historyGap.from.toString(), to: r.historyGap.to.toString() } } : {}) })}\n`,
            );
            return;
          }
          process.stderr.write(
            `Restored block ${r.head} (${r.headHash}) into ${r.dataDir} from backup ${r.manifest}${r.blocksImported > 0n ? ` and ${r.blocksImported} blocks imported and re-executed` : ''} in ${formatDuration(r.durationMs)}\n` +
              sealsNote(r.sealedBlocks, r.head - r.blocksImported, opts) +
              (r.historyGap
                ? `Blocks ${r.historyGap.from}-${r.historyGap.to}: headers verified; the node back-fills their bodies and receipts from ${opts.backupDir} once it runs (\`basalt status\` shows it; --history full restores them now)\n`
                : '') +
              `Start it with: basalt server --data-dir ${r.dataDir} --chain ${r.dataDir}/genesis.json\n`,
          );
          return;
        }
        const s = await withTarget(opts.backupDir, async (t) => {
          const plan = planRestore(await guarded(t, 'list', () => listPieces(t)), at);
          return guarded(t, 'restore', () =>
            restoreToPoint(t, plan, {
              dataDir: target,
              genesis,
              onStep: (what) => {
                progress.stop();
                if (!opts.quiet && !opts.json) process.stderr.write(`restore: ${what}\n`);
              },
              onProgress: progress.onProgress,
              ...(opts.trustedBlock ? { trustedBlock: opts.trustedBlock } : {}),
              seals: opts.seals,
            }),
          ).finally(() => progress.stop());
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...s, head: s.head.toString(), blocksImported: s.blocksImported.toString() })}\n`);
          return;
        }
        process.stderr.write(
          `Restored block ${s.head} (${s.headHash}) into ${s.dataDir} from ${s.snapshot}${s.archives.length ? ` and ${s.archives.length} archives (${s.blocksImported} blocks imported and re-executed)` : ''} in ${formatDuration(s.durationMs)}\n` +
            sealsNote(s.sealedBlocks, s.head - s.blocksImported, opts) +
            `Start it with: basalt server --data-dir ${s.dataDir} --chain ${s.dataDir}/genesis.json\n`,
        );
      },
    );
  backup
    .command('create')
    .description(
      "back up a stopped node's data dir into a backup repository: the history segments and trie nodes no earlier backup in it stored, then the backup's manifest",
    )
    .requiredOption('--data-dir <dir>', 'the data dir of a node that is not running')
    .requiredOption('--backup-dir <dir>', 'the repository: a folder or s3://bucket/prefix')
    .option('--json', 'print the summary as JSON on stdout', false)
    .option('--quiet', 'no progress output', false)
    .action(async (opts: { dataDir: string; backupDir: string; json: boolean; quiet: boolean }) => {
      const { openOfflineChain } = await import('../node/offline.js');
      const { backupToRepository } = await import('../backup/repository/backup.js');
      const { LocalIndex } = await import('../backup/repository/local-index.js');
      const dataDir = resolve(opts.dataDir);
      const { chain, close } = await openOfflineChain(dataDir);
      const progress = new ProgressReporter('backup', { quiet: opts.quiet || opts.json });
      try {
        const s = await withTarget(
          opts.backupDir,
          async (t) => {
            const index = await LocalIndex.open(localIndexPath(dataDir, t.url));
            try {
              progress.start(Number(chain.head.number));
              return await guarded(t, 'backup', () =>
                backupToRepository(chain, new Repository(t, join(dataDir, 'backup-staging')), index, {
                  compression: 'zstd',
                  onProgress: (p) => progress.update({ done: Number(p.blocksDone), total: Number(p.blocksTotal), bytes: p.bytesAdded }),
                }),
              );
            } finally {
              progress.stop();
              await index.close();
            }
          },
          true,
        );
        for (const why of s.damaged) process.stderr.write(`note: passed over a manifest that cannot be read, ${why} (run backup verify)\n`);
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ backup: s.manifest, head: s.head.toString(), headHash: s.headHash, stateRoot: s.stateRoot, added: { ...s.added, blocks: s.added.blocks.toString() }, durationMs: s.durationMs })}\n`,
          );
          return;
        }
        process.stderr.write(
          `Backup of block ${s.head} (${s.headHash}) as ${s.manifest} in ${formatDuration(s.durationMs)}: stored ${formatBytes(s.added.bytes)} new (${s.added.blocks} blocks, ${s.added.nodes} trie nodes, ${s.added.codes} codes); the rest is shared with earlier backups\n`,
        );
      } finally {
        await close();
      }
    });
  backup
    .command('prune')
    .description(
      'delete what no backup of a backup repository needs any more (after retention removed backups): packs, segments; merge the pieces of complete history segments; under an exclusive lock, crash-safe',
    )
    .requiredOption('--backup-dir <dir>', 'the repository: a folder or s3://bucket/prefix')
    .option('--json', 'print the summary as JSON on stdout', false)
    .option('--quiet', 'no progress output', false)
    .action(async (opts: { backupDir: string; json: boolean; quiet: boolean }) => {
      const { pruneRepository } = await import('../backup/repository/prune.js');
      // A folder repository stages and keeps its scratch database in itself (hidden); for S3, the system's temporary folder.
      const local = join(tmpdir(), `basalt-prune-${process.pid}`);
      const s = await withTarget(opts.backupDir, (t) =>
        guarded(t, 'prune', () =>
          pruneRepository(new Repository(t, local), {
            scratchDir: t.stagingDir ?? local,
            onStep: (what) => !opts.quiet && !opts.json && process.stderr.write(`prune: ${what}\n`),
          }),
        ),
      );
      rmSync(local, { recursive: true, force: true });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
        return;
      }
      for (const why of s.notMerged) process.stderr.write(`note: history ${why} (run backup verify)\n`);
      for (const name of s.copiesLeft)
        process.stderr.write(`note: ${name} left beside the manifest of its backup: it names other objects (run backup verify)\n`);
      process.stderr.write(
        `Pruned ${opts.backupDir} in ${formatDuration(s.durationMs)}: ${s.manifests} backups kept; packs ${s.packs.kept} kept, ${s.packs.repacked} rewritten into ${s.packs.written}, ${s.packs.deleted} deleted; ${s.merged} complete segments merged from their pieces; ${s.deleted} other objects deleted; ${formatBytes(s.bytesBefore)} -> ${formatBytes(s.bytesAfter)}\n`,
      );
    });
  addGrpcDialOptions(
    backup
      .command('now')
      .description(
        'ask the running node to take a backup piece now into its --backup-dir targets (a snapshot; with --archive the blocks since the last piece)',
      ),
  )
    .option('--archive', 'an incremental archive instead of a snapshot', false)
    .option('--json', 'print a JSON array of the pieces stored', false)
    .action(async (opts: GrpcDialOpts & { archive: boolean; json: boolean }) => {
      const pieces = await backupNowRemote(opts.grpcAddress, opts.archive, grpcClientTls(opts));
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify(pieces.map((p) => ({ ...p, startBlock: p.startBlock.toString(), endBlock: p.endBlock.toString(), time: iso(p.time) })))}\n`,
        );
        return;
      }
      for (const p of pieces)
        process.stderr.write(
          `Stored ${p.kind} of blocks ${p.startBlock}-${p.endBlock} (${formatBytes(p.bytes)}, digest ${p.digest}) as ${p.file} in ${p.target}\n`,
        );
    });
  return backup;
}

function describe(p: ListedPiece) {
  return {
    kind: p.kind,
    startBlock: p.startBlock.toString(),
    endBlock: p.endBlock.toString(),
    time: iso(p.time),
    bytes: p.bytes,
    digest: p.digest8,
    file: p.file,
    storedAt: new Date(p.storedAt).toISOString(),
  };
}

async function withTarget<T>(url: string, run: (t: BackupTarget) => Promise<T>, create = false): Promise<T> {
  const t = await openTarget(url, undefined, create);
  try {
    return await run(t);
  } finally {
    t.close();
  }
}

/** A target's own failures (network, permissions, a missing bucket) as one line naming the target. */
async function guarded<T>(t: BackupTarget, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${what} in ${t.url} failed: ${errorMessage(err)}`, { code: 'UNAVAILABLE', cause: err });
  }
}

/** A listing's time, to the second; one no date holds (a target's odd answer) as "?". */
function storedIso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? '?' : `${d.toISOString().slice(0, 19)}Z`;
}

function iso(t: bigint): string {
  return new Date(Number(t) * 1000).toISOString();
}

function parseTime(value: string): bigint {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) throw new InvalidArgumentError(`"${value}" is not an ISO 8601 time such as 2026-11-25T06:00:00Z`);
  return BigInt(Math.floor(ms / 1000));
}

/**
 * A repository's backups as rows of `backup list` (kind "backup": blocks 1…head, the bytes it added);
 * a backup an interrupted prune left under two manifests is one row, of the manifest a restore takes.
 */
async function listRepositoryBackups(t: BackupTarget): Promise<ListedPiece[]> {
  const repo = new Repository(t, NO_STAGING);
  const listing = await repo.list();
  // A manifest that cannot be read (damaged, or deleted since the listing by the node's retention) is
  // passed over, said: the others are listed (`backup verify` names what is damaged).
  const read = await repo.readManifests(
    listing.manifests.map((e) => e.name),
    { listing, onSkipped: (name, why) => process.stderr.write(`note: passed over ${name}, which cannot be read (${why}; run backup verify)\n`) },
  );
  return backupsOf(read).map(([first]) => {
    const { name, last, m } = first!;
    const sha256 = name.slice(-64);
    return {
      kind: 'backup' as ListedPiece['kind'],
      startBlock: 1n,
      endBlock: last,
      time: BigInt(m.head.timestamp),
      bytes: m.added.bytes,
      digest8: sha256.slice(0, 8),
      file: name,
      storedAt: Date.parse(m.createdAt),
    } as ListedPiece;
  });
}

/** Whether the target holds a repository's backups (manifests, read or not: verify names a damaged one, a restore passes it over). */
async function holdsRepository(t: BackupTarget): Promise<boolean> {
  return (await new Repository(t, NO_STAGING).list()).manifests.length > 0;
}

/** For commands that only read a repository: they stage nothing. */
const NO_STAGING = join(tmpdir(), 'basalt-no-staging');

/** The local index of what a repository holds, kept in the data dir per repository. */
function localIndexPath(dataDir: string, url: string): string {
  return join(dataDir, 'backup-index', createHash('sha256').update(url).digest('hex').slice(0, 16));
}

function parseSubset(value: string): { n: number; of: number } {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(value);
  const n = m ? Number(m[1]) : 0;
  const of = m ? Number(m[2]) : 0;
  if (!m || n < 1 || of < 1 || n > of) throw new InvalidArgumentError(`"${value}" is not n/m with 1 <= n <= m (e.g. 1/5)`);
  return { n, of };
}
