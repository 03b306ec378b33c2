import { Command } from 'commander';
import { checkDataDir, type DbCheckReport } from '../node/db-check.js';
import { inspectDataDir, type DbInspectReport } from '../node/db-inspect.js';
import { DAMAGE_ADVICE } from '../storage/damage.js';
import { UserError } from '../util/errors.js';
import { formatBytes, ProgressReporter } from './progress.js';

interface CheckOpts {
  dataDir: string;
  full: boolean;
  json: boolean;
  quiet: boolean;
}

export function dbCommand(): Command {
  const db = new Command('db').description("offline tools for a data dir's databases (no node may run on it)");
  db.command('check')
    .description('check the canonical chain and the head state of a stopped node; lists every problem found')
    .requiredOption('--data-dir <dir>', 'the data dir to check')
    .option(
      '--full',
      'also check every body against its transactions root and walk every state the node keeps (a pruned node: its window; an archive: the last 128), as long as a snapshot',
      false,
    )
    .option('--json', 'print the report as JSON on stdout', false)
    .option('--quiet', 'no progress output', false)
    .action(async (opts: CheckOpts) => {
      let progress = new ProgressReporter('db check', { quiet: opts.quiet });
      let report: DbCheckReport;
      let states = 0;
      let expected = 0;
      try {
        report = await checkDataDir(opts.dataDir, {
          full: opts.full,
          onStart: (n) => progress.start(n),
          onBlock: (done) => progress.update({ done, total: Number(report?.head?.number ?? 0n) + 1, bytes: 0 }),
          onStatesStart: (total, nodesExpected) => {
            progress.stop();
            states = total;
            // In nodes where the node keeps the head state's size (the first state is most of the walk:
            // the older ones share its nodes), else in states.
            expected = nodesExpected;
            progress = new ProgressReporter('db check states', { quiet: opts.quiet, unit: expected > 0 ? 'nodes' : 'states' });
            progress.start(expected > 0 ? expected : total);
          },
          onState: (done) => {
            if (expected === 0) progress.update({ done, total: states, bytes: 0 });
          },
          onNodes: (nodes) => {
            if (expected > 0) progress.update({ done: nodes, total: Math.max(expected, nodes), bytes: 0 });
          },
        });
      } finally {
        progress.stop();
      }
      const state = report.state && { ...report.state, from: Number(report.state.from), to: Number(report.state.to) };
      const count = report.problems.length + report.unlisted;
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({
            dataDir: report.dataDir,
            ok: count === 0,
            head: report.head ? { number: Number(report.head.number), hash: report.head.hash } : null,
            blocksChecked: report.blocksChecked,
            state: state ?? null,
            problems: report.problems,
            unlistedProblems: report.unlisted,
          })}\n`,
        );
      } else {
        const lines = [
          `Data dir    ${report.dataDir}`,
          `Head        ${report.head ? `#${report.head.number} ${report.head.hash}` : '-'}`,
          `Blocks      ${report.blocksChecked} checked`,
          `State       ${
            state
              ? `blocks ${state.from}-${state.to}: ${state.complete} of ${state.to - state.from + 1} states complete, ${state.nodes} trie nodes, ${state.codes} codes`
              : opts.full
                ? '-'
                : 'head root only (--full walks every kept state)'
          }`,
          `Problems    ${count}`,
          ...report.problems.map((p) => `  ${p}`),
          ...(report.unlisted > 0 ? [`  ... and ${report.unlisted} more`] : []),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (count > 0) {
        throw new UserError(`data dir ${report.dataDir} is damaged: ${count} problem${count > 1 ? 's' : ''} found; ${DAMAGE_ADVICE}`, { code: 'DATA_LOSS' });
      }
    });
  db.command('inspect')
    .description("where a stopped node's disk goes: the entries of both databases by kind (headers, bodies, receipts, trie nodes…), with their bytes")
    .requiredOption('--data-dir <dir>', 'the data dir to inspect')
    .option('--json', 'print the report as JSON on stdout', false)
    .option('--quiet', 'no progress output', false)
    .action(async (opts: { dataDir: string; json: boolean; quiet: boolean }) => {
      const progress = new ProgressReporter('db inspect', { quiet: opts.quiet, unit: 'entries' });
      progress.start(0);
      let report: DbInspectReport;
      try {
        report = await inspectDataDir(opts.dataDir, { onEntries: (done, bytes) => progress.update({ done, total: 0, bytes }) });
      } finally {
        progress.stop();
      }
      const total = report.rows.reduce((n, r) => n + r.keyBytes + r.valueBytes, 0);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...report, totalBytes: total, durationMs: progress.elapsedMs() })}\n`);
        return;
      }
      const table: string[][] = [
        ['Database', 'Kind', 'Entries', 'Size'],
        ...report.rows.map((r) => [r.database, r.kind, r.entries.toLocaleString('en'), formatBytes(r.keyBytes + r.valueBytes)]),
      ];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      const line = (row: string[]) =>
        row
          .map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd();
      process.stdout.write(
        `${table.map(line).join('\n')}\n` +
          `Total ${formatBytes(total)} of keys and values; on disk (compressed): blockchain/ ${formatBytes(report.onDisk.blockchain)}, trie/ ${formatBytes(report.onDisk.trie)}\n`,
      );
    });
  return db;
}
