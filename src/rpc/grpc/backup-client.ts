import type * as grpc from '@grpc/grpc-js';
import type {
  BackupService,
  ByteSink,
  ChainStatus,
  ExportProgress,
  ExportRequest,
  ExportStarted,
  ExportSummary,
  ImportProgress,
  ImportSummary,
  Observer,
  SnapshotProgress,
  SnapshotRequest,
  SnapshotStarted,
  SnapshotSummary,
} from '../../backup/types.js';
import { UserError } from '../../util/errors.js';
import type { ExportEvent__Output } from './generated/basalt/operator/v1/ExportEvent.js';
import type { ImportEvent__Output } from './generated/basalt/operator/v1/ImportEvent.js';
import type { StatusResponse__Output } from './generated/basalt/operator/v1/StatusResponse.js';
import type { SnapshotEvent__Output } from './generated/basalt/operator/v1/SnapshotEvent.js';
import { fromGrpcError } from './errors.js';
import { dataPieces } from './event-stream.js';
import { operatorClient } from './proto.js';
import type { ClientTls } from './tls.js';
import { domain, type BackupPieceInfo } from './wire.js';
import type { BackupNowResponse__Output } from './generated/basalt/operator/v1/BackupNowResponse.js';

export const DEFAULT_GRPC_ADDRESS = '127.0.0.1:9632';

/** Ask the node at `address` to take a scheduled-backup piece now (`basalt backup now`). */
export async function backupNowRemote(address: string, archive: boolean, tls?: ClientTls): Promise<BackupPieceInfo[]> {
  const client = operatorClient(address, tls);
  try {
    const res = await new Promise<BackupNowResponse__Output>((resolve, reject) => {
      client.BackupNow({ archive }, (err, r) => (err || !r ? reject(err ?? new Error('empty response')) : resolve(r)));
    });
    return res.pieces.map(domain.backupPiece);
  } catch (err) {
    throw fromGrpcError(err, address);
  } finally {
    client.close();
  }
}

/**
 * The backup service of a running node, over its gRPC operator API. Same contract as the local one:
 * bytes land in the sink in order, the summary comes last and must account for every byte received.
 * Every failure is a one-line UserError carrying the node's error code.
 */
export class RemoteBackupService implements BackupService {
  private readonly tls: ClientTls | undefined;
  private readonly statusTimeoutMs: number;

  constructor(
    private readonly address: string,
    opts: { tls?: ClientTls | undefined; statusTimeoutMs?: number } = {},
  ) {
    this.tls = opts.tls;
    this.statusTimeoutMs = opts.statusTimeoutMs ?? 5000;
  }

  private client() {
    try {
      return operatorClient(this.address, this.tls);
    } catch (err) {
      throw fromGrpcError(err, this.address);
    }
  }

  async status(): Promise<ChainStatus> {
    const client = this.client();
    try {
      const res = await new Promise<StatusResponse__Output>((resolve, reject) => {
        client.Status({}, { deadline: Date.now() + this.statusTimeoutMs }, (err, r) => (err || !r ? reject(err ?? new Error('empty status')) : resolve(r)));
      });
      return domain.status(res);
    } catch (err) {
      throw fromGrpcError(err, this.address, this.tls !== undefined);
    } finally {
      client.close();
    }
  }

  async export(req: ExportRequest, sink: ByteSink, observer: Observer<ExportStarted, ExportProgress> = {}): Promise<ExportSummary> {
    const client = this.client();
    const call = client.Export({
      startBlock: (req.startBlock ?? 0n).toString(),
      ...(req.endBlock !== undefined ? { endBlock: req.endBlock.toString() } : {}),
      compression: req.compression,
    });
    return this.receive<ExportEvent__Output, ExportSummary>(client, call, sink, 'export', (ev) => {
      if (ev.event === 'started' && ev.started) observer.onStart?.(domain.archiveInfo(ev.started));
      else if (ev.event === 'progress' && ev.progress) observer.onProgress?.(domain.exportProgress(ev.progress));
      else if (ev.event === 'summary' && ev.summary) return domain.exportSummary(ev.summary);
      return undefined;
    });
  }

  async snapshot(req: SnapshotRequest, sink: ByteSink, observer: Observer<SnapshotStarted, SnapshotProgress> = {}): Promise<SnapshotSummary> {
    const client = this.client();
    const call = client.Snapshot({ compression: req.compression, history: req.history ?? 'full' });
    return this.receive<SnapshotEvent__Output, SnapshotSummary>(client, call, sink, 'snapshot', (ev) => {
      if (ev.event === 'started' && ev.started) observer.onStart?.(domain.snapshotInfo(ev.started));
      else if (ev.event === 'progress' && ev.progress) observer.onProgress?.(domain.snapshotProgress(ev.progress));
      else if (ev.event === 'summary' && ev.summary) return domain.snapshotSummary(ev.summary);
      return undefined;
    });
  }

  /** Stream `source` to the node with back-pressure; the node's events come back as they happen. */
  async import(source: AsyncIterable<Uint8Array>, observer: Observer<ExportStarted, ImportProgress> = {}): Promise<ImportSummary> {
    const client = this.client();
    const call = client.Import();
    let sendError: unknown;
    const pump = (async () => {
      try {
        for await (const chunk of source) {
          for (const data of dataPieces(chunk)) if (!call.write({ data })) await new Promise((r) => call.once('drain', r));
        }
        call.end();
      } catch (err) {
        sendError = err;
        call.cancel();
      }
    })();
    try {
      for await (const ev of call as AsyncIterable<ImportEvent__Output>) {
        if (ev.event === 'started' && ev.started) observer.onStart?.(domain.archiveInfo(ev.started));
        else if (ev.event === 'progress' && ev.progress) observer.onProgress?.(domain.importProgress(ev.progress));
        else if (ev.event === 'summary' && ev.summary) return domain.importSummary(ev.summary);
      }
      throw new UserError('the node ended the import without a summary', { code: 'INTERNAL' });
    } catch (err) {
      if (sendError) throw sendError;
      throw fromGrpcError(err, this.address, this.tls !== undefined);
    } finally {
      await pump;
      client.close();
    }
  }

  /**
   * Drain a server stream: `data` into the sink, everything else to `handle`, which returns the
   * summary when it sees it. The summary's byte count must match what arrived. Cancels the call on
   * any failure (a failing sink included), which releases the node's LevelDB snapshots.
   */
  private async receive<E extends { event?: string; data?: Buffer }, S extends { bytes: number }>(
    client: grpc.Client,
    call: grpc.ClientReadableStream<E>,
    sink: ByteSink,
    what: string,
    handle: (ev: E) => S | undefined,
  ): Promise<S> {
    let bytes = 0;
    try {
      for await (const ev of call as AsyncIterable<E>) {
        if (ev.event === 'data' && ev.data) {
          await sink.write(ev.data);
          bytes += ev.data.length;
          continue;
        }
        const summary = handle(ev);
        if (summary) {
          if (summary.bytes !== bytes)
            throw new UserError(`${what} stream ended with ${bytes} bytes, but the node sent ${summary.bytes}`, { code: 'CORRUPT_FILE' });
          return summary;
        }
      }
      throw new UserError(`the node ended the ${what} without a summary: the file is incomplete`, { code: 'INTERNAL' });
    } catch (err) {
      call.cancel();
      throw fromGrpcError(err, this.address, this.tls !== undefined);
    } finally {
      client.close();
    }
  }
}
