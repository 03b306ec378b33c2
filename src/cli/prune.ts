import { Command } from 'commander';
import { pruneDataDir, type PruneReport } from '../node/prune.js';
import { DEFAULT_STATE_HISTORY } from '../node/state-pruner.js';
import { parseCountArg } from './options.js';
import { formatBytes, formatDuration, ProgressReporter } from './progress.js';

export function pruneCommand(): Command {
  return new Command('prune')
    .description(
      "delete the state of every block but the last N from a stopped node's trie/ (mark what they reach, sweep the rest, compact); reports the bytes before and after",
    )
    .requiredOption('--data-dir <dir>', 'the data dir of a node that is not running')
    .option(
      '--state-history <n>',
      `the states kept: those of the last n blocks, the head included (default: what the data dir's node keeps; ${DEFAULT_STATE_HISTORY} for an archive)`,
      parseCountArg('states'),
    )
    .option('--json', 'print the summary as JSON on stdout', false)
    .option('--quiet', 'no progress output', false)
    .action(async (opts: { dataDir: string; stateHistory?: bigint; json: boolean; quiet: boolean }) => {
      const mark = new ProgressReporter('prune: marking the kept states', { quiet: opts.quiet, unit: 'states' });
      const sweep = new ProgressReporter('prune: sweeping trie/', { quiet: opts.quiet, unit: 'keys' });
      let phase: 'none' | 'mark' | 'sweep' = 'none';
      let r: PruneReport;
      try {
        r = await pruneDataDir(opts.dataDir, {
          ...(opts.stateHistory !== undefined ? { keep: opts.stateHistory } : {}),
          onProgress: (p) => {
            if (p.phase === 'mark') {
              if (phase === 'none') mark.start(p.total);
              phase = 'mark';
              mark.update({ done: p.done, total: p.total, bytes: 0 });
            } else {
              if (phase !== 'sweep') {
                mark.stop();
                sweep.start(0);
              }
              phase = 'sweep';
              sweep.update({ done: p.done, total: 0, bytes: 0 });
            }
          },
        });
      } finally {
        mark.stop();
        sweep.stop();
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...r, head: r.head.toString(), keptFrom: r.keptFrom.toString() })}\n`);
        return;
      }
      process.stderr.write(
        `Pruned ${r.dataDir}: kept the states of blocks ${r.keptFrom}-${r.head} (${r.nodesKept.toLocaleString('en')} trie nodes, ${r.codesKept} codes), deleted ${r.deleted.toLocaleString('en')} of ${r.keysScanned.toLocaleString('en')} entries; ` +
          `trie/ ${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)} in ${formatDuration(r.durationMs)}\n`,
      );
    });
}
