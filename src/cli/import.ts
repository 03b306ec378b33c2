import { Command } from 'commander';
import { readArchive } from '../archive/reader.js';
import { UserError } from '../util/errors.js';
import { openArchiveSource, type ArchiveSource } from './archive-io.js';
import { withBackupService } from './backup-service.js';
import { addGrpcDialOptions, grpcClientTls, type GrpcDialOpts } from './grpc-dial.js';
import { printArchiveSummary, type ChainIdentity } from './export.js';
import { ProgressReporter } from './progress.js';

interface ImportOpts extends GrpcDialOpts {
  dataDir?: string;
  chain?: string;
  quiet: boolean;
  json: boolean;
}

export function importCommand(): Command {
  const cmd = new Command('import')
    .description('restore blocks from an archive into the running node (over gRPC), or offline with --data-dir')
    .argument('<filename>', "archive file to read ('-' for stdin)");
  return addGrpcDialOptions(cmd)
    .option('--data-dir <dir>', 'import offline into this data dir (only when no node runs on it)')
    .option('--chain <genesis>', 'with --data-dir: the genesis file (default: the one stored in the data dir)')
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, opts: ImportOpts) => {
      if (opts.chain && !opts.dataDir) throw new UserError('--chain is only used with --data-dir (a running node has its own genesis)');
      const source = openArchiveSource(filename);
      if (source.rereadable) await precheck(source); // a damaged or truncated file is refused before any block is sent (a block malformed under a valid digest stops the import at it)
      const progress = new ProgressReporter('import', { quiet: opts.quiet });
      let s;
      let chain: ChainIdentity | undefined;
      try {
        s = await withBackupService({ ...opts, grpcTls: grpcClientTls(opts), genesisPath: opts.chain }, (service) =>
          service.import(source.open(), {
            onStart: (h) => {
              chain = h;
              progress.start(Number(h.endBlock - h.startBlock + 1n));
            },
            onProgress: (p) => progress.update({ done: Number(p.imported + p.skipped), total: Number(p.blocksTotal), bytes: p.bytesRead }),
          }),
        );
      } finally {
        progress.stop();
      }
      printArchiveSummary('Imported', { ...s, blocks: s.imported + s.skipped }, source.name, opts.json, chain);
    });
}

/** Read the whole file once: structure, checksums, trailer count and digest (blocks are not decompressed or decoded). */
async function precheck(source: ArchiveSource): Promise<void> {
  for await (const ev of readArchive(source.open())) void ev;
}
