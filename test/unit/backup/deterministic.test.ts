import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArchive } from '../../../src/archive/reader.js';
import { importArchive } from '../../../src/backup/import.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import type { Chain } from '../../../src/chain/chain.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { openTestChain, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { chainWithBlocks, chunked, exportBytes } from '../archive/archive-fixture.js';

/**
 * The same range gives the same archive, and the same head the same snapshot, on every node: no
 * creation time or client version in what the digest covers, so backups compare and deduplicate by digest.
 */
async function snapshotBytes(chain: Chain): Promise<Uint8Array> {
  const snap = await createSnapshot(chain, { compression: 'zstd' });
  const parts: Uint8Array[] = [];
  for (;;) {
    const r = await snap.chunks.next();
    if (r.done) break;
    parts.push(r.value);
  }
  return Buffer.concat(parts);
}

let source: TestChain;
const closers: (() => Promise<void>)[] = [];
beforeAll(async () => {
  source = await chainWithBlocks(6);
});
afterAll(async () => {
  for (const c of closers) await c();
  await source?.close();
});

describe('deterministic backup files', () => {
  it('an archive of a range is byte-identical from the original node and from one that imported it', async () => {
    const original = await exportBytes(source.chain, { start: 2n, end: 5n });
    const other = await openTestChain(source.genesis);
    closers.push(other.close);
    await importArchive(other.chain, chunked(await exportBytes(source.chain)));
    await new Promise((r) => setTimeout(r, 5)); // a clock that moved on changes nothing
    const copy = await exportBytes(other.chain, { start: 2n, end: 5n });
    expect(Buffer.compare(copy, original)).toBe(0);
    for await (const ev of readArchive(chunked(original))) {
      if (ev.kind === 'header') expect(Object.keys(ev.header)).not.toContain('createdAt');
    }
  });

  it('a snapshot of a head is byte-identical taken twice, and taken again from a node restored from it', async () => {
    const first = await snapshotBytes(source.chain);
    await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.compare(await snapshotBytes(source.chain), first)).toBe(0);
    const dataDir = join(tempDir(), 'restored');
    await restoreSnapshot(chunked(first), { dataDir, genesis: source.genesis });
    const restored = await openTestChain(source.genesis, dataDir);
    closers.push(restored.close);
    expect(Buffer.compare(await snapshotBytes(restored.chain), first)).toBe(0);
    for await (const ev of readSnapshot(chunked(first))) {
      if (ev.kind === 'header') expect(Object.keys(ev.header).filter((k) => k === 'createdAt' || k === 'clientVersion')).toEqual([]);
    }
  });
});
