import { bytesToHex } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportChain } from '../../../src/backup/export.js';
import { importArchive } from '../../../src/backup/import.js';
import { readArchive } from '../../../src/archive/reader.js';
import { inspectArchive, verifyArchive } from '../../../src/backup/verify-archive.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { openTestChain, type TestChain } from '../../helpers/chain-fixture.js';
import { chainWithBlocks, chunked, exportBytes } from './archive-fixture.js';

let source: TestChain;
const BLOCKS = 12;

beforeAll(async () => {
  source = await chainWithBlocks(BLOCKS);
});
afterAll(async () => {
  await source?.close();
});

async function freshChain() {
  return openTestChain(source.genesis);
}

describe('archive export and import', () => {
  for (const compression of ['zstd', 'gzip', 'none'] as const) {
    it(`round-trips a 4-validator chain with transactions (${compression})`, async () => {
      const bytes = await exportBytes(source.chain, { compression });
      const target = await freshChain();
      try {
        const summary = await importArchive(target.chain, chunked(bytes));
        expect(summary.imported).toBe(BigInt(BLOCKS));
        expect(summary.skipped).toBe(0n);
        expect(bytesToHex(target.chain.head.hash)).toBe(bytesToHex(source.chain.head.hash));
        expect(bytesToHex(target.chain.head.header.stateRoot)).toBe(bytesToHex(source.chain.head.header.stateRoot));
        // receipts were recomputed by execution and match the source's
        const a = await source.chain.receipts(5n, (await source.chain.store.canonicalHash(5n))!);
        const b = await target.chain.receipts(5n, (await target.chain.store.canonicalHash(5n))!);
        expect(b).toEqual(a);
        // re-importing is a no-op
        const again = await importArchive(target.chain, chunked(bytes));
        expect(again.imported).toBe(0n);
        expect(again.skipped).toBe(BigInt(BLOCKS));
      } finally {
        await target.close();
      }
    });
  }

  it('exports a sub-range and resumes an interrupted import', async () => {
    const first = await exportBytes(source.chain, { start: 1n, end: 5n });
    const all = await exportBytes(source.chain);
    const target = await freshChain();
    try {
      await importArchive(target.chain, chunked(first));
      expect(target.chain.head.number).toBe(5n);
      const s = await importArchive(target.chain, chunked(all));
      expect(s.skipped).toBe(5n);
      expect(s.imported).toBe(BigInt(BLOCKS - 5));
      expect(bytesToHex(target.chain.head.hash)).toBe(bytesToHex(source.chain.head.hash));
    } finally {
      await target.close();
    }
  });

  it('refuses a gap, naming the blocks to import first, and changes nothing', async () => {
    const tail = await exportBytes(source.chain, { start: 8n });
    const target = await freshChain();
    try {
      await expect(importArchive(target.chain, chunked(tail))).rejects.toThrow(/starts at block 8, but this chain's head is 0: import blocks 1-7 first/);
      expect(target.chain.head.number).toBe(0n);
    } finally {
      await target.close();
    }
  });

  it('refuses an archive of another chain', async () => {
    const other = await chainWithBlocks(2);
    // same validators and genesis parameters but a different genesis timestamp -> another genesis hash
    const otherGenesis = { ...other.genesis, genesis: { ...other.genesis.genesis, timestamp: '0x1' } };
    const foreign = await openTestChain(otherGenesis);
    try {
      const bytes = await exportBytes(source.chain, { end: 2n });
      await expect(importArchive(foreign.chain, chunked(bytes))).rejects.toThrow(/belongs to another chain/);
      expect(foreign.chain.head.number).toBe(0n);
    } finally {
      await foreign.close();
      await other.close();
    }
  });

  it('refuses blocks that conflict with the local chain and keeps the local ones', async () => {
    const fork = await chainWithBlocks(4, 2n); // same genesis, different timestamps -> different blocks
    try {
      const bytes = await exportBytes(fork.chain);
      const target = await freshChain();
      try {
        await importArchive(target.chain, chunked(await exportBytes(source.chain, { end: 3n })));
        const before = bytesToHex(target.chain.head.hash);
        await expect(importArchive(target.chain, chunked(bytes))).rejects.toThrow(/block 1 is invalid: conflicts with the local chain/);
        expect(bytesToHex(target.chain.head.hash)).toBe(before);
      } finally {
        await target.close();
      }
    } finally {
      await fork.close();
    }
  });

  it('inspect and verify report the archive; verify with genesis replays every block', async () => {
    const bytes = await exportBytes(source.chain);
    const r = await inspectArchive(chunked(bytes));
    expect(r.blocks).toBe(BigInt(BLOCKS));
    expect(r.transactions).toBe(Array.from({ length: BLOCKS }, (_, i) => i % 3).reduce((a, b) => a + b, 0));
    expect(r.header.genesisHash).toBe(bytesToHex(source.chain.genesisHash));
    const v = await verifyArchive(() => chunked(bytes), source.genesis);
    expect(v.level).toBe('replayed');
    const tail = await exportBytes(source.chain, { start: 4n });
    const partial = await verifyArchive(() => chunked(tail), source.genesis);
    expect(partial.level).toBe('seals');
  });

  it('close() releases the LevelDB snapshot of an export that is abandoned before its end', async () => {
    const exp = await exportChain(source.chain, { startBlock: 0n, compression: 'none' });
    await exp.close();
    await exp.close(); // idempotent
    // The view is gone: reading blocks from it fails instead of silently reading the live database.
    await expect(exp.chunks.next()).rejects.toThrow(/snapshot/i);
  });

  it('the archive holds no key material', async () => {
    const bytes = Buffer.from(await exportBytes(source.chain, { compression: 'none' }));
    for (const key of source.keys) expect(bytes.includes(Buffer.from(key))).toBe(false);
  });
});

describe('archive reader', () => {
  it('yields header, blocks in order and a trailer whose digest matches', async () => {
    const bytes = await exportBytes(source.chain, { start: 2n, end: 6n });
    const kinds: string[] = [];
    const numbers: bigint[] = [];
    for await (const ev of readArchive(chunked(bytes, 1))) {
      kinds.push(ev.kind);
      if (ev.kind === 'block') numbers.push(ev.record.number);
    }
    expect(kinds[0]).toBe('header');
    expect(kinds.at(-1)).toBe('trailer');
    expect(numbers).toEqual([2n, 3n, 4n, 5n, 6n]);
  });

  it('refuses empty input, foreign files, and future format versions', async () => {
    const read = async (b: Uint8Array) => {
      for await (const ev of readArchive(chunked(b))) void ev;
    };
    await expect(read(new Uint8Array(0))).rejects.toThrow(/archive is empty/);
    await expect(read(new TextEncoder().encode('PK\x03\x04 this is a zip file, not an archive'))).rejects.toThrow(/not a Basalt archive/);
    const bytes = await exportBytes(source.chain, { end: 1n });
    const v2 = Uint8Array.from(bytes);
    v2[9] = 2;
    await expect(read(v2)).rejects.toThrow(/format version 2 is not supported/);
  });

  it('refuses an absurd record length without allocating it', async () => {
    const bytes = await exportBytes(source.chain, { end: 1n });
    const evil = Uint8Array.from(bytes);
    // first record after the preamble is the header: claim 4 GiB
    new DataView(evil.buffer).setUint32(10 + 1, 0xffffffff);
    const before = process.memoryUsage().arrayBuffers;
    await expect(
      (async () => {
        for await (const ev of readArchive(chunked(evil))) void ev;
      })(),
    ).rejects.toThrow(/above the .*-byte limit/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses data after the trailer and an endless stream of garbage', async () => {
    const bytes = await exportBytes(source.chain, { end: 2n });
    const extra = Buffer.concat([bytes, Buffer.from([0])]);
    await expect(
      (async () => {
        for await (const ev of readArchive(chunked(extra))) void ev;
      })(),
    ).rejects.toThrow(/data after its trailer/);
    async function* endless() {
      yield bytes.subarray(0, bytes.length - 200);
      for (;;) yield new Uint8Array(4096).fill(0xab);
    }
    await expect(
      (async () => {
        for await (const ev of readArchive(endless())) void ev;
      })(),
    ).rejects.toThrow(BackupFileError);
  });
});

describe('block RLP from stored parts', () => {
  it('equals the canonical serialization for legacy and typed transactions', async () => {
    const { blockRlpFromStored } = await import('../../../src/storage/block-store.js');
    for (let n = 1n; n <= BigInt(BLOCKS); n++) {
      const hash = (await source.chain.store.canonicalHash(n))!;
      const block = (await source.chain.blockByNumber(n))!;
      const rlp = blockRlpFromStored((await source.chain.store.headerRLP(n, hash))!, (await source.chain.store.bodyRLP(n, hash))!);
      expect(bytesToHex(rlp)).toBe(bytesToHex(block.serialize()));
    }
  });
});
