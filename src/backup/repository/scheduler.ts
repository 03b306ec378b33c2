import { readdirSync } from 'node:fs';
import { bytesToHex } from '@ethereumjs/util';
import { join } from 'node:path';
import { UserError, errorMessage } from '../../util/errors.js';
import { event } from '../../util/events.js';
import type { Logger } from '../../util/log.js';
import { Mutex } from '../../util/mutex.js';
import { processRuns, removeLeftover, type StaleTemps } from '../../util/stale-temp.js';
import type { DatedPiece } from '../pieces.js';
import { hasRetention, piecesToDelete, type RetentionPolicy } from '../retention.js';
import { logLeftovers, type ScheduledChain, type SchedulerEvents, type StoredPiece } from '../scheduler.js';
import type { BackupTarget } from '../targets/target.js';
import { backupToRepository } from './backup.js';
import { SEGMENT_BLOCKS } from './format.js';
import { LocalIndex } from './local-index.js';
import { RepositoryLock } from './lock.js';
import { hasPiecesToMerge, pruneRepository } from './prune.js';
import { backupsOf, Repository, STAGED_PREFIX } from './repository.js';

export interface RepositorySchedulerOptions {
  chain: ScheduledChain;
  target: BackupTarget;
  /** Where objects are staged when the target has no folder of its own (S3). */
  stagingDir: string;
  /** The local index of what the repository holds (a LevelDB folder of its own). */
  indexDir: string;
  intervalMs: number;
  /** Which backups (manifests) to keep, by their head block's time; the newest is always kept. */
  retention: RetentionPolicy;
  /** After retention removed backups, or once a backup names pieces of a complete segment, prune at most this often (0: never; `basalt backup prune` by hand). */
  pruneIntervalMs: number;
  logger: Logger;
  events?: SchedulerEvents;
  now?: () => number;
  /** Blocks per complete history segment (default SEGMENT_BLOCKS; tests use fewer). */
  segmentBlocks?: number;
}

/**
 * Backups the node takes by itself into a backup repository (format: ./format.ts): one every interval,
 * each storing only what changed since the last (backupToRepository), read from one consistent view
 * while the node seals and serves. Then retention removes this chain's manifests no rule keeps, and
 * at most every prune interval a prune deletes what they alone needed and merges the pieces of complete
 * history segments. A failure is logged and
 * counted, never thrown at the node; the next interval tries again.
 */
export class RepositoryScheduler {
  private readonly mutex = new Mutex();
  private readonly abort = new AbortController();
  private readonly repo: Repository;
  private timer: NodeJS.Timeout | undefined;
  private index?: LocalIndex;
  private lastAt: number | undefined;
  private lastPruneAt = 0;
  private removedSincePrune = false;
  private readonly now: () => number;

  constructor(private readonly opts: RepositorySchedulerOptions) {
    this.repo = new Repository(opts.target, opts.stagingDir);
    this.now = opts.now ?? Date.now;
  }

  get target(): BackupTarget {
    return this.opts.target;
  }

  /** Remove what a killed earlier run left staged, then back up at once. */
  start(): void {
    for (const dir of new Set([this.opts.target.stagingDir, this.opts.stagingDir])) {
      if (dir === undefined) continue;
      logLeftovers(this.opts.logger, staleStaged(dir));
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort(new UserError('backup abandoned: the node is stopping', { code: 'CANCELLED' }));
    await this.mutex.close();
    await this.index?.close();
    this.opts.target.close();
  }

  /** This node's chain, whose backups its schedule, retention and interval consider. */
  private chain(): { chainId: string; genesisHash: string } {
    return { chainId: this.opts.chain.chainId.toString(), genesisHash: bytesToHex(this.opts.chain.genesisHash) };
  }

  /**
   * A backup now (the operator's `backup now`); requests made while one is queued get its result, and
   * one every requester left before it started is not taken (BackupScheduler.backupNow).
   */
  backupNow(signal?: AbortSignal): Promise<StoredPiece[]> {
    return this.mutex.runCoalesced(
      'backup',
      async () => {
        try {
          return [await this.backup()];
        } catch (err) {
          this.failed(err);
          throw err;
        }
      },
      signal,
    );
  }

  private schedule(delayMs: number): void {
    if (this.abort.signal.aborted) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.mutex.run(async () => {
        if (this.lastAt === undefined) await this.readLast();
        // Never after now: a clock stepped back since the last backup must not hold the next one off.
        if (this.lastAt !== undefined) this.lastAt = Math.min(this.lastAt, this.now());
        if (this.lastAt !== undefined && this.now() - this.lastAt < this.opts.intervalMs) return;
        await this.backup();
      });
    } catch (err) {
      if (!this.abort.signal.aborted) this.failed(err);
    }
    this.schedule(nextTickMs(this.opts.intervalMs, this.lastAt, this.now()));
  }

  /**
   * When the newest backup of the repository was taken (its manifest's createdAt), so a restart keeps
   * the interval. A time after now (a node of the chain whose clock runs ahead, or a manifest anyone who
   * can put an object may add) counts as now, said once: it must neither stop the backups nor report a
   * last success in the future (an alert on the last backup's age would never fire).
   */
  private async readLast(): Promise<void> {
    // Summaries only (readManifests): every manifest is read at each start, none held whole.
    const newest = (await this.repo.chainManifests(this.chain(), { onSkipped: () => undefined, signal: this.abort.signal })).at(-1);
    if (!newest) return;
    const at = Date.parse(newest.m.createdAt);
    if (!Number.isFinite(at)) return;
    const now = this.now();
    if (at > now)
      this.opts.logger.warn(
        event('backup.time-in-future', { target: this.opts.target.url, file: newest.name, at: newest.m.createdAt }),
        'the newest backup manifest was created after now (a clock ahead?): taken as taken now',
      );
    this.lastAt = Math.min(at, now);
    this.opts.events?.onTargetRead?.([{ kind: 'backup', storedAt: this.lastAt }]);
  }

  private async backup(): Promise<StoredPiece> {
    const began = this.now();
    const head = this.opts.chain.head.number;
    const target = this.opts.target.url;
    this.opts.logger.info(event('backup.started', { target, kind: 'backup', head: Number(head) }), 'backup started');
    this.index ??= await LocalIndex.open(this.opts.indexDir);
    const s = await backupToRepository(this.opts.chain, this.repo, this.index, {
      compression: 'zstd',
      signal: this.abort.signal,
      now: () => new Date(this.now()),
      segmentBlocks: this.opts.segmentBlocks,
    });
    this.lastAt = this.now();
    for (const why of s.damaged)
      this.opts.logger.warn(
        event('backup.manifest-damaged', { target, why }),
        'backup passed over a manifest that cannot be read (backup verify names what is damaged)',
      );
    // From the summary, not the manifest read back: once the backup's lock is released, a prune (the
    // CLI's, another node's) may already have written it again under another name.
    const piece: StoredPiece = {
      kind: 'backup',
      startBlock: 1n,
      endBlock: s.head,
      time: s.headTime,
      digest8: s.manifest.slice(-64, -56),
      file: s.manifest,
      bytes: s.added.bytes,
      storedAt: this.lastAt,
      digest: `0x${s.manifest.slice(-64)}`,
      durationMs: this.now() - began,
      target,
    };
    this.opts.logger.info(
      event('backup.stored', { target, file: s.manifest, kind: 'backup', startBlock: 1, endBlock: Number(s.head), bytes: s.added.bytes, ms: piece.durationMs }),
      'backup stored',
    );
    await this.applyRetention(s.manifest);
    this.opts.events?.onStored?.(piece);
    // A prune deletes what removed backups alone needed, and merges the pieces of complete segments;
    // with only pieces to merge, it leaves the packs unread (its cost is the pieces' blocks).
    const due = this.removedSincePrune || hasPiecesToMerge(s, BigInt(this.opts.segmentBlocks ?? SEGMENT_BLOCKS));
    if (due && this.opts.pruneIntervalMs > 0 && this.now() - this.lastPruneAt >= this.opts.pruneIntervalMs) await this.prune(!this.removedSincePrune);
    return piece;
  }

  /**
   * Remove the manifests of this chain no rule keeps, oldest last (a restore running meanwhile still
   * finds a newer one). Another chain's backups in the same repository are its own node's to keep.
   * Under an exclusive lock, as restic's `forget`: never while another process backs up, prunes,
   * restores or verifies (a prune choosing what to keep from manifests that vanish under it). Refused
   * the lock, it is left to the next backup, logged, not failed: this backup is stored.
   */
  private async applyRetention(written: string): Promise<void> {
    if (!hasRetention(this.opts.retention)) return;
    let lock: RepositoryLock;
    try {
      lock = await RepositoryLock.take(this.repo, true, this.now);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      this.opts.logger.info(
        event('backup.retention-deferred', { target: this.opts.target.url, reason: err.message }),
        'retention left to the next backup: the repository is in use',
      );
      return;
    }
    try {
      // A damaged manifest is left where it is (`backup verify` names it); retention weighs the rest.
      // Newest by head block time (newestLast, the order restores take too): after a roll-back the new
      // timeline's backups end lower than the timeline left, yet they are the newest. Backups whose head
      // this node's chain has passed with another block are of a timeline left, older than any of its
      // own whatever their time (blocks sealed while a clock ran ahead), and the backup just written is
      // never removed by its own retention. A backup under two manifests (a prune stopped between writing
      // them again and deleting the old ones) counts once: kept, both stay (the next prune removes the
      // old one); removed, both go.
      const listing = await this.repo.list();
      const backups = backupsOf(await this.repo.chainManifests(this.chain(), { listing, onSkipped: () => undefined, signal: this.abort.signal }));
      const head = this.opts.chain.head.number;
      const left = new Set<(typeof backups)[number]>();
      for (const b of backups) {
        const { last, m } = b[0]!;
        if (last > head) continue;
        const ours = await this.opts.chain.canonicalHash(last);
        if (ours !== undefined && bytesToHex(ours) !== m.head.hash) left.add(b);
      }
      const ordered = [...backups.filter((b) => left.has(b)), ...backups.filter((b) => !left.has(b))];
      const pieces: (DatedPiece & { names: string[] })[] = ordered.map((b, i) => ({
        kind: 'snapshot',
        startBlock: 1n,
        endBlock: b[0]!.last,
        time: BigInt(b[0]!.m.head.timestamp),
        digest8: b[0]!.name.slice(-64, -56),
        file: b[0]!.name,
        names: b.map((x) => x.name),
        storedAt: i,
      }));
      for (const p of piecesToDelete(pieces, this.opts.retention).filter((p) => !p.names.includes(written))) {
        for (const name of p.names) {
          lock.assertHeld(this.now());
          await this.opts.target.delete(name);
          this.removedSincePrune = true;
          this.opts.logger.info({ target: this.opts.target.url, file: name }, 'backup removed by retention');
        }
      }
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  /** What the removed backups alone needed, deleted, and pieces merged (a failure is logged; the next one tries again). */
  private async prune(historyOnly: boolean): Promise<void> {
    this.lastPruneAt = this.now();
    try {
      const s = await pruneRepository(this.repo, {
        scratchDir: this.opts.stagingDir,
        signal: this.abort.signal,
        segmentBlocks: this.opts.segmentBlocks,
        historyOnly,
      });
      if (!historyOnly) this.removedSincePrune = false;
      const target = this.opts.target.url;
      for (const why of s.notMerged) this.opts.logger.warn({ target, why }, 'history pieces not merged (run backup verify)');
      for (const file of s.copiesLeft) this.opts.logger.warn({ target, file }, "manifest left beside its backup's: it names other objects (run backup verify)");
      this.opts.logger.info(
        event('backup.pruned', { target, historyOnly, merged: s.merged, bytesBefore: s.bytesBefore, bytesAfter: s.bytesAfter, ms: s.durationMs }),
        'backup repository pruned',
      );
    } catch (err) {
      this.opts.logger.warn({ target: this.opts.target.url, err: errorMessage(err) }, 'backup repository prune failed (will try again after the next backup)');
    }
  }

  private failed(err: unknown): void {
    this.opts.logger.error(
      event('backup.failed', { target: this.opts.target.url, kind: 'backup', err: errorMessage(err) }),
      'backup failed (will try again at the next interval)',
    );
    this.opts.events?.onFailure?.('backup', err);
  }
}

/** The delay to the next tick: what is left of the interval since the last backup, at least 1 s, at most the interval. */
export function nextTickMs(intervalMs: number, lastAt: number | undefined, now: number): number {
  if (lastAt === undefined || !Number.isFinite(lastAt)) return intervalMs;
  return Math.min(intervalMs, Math.max(1000, intervalMs - (now - lastAt)));
}

/** Staged objects (`.repo-<random>.partial-<pid>`) whose process is gone, removed; one that cannot be is kept, as removeStaleTemps does. */
function staleStaged(dir: string): StaleTemps {
  const found: StaleTemps = { removed: [], kept: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return found;
  }
  for (const name of names) {
    if (!name.startsWith(STAGED_PREFIX)) continue;
    const m = /\.partial-(\d{1,10})$/.exec(name);
    if (!m || processRuns(Number(m[1]))) continue;
    removeLeftover(found, join(dir, name), Number(m[1]));
  }
  return found;
}
