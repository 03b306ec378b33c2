import { Command } from 'commander';
import { readArchive } from '../archive/reader.js';
import { callImport, DEFAULT_GRPC_ADDRESS } from '../rpc/grpc/client.js';
import { UserError } from '../util/errors.js';
import { openArchiveSource, type ArchiveSource } from './archive-io.js';
import { printSummary, type ArchiveSummary } from './export.js';
import { parseHostPortString } from './options.js';
import { ProgressReporter } from './progress.js';

interface ImportOpts {
  grpcAddress: string;
  dataDir?: string;
  chain?: string;
  quiet: boolean;
  json: boolean;
}

type ImportResult = ArchiveSummary & { imported: string; skipped: string; head: string };

export function importCommand(): Command {
  return new Command('import')
    .description('restore blocks from an archive into the running node (over gRPC), or offline with --data-dir')
    .argument('<filename>', "archive file to read ('-' for stdin)")
    .option('--grpc-address <host:port>', 'gRPC operator API of the running node', parseHostPortString, DEFAULT_GRPC_ADDRESS)
    .option('--data-dir <dir>', 'import offline into this data dir (only when no node runs on it)')
    .option('--chain <genesis>', 'with --data-dir: the genesis file (default: the one stored in the data dir)')
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, opts: ImportOpts) => {
      if (opts.chain && !opts.dataDir) throw new UserError('--chain is only used with --data-dir (a running node has its own genesis)');
      const source = openArchiveSource(filename);
      if (source.rereadable) await precheck(source); // a corrupt or truncated file is refused before any block is sent
      const progress = new ProgressReporter('import', { quiet: opts.quiet });
      let result: ImportResult;
      try {
        result = opts.dataDir ? await importOffline(opts.dataDir, opts.chain, source, progress) : await importRemote(opts.grpcAddress, source, progress);
      } finally {
        progress.stop();
      }
      printSummary('Imported', result, source.name, opts.json);
    });
}

/** Read the whole file once: structure, checksums, trailer count and digest. */
async function precheck(source: ArchiveSource): Promise<void> {
  for await (const ev of readArchive(source.open())) void ev;
}

async function importRemote(address: string, source: ArchiveSource, progress: ProgressReporter): Promise<ImportResult> {
  for await (const ev of callImport(address, source.open())) {
    if (ev.event === 'started') progress.start(Number(BigInt(ev.started.endBlock) - BigInt(ev.started.startBlock) + 1n));
    else if (ev.event === 'progress') progress.update({ done: Number(ev.progress.blocksDone), total: Number(ev.progress.blocksTotal), bytes: Number(ev.progress.bytes) });
    else if (ev.event === 'summary') {
      const s = ev.summary;
      return { startBlock: s.startBlock, endBlock: s.endBlock, blocks: s.blocks, bytes: Number(s.bytes), digest: s.digest, durationMs: Number(s.durationMs), imported: s.imported, skipped: s.skipped, head: s.head };
    }
  }
  throw new UserError('the node ended the import without a summary');
}

async function importOffline(dataDir: string, chainPath: string | undefined, source: ArchiveSource, progress: ProgressReporter): Promise<ImportResult> {
  // The chain stack (EVM, trie, LevelDB) loads only for offline work: an online import is a gRPC client.
  const [{ openOfflineChain }, { importArchive }] = await Promise.all([import('../node/offline.js'), import('../archive/import.js')]);
  const { chain, close } = await openOfflineChain(dataDir, { ...(chainPath ? { genesisPath: chainPath } : {}), create: chainPath !== undefined });
  try {
    const s = await importArchive(chain, source.open(), {
      onHeader: (h) => progress.start(Number(BigInt(h.endBlock) - BigInt(h.startBlock) + 1n)),
      onProgress: (p) => progress.update({ done: Number(p.imported + p.skipped), total: Number(p.blocksTotal), bytes: p.bytesRead }),
    });
    return {
      startBlock: s.startBlock.toString(),
      endBlock: s.endBlock.toString(),
      blocks: (s.imported + s.skipped).toString(),
      bytes: s.bytes,
      digest: s.digest,
      durationMs: s.durationMs,
      imported: s.imported.toString(),
      skipped: s.skipped.toString(),
      head: s.head.toString(),
    };
  } finally {
    await close();
  }
}
