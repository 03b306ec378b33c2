import { bytesToHex } from '@ethereumjs/util';
import type { Chain } from '../chain/chain.js';
import { CLIENT_VERSION } from '../node/version.js';
import { UserError } from '../util/errors.js';
import type { BlockStore } from '../chain/block-store.js';
import { blockRlpFromStored, encodeRawBlockRecord } from './block-codec.js';
import type { Compression } from './compression.js';
import { FORMAT_VERSION, type ArchiveHeader } from './format.js';
import { ArchiveWriter } from './writer.js';

export interface ExportOptions {
  /** First block; default 1 (the genesis block is bound by hash in the header, not stored). */
  startBlock?: bigint;
  /** Last block; default: the head when the export starts. */
  endBlock?: bigint;
  compression: Compression;
  /** Called after each block with the running totals. */
  onProgress?: (p: ExportProgress) => void;
}

export interface ExportProgress {
  block: bigint;
  blocksDone: bigint;
  blocksTotal: bigint;
  bytes: number;
}

export interface ExportSummary {
  startBlock: bigint;
  endBlock: bigint;
  blocks: bigint;
  bytes: number;
  digest: string;
  durationMs: number;
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
export async function exportChain(chain: Chain, opts: ExportOptions): Promise<ChainExport> {
  const opened = chain.store.openSnapshot();
  let closed: Promise<void> | undefined;
  const snap = { store: opened.store, close: () => (closed ??= opened.close()) };
  try {
    const headHash = await snap.store.headHash();
    const headNumber = headHash === undefined ? undefined : await snap.store.blockNumber(headHash);
    if (headNumber === undefined) throw new UserError('the chain has no head block');
    const start = opts.startBlock === undefined || opts.startBlock === 0n ? 1n : opts.startBlock;
    const end = opts.endBlock ?? headNumber;
    if (headNumber < 1n) throw new UserError('the chain has only its genesis block: nothing to export yet');
    if (end > headNumber) throw new UserError(`end block ${end} is beyond the head (${headNumber})`);
    if (start > end) throw new UserError(`start block ${start} is after end block ${end}`);
    const header: ArchiveHeader = {
      format: 'basalt-archive',
      version: FORMAT_VERSION,
      chainId: chain.chainId.toString(),
      genesisHash: bytesToHex(chain.genesisHash),
      startBlock: start.toString(),
      endBlock: end.toString(),
      compression: opts.compression,
      createdAt: new Date().toISOString(),
      clientVersion: CLIENT_VERSION,
    };
    return { header, chunks: generate(snap, header, start, end, opts), close: snap.close };
  } catch (err) {
    await snap.close();
    throw err;
  }
}

async function* generate(
  snap: { store: Chain['store']; close(): Promise<void> },
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
    const queue: Promise<Awaited<ReturnType<typeof encodeRawBlockRecord>>>[] = [];
    let nextToRead = start;
    const readAhead = () => {
      while (queue.length < LOOKAHEAD && nextToRead <= end) {
        const n = nextToRead++;
        const p = readRawBlock(snap.store, n).then(({ hash, rlp }) => encodeRawBlockRecord(n, hash, rlp, opts.compression));
        p.catch(() => undefined); // awaited in order below; this keeps an early failure from going unhandled
        queue.push(p);
      }
    };
    readAhead();
    for (let n = start; n <= end; n++) {
      const record = await queue.shift()!;
      readAhead();
      const bytes = writer.block(record);
      pending.push(bytes);
      pendingBytes += bytes.length;
      opts.onProgress?.({ block: n, blocksDone: n - start + 1n, blocksTotal: total, bytes: writer.bytesWritten });
      if (pendingBytes >= CHUNK_BYTES) {
        yield concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
      }
    }
    const fin = writer.finish();
    pending.push(fin.bytes);
    pendingBytes += fin.bytes.length;
    yield concat(pending, pendingBytes);
    return { startBlock: start, endBlock: end, blocks: fin.blockCount, bytes: writer.bytesWritten, digest: fin.digest, durationMs: Date.now() - began };
  } finally {
    await snap.close();
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function readRawBlock(store: BlockStore, n: bigint): Promise<{ hash: Uint8Array; rlp: Uint8Array }> {
  const hash = await store.canonicalHash(n);
  const [header, body] = hash ? await Promise.all([store.headerRLP(n, hash), store.bodyRLP(n, hash)]) : [];
  if (!hash || !header || !body) throw new Error(`block ${n} is missing from the database`);
  return { hash, rlp: blockRlpFromStored(header, body) };
}
