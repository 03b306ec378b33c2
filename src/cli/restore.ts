import { Command } from 'commander';
import { readGenesisFile } from '../chain/chain-config.js';
import { restoreSnapshot } from '../backup/restore.js';
import { openArchiveSource } from './archive-io.js';
import { formatBytes, formatDuration, ProgressReporter } from './progress.js';

export function restoreCommand(): Command {
  return new Command('restore')
    .description('build a new data dir from a snapshot, verifying headers, seals, receipts and every state node')
    .argument('<filename>', "snapshot file ('-' for stdin)")
    .requiredOption('--data-dir <dir>', 'the NEW data dir to create (must not exist or be empty)')
    .option('--chain <genesis>', 'genesis file the snapshot must belong to (default: the genesis inside the snapshot)')
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, opts: { dataDir: string; chain?: string; quiet: boolean; json: boolean }) => {
      const genesis = opts.chain ? readGenesisFile(opts.chain) : undefined;
      const source = openArchiveSource(filename);
      const progress = new ProgressReporter('restore', { quiet: opts.quiet });
      let started = false;
      let s;
      try {
        s = await restoreSnapshot(source.open(), {
          dataDir: opts.dataDir,
          ...(genesis ? { genesis } : {}),
          onProgress: (p) => {
            if (!started) {
              progress.start(Number(p.blocksTotal));
              started = true;
            }
            progress.update({ done: Number(p.blocksDone), total: Number(p.blocksTotal), bytes: p.bytesRead });
          },
        });
      } finally {
        progress.stop();
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...s, head: s.head.toString() })}\n`);
        return;
      }
      process.stderr.write(
        `Restored block ${s.head} (${s.headHash}) with ${s.nodes} state nodes and ${s.codes} contract codes into ${s.dataDir}\n` +
          `${formatBytes(s.bytes)} in ${formatDuration(s.durationMs)}; state root ${s.stateRoot}\n` +
          `Start it with: basalt server --data-dir ${s.dataDir} --chain ${s.dataDir}/genesis.json\n` +
          'It has no keys yet: restore them with `basalt secrets restore`, or it creates new (non-validator) keys on start.\n',
      );
    });
}
