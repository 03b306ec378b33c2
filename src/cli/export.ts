import { Command, Option } from 'commander';
import { COMPRESSIONS } from '../archive/compression.js';
import { callExport, DEFAULT_GRPC_ADDRESS } from '../rpc/grpc/client.js';
import { parseBlockNumberArg, produceFile, receiveStream, type ArchiveSink } from './archive-io.js';
import { parseHostPortString } from './options.js';
import { formatBytes, formatDuration, ProgressReporter } from './progress.js';

interface ExportOpts {
  grpcAddress: string;
  compression: string;
  dataDir?: string;
  force: boolean;
  quiet: boolean;
  json: boolean;
}

export interface ArchiveSummary {
  startBlock: string;
  endBlock: string;
  blocks: string;
  bytes: number;
  digest: string;
  durationMs: number;
}

export function exportCommand(): Command {
  return new Command('export')
    .description('back up a block range to an archive while the node runs (over gRPC), or offline with --data-dir')
    .argument('<filename>', "archive file to write ('-' for stdout)")
    .argument('[start-block]', 'first block (default 1)', parseBlockNumberArg('start-block'))
    .argument('[end-block]', 'last block (default: the head when the export starts)', parseBlockNumberArg('end-block'))
    .option('--grpc-address <host:port>', 'gRPC operator API of the running node', parseHostPortString, DEFAULT_GRPC_ADDRESS)
    .addOption(new Option('--compression <codec>', 'record compression').choices(COMPRESSIONS).default('zstd'))
    .option('--data-dir <dir>', 'export offline from this data dir (only when no node runs on it)')
    .option('--force', 'overwrite an existing file', false)
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, start: bigint | undefined, end: bigint | undefined, opts: ExportOpts) => {
      const range = { start, end, compression: opts.compression };
      const { result, name } = await produceFile(filename, { ...opts, label: 'export' }, (sink, progress) =>
        opts.dataDir ? exportOffline(opts.dataDir, sink, range, progress) : exportRemote(opts.grpcAddress, sink, range, progress),
      );
      printSummary('Exported', result, name, opts.json);
    });
}

interface Range {
  start?: bigint | undefined;
  end?: bigint | undefined;
  compression: string;
}

async function exportRemote(address: string, sink: ArchiveSink, r: Range, progress: ProgressReporter): Promise<ArchiveSummary> {
  const call = callExport(address, {
    ...(r.start !== undefined ? { startBlock: r.start } : {}),
    ...(r.end !== undefined ? { endBlock: r.end } : {}),
    compression: r.compression,
  });
  const { summary: s, bytes } = await receiveStream(call, sink, progress, 'export');
  return { startBlock: s.startBlock, endBlock: s.endBlock, blocks: s.blocks, bytes, digest: s.digest, durationMs: Number(s.durationMs) };
}

async function exportOffline(dataDir: string, sink: ArchiveSink, r: Range, progress: ProgressReporter): Promise<ArchiveSummary> {
  // The chain stack (EVM, trie, LevelDB) loads only for offline work: an online export is a gRPC client.
  const [{ openOfflineChain }, { exportChain }] = await Promise.all([import('../node/offline.js'), import('../archive/export.js')]);
  const { chain, close } = await openOfflineChain(dataDir);
  try {
    const exp = await exportChain(chain, {
      ...(r.start !== undefined ? { startBlock: r.start } : {}),
      ...(r.end !== undefined ? { endBlock: r.end } : {}),
      compression: r.compression as 'zstd',
      onProgress: (p) => progress.update({ done: Number(p.blocksDone), total: Number(p.blocksTotal), bytes: p.bytes }),
    });
    progress.start(Number(BigInt(exp.header.endBlock) - BigInt(exp.header.startBlock) + 1n));
    for (;;) {
      const next = await exp.chunks.next();
      if (next.done) {
        const s = next.value;
        return { startBlock: s.startBlock.toString(), endBlock: s.endBlock.toString(), blocks: s.blocks.toString(), bytes: s.bytes, digest: s.digest, durationMs: s.durationMs };
      }
      await sink.write(next.value);
    }
  } finally {
    await close();
  }
}

export function printSummary(verb: string, s: ArchiveSummary & { imported?: string; skipped?: string; head?: string }, where: string, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...s, archive: where })}\n`);
    return;
  }
  const rate = s.durationMs > 0 ? (Number(s.blocks) / (s.durationMs / 1000)).toFixed(0) : '-';
  const parts = [
    `${verb} blocks ${s.startBlock}-${s.endBlock} (${s.blocks} blocks${s.imported !== undefined ? `: ${s.imported} imported, ${s.skipped} already present` : ''})`,
    `${formatBytes(s.bytes)} in ${formatDuration(s.durationMs)} (${rate} blocks/s)`,
  ];
  if (s.head !== undefined) parts.push(`head is now ${s.head}`);
  process.stderr.write(`${parts.join(', ')}\n${verb === 'Exported' ? 'to' : 'from'} ${where}\nsha256 digest ${s.digest}\n`);
}
