import { bytesToHex, concatBytes } from '@ethereumjs/util';
import { FORMAT_VERSION, type ArchiveHeader } from '../archive/format.js';
import { ArchiveWriter } from '../archive/writer.js';
import type { ChainReadView } from '../chain/chain.js';
import { UserError } from '../util/errors.js';
import { encodeRawBlockRecord } from './block-records.js';
import type { ExportProgress, ExportRequest, ExportSummary } from './types.js';

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
    // Blocks read in batches (storedBlocks), encoded (compressed) up to LOOKAHEAD at a time.
    const source = view.blocks.storedBlocks(start, end);
    const queue: Promise<Awaited<ReturnType<typeof encodeRawBlockRecord>>>[] = [];
    let exhausted = false;
    const readAhead = async () => {
      while (!exhausted && queue.length < LOOKAHEAD) {
        const r = await source.next();
        if (r.done) {
          exhausted = true;
          break;
        }
        const p = encodeRawBlockRecord(r.value.number, r.value.hash, r.value.blockRlp, opts.compression);
        p.catch(() => undefined); // awaited in order below; this keeps an early failure from going unhandled
        queue.push(p);
      }
    };
    await readAhead();
    for (let n = start; n <= end; n++) {
      const next = queue.shift();
      if (!next) throw new Error(`block ${n} is missing from the database`);
      const record = await next;
      await readAhead();
      const bytes = writer.block(record);
      pending.push(bytes);
      pendingBytes += bytes.length;
      opts.onProgress?.({ block: n, blocksDone: n - start + 1n, blocksTotal: total, bytes: writer.bytesWritten });
      if (pendingBytes >= CHUNK_BYTES) {
        yield concatBytes(...pending);
        pending = [];
        pendingBytes = 0;
      }
    }
    const fin = writer.finish();
    pending.push(fin.bytes);
    yield concatBytes(...pending);
    return { startBlock: start, endBlock: end, blocks: fin.blockCount, bytes: writer.bytesWritten, digest: fin.digest, durationMs: Date.now() - began };
  } finally {
    await view.close();
  }
}
