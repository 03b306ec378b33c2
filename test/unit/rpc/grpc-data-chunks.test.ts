import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackupService, ByteSink, ExportSummary, ImportSummary, SnapshotSummary } from '../../../src/backup/types.js';
import { RemoteBackupService } from '../../../src/rpc/grpc/backup-client.js';
import { MAX_DATA_MESSAGE_BYTES } from '../../../src/rpc/grpc/event-stream.js';
import { OperatorServer } from '../../../src/rpc/grpc/server.js';
import { silentLogger } from '../../../src/util/log.js';

/**
 * Producers hand the gRPC layer chunks of any size (a snapshot's header with a large genesis, a block
 * record of up to 65 MiB); gRPC peers take messages of at most 4 MiB by default. Every `data` message,
 * either way, carries at most MAX_DATA_MESSAGE_BYTES.
 */
const SNAPSHOT_CHUNKS = [new Uint8Array(randomBytes(10 * 1024 * 1024 + 17)), new Uint8Array(randomBytes(3))];
const EXPORT_CHUNK = new Uint8Array(randomBytes(6 * 1024 * 1024));
const total = (chunks: Uint8Array[]) => chunks.reduce((n, c) => n + c.length, 0);

const imported: number[] = [];
const service: BackupService = {
  status: async () => {
    throw new Error('not used');
  },
  snapshot: async (_req, sink): Promise<SnapshotSummary> => {
    for (const c of SNAPSHOT_CHUNKS) await sink.write(c);
    return { head: 1n, headHash: '0x', stateRoot: '0x', blocks: 1n, nodes: 0, codes: 0, bytes: total(SNAPSHOT_CHUNKS), digest: '0x', durationMs: 0 };
  },
  export: async (_req, sink): Promise<ExportSummary> => {
    await sink.write(EXPORT_CHUNK);
    return { startBlock: 1n, endBlock: 1n, blocks: 1n, bytes: EXPORT_CHUNK.length, digest: '0x', durationMs: 0 };
  },
  import: async (source): Promise<ImportSummary> => {
    let bytes = 0;
    for await (const c of source) {
      imported.push(c.length);
      bytes += c.length;
    }
    return { startBlock: 1n, endBlock: 1n, imported: 1n, skipped: 0n, bytes, digest: '0x', durationMs: 0, head: 1n };
  },
};

let server: OperatorServer | undefined;
afterEach(async () => {
  await server?.close(100);
});

async function remote(): Promise<RemoteBackupService> {
  server = new OperatorServer(service, silentLogger(), { maxStreams: 4, streamIdleTimeoutMs: 0 });
  const port = await server.listen('127.0.0.1:0');
  return new RemoteBackupService(`127.0.0.1:${port}`);
}

/** A sink that keeps every message's data, as received. */
function collecting(): ByteSink & { chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  return { chunks, write: async (c) => void chunks.push(Uint8Array.from(c)) };
}

describe('gRPC data messages', () => {
  it('a snapshot chunk of 10 MiB reaches the client whole, in messages of at most 1 MiB', async () => {
    const sink = collecting();
    const s = await (await remote()).snapshot({ compression: 'zstd' }, sink);
    expect(s.bytes).toBe(total(SNAPSHOT_CHUNKS));
    expect(Math.max(...sink.chunks.map((c) => c.length))).toBe(MAX_DATA_MESSAGE_BYTES);
    expect(sink.chunks.length).toBe(12);
    expect(Buffer.compare(Buffer.concat(sink.chunks), Buffer.concat(SNAPSHOT_CHUNKS))).toBe(0);
  });

  it('so does an export chunk of 6 MiB', async () => {
    const sink = collecting();
    const s = await (await remote()).export({ compression: 'zstd' }, sink);
    expect(s.bytes).toBe(EXPORT_CHUNK.length);
    expect(sink.chunks.every((c) => c.length <= MAX_DATA_MESSAGE_BYTES)).toBe(true);
    expect(Buffer.compare(Buffer.concat(sink.chunks), EXPORT_CHUNK)).toBe(0);
  });

  it('an import source chunk of 6 MiB reaches the node in messages of at most 1 MiB', async () => {
    imported.length = 0;
    async function* source() {
      yield EXPORT_CHUNK;
    }
    const s = await (await remote()).import(source());
    expect(s.bytes).toBe(EXPORT_CHUNK.length);
    expect(Math.max(...imported)).toBeLessThanOrEqual(MAX_DATA_MESSAGE_BYTES);
  });
});
