import { Command, Option } from 'commander';
import { COMPRESSIONS, type Compression } from '../archive/compression.js';
import { callSnapshot, DEFAULT_GRPC_ADDRESS } from '../rpc/grpc/client.js';
import { produceFile, receiveStream, type ArchiveSink } from './archive-io.js';
import { parseHostPortString } from './options.js';
import { formatBytes, formatDuration, ProgressReporter } from './progress.js';

interface SnapshotOpts {
  grpcAddress: string;
  compression: Compression;
  dataDir?: string;
  force: boolean;
  quiet: boolean;
  json: boolean;
}

interface SnapshotResult {
  head: string;
  nodes: string;
  codes: string;
  bytes: number;
  digest: string;
  durationMs: number;
}

export function snapshotCommand(): Command {
  return new Command('snapshot')
    .description("capture the whole node at its head into one file while it runs (cron-friendly; exit 0 only when the file is complete)")
    .argument('<filename>', "snapshot file to write ('-' for stdout)")
    .option('--grpc-address <host:port>', 'gRPC operator API of the running node', parseHostPortString, DEFAULT_GRPC_ADDRESS)
    .addOption(new Option('--compression <codec>', 'record compression').choices(COMPRESSIONS).default('zstd'))
    .option('--data-dir <dir>', 'snapshot offline from this data dir (only when no node runs on it)')
    .option('--force', 'overwrite an existing file', false)
    .option('--quiet', 'no progress output', false)
    .option('--json', 'print the summary as JSON on stdout', false)
    .action(async (filename: string, opts: SnapshotOpts) => {
      const { result, name } = await produceFile(filename, { ...opts, label: 'snapshot' }, (sink, progress) =>
        opts.dataDir ? snapshotOffline(opts.dataDir, sink, opts.compression, progress) : snapshotRemote(opts.grpcAddress, sink, opts.compression, progress),
      );
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...result, snapshot: name })}\n`);
        return;
      }
      process.stderr.write(
        `Snapshot of block ${result.head}: ${result.nodes} state nodes, ${result.codes} contract codes, ${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}\nto ${name}\nsha256 digest ${result.digest}\n`,
      );
    });
}

async function snapshotRemote(address: string, sink: ArchiveSink, compression: string, progress: ProgressReporter): Promise<SnapshotResult> {
  const call = callSnapshot(address, compression);
  const { summary: s, bytes } = await receiveStream(call, sink, progress, 'snapshot');
  return { head: s.head, nodes: s.imported, codes: s.skipped, bytes, digest: s.digest, durationMs: Number(s.durationMs) };
}

async function snapshotOffline(dataDir: string, sink: ArchiveSink, compression: Compression, progress: ProgressReporter): Promise<SnapshotResult> {
  // The chain stack (EVM, trie, LevelDB) loads only for offline work: an online snapshot is a gRPC client.
  const [{ openOfflineChain }, { createSnapshot }] = await Promise.all([import('../node/offline.js'), import('../snapshot/create.js')]);
  const { chain, close } = await openOfflineChain(dataDir);
  try {
    const snap = await createSnapshot(chain, { compression, onProgress: (p) => progress.update({ done: Number(p.blocksDone), total: Number(p.blocksTotal), bytes: p.bytes }) });
    progress.start(Number(snap.header.head.number));
    for (;;) {
      const r = await snap.chunks.next();
      if (r.done) {
        const s = r.value;
        return { head: s.head.toString(), nodes: String(s.nodes), codes: String(s.codes), bytes: s.bytes, digest: s.digest, durationMs: s.durationMs };
      }
      await sink.write(r.value);
    }
  } finally {
    await close();
  }
}
