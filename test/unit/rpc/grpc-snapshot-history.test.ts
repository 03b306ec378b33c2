import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackupService } from '../../../src/backup/local.js';
import type { SnapshotHistory } from '../../../src/backup/types.js';
import { RemoteBackupService } from '../../../src/rpc/grpc/backup-client.js';
import { OperatorServer } from '../../../src/rpc/grpc/server.js';
import { SNAPSHOT_VERSION_HEADERS } from '../../../src/snapshot/format.js';
import { readSnapshot, type SnapshotEvent } from '../../../src/snapshot/reader.js';
import { silentLogger } from '../../../src/util/log.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';

/** `basalt snapshot --history headers` over the operator API: the request's `history`, checked by the node. */
let t: TestChain;
let server: OperatorServer;
let client: RemoteBackupService;

beforeAll(async () => {
  t = await createTestChain(1);
  for (let i = 0; i < 5; i++) await sealNext(t);
  server = new OperatorServer(new LocalBackupService(t.chain), silentLogger(), { maxStreams: 2, streamIdleTimeoutMs: 10_000 });
  const port = await server.listen('127.0.0.1:0');
  client = new RemoteBackupService(`127.0.0.1:${port}`);
});
afterAll(async () => {
  await server?.close(100);
  await t?.close();
});

async function snapshot(history: SnapshotHistory): Promise<SnapshotEvent[]> {
  const chunks: Uint8Array[] = [];
  await client.snapshot({ compression: 'none', history }, { write: async (c) => void chunks.push(c) });
  const events: SnapshotEvent[] = [];
  for await (const ev of readSnapshot(
    (async function* () {
      yield* chunks;
    })(),
  ))
    events.push(ev);
  return events;
}

describe('a snapshot request with history', () => {
  it("'headers': version 3, the headers of blocks 1-4 and block 5 whole; 'full': every block whole", async () => {
    const headers = await snapshot('headers');
    expect(headers[0]).toMatchObject({ kind: 'header', header: { version: SNAPSHOT_VERSION_HEADERS, head: { number: '5' } } });
    expect(headers.filter((e) => e.kind === 'blockHeader').map((e) => (e as { number: bigint }).number)).toEqual([1n, 2n, 3n, 4n]);
    expect(headers.filter((e) => e.kind === 'block').map((e) => (e as { number: bigint }).number)).toEqual([5n]);
    const full = await snapshot('full');
    expect((full[0] as { header: { version: number } }).header.version).not.toBe(SNAPSHOT_VERSION_HEADERS);
    expect(full.filter((e) => e.kind === 'blockHeader')).toEqual([]);
    expect(full.filter((e) => e.kind === 'block').map((e) => (e as { number: bigint }).number)).toEqual([1n, 2n, 3n, 4n, 5n]);
  });

  it('refuses another history (5,000 characters) in one line that echoes 40 of them, and serves the next request', async () => {
    const err = await snapshot(`x${'y'.repeat(4999)}` as SnapshotHistory).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/unknown snapshot history "xy{39}": use full or headers$/);
    expect((err as Error).message.split('\n')).toHaveLength(1);
    expect((await snapshot('headers')).at(-1)?.kind).toBe('trailer');
  });
});
