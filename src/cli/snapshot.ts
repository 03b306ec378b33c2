import { Command, Option } from 'commander';
import { SNAPSHOT_HISTORIES, type SnapshotHistory, type SnapshotStarted } from '../backup/types.js';
import { COMPRESSIONS, type Compression } from '../container/compression.js';
import { produceFile } from './archive-io.js';
import { withBackupService } from './backup-service.js';
import { addGrpcDialOptions, grpcClientTls, type GrpcDialOpts } from './grpc-dial.js';
import { formatBytes, formatDuration, snapshotProgress } from './progress.js';

interface SnapshotOpts extends GrpcDialOpts {
  compression: Compression;
  history: SnapshotHistory;
  dataDir?: string;
  force: boolean;
  quiet: boolean;
  json: boolean;
}

export function snapshotCommand(): Command {
  const cmd = new Command('snapshot')
    .description('capture the whole node at its head into one file while it runs (cron-friendly; exit 0 only when the file is complete)')
    .argument('<filename>', "snapshot file to write ('-' for stdout)");
  return addGrpcDialOptions(cmd)
    .addOption(new Option('--compression <codec>', 'record compression').choices(COMPRESSIONS).default('zstd'))
    .addOption(
      new Option(
        '--history <mode>',
        "'full': every block with its receipts (a restore needs nothing else); 'headers': the headers below the head and the head whole, much smaller for a long chain: a node restored from it serves at the head and back-fills the blocks from its peers",
      )
        .choices(SNAPSHOT_HISTORIES)
        .default('full'),
    )
    .option('--data-dir <dir>', 'snapshot offline from this data dir (only when no node runs on it)')
    .option('--force', 'overwrite an existing file', false)
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, opts: SnapshotOpts) => {
      let chain: SnapshotStarted | undefined;
      const { result: s, name } = await produceFile(filename, { ...opts, label: 'snapshot' }, (sink, progress) =>
        withBackupService({ ...opts, grpcTls: grpcClientTls(opts) }, (service) =>
          service.snapshot({ compression: opts.compression, history: opts.history }, sink, {
            onStart: (h) => {
              chain = h;
              progress.start(Number(h.head));
            },
            onProgress: snapshotProgress(progress, 'snapshot'),
          }),
        ),
      );
      if (opts.json) {
        const out = {
          ...(chain ? { chainId: chain.chainId.toString(), genesisHash: chain.genesisHash } : {}),
          head: s.head.toString(),
          nodes: s.nodes,
          codes: s.codes,
          bytes: s.bytes,
          digest: s.digest,
          durationMs: s.durationMs,
          snapshot: name,
          history: opts.history,
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
      }
      const chainLine = chain ? `chain ID ${chain.chainId}, genesis ${chain.genesisHash}\n` : '';
      const historyLine =
        opts.history === 'headers' && s.head > 1n
          ? `blocks 1-${s.head - 1n}: headers only; a node restored from it back-fills their bodies and receipts from its peers\n`
          : '';
      process.stderr.write(
        `Snapshot of block ${s.head}: ${s.nodes} state nodes, ${s.codes} contract codes, ${formatBytes(s.bytes)} in ${formatDuration(s.durationMs)}\n${chainLine}${historyLine}to ${name}\nsha256 digest ${s.digest}\n`,
      );
    });
}
