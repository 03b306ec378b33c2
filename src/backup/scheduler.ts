import { mkdirSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Block } from '@ethereumjs/block';
import type { Compression } from '../container/compression.js';
import { UserError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Mutex } from '../util/mutex.js';
import { removeStaleTemps, type StaleTemps } from '../util/stale-temp.js';
import { exportChain } from './export.js';
import { chainTip, listPieces, newestSnapshot, parsePieceName, pieceName, type ListedPiece, type PieceKind } from './pieces.js';
import { piecesToDelete, type RetentionPolicy } from './retention.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.js';
import { createSnapshot, type SnapshotSource } from './snapshot.js';
import type { BackupTarget, StagedPiece } from './targets/target.js';
import type { ByteSink } from './types.js';
import { event } from '../util/events.js';

/** What the scheduler reads: the chain (a snapshot source with a head and blocks by number). */
export interface ScheduledChain extends SnapshotSource {
  readonly head: { number: bigint };
  blockByNumber(num: bigint): Promise<Block | undefined>;
  /** The hash of this chain's block `num` (the consensus engine's), undefined above the head. */
  canonicalHash(num: bigint): Promise<Uint8Array | undefined>;
}

/** What a scheduled backup stores: a piece (snapshot, archive) or a backup of a repository. */
export type StoredKind = PieceKind | 'backup';

/** What a stored piece was, for the operator and the metrics. */
export interface StoredPiece extends Omit<ListedPiece, 'kind'> {
  kind: StoredKind;
  digest: string;
  durationMs: number;
  target: string;
}

export interface SchedulerEvents {
  /** A piece is stored (and retention has run). */
  onStored?(piece: StoredPiece): void;
  /** A backup of `kind` failed for good (after its retries). */
  onFailure?(kind: StoredKind, err: unknown): void;
  /**
   * The target was read (at the first tick after start, and again after a failure): the time its
   * newest piece of each kind was stored. A node restarted reports its last backup at once, not only
   * after its next one (basalt_backup_last_success_timestamp_seconds).
   */
  onTargetRead?(newest: { kind: StoredKind; storedAt: number }[]): void;
}

export interface SchedulerOptions {
  chain: ScheduledChain;
  target: BackupTarget;
  /** Where to stage pieces for a target that has no folder of its own (S3). */
  stagingDir: string;
  /** Distinguishes this scheduler's temporary files from another's in the same staging folder. */
  tag?: string;
  snapshotIntervalMs: number;
  /** 0: no archives between snapshots. */
  archiveIntervalMs: number;
  retention: RetentionPolicy;
  compression?: Compression;
  retry?: RetryPolicy;
  logger: Logger;
  events?: SchedulerEvents;
  now?: () => number;
}

/**
 * An explicit backup a target refuses because it holds the head already (its newest piece ends there):
 * FAILED_PRECONDITION, and the one refusal `backupNowEach` passes over (a repository's lock, a format
 * limit or history still back-filling are FAILED_PRECONDITION too, and are failures).
 */
export class NothingNewError extends UserError {
  constructor(message: string) {
    super(message, { code: 'FAILED_PRECONDITION' });
    this.name = 'NothingNewError';
  }
}

/**
 * `backup now` into every target, one after the other: the pieces stored. A target with nothing new
 * (NothingNewError: its newest piece already ends at the head) does not hold back the others, which
 * may be behind it (a target whose last upload failed); the call fails with the first such refusal only
 * when no target stored anything. Any other failure stops it, as before.
 */
export async function backupNowEach(targets: (() => Promise<StoredPiece[]>)[]): Promise<StoredPiece[]> {
  const out: StoredPiece[] = [];
  let refused: NothingNewError | undefined;
  for (const take of targets) {
    try {
      out.push(...(await take()));
    } catch (err) {
      if (!(err instanceof NothingNewError)) throw err;
      refused ??= err;
    }
  }
  if (out.length === 0 && refused) throw refused;
  return out;
}

/**
 * Backups the node takes by itself, into one target: a snapshot every snapshot interval and, between
 * them, an archive of the blocks since the last piece every archive interval, both read from LevelDB
 * snapshots while the node goes on sealing and serving. Pieces form a chain: each archive starts
 * right after the piece before it, and before a snapshot is stored the archive up to its head is, so
 * restoring to any block after the first snapshot is possible. On start it reads the target to find
 * the end of the newest snapshot's chain and goes on from there. Each piece is staged in a local file, then put (with
 * retries and backoff) where it becomes visible only when complete; then retention runs. Failures are
 * logged and counted, never thrown at the node; the next tick tries again from the same place.
 */
export class BackupScheduler {
  private readonly mutex = new Mutex();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private known: ListedPiece[] | undefined;
  /** Whether a piece (by name) holds this chain's blocks (ofThisChain). */
  private readonly ours = new Map<string, boolean>();
  private lastSnapshotAt: number | undefined;
  private warnedAhead = false;
  private readonly retry: RetryPolicy;
  private readonly now: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.now = opts.now ?? Date.now;
  }

  get target(): BackupTarget {
    return this.opts.target;
  }

  /** Remove what a killed earlier run left in the staging folder, then run the first tick at once. */
  start(): void {
    mkdirSync(this.stagingDir, { recursive: true });
    for (const k of ['snapshot', 'archive']) {
      logLeftovers(this.opts.logger, removeStaleTemps(this.stagingDir, this.tempPrefix(k)));
    }
    this.schedule(0);
  }

  /** Abandon a piece in progress (its staged file is removed, nothing becomes visible) and stop. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort(new UserError('backup abandoned: the node is stopping', { code: 'CANCELLED' }));
    await this.mutex.close();
    this.opts.target.close();
  }

  /**
   * Take a piece now (the operator's `backup now`): the stored pieces, a closing archive first when a
   * snapshot needs one. A request of a kind already queued (not started) gets that one's result, so
   * however many requests come (each a state walk and an upload, for a snapshot), at most one of each
   * kind waits behind the backup in progress. A request whose `signal` aborts (its caller hung up)
   * stops waiting, and a queued backup every requester left is not taken (Mutex.runCoalesced).
   */
  backupNow(kind: PieceKind, signal?: AbortSignal): Promise<StoredPiece[]> {
    return this.mutex.runCoalesced(
      kind,
      async () => {
        try {
          const stored = await this.takePiece(kind, true);
          return stored;
        } catch (err) {
          if (!(err instanceof NothingNewError)) this.failed(kind, err);
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

  private tickMs(): number {
    const { snapshotIntervalMs: s, archiveIntervalMs: a } = this.opts;
    return a > 0 ? Math.min(a, s) : s;
  }

  private async tick(): Promise<void> {
    const due = (): PieceKind | undefined => {
      // Never after now: a clock stepped back since the last snapshot must not hold the next one off.
      if (this.lastSnapshotAt !== undefined) this.lastSnapshotAt = Math.min(this.lastSnapshotAt, this.now());
      const snapshotDue = this.lastSnapshotAt === undefined || this.now() - this.lastSnapshotAt >= this.opts.snapshotIntervalMs;
      return snapshotDue ? 'snapshot' : this.opts.archiveIntervalMs > 0 ? 'archive' : undefined;
    };
    let kind: PieceKind = due() ?? 'snapshot'; // what a failure counts as, should the target not even list
    try {
      await this.mutex.run(async () => {
        await this.loadKnown();
        const next = due();
        if (next === undefined) return;
        kind = next;
        await this.takePiece(kind, false);
      });
    } catch (err) {
      if (!this.abort.signal.aborted) this.failed(kind, err);
    }
    this.schedule(this.tickMs());
  }

  private failed(kind: PieceKind, err: unknown): void {
    this.opts.logger.error(
      event('backup.failed', { target: this.opts.target.url, kind, err: errorMessage(err) }),
      'backup failed (will try again at the next interval)',
    );
    this.opts.events?.onFailure?.(kind, err);
  }

  /** The pieces in the target, read once (again after a failure) and kept up to date after that. */
  private async loadKnown(): Promise<ListedPiece[]> {
    if (this.known) return this.known;
    const pieces = await this.withRetry('list', () => listPieces(this.opts.target));
    this.known = pieces;
    // A time after now (the target's clock, or a node's writing to it, ahead) counts as now, said once:
    // it must neither hold the snapshots off nor report a last success in the future.
    const now = this.now();
    const ahead = pieces.reduce<ListedPiece | undefined>((a, p) => (p.storedAt > now && (!a || p.storedAt > a.storedAt) ? p : a), undefined);
    if (ahead && !this.warnedAhead) {
      this.warnedAhead = true;
      this.opts.logger.warn(
        event('backup.time-in-future', {
          target: this.opts.target.url,
          file: ahead.file,
          at: Number.isNaN(new Date(ahead.storedAt).getTime()) ? String(ahead.storedAt) : new Date(ahead.storedAt).toISOString(),
        }),
        'a backup piece was stored after now (a clock ahead?): taken as stored now',
      );
    }
    const snaps = pieces.filter((p) => p.kind === 'snapshot').map((p) => Math.min(p.storedAt, now));
    this.lastSnapshotAt = snaps.length ? Math.max(...snaps) : undefined;
    const tip = chainTip(pieces);
    this.opts.logger.info({ target: this.opts.target.url, pieces: pieces.length, ...(tip ? { lastPiece: tip.file } : {}) }, 'backup target read');
    const newest = new Map<PieceKind, number>();
    for (const p of pieces) newest.set(p.kind, Math.max(newest.get(p.kind) ?? 0, Math.min(p.storedAt, now)));
    this.opts.events?.onTargetRead?.([...newest].map(([kind, storedAt]) => ({ kind, storedAt })));
    return pieces;
  }

  /**
   * One piece of `kind` (a snapshot when the target has none yet, or holds blocks this chain does not
   * have). `explicit`: the operator asked, so "nothing new" is an error rather than a quiet skip (an
   * archive) or a second copy of the newest snapshot (a snapshot).
   */
  private async takePiece(kind: PieceKind, explicit: boolean): Promise<StoredPiece[]> {
    const known = await this.loadKnown();
    const head = this.opts.chain.head.number;
    if (head < 1n) {
      if (explicit) throw new NothingNewError('the chain has only its genesis block: nothing to back up yet');
      return [];
    }
    // Archives continue the chain of the snapshot stored last (chainTip), which may end below the
    // newest piece and below other snapshots (of a timeline the chain left when it was restored), and
    // only pieces of this chain's blocks: an archive of the timeline left may start right after its head.
    const mine = await this.ofThisChain(known, head);
    const tip = chainTip(known, (a) => mine.has(a));
    if (!tip || !mine.has(tip)) {
      // Another chain's pieces, or a data dir restored to an older block: archives cannot continue them.
      if (tip)
        this.opts.logger.warn(
          { target: this.opts.target.url, lastPiece: tip.file, head: Number(head) },
          "backup target's newest snapshot holds blocks this chain does not have (beyond its head, or of a timeline it left): taking a snapshot",
        );
      return this.snapshot(undefined);
    }
    if (kind === 'archive') {
      if (head <= tip.endBlock) {
        if (explicit) throw new NothingNewError(`no new blocks since the last piece (${tip.file})`);
        return [];
      }
      return [await this.archive(tip.endBlock + 1n, head)];
    }
    const newest = newestSnapshot(known);
    if (explicit && newest && mine.has(newest) && newest.endBlock === head) {
      throw new NothingNewError(`no new blocks since the last snapshot (${newest.file}), which ends at the head (block ${head}): nothing new to snapshot`);
    }
    return this.snapshot(tip.endBlock);
  }

  /**
   * The pieces that could continue this chain: the snapshot stored last and the pieces after its head,
   * each if its last block is one of this chain's (the number and the timestamp its name gives: a
   * timeline left by a restore sealed its blocks at other times). Looked up once a piece (the chain
   * below the head does not change under a running node).
   */
  private async ofThisChain(known: ListedPiece[], head: bigint): Promise<Set<ListedPiece>> {
    const mine = new Set<ListedPiece>();
    const snapshot = newestSnapshot(known);
    if (!snapshot) return mine;
    for (const p of known) {
      if (p !== snapshot && (p.kind !== 'archive' || p.startBlock <= snapshot.endBlock)) continue;
      if (p.endBlock > head) continue;
      let ours = this.ours.get(p.file);
      if (ours === undefined) {
        const block = await this.opts.chain.blockByNumber(p.endBlock);
        if (block === undefined) continue; // not readable now (a history still back-filled): not continued, asked again
        ours = block.header.timestamp === p.time;
        this.ours.set(p.file, ours);
      }
      if (ours) mine.add(p);
    }
    const files = new Set(known.map((p) => p.file));
    for (const f of this.ours.keys()) if (!files.has(f)) this.ours.delete(f);
    return mine;
  }

  /** A snapshot at the head; first the archive from `after + 1` up to that head, so the chain of pieces has no gap. */
  private async snapshot(after: bigint | undefined): Promise<StoredPiece[]> {
    const began = this.now();
    this.opts.logger.info(
      event('backup.started', { target: this.opts.target.url, kind: 'snapshot', head: Number(this.opts.chain.head.number) }),
      'backup piece started',
    );
    const snap = await createSnapshot(this.opts.chain, { compression: this.opts.compression ?? 'zstd' });
    const path = join(this.stagingDir, `${this.tempPrefix('snapshot')}${process.pid}`);
    const staged = await this.stage(path, snap);
    try {
      const head = BigInt(snap.header.head.number);
      const stored: StoredPiece[] = [];
      if (after !== undefined && after < head) stored.push(await this.archive(after + 1n, head));
      const piece = await this.put('snapshot', 1n, head, staged, began);
      stored.push(piece);
      this.lastSnapshotAt = this.now();
      return stored;
    } finally {
      await rm(path, { force: true });
    }
  }

  private async archive(start: bigint, end: bigint): Promise<StoredPiece> {
    const began = this.now();
    this.opts.logger.info(
      event('backup.started', { target: this.opts.target.url, kind: 'archive', startBlock: Number(start), endBlock: Number(end) }),
      'backup piece started',
    );
    const exp = await exportChain(this.opts.chain, { startBlock: start, endBlock: end, compression: this.opts.compression ?? 'zstd' });
    const path = join(this.stagingDir, `${this.tempPrefix('archive')}${process.pid}`);
    try {
      const staged = await this.stage(path, exp);
      return await this.put('archive', start, end, staged, began);
    } finally {
      await rm(path, { force: true });
    }
  }

  /** Write a producer's bytes to a new local file, fsynced; abandoned (and removed) when the node stops. */
  private async stage(
    path: string,
    p: { chunks: AsyncGenerator<Uint8Array, { digest: string; bytes: number }>; close(): Promise<void> },
  ): Promise<StagedPiece & { digest: string }> {
    await rm(path, { force: true });
    const fh = await open(path, 'wx', 0o644);
    const signal = this.abort.signal;
    const sink: ByteSink = {
      async write(chunk) {
        signal.throwIfAborted();
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      },
    };
    try {
      let summary: { digest: string; bytes: number };
      try {
        for (;;) {
          const r = await p.chunks.next();
          if (r.done) {
            summary = r.value;
            break;
          }
          await sink.write(r.value);
        }
      } finally {
        await p.close();
      }
      await fh.sync();
      return { path, bytes: summary.bytes, digest: summary.digest };
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    } finally {
      await fh.close();
    }
  }

  /** Store a staged piece under its name (with retries), then apply retention. */
  private async put(kind: PieceKind, start: bigint, end: bigint, staged: StagedPiece & { digest: string }, began: number): Promise<StoredPiece> {
    const block = await this.opts.chain.blockByNumber(end);
    if (!block) throw new Error(`block ${end} is not in the chain`);
    const time = block.header.timestamp;
    const file = pieceName({ kind, startBlock: start, endBlock: end, time, digest: staged.digest });
    this.abort.signal.throwIfAborted();
    await this.withRetry(`upload ${file}`, () => this.opts.target.put(file, staged, this.abort.signal));
    const parsed = parsePieceName(file)!;
    const storedAt = this.now();
    const piece: StoredPiece = { ...parsed, bytes: staged.bytes, storedAt, digest: staged.digest, durationMs: storedAt - began, target: this.opts.target.url };
    const known = this.known!.filter((p) => p.file !== file);
    // Stored after every piece known ("newest" is stored last), whatever the target's clock said of those.
    known.push({ ...parsed, bytes: staged.bytes, storedAt: known.reduce((t, p) => Math.max(t, p.storedAt + 1), storedAt) });
    this.known = known;
    this.opts.logger.info(
      event('backup.stored', {
        target: this.opts.target.url,
        file,
        kind,
        startBlock: Number(start),
        endBlock: Number(end),
        bytes: staged.bytes,
        ms: piece.durationMs,
      }),
      'backup piece stored',
    );
    await this.applyRetention();
    this.opts.events?.onStored?.(piece);
    return piece;
  }

  /**
   * Delete what the policy no longer keeps, newest first, so the pieces left never have a gap. A failed
   * delete stops the round (deleting older pieces past it would leave one); it is tried again after
   * the next piece.
   */
  private async applyRetention(): Promise<void> {
    for (const p of piecesToDelete(this.known!, this.opts.retention)) {
      try {
        await this.withRetry(`delete ${p.file}`, () => this.opts.target.delete(p.file));
        this.known = this.known!.filter((k) => k !== p);
        this.opts.logger.info({ target: this.opts.target.url, file: p.file }, 'backup piece deleted by retention');
      } catch (err) {
        this.opts.logger.warn(
          { target: this.opts.target.url, file: p.file, err: errorMessage(err) },
          'could not delete a backup piece; retention goes on after the next piece',
        );
        return;
      }
    }
  }

  private withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(
      async () => {
        try {
          return await fn();
        } catch (err) {
          this.known = what === 'list' ? undefined : this.known;
          throw err;
        }
      },
      this.retry,
      {
        signal: this.abort.signal,
        onRetry: (err, attempt, delayMs) =>
          this.opts.logger.warn(
            event('backup.retry', { target: this.opts.target.url, what, attempt, retryInMs: delayMs, err: errorMessage(err) }),
            'backup target call failed; retrying',
          ),
      },
    );
  }

  private get stagingDir(): string {
    return this.opts.target.stagingDir ?? this.opts.stagingDir;
  }

  private tempPrefix(kind: string): string {
    return `.basalt-${kind}${this.opts.tag ? `-${this.opts.tag}` : ''}.partial-`;
  }
}

/** What a scheduler's start found of a killed run's staged pieces: each removed one, and each it could not remove (kept). */
export function logLeftovers(logger: Logger, found: StaleTemps): void {
  for (const r of found.removed)
    logger.warn(event('backup.partial-removed', { path: r.path, pid: r.pid }), 'removed a partial backup piece left by an interrupted run');
  for (const r of found.kept)
    logger.warn(
      event('backup.partial-kept', { path: r.path, pid: r.pid, error: r.error }),
      'cannot remove a partial backup piece left by an interrupted run: kept',
    );
}
