import * as grpc from '@grpc/grpc-js';
import type { Chain } from '../../chain/chain.js';
import { exportChain, type ExportSummary } from '../../archive/export.js';
import { importArchive } from '../../archive/import.js';
import { createSnapshot } from '../../snapshot/create.js';
import { isCompression } from '../../archive/compression.js';
import type { ArchiveHeader } from '../../archive/format.js';
import { UserError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';

/** How often progress events are sent. */
const PROGRESS_EVERY_MS = 250;

interface ExportRequest {
  startBlock: string;
  endBlock?: string | null;
  compression: string;
}

/** write() that waits for 'drain' when the stream's buffer is full (backpressure). */
function writerFor(call: grpc.ServerWritableStream<unknown, unknown>) {
  return (msg: object) =>
    new Promise<void>((resolve) => {
      if (call.write(msg)) resolve();
      else call.once('drain', () => resolve());
    });
}

export function archiveInfo(h: ArchiveHeader) {
  return { chainId: h.chainId, genesisHash: h.genesisHash, startBlock: h.startBlock, endBlock: h.endBlock, compression: h.compression };
}

/** Server side of Export: a thin adapter from archive/export to a gRPC stream, with backpressure. */
export function exportHandler(chain: Chain, log: Logger) {
  return async (call: grpc.ServerWritableStream<ExportRequest, unknown>) => {
    const req = call.request;
    let exp: Awaited<ReturnType<typeof exportChain>> | undefined;
    let cancelled = false;
    call.on('cancelled', () => (cancelled = true));
    const write = writerFor(call);
    try {
      const compression = req.compression || 'zstd';
      if (!isCompression(compression)) throw new UserError(`unknown compression "${compression}": use zstd, gzip or none`);
      let lastProgress = 0;
      let progress: object | undefined;
      exp = await exportChain(chain, {
        startBlock: BigInt(req.startBlock || '0'),
        ...(req.endBlock !== undefined && req.endBlock !== null ? { endBlock: BigInt(req.endBlock) } : {}),
        compression,
        onProgress: (p) => {
          const now = Date.now();
          if (now - lastProgress >= PROGRESS_EVERY_MS || p.blocksDone === p.blocksTotal) {
            lastProgress = now;
            progress = { block: p.block.toString(), blocksDone: p.blocksDone.toString(), blocksTotal: p.blocksTotal.toString(), bytes: p.bytes };
          }
        },
      });
      log.info({ start: exp.header.startBlock, end: exp.header.endBlock, compression }, 'export started');
      await write({ started: archiveInfo(exp.header) });
      let summary: ExportSummary | undefined;
      for (;;) {
        const r = await exp.chunks.next();
        if (r.done) {
          summary = r.value;
          break;
        }
        if (cancelled) {
          await exp.chunks.return(undefined as never);
          log.warn({ start: exp.header.startBlock, end: exp.header.endBlock }, 'export cancelled by the client');
          return;
        }
        await write({ data: r.value });
        if (progress) {
          await write({ progress });
          progress = undefined;
        }
      }
      await write({
        summary: {
          startBlock: summary.startBlock.toString(),
          endBlock: summary.endBlock.toString(),
          blocks: summary.blocks.toString(),
          bytes: summary.bytes,
          digest: summary.digest,
          durationMs: summary.durationMs,
        },
      });
      log.info({ blocks: Number(summary.blocks), bytes: summary.bytes, ms: summary.durationMs, digest: summary.digest }, 'export finished');
      call.end();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'export failed');
      call.emit('error', toStatus(err)); // grpc-js sends this as the call's status
    } finally {
      await exp?.close();
    }
  };
}

/** Server side of Import: the client's chunks feed archive/import; progress flows back. */
export function importHandler(chain: Chain, log: Logger) {
  return async (call: grpc.ServerDuplexStream<{ data: Buffer }, unknown>) => {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      // destroyOnReturn: false, or the reader finishing early would destroy the whole call, and with it
      // the summary still to be sent.
      for await (const msg of call.iterator({ destroyOnReturn: false }) as AsyncIterable<{ data: Buffer }>) {
        if (msg.data?.length) yield msg.data;
      }
    }
    let lastProgress = 0;
    try {
      const summary = await importArchive(chain, chunks(), {
        onHeader: (h) => {
          log.info({ start: h.startBlock, end: h.endBlock, compression: h.compression }, 'import started');
          call.write({ started: archiveInfo(h) });
        },
        onProgress: (p) => {
          const now = Date.now();
          if (now - lastProgress < PROGRESS_EVERY_MS) return;
          lastProgress = now;
          call.write({
            progress: {
              block: p.block.toString(),
              blocksDone: (p.imported + p.skipped).toString(),
              blocksTotal: p.blocksTotal.toString(),
              bytes: p.bytesRead,
              skipped: p.skipped.toString(),
            },
          });
        },
      });
      call.write({
        summary: {
          startBlock: summary.startBlock.toString(),
          endBlock: summary.endBlock.toString(),
          blocks: (summary.imported + summary.skipped).toString(),
          bytes: summary.bytes,
          digest: summary.digest,
          durationMs: summary.durationMs,
          imported: summary.imported.toString(),
          skipped: summary.skipped.toString(),
          head: summary.head.toString(),
        },
      });
      log.info({ imported: Number(summary.imported), skipped: Number(summary.skipped), head: Number(summary.head), ms: summary.durationMs }, 'import finished');
      call.end();
    } catch (err) {
      log.warn({ err: (err as Error).message, head: Number(chain.head.number) }, 'import failed');
      call.emit('error', toStatus(err)); // grpc-js sends this as the call's status
    }
  };
}

function toStatus(err: unknown): Partial<grpc.StatusObject> & Error {
  const message = (err as Error)?.message ?? String(err);
  const code = err instanceof UserError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL;
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
}

/** Server side of Snapshot: the node's snapshot stream, with backpressure and progress. */
export function snapshotHandler(chain: Chain, log: Logger) {
  return async (call: grpc.ServerWritableStream<{ compression: string }, unknown>) => {
    let snap: Awaited<ReturnType<typeof createSnapshot>> | undefined;
    let cancelled = false;
    call.on('cancelled', () => (cancelled = true));
    const write = writerFor(call);
    try {
      const compression = call.request.compression || 'zstd';
      if (!isCompression(compression)) throw new UserError(`unknown compression "${compression}": use zstd, gzip or none`);
      let progress: object | undefined;
      let last = 0;
      snap = await createSnapshot(chain, {
        compression,
        onProgress: (p) => {
          const now = Date.now();
          if (now - last < PROGRESS_EVERY_MS) return;
          last = now;
          progress = { block: p.blocksDone.toString(), blocksDone: p.blocksDone.toString(), blocksTotal: p.blocksTotal.toString(), bytes: p.bytes, skipped: String(p.nodes) };
        },
      });
      log.info({ head: snap.header.head.number, compression }, 'snapshot started');
      await write({ started: { chainId: snap.header.chainId, genesisHash: snap.header.genesisHash, startBlock: '1', endBlock: snap.header.head.number, compression } });
      for (;;) {
        const r = await snap.chunks.next();
        if (r.done) {
          const s = r.value;
          await write({ summary: { startBlock: '1', endBlock: s.head.toString(), blocks: s.blocks.toString(), bytes: s.bytes, digest: s.digest, durationMs: s.durationMs, imported: String(s.nodes), skipped: String(s.codes), head: s.head.toString() } });
          log.info({ head: Number(s.head), nodes: s.nodes, codes: s.codes, bytes: s.bytes, ms: s.durationMs }, 'snapshot finished');
          call.end();
          return;
        }
        if (cancelled) {
          await snap.chunks.return(undefined as never);
          log.warn('snapshot cancelled by the client');
          return;
        }
        await write({ data: r.value });
        if (progress) {
          await write({ progress });
          progress = undefined;
        }
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'snapshot failed');
      call.emit('error', toStatus(err));
    } finally {
      await snap?.close();
    }
  };
}
