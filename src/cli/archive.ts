import { Command } from 'commander';
import { readGenesis } from '../chain/genesis-source.js';
import { inspectArchive, unexplainedNote, verifyArchive, type InspectReport } from '../backup/verify-archive.js';
import { openArchiveSource } from './archive-io.js';
import { formatBytes } from './progress.js';

export function archiveCommand(): Command {
  const archive = new Command('archive').description('check and describe archive files (no node needed)');
  archive
    .command('verify')
    .description('check an archive: structure, checksums, digest, hashes, IBFT seals; with --chain, replay every block')
    .argument('<filename>', "archive file ('-' for stdin, without --chain)")
    .option('--chain <genesis>', 'genesis file: check the archive is of this chain and re-execute its blocks')
    .option('--json', 'print the report as JSON', false)
    .action(async (filename: string, opts: { chain?: string; json: boolean }) => {
      const genesis = opts.chain ? await readGenesis(opts.chain) : undefined;
      const source = openArchiveSource(filename);
      const report = await verifyArchive(() => source.open(), genesis);
      const notChecked = report.notChecked.map((n) => n.what);
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ valid: true, level: report.level, ...describe(report), notChecked, notCheckedReasons: report.notChecked, ...(report.note ? { note: report.note } : {}) })}\n`,
        );
        return;
      }
      const what = report.level === 'replayed' ? 'every block re-executed from genesis' : 'structure, checksums, digest, hashes and seals checked';
      process.stdout.write(
        `OK: ${source.name} is a valid archive of blocks ${report.header.startBlock}-${report.header.endBlock} (${what})\n` +
          `chain ID ${report.header.chainId}, genesis ${report.header.genesisHash}${genesis ? ' (matches --chain)' : ' (as the file states it)'}\n`,
      );
      if (report.notChecked.length > 0) process.stdout.write(`not checked: ${report.notChecked.map((n) => `the ${n.what} (${n.why})`).join('; ')}\n`);
      if (report.note) process.stdout.write(`note: ${report.note}\n`);
    });
  archive
    .command('inspect')
    .description("show an archive's chain, range, size and digest")
    .argument('<filename>', "archive file ('-' for stdin)")
    .option('--json', 'print JSON', false)
    .action(async (filename: string, opts: { json: boolean }) => {
      const source = openArchiveSource(filename);
      const report = await inspectArchive(source.open());
      const d = describe(report);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(d)}\n`);
        return;
      }
      const rows: [string, string][] = [
        ['Format', `basalt-archive v${report.header.version}`],
        ['Chain ID', d.chainId],
        ['Genesis', d.genesisHash],
        ['Blocks', `${d.startBlock}-${d.endBlock} (${d.blocks} blocks, ${d.transactions} transactions)`],
        ['Last block', d.lastBlockHash],
        ['Compression', d.compression],
        ['Size', formatBytes(d.bytes)],
        ['Digest', `${d.digest} (sha256)`],
      ];
      if (d.createdAt) rows.push(['Created', `${d.createdAt}${d.clientVersion ? ` by ${d.clientVersion}` : ''}`]);
      process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(12)} ${v}`).join('\n')}\n`);
      if (report.unexplainedSetChanges.count > 0)
        process.stdout.write(`not checked: ${unexplainedNote(report.unexplainedSetChanges)} (no genesis file: \`archive verify --chain\` checks it)\n`);
    });
  return archive;
}

function describe(r: InspectReport) {
  return {
    chainId: r.header.chainId,
    genesisHash: r.header.genesisHash,
    startBlock: r.header.startBlock,
    endBlock: r.header.endBlock,
    blocks: r.blocks.toString(),
    transactions: r.transactions,
    lastBlockHash: r.trailer.lastBlockHash,
    compression: r.header.compression,
    bytes: r.bytes,
    digest: r.trailer.digest,
    createdAt: r.header.createdAt,
    clientVersion: r.header.clientVersion,
    ...(r.unexplainedSetChanges.count > 0
      ? { setChangesNotChecked: { count: r.unexplainedSetChanges.count, first: r.unexplainedSetChanges.first.map(String) } }
      : {}),
  };
}
