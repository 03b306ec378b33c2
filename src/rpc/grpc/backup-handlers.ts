import { isCompression, type Compression } from '../../container/compression.js';
import { SNAPSHOT_HISTORIES, type BackupService, type SnapshotHistory } from '../../backup/types.js';
import type { PieceKind } from '../../backup/pieces.js';
import type { StoredPiece } from '../../backup/scheduler.js';
import { UserError, errorMessage } from '../../util/errors.js';
import { formatDuration } from '../../util/duration.js';
import { DEFAULT_SERVE_FLOOR, RateFloor, type RateFloorLimits } from '../../util/rate-floor.js';
import type { Logger } from '../../util/log.js';
import type { OperatorHandlers } from './generated/basalt/operator/v1/Operator.js';
import type { ExportEvent } from './generated/basalt/operator/v1/ExportEvent.js';
import type { ImportEvent } from './generated/basalt/operator/v1/ImportEvent.js';
import type { SnapshotEvent } from './generated/basalt/operator/v1/SnapshotEvent.js';
import { toGrpcStatus } from './errors.js';
import { EventStream, endTooSlow, MAX_DATA_MESSAGE_BYTES, resetCall, tooSlow } from './event-stream.js';
import { StreamSlots } from './stream-slots.js';
import { wire } from './wire.js';
import { event } from '../../util/events.js';

/**
 * The node's scheduler, taking a piece now into every target (BackupNow). `signal` aborts when the
 * client cancels: the call stops waiting, and a backup queued for callers who all left is not taken.
 */
export type BackupNow = (kind: PieceKind, signal?: AbortSignal) => Promise<StoredPiece[]>;

/** How often progress events are sent. */
const PROGRESS_EVERY_MS = 250;

export const DEFAULT_GRPC_MAX_STREAMS = 4;
/**
 * BackupNow calls the node holds at once, waiting for their backup (each a call object and its closure
 * until the backup in progress ends, which may be an hour's state walk); the next one is refused with
 * RESOURCE_EXHAUSTED at once. More than a handful is no operator's doing: calls coalesce into at most
 * one backup of each kind behind the one running anyway.
 */
export const MAX_PENDING_BACKUP_NOW = 32;
export const DEFAULT_GRPC_STREAM_IDLE_TIMEOUT_MS = 60_000;
/**
 * The floor a client must keep on an export, snapshot or import stream: the one peers are held to when
 * they are served a snapshot (64 KiB/s over each 2 minutes of waiting for the client). The idle
 * timeout alone let a client that reads (or sends) a message every 50 s hold a slot, and an export's
 * LevelDB read view (which compaction and state pruning cannot reclaim past), for days.
 */
export const DEFAULT_GRPC_STREAM_MIN_RATE: RateFloorLimits = DEFAULT_SERVE_FLOOR;
/** The largest message an Import client may send (grpc-js's default receive limit): the floor's slack for imports. */
const MAX_IMPORT_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface StreamLimits {
  /** Export and snapshot calls served at once; the next one is refused with RESOURCE_EXHAUSTED. */
  maxStreams: number;
  /** A stream whose client reads nothing for this long is cancelled (0: never). */
  streamIdleTimeoutMs: number;
  /**
   * The least a client must read (an import: send), in bytes a second over each window of waiting for
   * it (RateFloor); below it the call ends with RESOURCE_EXHAUSTED. A rate of 0: no floor. Default
   * DEFAULT_GRPC_STREAM_MIN_RATE.
   */
  streamMinRate?: RateFloorLimits | undefined;
}

/**
 * The operator service as gRPC handlers: thin adapters from the wire to the node's BackupService and
 * back. Produced bytes go out as `data` events with back-pressure (EventStream): a client that stops
 * reading holds the producer at its next write; a cancelled call, or one whose client read nothing
 * for the idle timeout, or too slowly for the rate floor, fails that write and the producer releases
 * its LevelDB snapshots. At most `maxStreams` exports, snapshots and imports run at once.
 */
export type BackupHandlers = Pick<OperatorHandlers, 'Status' | 'Export' | 'Import' | 'Snapshot' | 'BackupNow'>;

export function operatorHandlers(service: BackupService, log: Logger, limits: StreamLimits, backupNow?: BackupNow): BackupHandlers {
  const slots = new StreamSlots(limits.maxStreams);
  const pendingNow = new StreamSlots(MAX_PENDING_BACKUP_NOW);
  const minRate = limits.streamMinRate ?? DEFAULT_GRPC_STREAM_MIN_RATE;
  /** A stream slot, or the call refused with RESOURCE_EXHAUSTED. */
  const slotFor = (call: NodeJS.EventEmitter, what: string) => {
    const release = slots.take();
    if (release) return release;
    log.warn({ maxStreams: limits.maxStreams }, `${what} refused: every stream slot is in use`);
    const msg = `the node is already serving ${limits.maxStreams} export/snapshot/import streams (--grpc-max-streams): try again when one has finished`;
    call.emit('error', toGrpcStatus(new UserError(msg, { code: 'RESOURCE_EXHAUSTED' })));
    return undefined;
  };
  return {
    BackupNow: (call, cb) => {
      const release = pendingNow.take();
      if (!release) {
        const msg = `the node already holds ${MAX_PENDING_BACKUP_NOW} backup now calls waiting for their backup: try again when the backup in progress has finished`;
        cb(toGrpcStatus(new UserError(msg, { code: 'RESOURCE_EXHAUSTED' })));
        return;
      }
      // A client that cancels (or whose deadline passes) leaves the queue: a loop of "backup now, then
      // cancel" would otherwise queue a whole snapshot behind the running one each time.
      const gone = new AbortController();
      call.on('cancelled', () => gone.abort());
      const run = backupNow
        ? backupNow(call.request.archive ? 'archive' : 'snapshot', gone.signal)
        : Promise.reject(
            new UserError('this node takes no scheduled backups: start it with --backup-dir DIR|s3://bucket/prefix', { code: 'FAILED_PRECONDITION' }),
          );
      run.finally(release).then(
        (pieces) => cb(null, { pieces: pieces.map(wire.backupPiece) }),
        (err) => {
          // A client that left is told nothing and logs nothing (a loop of cancelled calls would flood the log).
          if (!gone.signal.aborted) log.warn({ err: errorMessage(err) }, 'backup now failed');
          cb(toGrpcStatus(err));
        },
      );
    },

    Status: (_call, cb) => {
      service.status().then(
        (s) => cb(null, wire.status(s)),
        (err) => cb(toGrpcStatus(err)),
      );
    },

    Export: async (call) => {
      const release = slotFor(call, 'export');
      if (!release) return;
      const out = new EventStream<ExportEvent>(call, limits.streamIdleTimeoutMs, RateFloor.of({ slackBytes: MAX_DATA_MESSAGE_BYTES, ...minRate }));
      const req = call.request;
      try {
        const progress = throttled<ExportEvent>();
        const summary = await service.export(
          {
            startBlock: BigInt(req.startBlock || '0'),
            ...(req.endBlock ? { endBlock: BigInt(req.endBlock) } : {}),
            compression: compressionOf(req.compression),
          },
          out.dataSink(
            (data) => ({ data }),
            () => progress.take(),
          ),
          {
            onStart: (s) => {
              log.info({ start: s.startBlock.toString(), end: s.endBlock.toString(), compression: s.compression }, 'export started');
              out.queue({ started: wire.archiveInfo(s) });
            },
            onProgress: (p) => progress.offer({ progress: wire.exportProgress(p) }, p.blocksDone === p.blocksTotal),
          },
        );
        await out.finish({ summary: wire.exportSummary(summary) });
        log.info({ blocks: Number(summary.blocks), bytes: summary.bytes, ms: summary.durationMs, digest: summary.digest }, 'export finished');
      } catch (err) {
        out.fail(err, log, 'export');
      } finally {
        release(); // after the service returned, so after its LevelDB snapshot was released
      }
    },

    Import: async (call) => {
      // A slot as exports have: each import holds a record buffer and grpc-js's read buffer while its
      // client sends; a client that stops sending is cut after the idle timeout, one that sends below
      // the rate floor (counted only while the import waits for its next message) after a window.
      const release = slotFor(call, 'import');
      if (!release) return;
      const idleMs = limits.streamIdleTimeoutMs;
      const floor = RateFloor.of({ slackBytes: MAX_IMPORT_MESSAGE_BYTES, ...minRate });
      /** Why the client was cut for its rate (the status it gets, whatever the importer made of it). */
      let slow: UserError | undefined;
      async function* chunks(): AsyncGenerator<Uint8Array> {
        // destroyOnReturn: false, or the reader finishing early would destroy the whole call, and with it
        // the summary still to be sent.
        const it = call.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]();
        for (;;) {
          let timer: NodeJS.Timeout | undefined;
          const cut =
            idleMs > 0 || floor
              ? new Promise<never>((_, reject) => {
                  if (idleMs > 0)
                    timer = setTimeout(() => {
                      resetCall(call); // as for an export: the client may not be reading our status either
                      reject(new UserError(`the client sent nothing for ${formatDuration(idleMs)}`, { code: 'CANCELLED' }));
                    }, idleMs);
                  floor?.watch((why) => reject((slow = tooSlow('sends', why))));
                })
              : undefined;
          let r: IteratorResult<unknown>;
          try {
            r = await (cut !== undefined ? Promise.race([it.next(), cut]) : it.next());
          } finally {
            clearTimeout(timer);
            floor?.stop();
          }
          if (r.done) return;
          const data = (r.value as { data?: Buffer }).data;
          floor?.arrived(data?.length ?? 0);
          if (data?.length) yield data;
        }
      }
      const progress = throttled<ImportEvent>();
      const send = (ev: ImportEvent) => call.write(ev);
      try {
        const summary = await service.import(chunks(), {
          onStart: (s) => {
            log.info(event('import.started', { start: s.startBlock.toString(), end: s.endBlock.toString(), compression: s.compression }), 'import started');
            send({ started: wire.archiveInfo(s) });
          },
          onProgress: (p) => {
            progress.offer({ progress: wire.importProgress(p) }, false);
            const ev = progress.take();
            if (ev) send(ev);
          },
        });
        send({ summary: wire.importSummary(summary) });
        log.info(
          event('import.finished', {
            imported: Number(summary.imported),
            skipped: Number(summary.skipped),
            head: Number(summary.head),
            ms: summary.durationMs,
          }),
          'import finished',
        );
        call.end();
      } catch (err) {
        log.warn(event('import.failed', { err: errorMessage(err) }), 'import failed');
        if (slow) endTooSlow(call, slow, idleMs || minRate.windowMs);
        else call.emit('error', toGrpcStatus(err)); // grpc-js sends this as the call's status
      } finally {
        release();
      }
    },

    Snapshot: async (call) => {
      const release = slotFor(call, 'snapshot');
      if (!release) return;
      const out = new EventStream<SnapshotEvent>(call, limits.streamIdleTimeoutMs, RateFloor.of({ slackBytes: MAX_DATA_MESSAGE_BYTES, ...minRate }));
      try {
        const progress = throttled<SnapshotEvent>();
        const summary = await service.snapshot(
          { compression: compressionOf(call.request.compression), history: historyOf(call.request.history) },
          out.dataSink(
            (data) => ({ data }),
            () => progress.take(),
          ),
          {
            onStart: (s) => {
              log.info({ head: s.head.toString(), compression: s.compression }, 'snapshot started');
              out.queue({ started: wire.snapshotInfo(s) });
            },
            onProgress: (p) => progress.offer({ progress: wire.snapshotProgress(p) }, false),
          },
        );
        await out.finish({ summary: wire.snapshotSummary(summary) });
        log.info({ head: Number(summary.head), nodes: summary.nodes, codes: summary.codes, bytes: summary.bytes, ms: summary.durationMs }, 'snapshot finished');
      } catch (err) {
        out.fail(err, log, 'snapshot');
      } finally {
        release();
      }
    },
  };
}

function compressionOf(value: string): Compression {
  const c = value || 'zstd';
  if (!isCompression(c)) throw new UserError(`unknown compression "${c.slice(0, 40)}": use zstd, gzip or none`);
  return c;
}

function historyOf(value: string): SnapshotHistory {
  const h = value || 'full';
  if (!(SNAPSHOT_HISTORIES as readonly string[]).includes(h)) throw new UserError(`unknown snapshot history "${h.slice(0, 40)}": use full or headers`);
  return h as SnapshotHistory;
}

/** Keeps the latest progress event and lets one through every PROGRESS_EVERY_MS (or when forced). */
function throttled<E>() {
  let last = 0;
  let pending: E | undefined;
  return {
    offer(ev: E, force: boolean) {
      const now = Date.now();
      if (force || now - last >= PROGRESS_EVERY_MS) {
        last = now;
        pending = ev;
      }
    },
    take(): E | undefined {
      const ev = pending;
      pending = undefined;
      return ev;
    },
  };
}
