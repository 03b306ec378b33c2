import * as grpc from '@grpc/grpc-js';
import { isCompression, type Compression } from '../../container/compression.js';
import type { BackupService, ByteSink } from '../../backup/types.js';
import type { PieceKind } from '../../backup/pieces.js';
import type { StoredPiece } from '../../backup/scheduler.js';
import { UserError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { OperatorHandlers } from './generated/basalt/operator/v1/Operator.js';
import type { ExportEvent } from './generated/basalt/operator/v1/ExportEvent.js';
import type { ImportEvent } from './generated/basalt/operator/v1/ImportEvent.js';
import type { SnapshotEvent } from './generated/basalt/operator/v1/SnapshotEvent.js';
import { toGrpcStatus } from './errors.js';
import { wire } from './wire.js';

/** The node's scheduler, taking a piece now into every target (BackupNow). */
export type BackupNow = (kind: PieceKind) => Promise<StoredPiece[]>;

/** How often progress events are sent. */
const PROGRESS_EVERY_MS = 250;

/**
 * The operator service as gRPC handlers: thin adapters from the wire to the node's BackupService and
 * back. Produced bytes go out as `data` events with back-pressure: a client that stops reading holds
 * the producer at its next write; a cancelled call fails that write and the producer releases its
 * LevelDB snapshots.
 */
export function operatorHandlers(service: BackupService, log: Logger, backupNow?: BackupNow): OperatorHandlers {
  return {
    BackupNow: (call, cb) => {
      const run = backupNow
        ? backupNow(call.request.archive ? 'archive' : 'snapshot')
        : Promise.reject(new UserError('this node takes no scheduled backups: start it with --backup-dir DIR|s3://bucket/prefix', { code: 'FAILED_PRECONDITION' }));
      run.then(
        (pieces) => cb(null, { pieces: pieces.map(wire.backupPiece) }),
        (err) => {
          log.warn({ err: (err as Error).message }, 'backup now failed');
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
      const out = new EventStream<ExportEvent>(call);
      const req = call.request;
      try {
        const progress = throttled<ExportEvent>();
        const summary = await service.export(
          { startBlock: BigInt(req.startBlock || '0'), ...(req.endBlock ? { endBlock: BigInt(req.endBlock) } : {}), compression: compressionOf(req.compression) },
          out.dataSink((data) => ({ data }), () => progress.take()),
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
      }
    },

    Import: async (call) => {
      async function* chunks(): AsyncGenerator<Uint8Array> {
        // destroyOnReturn: false, or the reader finishing early would destroy the whole call, and with it
        // the summary still to be sent.
        for await (const msg of call.iterator({ destroyOnReturn: false })) {
          const data = (msg as { data?: Buffer }).data;
          if (data?.length) yield data;
        }
      }
      const progress = throttled<ImportEvent>();
      const send = (ev: ImportEvent) => call.write(ev);
      try {
        const summary = await service.import(chunks(), {
          onStart: (s) => {
            log.info({ start: s.startBlock.toString(), end: s.endBlock.toString(), compression: s.compression }, 'import started');
            send({ started: wire.archiveInfo(s) });
          },
          onProgress: (p) => {
            progress.offer({ progress: wire.importProgress(p) }, false);
            const ev = progress.take();
            if (ev) send(ev);
          },
        });
        send({ summary: wire.importSummary(summary) });
        log.info({ imported: Number(summary.imported), skipped: Number(summary.skipped), head: Number(summary.head), ms: summary.durationMs }, 'import finished');
        call.end();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'import failed');
        call.emit('error', toGrpcStatus(err)); // grpc-js sends this as the call's status
      }
    },

    Snapshot: async (call) => {
      const out = new EventStream<SnapshotEvent>(call);
      try {
        const progress = throttled<SnapshotEvent>();
        const summary = await service.snapshot({ compression: compressionOf(call.request.compression) }, out.dataSink((data) => ({ data }), () => progress.take()), {
          onStart: (s) => {
            log.info({ head: s.head.toString(), compression: s.compression }, 'snapshot started');
            out.queue({ started: wire.snapshotInfo(s) });
          },
          onProgress: (p) => progress.offer({ progress: wire.snapshotProgress(p) }, false),
        });
        await out.finish({ summary: wire.snapshotSummary(summary) });
        log.info({ head: Number(summary.head), nodes: summary.nodes, codes: summary.codes, bytes: summary.bytes, ms: summary.durationMs }, 'snapshot finished');
      } catch (err) {
        out.fail(err, log, 'snapshot');
      }
    },
  };
}

function compressionOf(value: string): Compression {
  const c = value || 'zstd';
  if (!isCompression(c)) throw new UserError(`unknown compression "${c}": use zstd, gzip or none`);
  return c;
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

/** A server stream of events, written in order with back-pressure; knows when its client has gone. */
class EventStream<E extends object> {
  private cancelled = false;
  private queued: E[] = [];

  constructor(private readonly call: grpc.ServerWritableStream<unknown, E>) {
    call.on('cancelled', () => (this.cancelled = true));
  }

  /** An event to send before the next write (from a synchronous callback). */
  queue(ev: E): void {
    this.queued.push(ev);
  }

  /** A ByteSink whose chunks go out as `data` events, each followed by the latest progress event. */
  dataSink(data: (chunk: Uint8Array) => E, progress: () => E | undefined): ByteSink {
    return {
      write: async (chunk) => {
        await this.send(data(chunk));
        const p = progress();
        if (p) await this.send(p);
      },
    };
  }

  async finish(last: E): Promise<void> {
    await this.send(last);
    this.call.end();
  }

  /** End the call with the error's status; a client that went away gets nothing more. */
  fail(err: unknown, log: Logger, what: string): void {
    if (this.cancelled) {
      log.warn(`${what} cancelled by the client`);
      return;
    }
    log.warn({ err: (err as Error).message }, `${what} failed`);
    this.call.emit('error', toGrpcStatus(err)); // grpc-js sends this as the call's status
  }

  private async send(ev: E): Promise<void> {
    for (const q of this.queued.splice(0)) await this.write(q);
    await this.write(ev);
  }

  private write(ev: E): Promise<void> {
    if (this.cancelled) return Promise.reject(new UserError('the client cancelled the call', { code: 'CANCELLED' }));
    return new Promise<void>((resolve, reject) => {
      if (this.call.write(ev)) return resolve();
      const onDrain = () => {
        this.call.off('cancelled', onCancel);
        resolve();
      };
      const onCancel = () => {
        this.call.off('drain', onDrain);
        reject(new UserError('the client cancelled the call', { code: 'CANCELLED' }));
      };
      this.call.once('drain', onDrain);
      this.call.once('cancelled', onCancel);
    });
  }
}
