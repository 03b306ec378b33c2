import type { Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { ArchiveHeader } from '../archive/format.js';
import { readArchive } from '../archive/reader.js';
import type { ImportOutcome } from '../chain/chain.js';
import { BlockVerificationError } from '../chain/errors.js';
import { BackupFileError } from '../container/errors.js';
import { decodeBlockRecord } from './block-records.js';
import type { ExportStarted, ImportProgress, ImportSummary } from './types.js';

/** What an import writes to: a chain that verifies and commits blocks one at a time (Chain). */
export interface ImportTarget {
  readonly chainId: bigint;
  readonly genesisHash: Uint8Array;
  commonAt(num: bigint): Common;
  readonly head: { number: bigint };
  canonicalHash(num: bigint): Promise<Uint8Array | undefined>;
  /** `bulk`: one of many, made durable together (syncCommitted) before the import reports them. */
  importBlock(block: Block, opts?: { bulk?: boolean }): Promise<ImportOutcome>;
  /** Make every block imported so far durable (Chain.syncCommitted). */
  syncCommitted(): Promise<void>;
}

export interface ImportOptions {
  onHeader?: (h: ArchiveHeader) => void;
  onProgress?: (p: ImportProgress) => void;
  /** Stop before the first block above this number (point-in-time restore); the rest is not read. */
  untilBlock?: bigint;
  /** Stop before the first block whose timestamp (unix seconds) is later than this. */
  untilTime?: bigint;
}

/** The facts of an archive's header, as the backup service reports them. */
export function archiveStarted(h: ArchiveHeader): ExportStarted {
  return { chainId: BigInt(h.chainId), genesisHash: h.genesisHash, startBlock: BigInt(h.startBlock), endBlock: BigInt(h.endBlock), compression: h.compression };
}

/**
 * Import an archive through the chain's one import pipeline: every new block is verified in full
 * (parent link, IBFT seals and quorum, transactions root, execution results) and committed atomically
 * on its own. Blocks already on the chain with the same hash are skipped, so an interrupted import
 * resumes by running it again. The first bad block or record stops the import; everything before it
 * is kept (each was verified), nothing after it is written.
 */
export async function importArchive(chain: ImportTarget, source: AsyncIterable<Uint8Array>, opts: ImportOptions = {}): Promise<ImportSummary> {
  const from = chain.head.number;
  // Imported in bulk: durable before the summary (or the error naming what was imported) is reported.
  const durable = async () => {
    if (chain.head.number !== from) await chain.syncCommitted();
  };
  let summary: ImportSummary;
  try {
    summary = await importRecords(chain, source, opts);
  } catch (err) {
    await durable().catch(() => undefined); // the import's own error is the one to report
    throw err;
  }
  await durable();
  return summary;
}

async function importRecords(chain: ImportTarget, source: AsyncIterable<Uint8Array>, opts: ImportOptions): Promise<ImportSummary> {
  const began = Date.now();
  let header: ArchiveHeader | undefined;
  let imported = 0n;
  let skipped = 0n;
  let total = 0n;
  /** The summary of an import stopped on purpose before block `n` (the archive's trailer is not read). */
  const stoppedBefore = (n: bigint): ImportSummary => ({
    startBlock: BigInt(header!.startBlock),
    endBlock: n - 1n,
    imported,
    skipped,
    bytes: 0,
    digest: '',
    durationMs: Date.now() - began,
    head: chain.head.number,
    stoppedBefore: n,
  });
  for await (const ev of readArchive(source)) {
    if (ev.kind === 'header') {
      header = ev.header;
      checkSameChain(chain, header);
      const start = BigInt(header.startBlock);
      if (start > chain.head.number + 1n) {
        throw new BackupFileError(
          `archive starts at block ${start}, but this chain's head is ${chain.head.number}: import blocks ${chain.head.number + 1n}-${start - 1n} first`,
          { code: 'MISSING_BLOCKS' },
        );
      }
      total = BigInt(header.endBlock) - start + 1n;
      opts.onHeader?.(header);
      continue;
    }
    if (ev.kind === 'trailer') {
      return {
        startBlock: BigInt(header!.startBlock),
        endBlock: BigInt(header!.endBlock),
        imported,
        skipped,
        bytes: ev.bytesRead,
        digest: ev.trailer.digest,
        durationMs: Date.now() - began,
        head: chain.head.number,
      };
    }
    const { record } = ev;
    if (opts.untilBlock !== undefined && record.number > opts.untilBlock) return stoppedBefore(record.number);
    if (record.number <= chain.head.number) {
      const local = await chain.canonicalHash(record.number);
      if (local !== undefined && equalsBytes(local, record.hash)) {
        skipped++;
        opts.onProgress?.({ block: record.number, imported, skipped, blocksTotal: total, bytesRead: ev.bytesRead });
        continue;
      }
    }
    const block = await decodeBlockRecord(record, header!.compression, chain.commonAt(record.number));
    if (opts.untilTime !== undefined && block.header.timestamp > opts.untilTime) return stoppedBefore(record.number);
    try {
      const outcome = await chain.importBlock(block, { bulk: true });
      if (outcome === 'imported') imported++;
      else skipped++;
    } catch (err) {
      if (err instanceof BlockVerificationError) {
        throw new BackupFileError(`${err.message}; import stopped there (${imported} blocks imported before it, head is ${chain.head.number})`, {
          code: 'INVALID_BLOCK',
          cause: err,
        });
      }
      throw err;
    }
    opts.onProgress?.({ block: record.number, imported, skipped, blocksTotal: total, bytesRead: ev.bytesRead });
  }
  throw new BackupFileError('archive ended without a trailer'); // readArchive throws first; kept for the type checker
}

function checkSameChain(chain: ImportTarget, h: ArchiveHeader): void {
  const genesis = bytesToHex(chain.genesisHash);
  if (h.chainId !== chain.chainId.toString() || h.genesisHash !== genesis) {
    throw new BackupFileError(
      `archive belongs to another chain (chain ID ${h.chainId}, genesis ${h.genesisHash}); this node runs chain ID ${chain.chainId}, genesis ${genesis}`,
      { code: 'WRONG_CHAIN' },
    );
  }
}
