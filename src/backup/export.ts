import { bytesToHex, concatBytes } from '@ethereumjs/util';
import { FORMAT_VERSION, type ArchiveHeader } from '../archive/format.js';
import { ArchiveWriter } from '../archive/writer.js';
import type { ChainReadView } from '../chain/chain.js';
import { UserError } from '../util/errors.js';
import { encodeRawBlockRecord } from './block-records.js';
import type { ExportProgress, ExportRequest, ExportSummary } from './types.js';
import { mapAhead } from '../util/map-ahead.js';

/** What an export reads: the chain's identity and a consistent view of its blocks. */
export interface ExportSource {
  readonly chainId: bigint;
  readonly genesisHash: Uint8Array;
  openReadView(): ChainReadView;
}

export interface ExportOptions extends ExportRequest {
  /** Called after each block with the running totals. */
  onProgress?: (p: ExportProgress) => void;
}

export interface ChainExport {
  header: ArchiveHeader;
  /** The archive's bytes, in chunks of about CHUNK_BYTES. Iterate once. */
  chunks: AsyncGenerator<Uint8Array, ExportSummary>;
  /** Release the LevelDB snapshot; idempotent. Needed when `chunks` is abandoned before its end. */
  close(): Promise<void>;
}

const CHUNK_BYTES = 256 * 1024;
/** Blocks compressed ahead of the writer (zstd and gzip run off the main thread or are fast). */
const LOOKAHEAD = 8;

/**
 * Export a block range as an archive, read from a LevelDB snapshot taken now: the archive is one
 * consistent view of the chain, while the node goes on sealing and importing.
 */
export async function exportChain(source: ExportSource, opts: ExportOptions): Promise<ChainExport> {
  const view = source.openReadView();
  try {
    const headHash = await view.blocks.headHash();
    const headNumber = headHash === undefined ? undefined : await view.blocks.blockNumber(headHash);
    if (headNumber === undefined) throw new UserError('the chain has no head block', { code: 'FAILED_PRECONDITION' });
    const start = opts.startBlock === undefined || opts.startBlock === 0n ? 1n : opts.startBlock;
    const end = opts.endBlock ?? headNumber;
    if (headNumber < 1n) throw new UserError('the chain has only its genesis block: nothing to export yet', { code: 'FAILED_PRECONDITION' });
    if (end > headNumber) throw new UserError(`end block ${end} is beyond the head (${headNumber})`);
    if (start > end) throw new UserError(`start block ${start} is after end block ${end}`);
    const header: ArchiveHeader = {
      format: 'basalt-archive',
      version: FORMAT_VERSION,
      chainId: source.chainId.toString(),
      genesisHash: bytesToHex(source.genesisHash),
      startBlock: start.toString(),
      endBlock: end.toString(),
      compression: opts.compression,
    };
    return { header, chunks: generate(view, header, start, end, opts), close: view.close };
  } catch (err) {
    await view.close();
    throw err;
  }
}

async function* generate(
  view: ChainReadView,
  header: ArchiveHeader,
  start: bigint,
  end: bigint,
  opts: ExportOptions,
): AsyncGenerator<Uint8Array, ExportSummary> {
  const began = Date.now();
  const writer = new ArchiveWriter(header);
  const total = end - start + 1n;
  try {
    let pending: Uint8Array[] = [writer.start()];
    let pendingBytes = pending[0]!.length;
    // Blocks read by range (storedBlocks), encoded (compressed) up to LOOKAHEAD at a time.
    const records = mapAhead(view.blocks.storedBlocks(start, end), LOOKAHEAD, (b) => encodeRawBlockRecord(b.number, b.hash, b.blockRlp, opts.compression));
    let n = start;
    for await (const record of records) {
      const bytes = writer.block(record);
      pending.push(bytes);
      pendingBytes += bytes.length;
      opts.onProgress?.({ block: n, blocksDone: n - start + 1n, blocksTotal: total, bytes: writer.bytesWritten });
      n++;
      if (pendingBytes >= CHUNK_BYTES) {
        yield concatBytes(...pending);
        pending = [];
        pendingBytes = 0;
      }
    }
    if (n <= end) throw new Error(`block ${n} is missing from the database`);
    const fin = writer.finish();
    pending.push(fin.bytes);
    yield concatBytes(...pending);
    return { startBlock: start, endBlock: end, blocks: fin.blockCount, bytes: writer.bytesWritten, digest: fin.digest, durationMs: Date.now() - began };
  } finally {
    await view.close();
  }
}
