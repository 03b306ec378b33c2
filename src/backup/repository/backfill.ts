import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { Block } from '@ethereumjs/block';
import type { Chain } from '../../chain/chain.js';
import { BackupFileError } from '../../container/errors.js';
import type { HistoryGap, HistorySource } from '../../storage/schema.js';
import type { StoredReceipt } from '../../storage/receipts.js';
import { errorMessage } from '../../util/errors.js';
import { event } from '../../util/events.js';
import type { Logger } from '../../util/log.js';
import { decodeBlockRlp } from '../block-records.js';
import { verifyContents } from '../restore.js';
import { openTarget } from '../targets/open.js';
import type { S3TargetOptions } from '../targets/s3.js';
import { parseObjectName, type Manifest } from './format.js';
import { takeReaderLock } from './lock.js';
import { Repository } from './repository.js';
import { readSegment } from './segment.js';

/** What `basalt status` shows of a back-fill. */
export interface BackfillStatus {
  /** The blocks still without bodies and receipts (undefined: none left). */
  gap?: HistoryGap;
  /** The gap when the node started (what the progress is out of). */
  started: HistoryGap;
  source: HistorySource;
  /** The last failure, while the back-fill waits to try again. */
  error?: string;
}

export interface BackfillOptions {
  logger: Logger;
  /** S3 credentials and endpoint for an s3:// repository (default: the AWS SDK's from the environment). */
  s3?: S3TargetOptions;
  /** Where a repository without a folder of its own stages nothing (back-fill only reads): any folder. */
  stagingDir: string;
  /** Wait before trying again after a failure (default 60 s). */
  retryMs?: number;
}

/** Blocks (or bytes of them) back-filled in one LevelDB batch. */
const FILL_BLOCKS = 256;
const FILL_BYTES = 4 << 20;

/**
 * A restored node's history back-fill: the bodies and receipts of the blocks below its restored head
 * (the history gap, storage/schema.ts), read from the backup repository the node was restored from,
 * while the node already serves and seals at its head. Each block must hash to the header the restore
 * verified (its seals and links), and its transactions and receipts must match that header's roots;
 * each batch is written with the gap moved past it in one LevelDB batch, so a kill at any moment
 * leaves whole blocks and a gap that starts after them, and the next start goes on from there.
 * A failure (the repository unreachable, a damaged segment) is logged and tried again later; the
 * node goes on serving meanwhile.
 */
export class HistoryBackfill {
  private stopped = false;
  private readonly done: Promise<void>;
  private wake?: () => void;
  private error?: string;
  private gap?: HistoryGap;

  private constructor(
    private readonly chain: Chain,
    private readonly source: HistorySource,
    private readonly started: HistoryGap,
    private readonly opts: BackfillOptions,
  ) {
    this.gap = started;
    this.done = this.run();
  }

  /** Start back-filling the chain's history gap, if it has one (undefined otherwise). */
  static async start(chain: Chain, opts: BackfillOptions): Promise<HistoryBackfill | undefined> {
    const gap = await chain.store.historyGap();
    if (gap === undefined) return undefined;
    const source = await chain.store.historySource();
    if (source === undefined) {
      opts.logger.warn({ from: Number(gap.from), to: Number(gap.to) }, 'the history gap has no recorded source: blocks in it stay without bodies');
      return undefined;
    }
    return new HistoryBackfill(chain, source, gap, opts);
  }

  status(): BackfillStatus {
    return { ...(this.gap ? { gap: this.gap } : {}), started: this.started, source: this.source, ...(this.error ? { error: this.error } : {}) };
  }

  /** Resolves once the history is whole (or the back-fill is stopped). */
  finished(): Promise<void> {
    return this.done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.done;
  }

  private async run(): Promise<void> {
    const log = this.opts.logger;
    const began = Date.now();
    log.info(
      event('history.backfill-started', {
        from: Number(this.started.from),
        to: Number(this.started.to),
        repository: this.source.repository,
        backup: this.source.backup,
      }),
      'back-filling the history below the restored head',
    );
    while (!this.stopped && this.gap) {
      try {
        await this.fillFromRepository();
        this.error = undefined;
      } catch (err) {
        if (this.stopped) break;
        const retryInMs = this.opts.retryMs ?? 60_000;
        this.error = errorMessage(err);
        log.warn(event('history.backfill-failed', { err: this.error, retryInMs }), 'history back-fill failed; trying again later');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, retryInMs);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    }
    if (!this.gap) {
      log.info(
        event('history.backfilled', { blocks: Number(this.started.to - this.started.from + 1n), ms: Date.now() - began }),
        'history back-filled: every block is whole',
      );
    }
  }

  private async fillFromRepository(): Promise<void> {
    const target = await openTarget(this.source.repository, this.opts.s3, false);
    try {
      const repo = new Repository(target, this.opts.stagingDir);
      const lock = await takeReaderLock(repo);
      try {
        const m = await this.manifest(repo);
        for (const name of m.segments) {
          const s = parseObjectName(name)!;
          const gap = this.gap;
          if (!gap || this.stopped) return;
          if (s.last! < gap.from || s.first! > gap.to) continue;
          await this.fillFromSegment(repo, name, m);
        }
        if (this.gap && !this.stopped) throw new BackupFileError(`the backup ${this.source.backup} holds no history segment for block ${this.gap.from}`);
      } finally {
        await lock?.release().catch(() => undefined);
      }
    } finally {
      target.close();
    }
  }

  /** The backup the node was restored from; if it was pruned since, the newest of this chain's that reaches the gap. */
  private async manifest(repo: Repository): Promise<Manifest> {
    try {
      return await repo.manifest(this.source.backup);
    } catch (err) {
      const chain = { chainId: this.chain.chainId.toString(), genesisHash: bytesToHex(this.chain.genesisHash) };
      const later = (await repo.chainManifests(chain)).filter((e) => e.last >= this.gap!.to).at(-1);
      if (later === undefined) throw err;
      return later.m;
    }
  }

  private async fillFromSegment(repo: Repository, name: string, m: Manifest): Promise<void> {
    const store = this.chain.store;
    let batch: { block: Block; hash: Uint8Array; receipts: StoredReceipt[] }[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const filled = batch.at(-1)!.block.header.number;
      this.gap = await store.fillHistory(batch);
      batch = [];
      bytes = 0;
      this.opts.logger.debug(event('history.backfill-progress', { filled: Number(filled), to: Number(this.started.to) }), 'history back-filled');
      await new Promise((r) => setImmediate(r)); // the node's own work first
    };
    for await (const b of readSegment(repo, name, m)) {
      const gap = this.gap;
      if (this.stopped || !gap) break;
      const next = gap.from + BigInt(batch.length);
      if (b.number < next) continue;
      if (b.number > gap.to) break;
      const block = decodeBlockRlp(b.blockRlp, b.number, b.hash, this.chain.commonAt(b.number), 'backup');
      const canonical = await store.canonicalHash(b.number);
      if (!canonical || !equalsBytes(canonical, b.hash)) {
        throw new BackupFileError(
          `block ${b.number} in ${name} is ${bytesToHex(b.hash)}, not the chain's ${canonical ? bytesToHex(canonical) : '(no header)'}`,
          {
            code: 'INVALID_BLOCK',
          },
        );
      }
      const receipts = await verifyContents(block, b.receiptsRlp, `in ${name}`);
      batch.push({ block, hash: b.hash, receipts });
      bytes += b.blockRlp.length + b.receiptsRlp.length;
      if (batch.length >= FILL_BLOCKS || bytes >= FILL_BYTES) await flush();
    }
    await flush();
  }
}
