import { gzipSync } from 'node:zlib';
import { bytesToHex } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompressRecord, zstdOutputBound } from '../../../src/container/compression.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { encodeBlockRecord } from '../../../src/backup/block-records.js';
import { importArchive } from '../../../src/backup/import.js';
import { ArchiveWriter } from '../../../src/archive/writer.js';
import { FORMAT_VERSION, type ArchiveHeader } from '../../../src/archive/format.js';
import { headerWithExtraData } from '../../../src/chain/block-util.js';
import { blockWithHeader } from '../../../src/chain/block-util.js';
import { openTestChain, type TestChain } from '../../helpers/chain-fixture.js';
import { chainWithBlocks, chunked, exportBytes } from './archive-fixture.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import type { Chain } from '../../../src/chain/chain.js';
import { tempDir } from '../../helpers/cli.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The importer against hostile input: random bit flips, truncations, splices of two archives, a
 * decompression bomb and forged blocks. Whatever the input, an import either succeeds in full or
 * fails with an BackupFileError (one line for the operator), and the target chain only ever holds
 * blocks of the real chain.
 */
const ROUNDS = Number(process.env.BASALT_FUZZ_ROUNDS ?? 60);

let source: TestChain;
let fork: TestChain;
let target: Awaited<ReturnType<typeof openTestChain>>;
let archive: Uint8Array;
let forkArchive: Uint8Array;
const canonical = new Map<bigint, string>();

beforeAll(async () => {
  source = await chainWithBlocks(6);
  fork = await chainWithBlocks(6, 2n);
  archive = await exportBytes(source.chain);
  forkArchive = await exportBytes(fork.chain);
  for (let n = 0n; n <= 6n; n++) canonical.set(n, bytesToHex((await source.chain.store.canonicalHash(n))!));
  target = await openTestChain(source.genesis);
});
afterAll(async () => {
  await target?.close();
  await source?.close();
  await fork?.close();
});

/** Deterministic PRNG so a failure can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

async function expectRefusedOrComplete(bytes: Uint8Array, label: string): Promise<void> {
  let err: unknown;
  try {
    await importArchive(target.chain, chunked(bytes, 1000));
  } catch (e) {
    err = e;
  }
  if (err !== undefined) expect(err, `${label}: ${String(err)}`).toBeInstanceOf(BackupFileError);
  await expectOnlyCanonical(label);
}

/** Every block the target holds is the real chain's. */
async function expectOnlyCanonical(label: string): Promise<void> {
  for (let n = 0n; n <= target.chain.head.number; n++) {
    expect(bytesToHex((await target.chain.store.canonicalHash(n))!), `${label}: block ${n}`).toBe(canonical.get(n));
  }
}

/** Restore into a fresh dir: refused with a BackupFileError leaving nothing behind, or the real head. */
async function expectSnapshotRefusedOrExact(bytes: Uint8Array, label: string): Promise<void> {
  const parent = tempDir();
  const dataDir = join(parent, 'restored');
  try {
    const s = await restoreSnapshot(chunked(bytes, 1000), { dataDir });
    expect(s.headHash, label).toBe(canonical.get(6n));
  } catch (e) {
    expect(e, `${label}: ${String(e)}`).toBeInstanceOf(BackupFileError);
    expect(readdirSync(parent), `${label}: left behind`).toEqual([]);
  }
}

describe('snapshot fuzzing (readSnapshot and restore)', () => {
  let snapshot: Uint8Array;
  let forkSnapshot: Uint8Array;
  beforeAll(async () => {
    snapshot = await snapshotBytes(source.chain);
    forkSnapshot = await snapshotBytes(fork.chain);
  });

  it(`refuses ${ROUNDS / 2} random bit flips`, async () => {
    const r = rng(11);
    for (let i = 0; i < ROUNDS / 2; i++) {
      const bytes = Uint8Array.from(snapshot);
      const pos = r(bytes.length);
      bytes[pos]! ^= 1 << r(8);
      const parent = tempDir();
      await expect(restoreSnapshot(chunked(bytes, 1000), { dataDir: join(parent, 'r') }), `flip at ${pos}`).rejects.toBeInstanceOf(BackupFileError);
      expect(readdirSync(parent)).toEqual([]);
    }
  });

  it(`refuses ${ROUNDS / 2} random truncations, and refuses or restores exactly ${ROUNDS / 2} splices`, async () => {
    const r = rng(12);
    for (let i = 0; i < ROUNDS / 2; i++) {
      const len = r(snapshot.length);
      await expectSnapshotRefusedOrExact(snapshot.subarray(0, len), `cut at ${len}`);
      const a = r(snapshot.length);
      const b = r(forkSnapshot.length);
      await expectSnapshotRefusedOrExact(Buffer.concat([snapshot.subarray(0, a), forkSnapshot.subarray(b)]), `splice ${a}/${b}`);
    }
  });
});

describe('archive fuzzing', () => {
  it(`survives ${ROUNDS} random bit flips`, async () => {
    const r = rng(1);
    for (let i = 0; i < ROUNDS; i++) {
      const bytes = Uint8Array.from(archive);
      const pos = r(bytes.length);
      bytes[pos]! ^= 1 << r(8);
      let threw = false;
      try {
        await importArchive(target.chain, chunked(bytes, 1000));
      } catch (e) {
        threw = true;
        expect(e, `flip at ${pos}`).toBeInstanceOf(BackupFileError);
      }
      // CRC32 catches every single-bit error, and the digest every one the CRC misses: never accepted.
      expect(threw, `flip at byte ${pos} was accepted`).toBe(true);
      await expectOnlyCanonical(`after flip at ${pos}`);
    }
  });

  it(`survives ${ROUNDS} random truncations`, async () => {
    const r = rng(2);
    for (let i = 0; i < ROUNDS; i++) {
      const len = r(archive.length);
      await expect(importArchive(target.chain, chunked(archive.subarray(0, len), 500)), `cut at ${len}`).rejects.toBeInstanceOf(BackupFileError);
    }
    // and the complete archive still imports after all that
    await importArchive(target.chain, chunked(archive));
    expect(bytesToHex(target.chain.head.hash)).toBe(canonical.get(6n));
  });

  it(`survives ${ROUNDS} splices of two archives`, async () => {
    const r = rng(3);
    for (let i = 0; i < ROUNDS; i++) {
      const a = r(archive.length);
      const b = r(forkArchive.length);
      const spliced = Buffer.concat([archive.subarray(0, a), forkArchive.subarray(b)]);
      await expectRefusedOrComplete(spliced, `splice ${a}/${b}`);
    }
  });
});

describe('hostile records', () => {
  const header: () => ArchiveHeader = () => ({
    format: 'basalt-archive',
    version: FORMAT_VERSION,
    chainId: '100',
    genesisHash: bytesToHex(source.chain.genesisHash),
    startBlock: '1',
    endBlock: '1',
    compression: 'zstd',
    createdAt: '',
    clientVersion: 'test',
  });

  it('refuses a zstd decompression bomb before decompressing it', async () => {
    // A frame of 2048 RLE blocks of 128 KiB each: 256 MiB out of a few KiB in.
    const blocks: number[] = [];
    for (let i = 0; i < 2048; i++) {
      const bh = ((128 * 1024) << 3) | (1 << 1) | (i === 2047 ? 1 : 0);
      blocks.push(bh & 0xff, (bh >> 8) & 0xff, (bh >> 16) & 0xff, 0x00);
    }
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, ...blocks]);
    expect(zstdOutputBound(frame)).toBe(2048 * 128 * 1024);
    await expect(decompressRecord(frame, 'zstd', 600)).rejects.toThrow(/decompression bomb/);
    const w = new ArchiveWriter(header());
    const rec = { number: 1n, hash: (await source.chain.store.canonicalHash(1n))!, rawLength: 600, data: frame };
    const bytes = Buffer.concat([w.start(), w.block(rec), w.finish().bytes]);
    const fresh = await openTestChain(source.genesis);
    try {
      await expect(importArchive(fresh.chain, chunked(bytes))).rejects.toThrow(/decompression bomb/);
      expect(fresh.chain.head.number).toBe(0n);
    } finally {
      await fresh.close();
    }
  });

  it('refuses a gzip bomb at its stated size', async () => {
    const bomb = gzipSync(new Uint8Array(64 * 1024 * 1024));
    await expect(decompressRecord(bomb, 'gzip', 1000)).rejects.toThrow(BackupFileError);
  });

  it('refuses trailing frames and malformed zstd', async () => {
    const good = await encodeBlockRecord((await source.chain.blockByNumber(1n))!, 'zstd');
    const twice = Buffer.concat([good.data, good.data]);
    expect(() => zstdOutputBound(twice)).toThrow(/trailing bytes/);
    expect(() => zstdOutputBound(new Uint8Array([1, 2, 3, 4, 5, 6]))).toThrow(/bad magic/);
  });

  it('refuses a forged block with valid checksums and digest: its seals do not match', async () => {
    const fresh = await openTestChain(source.genesis);
    try {
      const b1 = (await source.chain.blockByNumber(1n))!;
      const b2 = (await source.chain.blockByNumber(2n))!;
      // Tamper with block 2's extraData vanity (keeps the seals, changes the signed hash).
      const extra = Uint8Array.from(b2.header.extraData);
      extra[0] = 0x42;
      const forged = blockWithHeader(b2, headerWithExtraData(b2.header, extra, fresh.chain.commonAt(0n)), fresh.chain.commonAt(0n));
      const w = new ArchiveWriter({ ...header(), endBlock: '2' });
      const bytes = Buffer.concat([
        w.start(),
        w.block(await encodeBlockRecord(b1, 'zstd')),
        w.block(await encodeBlockRecord(forged, 'zstd')),
        w.finish().bytes,
      ]);
      await expect(importArchive(fresh.chain, chunked(bytes))).rejects.toThrow(/block 2 is invalid: .*seal/);
      expect(fresh.chain.head.number).toBe(1n); // block 1 was fully verified and kept; block 2 never written
    } finally {
      await fresh.close();
    }
  });
});

async function snapshotBytes(chain: Chain): Promise<Uint8Array> {
  const snap = await createSnapshot(chain, { compression: 'zstd' });
  const parts: Uint8Array[] = [];
  for (;;) {
    const r = await snap.chunks.next();
    if (r.done) return Buffer.concat(parts);
    parts.push(r.value);
  }
}
