import { untilAborted } from '../../util/abortable.js';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { Block } from '@ethereumjs/block';
import type { Chain } from '../../chain/chain.js';
import { BackupFileError } from '../../container/errors.js';
import type { HistoryGap, HistorySource } from '../../storage/schema.js';
import type { StoredReceipt } from '../../storage/receipts.js';
import { errorMessage } from '../../util/errors.js';
import { txBytes } from '../../util/tx-bytes.js';
import { event } from '../../util/events.js';
import type { Logger } from '../../util/log.js';
import { decodeBlockRlp } from '../block-records.js';
import { verifyContents } from '../restore.js';
import { openTarget } from '../targets/open.js';
import type { S3TargetOptions } from '../targets/s3.js';
import { isNotFound } from '../targets/target.js';
import { parseObjectName, type Manifest } from './format.js';
import { takeReaderLock } from './lock.js';
import { Repository } from './repository.js';
import { holdsBlock, readSegment } from './segment.js';

/** What `basalt status` shows of a back-fill. */
export interface BackfillStatus {
  /** The blocks still without bodies and receipts (undefined: none left). */
  gap?: HistoryGap;
  /** The gap when the node started (what the progress is out of). */
  started: HistoryGap;
  /** Where the blocks come from, in the order they are tried ("REPOSITORY (BACKUP), then peers"). */
  source: string;
  /** The last failure, while the back-fill waits to try again. */
  error?: string;
}

/** A block as a source gives it to the back-fill, which checks it against the chain's header. */
export interface FeedBlock {
  number: bigint;
  /** The block's hash, as the source computed or stated it (the back-fill compares it with the canonical one). */
  hash: Uint8Array;
  block: Block;
  receiptsRlp: Uint8Array;
  /** Where it came from, for errors ("in segment-…", "from peer …"). */
  where: string;
  /**
   * The back-fill refused this block (not the chain's, or contents that do not match its header):
   * a source of many (peers) drops whoever sent it, and the back-fill asks it again from the gap.
   * Absent: the refusal is the source's failure.
   */
  refuse?(reason: string): void;
}

/** Where a back-fill reads the gap's blocks. */
export interface HistoryFeed {
  /** How status and logs name it. */
  readonly name: string;
  /**
   * The canonical blocks from..to, in order, each once; it throws when it cannot go on (the source out
   * of reach, nothing there for the next block). The back-fill may stop reading at any block;
   * `signal` aborts when it stops: a wait or a request in flight ends then.
   */
  blocks(from: bigint, to: bigint, signal: AbortSignal): AsyncIterable<FeedBlock>;
}

export interface BackfillOptions {
  logger: Logger;
  /** S3 credentials and endpoint for an s3:// repository (default: the AWS SDK's from the environment). */
  s3?: S3TargetOptions;
  /** Where a repository without a folder of its own stages nothing (back-fill only reads): any folder. */
  stagingDir: string;
  /** Wait before trying again after a failure (default 60 s). */
  retryMs?: number;
  /** Another source, tried after the recorded repository (or alone without one): the node's peers. */
  peers?: HistoryFeed;
}

/** Blocks (or bytes of them) back-filled in one LevelDB batch. */
const FILL_BLOCKS = 256;
const FILL_BYTES = 4 << 20;
/** Blocks refused from sources of many (peers, each dropped) before a round counts as failed. */
const MAX_REFUSALS = 16;

/**
 * A restored node's history back-fill: the bodies and receipts of the blocks below its restored head
 * (the history gap, storage/schema.ts), read from the backup repository the node was restored from
 * and, where that fails or none is recorded, from its peers, while the node already serves and seals
 * at its head. Each block must hash to the header the restore verified (its seals and links), and its
 * transactions and receipts must match that header's roots; each batch is written with the gap moved
 * past it in one LevelDB batch, so a kill at any moment leaves whole blocks and a gap that starts
 * after them, and the next start goes on from there. A failure of every source (the repository
 * unreachable, a damaged segment, no peer holding the blocks) is logged and tried again later; the
 * node goes on serving meanwhile.
 */
export class HistoryBackfill {
  private stopped = false;
  private readonly stopping = new AbortController();
  private readonly done: Promise<void>;
  private wake?: () => void;
  private error?: string;
  private gap?: HistoryGap;

  private constructor(
    private readonly chain: Chain,
    private readonly feeds: HistoryFeed[],
    private readonly started: HistoryGap,
    private readonly opts: BackfillOptions,
  ) {
    this.gap = started;
    this.done = this.run();
  }

  /** Start back-filling the chain's history gap, if it has one and a source (undefined otherwise). */
  static async start(chain: Chain, opts: BackfillOptions): Promise<HistoryBackfill | undefined> {
    const gap = await chain.store.historyGap();
    if (gap === undefined) return undefined;
    const source = await chain.store.historySource();
    const feeds = [...(source ? [repositoryFeed(chain, source, opts)] : []), ...(opts.peers ? [opts.peers] : [])];
    if (feeds.length === 0) {
      opts.logger.warn(
        { from: Number(gap.from), to: Number(gap.to) },
        'the history gap has no recorded source and the node has no peers to ask (--no-libp2p): blocks in it stay without bodies',
      );
      return undefined;
    }
    return new HistoryBackfill(chain, feeds, gap, opts);
  }

  status(): BackfillStatus {
    return {
      ...(this.gap ? { gap: this.gap } : {}),
      started: this.started,
      source: this.feeds.map((f) => f.name).join(', then '),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  /** Resolves once the history is whole (or the back-fill is stopped). */
  finished(): Promise<void> {
    return this.done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    this.wake?.();
    await this.done;
  }

  private async run(): Promise<void> {
    const log = this.opts.logger;
    const began = Date.now();
    log.info(
      event('history.backfill-started', { from: Number(this.started.from), to: Number(this.started.to), source: this.status().source }),
      'back-filling the history below the restored head',
    );
    while (!this.stopped && this.gap) {
      const errors: string[] = [];
      for (const feed of this.feeds) {
        if (this.stopped || !this.gap) break;
        try {
          await this.fillFrom(feed);
          if (this.gap && !this.stopped) throw new Error(`${feed.name} ended before block ${this.gap.from}`);
        } catch (err) {
          if (this.stopped) break;
          errors.push(this.feeds.length > 1 ? `${feed.name}: ${errorMessage(err)}` : errorMessage(err));
        }
      }
      if (this.stopped || !this.gap) break;
      const retryInMs = this.opts.retryMs ?? 60_000;
      this.error = errors.join('; ');
      log.warn(event('history.backfill-failed', { err: this.error, retryInMs }), 'history back-fill failed; trying again later');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, retryInMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    if (!this.gap) {
      this.error = undefined;
      log.info(
        event('history.backfilled', { blocks: Number(this.started.to - this.started.from + 1n), ms: Date.now() - began }),
        'history back-filled: every block is whole',
      );
    }
  }

  /**
   * Back-fill from `feed` until the gap is closed, the feed ends or fails (it throws), or it has sent
   * MAX_REFUSALS blocks that were refused (each refusal asks it again from the gap).
   */
  private async fillFrom(feed: HistoryFeed): Promise<void> {
    const store = this.chain.store;
    let refusals = 0;
    let batch: { block: Block; hash: Uint8Array; receipts: StoredReceipt[] }[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      // Below the disk's free-space floor nothing is written: the run tries again later.
      const paused = this.chain.writesPaused;
      if (paused !== undefined) throw new Error(`not written now: ${paused}`);
      const filled = batch.at(-1)!.block.header.number;
      this.gap = await store.fillHistory(batch);
      batch = [];
      bytes = 0;
      this.error = undefined;
      this.opts.logger.debug(event('history.backfill-progress', { filled: Number(filled), to: Number(this.started.to) }), 'history back-filled');
      await new Promise((r) => setImmediate(r)); // the node's own work first
    };
    for (;;) {
      const gap = this.gap;
      if (this.stopped || !gap) return;
      let next = gap.from;
      let refused: string | undefined;
      try {
        // A feed waiting on something it cannot cancel (a repository's lock, a listing) is left behind on stop.
        for await (const b of untilAborted(feed.blocks(gap.from, gap.to, this.stopping.signal), this.stopping.signal)) {
          if (this.stopped) break;
          if (b.number !== next) throw new Error(`${feed.name} gave block ${b.number} where block ${next} is next`);
          const canonical = await store.canonicalHash(b.number);
          try {
            if (!canonical || !equalsBytes(canonical, b.hash)) {
              throw new BackupFileError(
                `block ${b.number} ${b.where} is ${bytesToHex(b.hash)}, not the chain's ${canonical ? bytesToHex(canonical) : '(no header)'}`,
                { code: 'INVALID_BLOCK' },
              );
            }
            batch.push({ block: b.block, hash: b.hash, receipts: await verifyContents(b.block, b.receiptsRlp, b.where) });
          } catch (err) {
            // From a source of many, whatever is wrong with the block is its sender's: refused.
            if (b.refuse === undefined) throw err;
            refused = errorMessage(err);
            b.refuse(refused);
            break;
          }
          next++;
          bytes += b.receiptsRlp.length;
          for (const tx of b.block.transactions) bytes += txBytes(tx).length;
          if (batch.length >= FILL_BLOCKS || bytes >= FILL_BYTES) await flush();
        }
      } finally {
        await flush(); // the blocks checked before a failure are kept
      }
      if (refused === undefined) return;
      if (++refusals >= MAX_REFUSALS) throw new Error(`${refusals} blocks refused, the last: ${refused}`);
    }
  }
}

/**
 * The backup repository the node was restored from (HistorySource): its backup's segments, from the
 * one holding the gap's first block; if that backup was pruned since, the newest of this chain's that
 * reaches the gap. Damage in a segment is the feed's failure (no refusal: one repository).
 */
function repositoryFeed(chain: Chain, source: HistorySource, opts: BackfillOptions): HistoryFeed {
  const name = `${source.repository} (${source.backup})`;
  return {
    name,
    async *blocks(from, to, signal) {
      signal.throwIfAborted();
      const target = await openTarget(source.repository, opts.s3, false);
      try {
        const repo = new Repository(target, opts.stagingDir);
        const lock = await takeReaderLock(repo);
        try {
          const m = await manifestFor(repo, chain, source, to, signal);
          let next = from;
          for (const segment of m.segments) {
            const s = parseObjectName(segment)!;
            if (s.last! < next || s.first! > to) continue;
            for await (const b of readSegment(repo, segment, m, signal)) {
              if (b.number < next) continue;
              if (b.number > to) return;
              const block = decodeBlockRlp(b.blockRlp, b.number, b.hash, chain.commonAt(b.number), 'backup');
              yield { number: b.number, hash: b.hash, block, receiptsRlp: b.receiptsRlp, where: `in ${segment}` };
              next = b.number + 1n;
            }
          }
          if (next <= to) throw new BackupFileError(`the backup ${source.backup} holds no history segment for block ${next}`);
        } finally {
          await lock?.release().catch(() => undefined);
        }
      } finally {
        target.close();
      }
    },
  };
}

/** The backup the node was restored from; if it was pruned since, the newest of this chain's that reaches `to`. */
async function manifestFor(repo: Repository, chain: Chain, source: HistorySource, to: bigint, signal?: AbortSignal): Promise<Manifest> {
  try {
    return await repo.manifest(source.backup, signal);
  } catch (err) {
    const id = { chainId: chain.chainId.toString(), genesisHash: bytesToHex(chain.genesisHash) };
    // Of a timeline that holds this node's block `to` (after a roll-back, another one's blocks are not ours).
    const ours = await chain.canonicalHash(to);
    if (ours === undefined) throw err;
    for (const later of (await repo.chainManifests(id, { onSkipped: () => undefined, signal })).filter((e) => e.last >= to).reverse()) {
      // Read again for its segments (the listing keeps summaries); one gone meanwhile is passed over.
      let m: Manifest;
      try {
        m = await repo.manifest(later.name, signal);
      } catch (e) {
        if (e instanceof BackupFileError || isNotFound(e)) continue;
        throw e;
      }
      if (await holdsBlock(repo, m, to, bytesToHex(ours))) return m;
    }
    throw err;
  }
}
