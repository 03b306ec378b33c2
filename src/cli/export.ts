import { Command, Option } from 'commander';
import type { ExportSummary } from '../backup/types.js';
import { COMPRESSIONS, type Compression } from '../container/compression.js';
import { parseBlockNumberArg, produceFile } from './archive-io.js';
import { withBackupService } from './backup-service.js';
import { addGrpcDialOptions, grpcClientTls, type GrpcDialOpts } from './grpc-dial.js';
import { formatBytes, formatDuration } from './progress.js';

interface ExportOpts extends GrpcDialOpts {
  compression: Compression;
  dataDir?: string;
  force: boolean;
  quiet: boolean;
  json: boolean;
}

export function exportCommand(): Command {
  const cmd = new Command('export')
    .description('back up a block range to an archive while the node runs (over gRPC), or offline with --data-dir')
    .argument('<filename>', "archive file to write ('-' for stdout)")
    .argument('[start-block]', 'first block (default 1)', parseBlockNumberArg('start-block'))
    .argument('[end-block]', 'last block (default: the head when the export starts)', parseBlockNumberArg('end-block'));
  return addGrpcDialOptions(cmd)
    .addOption(new Option('--compression <codec>', 'record compression').choices(COMPRESSIONS).default('zstd'))
    .option('--data-dir <dir>', 'export offline from this data dir (only when no node runs on it)')
    .option('--force', 'overwrite an existing file', false)
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, start: bigint | undefined, end: bigint | undefined, opts: ExportOpts) => {
      const req = { ...(start !== undefined ? { startBlock: start } : {}), ...(end !== undefined ? { endBlock: end } : {}), compression: opts.compression };
      let chain: ChainIdentity | undefined;
      const { result, name } = await produceFile(filename, { ...opts, label: 'export' }, (sink, progress) =>
        withBackupService({ ...opts, grpcTls: grpcClientTls(opts) }, (service) =>
          service.export(req, sink, {
            onStart: (s) => {
              chain = s;
              progress.start(Number(s.endBlock - s.startBlock + 1n));
            },
            onProgress: (p) => progress.update({ done: Number(p.blocksDone), total: Number(p.blocksTotal), bytes: p.bytes }),
          }),
        ),
      );
      printArchiveSummary('Exported', result, name, opts.json, chain);
    });
}

/** The chain a summary is about, as the service's `onStart` reported it. */
export interface ChainIdentity {
  chainId: bigint;
  genesisHash: string;
}

/** Export and import summaries: one line each for range, size and rate, chain, where, and digest (or JSON on stdout). */
export function printArchiveSummary(
  verb: 'Exported' | 'Imported',
  s: ExportSummary & { imported?: bigint; skipped?: bigint; head?: bigint },
  where: string,
  json: boolean,
  chain: ChainIdentity | undefined,
): void {
  if (json) {
    const out = {
      ...(chain ? { chainId: chain.chainId.toString(), genesisHash: chain.genesisHash } : {}),
      startBlock: s.startBlock.toString(),
      endBlock: s.endBlock.toString(),
      blocks: s.blocks.toString(),
      bytes: s.bytes,
      digest: s.digest,
      durationMs: s.durationMs,
      ...(s.imported !== undefined ? { imported: s.imported.toString(), skipped: s.skipped!.toString(), head: s.head!.toString() } : {}),
      archive: where,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const rate = s.durationMs > 0 ? (Number(s.blocks) / (s.durationMs / 1000)).toFixed(0) : '-';
  const parts = [
    `${verb} blocks ${s.startBlock}-${s.endBlock} (${s.blocks} blocks${s.imported !== undefined ? `: ${s.imported} imported, ${s.skipped} already present` : ''})`,
    `${formatBytes(s.bytes)} in ${formatDuration(s.durationMs)} (${rate} blocks/s)`,
  ];
  if (s.head !== undefined) parts.push(`head is now ${s.head}`);
  const chainLine = chain ? `chain ID ${chain.chainId}, genesis ${chain.genesisHash}\n` : '';
  process.stderr.write(`${parts.join(', ')}\n${chainLine}${verb === 'Exported' ? 'to' : 'from'} ${where}\nsha256 digest ${s.digest}\n`);
}
