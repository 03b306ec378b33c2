import { collect } from '../../helpers/collect.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { afterAll, describe, expect, it } from 'vitest';
import { readArchive } from '../../../src/archive/reader.js';
import { ArchiveWriter } from '../../../src/archive/writer.js';
import { importArchive } from '../../../src/backup/import.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { verifyArchive } from '../../../src/backup/verify-archive.js';
import { parseGenesisFile } from '../../../src/chain/chain-config.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';
import { openTestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { chunked } from '../archive/archive-fixture.js';

/**
 * Files written by Basalt before the backup engine was reshaped (test/fixtures/v1, made by the code
 * of commit 4ab4f6c from the 6-block test chain) must still verify, import and restore, and the new
 * writers must produce them byte for byte from the same records.
 */
const dir = new URL('../../fixtures/v1/', import.meta.url).pathname;
const file = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
const genesis = parseGenesisFile(readFileSync(join(dir, 'genesis.json'), 'utf8'), 'fixture genesis');
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe('v1 files written before the reshaping', () => {
  it('archives verify by replay and import into a fresh chain', async () => {
    const full = file('blocks-1-6.bsa');
    const report = await verifyArchive(() => chunked(full), genesis);
    expect(report.level).toBe('replayed');
    expect(report.blocks).toBe(6n);
    const t = await openTestChain(genesis);
    closers.push(t.close);
    const s = await importArchive(t.chain, chunked(full));
    expect([s.imported, s.skipped, t.chain.head.number]).toEqual([6n, 0n, 6n]);
    expect(bytesToHex(t.chain.head.hash)).toBe(report.trailer.lastBlockHash);
    // a gzip archive of a later range: all known now, so skipped
    const tail = await importArchive(t.chain, chunked(file('blocks-3-6-gzip.bsa')));
    expect([tail.imported, tail.skipped]).toEqual([0n, 4n]);
  });

  it('the snapshot restores to the same head', async () => {
    const target = join(tempDir(), 'restored');
    const s = await restoreSnapshot(chunked(file('head-6.bsn')), { dataDir: target, genesis });
    expect(s.head).toBe(6n);
    let lastHash = '';
    for await (const ev of readArchive(chunked(file('blocks-1-6.bsa')))) if (ev.kind === 'trailer') lastHash = ev.trailer.lastBlockHash;
    expect(s.headHash).toBe(lastHash);
    expect(existsSync(join(target, 'genesis.json'))).toBe(true);
  });

  it('the new archive writer re-creates each archive byte for byte', async () => {
    for (const name of ['blocks-1-6.bsa', 'blocks-3-6-gzip.bsa']) {
      const original = file(name);
      const parts: Uint8Array[] = [];
      let writer: ArchiveWriter | undefined;
      for await (const ev of readArchive(chunked(original))) {
        if (ev.kind === 'header') {
          writer = new ArchiveWriter(ev.header);
          parts.push(writer.start());
        } else if (ev.kind === 'block') parts.push(writer!.block(ev.record));
        else parts.push(writer!.finish().bytes);
      }
      expect(Buffer.compare(Buffer.concat(parts), original), name).toBe(0);
    }
  });

  it('the new snapshot writer re-creates the snapshot byte for byte', async () => {
    const original = file('head-6.bsn');
    const parts: Uint8Array[] = [];
    let writer: SnapshotWriter | undefined;
    for await (const ev of readSnapshot(chunked(original))) {
      if (ev.kind === 'header') {
        writer = new SnapshotWriter(ev.header);
        parts.push(await collect(writer.start()));
      } else if (ev.kind === 'block') parts.push(await writer!.block(ev.number, ev.hash, ev.blockRlp, ev.receiptsRlp));
      else if (ev.kind === 'nodes' || ev.kind === 'code') parts.push(await writer!.items(ev.kind, ev.items));
      else parts.push(writer!.finish().bytes);
    }
    expect(Buffer.compare(Buffer.concat(parts), original)).toBe(0);
  });

  it('each reader names the other kind of file', async () => {
    const read = async (gen: AsyncIterable<unknown>) => {
      for await (const ev of gen) void ev;
    };
    await expect(read(readSnapshot(chunked(file('blocks-1-6.bsa'))))).rejects.toThrow(/block archive, not a snapshot: use `basalt import`/);
    await expect(read(readArchive(chunked(file('head-6.bsn'))))).rejects.toThrow(BackupFileError);
    await expect(read(readArchive(chunked(file('head-6.bsn'))))).rejects.toThrow(/this is a snapshot, not an archive: use `basalt restore`/);
    expect(readdirSync(dir).sort()).toEqual(['blocks-1-6.bsa', 'blocks-3-6-gzip.bsa', 'genesis.json', 'head-6.bsn']);
  });
});
