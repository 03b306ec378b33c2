import { randomBytes } from 'node:crypto';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { createSnapshot, HistorySizes, STATE_SIZE_FRESH_BLOCKS, StateSizes, usableStateSize, type SnapshotSource } from '../../../src/backup/snapshot.js';
import { blockRawBound } from '../../../src/snapshot/writer.js';
import type { BlockReader } from '../../../src/storage/block-store.js';
import type { StateSize } from '../../../src/storage/schema.js';
import type { SnapshotSummary } from '../../../src/backup/types.js';
import { chainWithBlocks } from '../archive/archive-fixture.js';
import type { ChainReadView } from '../../../src/chain/chain.js';
import { compressedBound, compressRecord, COMPRESSIONS } from '../../../src/container/compression.js';
import { testGenesis } from '../../helpers/chain-fixture.js';

describe('compressedBound', () => {
  it("holds for incompressible and compressible frames of every size around the codecs' thresholds", async () => {
    const sizes = [0, 1, 55, 56, 1000, 16_383, 16_384, 131_071, 131_072, 131_073, 1_048_576, 3_000_001];
    for (const c of COMPRESSIONS) {
      for (const n of sizes) {
        for (const data of [randomBytes(n), new Uint8Array(n)]) {
          expect((await compressRecord(data, c)).length, `${c}, ${n} bytes`).toBeLessThanOrEqual(compressedBound(n, c));
        }
      }
      // The bound of several frames is at most the sum of their bounds.
      expect(compressedBound(1000, c, 1) + compressedBound(2000, c, 1)).toBeLessThanOrEqual(compressedBound(3000, c, 2));
    }
  });
});

/**
 * A chain as createSnapshot reads it, made up: `blocks` blocks of random (incompressible) RLP of random
 * sizes, and a head state of `accounts` account leaves under a two-level branch, each leaf padded with
 * random bytes and with its own contract code of a random size: several nodes and code records, in
 * every grouping case.
 */
function syntheticSource(blocks: number, accounts: number): SnapshotSource & { kept?: StateSize; nodeReads: number } {
  const hash = () => new Uint8Array(randomBytes(32));
  const nodes = new Map<string, Uint8Array>();
  const codes = new Map<string, Uint8Array>();
  const put = (node: unknown[]) => {
    const h = hash();
    nodes.set(bytesToHex(h), RLP.encode(node as Uint8Array[]));
    return h;
  };
  const branches: Uint8Array[] = [];
  for (let b = 0; b < 16; b++) {
    const children: Uint8Array[] = [];
    for (let i = 0; i < accounts / 16; i++) {
      const codeHash = hash();
      codes.set(bytesToHex(codeHash), new Uint8Array(randomBytes(1000 + ((i * 7919 + b * 104_729) % 300_000))));
      const account = RLP.encode([new Uint8Array([1]), new Uint8Array(randomBytes(3000 + i * 37)), new Uint8Array(0), codeHash]);
      children.push(put([new Uint8Array([0x20, i]), account]));
    }
    while (children.length < 16) children.push(new Uint8Array(0));
    branches.push(put([...children.slice(0, 16), new Uint8Array(0)]));
  }
  const root = put([...branches, new Uint8Array(0)]);
  const heads = Array.from({ length: blocks + 1 }, hash);
  const storedBlock = async (n: bigint) => ({
    hash: heads[Number(n)]!,
    blockRlp: new Uint8Array(randomBytes(100 + ((Number(n) * 65_537) % 200_000))),
    receiptsRlp: new Uint8Array(randomBytes(Number(n) % 3 === 0 ? 0 : 60)),
  });
  const view: ChainReadView = {
    blocks: {
      headHash: async () => heads[blocks],
      blockNumber: async () => BigInt(blocks),
      header: async () => ({ stateRoot: root }) as never,
      historyGap: async () => undefined,
      stateSize: async () => source.kept,
      canonicalHash: async (n) => heads[Number(n)],
      storedBlock,
      storedBlocks: async function* (from, to) {
        for (let n = from; n <= to; n++) yield { number: n, ...(await storedBlock(n)) };
      },
      storedHeaders: async function* (from, to) {
        // A header's RLP: 500 to ~90,000 bytes (extraData grows with the validators and seals), random.
        for (let n = from; n <= to; n++)
          yield { number: n, hash: heads[Number(n)]!, headerRlp: new Uint8Array(randomBytes(500 + ((Number(n) * 7_919) % 90_000))) };
      },
    },
    state: { node: async (h) => (source.nodeReads++, nodes.get(bytesToHex(h))), code: async (h) => codes.get(bytesToHex(h)) },
    close: async () => undefined,
  };
  const source: SnapshotSource & { kept?: StateSize; nodeReads: number } = {
    chainId: 100n,
    genesisHash: heads[0]!,
    genesisFile: async () => genesisStream(testGenesis(1).genesis),
    openReadView: () => view,
    nodeReads: 0,
    recordStateSize: async (size) => {
      source.kept = size;
    },
  };
  return source;
}

/** A genesis file as the stored bytes a chain streams (Chain.genesisFile). */
function genesisStream(g: object) {
  const bytes = Buffer.from(JSON.stringify(g));
  return {
    size: bytes.length,
    async *open() {
      yield bytes;
    },
  };
}

describe('snapshot size bound', () => {
  it('is at least what createSnapshot writes, and within 1% of it, with several nodes and code records (random bytes, every codec, with and without history)', async () => {
    const source = syntheticSource(40, 96);
    for (const [compression, headersOnly] of COMPRESSIONS.flatMap((c) => [[c, false] as const, [c, true] as const])) {
      const snap = await createSnapshot(source, { compression, headersOnly });
      const bound = await snap.sizeBound();
      let bytes = 0;
      let summary;
      for (;;) {
        const r = await snap.chunks.next();
        if (r.done) {
          summary = r.value;
          break;
        }
        bytes += r.value.length;
      }
      expect(summary.codes).toBe(96);
      expect(bytes).toBeGreaterThan(3 * 1024 * 1024); // more than one record of each kind
      expect(bound, `${compression} ${headersOnly}`).toBeGreaterThanOrEqual(bytes);
      expect(bound / bytes, `${compression} ${headersOnly}`).toBeLessThan(compression === 'gzip' ? 1.15 : 1.01);
    }
  }, 60_000);
});

/** Every byte of a snapshot's chunks, and its summary. */
async function drain(chunks: AsyncGenerator<Uint8Array, SnapshotSummary>) {
  let bytes = 0;
  for (;;) {
    const r = await chunks.next();
    if (r.done) return { bytes, summary: r.value };
    bytes += r.value.length;
  }
}

describe('snapshot size estimate (protocol version 5)', () => {
  it('walks the state once where no size is kept, keeps it, and then gives the same figure without reading a state node', async () => {
    const source = syntheticSource(12, 48);
    const first = await createSnapshot(source, { compression: 'zstd', headersOnly: true, stateOrder: 'tree' });
    const bound = await first.sizeBound();
    await first.close();
    source.kept = undefined;
    source.nodeReads = 0;

    const walked = await createSnapshot(source, { compression: 'zstd', headersOnly: true, stateOrder: 'tree' });
    expect(await walked.sizeEstimate()).toEqual({ bytes: bound, estimated: false });
    await walked.close();
    expect(source.nodeReads).toBeGreaterThan(16);
    expect((source.kept as StateSize | undefined)?.codes).toBe(48);

    source.nodeReads = 0;
    const snap = await createSnapshot(source, { compression: 'zstd', headersOnly: true, stateOrder: 'tree' });
    expect(await snap.sizeEstimate()).toEqual({ bytes: bound, estimated: true });
    expect(source.nodeReads).toBe(0);
    const { bytes } = await drain(snap.chunks);
    expect(bytes).toBeLessThanOrEqual(bound);
  }, 60_000);

  it('walks where the kept size was counted in unique order (fewer nodes) or is of a block past the head', async () => {
    const source = syntheticSource(12, 48);
    const first = await createSnapshot(source, { compression: 'zstd', headersOnly: true, stateOrder: 'tree' });
    const bound = await first.sizeBound();
    await first.close();
    const tree = source.kept!;
    expect(tree).toMatchObject({ number: 12n, order: 'tree' });
    for (const kept of [
      { ...tree, order: 'unique' as const },
      { ...tree, number: 13n },
    ]) {
      source.kept = kept;
      source.nodeReads = 0;
      const snap = await createSnapshot(source, { compression: 'zstd', headersOnly: true, stateOrder: 'tree' });
      expect(await snap.sizeEstimate()).toEqual({ bytes: bound, estimated: false });
      await snap.close();
      expect(source.nodeReads).toBeGreaterThan(16);
      expect(source.kept).toEqual(tree);
    }
    // A snapshot in unique order (for a peer of an earlier version) keeps nothing.
    source.kept = undefined;
    const unique = await createSnapshot(source, { compression: 'none', stateOrder: 'unique' });
    await drain(unique.chunks);
    expect(source.kept).toBeUndefined();
  }, 60_000);

  it('a kept figure stands for a head at most STATE_SIZE_FRESH_BLOCKS above it, counted in tree order, never for one below it', () => {
    const kept: StateSize = { root: new Uint8Array(32), number: 100n, order: 'tree', nodes: 5, nodeBytes: 500, codes: 0, codeBytes: 0 };
    expect(usableStateSize(kept, 100n)).toBe(kept);
    expect(usableStateSize(kept, 100n + STATE_SIZE_FRESH_BLOCKS)).toBe(kept);
    expect(usableStateSize(kept, 101n + STATE_SIZE_FRESH_BLOCKS)).toBeUndefined();
    expect(usableStateSize(kept, 99n)).toBeUndefined();
    expect(usableStateSize({ ...kept, order: 'unique' }, 100n)).toBeUndefined();
    expect(usableStateSize(undefined, 100n)).toBeUndefined();
  });

  it('a chain keeps the figure of the later block: a snapshot that ends after a newer one leaves the newer figure', async () => {
    const t = await chainWithBlocks(3);
    try {
      const size = (number: bigint, nodes: number): StateSize => ({
        root: new Uint8Array(32),
        number,
        order: 'tree',
        nodes,
        nodeBytes: 0,
        codes: 0,
        codeBytes: 0,
      });
      await t.chain.recordStateSize(size(3n, 30));
      await t.chain.recordStateSize(size(2n, 20));
      expect((await t.chain.store.stateSize())!.nodes).toBe(30);
      await t.chain.recordStateSize(size(3n, 31));
      expect((await t.chain.store.stateSize())!.nodes).toBe(31);
      // One of a block past the head (the chain rolled back since) gives way.
      await t.chain.store.writeStateSize(size(9n, 90));
      await t.chain.recordStateSize(size(2n, 20));
      expect((await t.chain.store.stateSize())!.nodes).toBe(20);
    } finally {
      await t.close();
    }
  });

  it('is kept by a snapshot that listed its state whole, with the counts the walk gave; a failure to keep it fails nothing', async () => {
    const source = syntheticSource(3, 32);
    const snap = await createSnapshot(source, { compression: 'none', headersOnly: false, stateOrder: 'tree' });
    const { summary } = await drain(snap.chunks);
    expect(source.kept).toMatchObject({ number: 3n, order: 'tree', nodes: summary.nodes, codes: 32 });
    expect(source.kept!.nodeBytes).toBeGreaterThan(0);
    expect(source.kept!.codeBytes).toBeGreaterThanOrEqual(32 * 1000);

    // Abandoned before its state: nothing kept.
    source.kept = undefined;
    const cut = await createSnapshot(source, { compression: 'none', stateOrder: 'tree' });
    await cut.chunks.next();
    await cut.close();
    expect(source.kept).toBeUndefined();

    source.recordStateSize = async () => {
      throw new Error('disk full');
    };
    const still = await createSnapshot(source, { compression: 'none', stateOrder: 'tree' });
    expect((await drain(still.chunks)).summary.codes).toBe(32);
  }, 60_000);
});

describe('StateSizes (the sizes of the states listed, kept between snapshots served)', () => {
  it('sizes a state listed before (by a walk, or a snapshot streamed to its end) in the same order without a walk; another order, or a refusal before the walk', async () => {
    const source = syntheticSource(6, 24);
    const stateSizes = new StateSizes();
    const open = (stateOrder: 'tree' | 'unique', beforeSizingWalk?: () => void) =>
      createSnapshot(source, { compression: 'zstd', headersOnly: true, stateOrder, stateSizes, beforeSizingWalk });
    let walks = 0;
    const first = await open('tree', () => void walks++);
    const bound = await first.sizeBound();
    await first.close();
    expect(walks).toBe(1);
    source.nodeReads = 0;
    // The same state: the same bound, no node read; and it is exact, not an estimate (nothing kept on disk needed).
    source.kept = undefined;
    const again = await open('tree', () => void walks++);
    expect(await again.sizeBound()).toBe(bound);
    expect(await again.sizeEstimate()).toEqual({ bytes: bound, estimated: false });
    expect(source.nodeReads).toBe(0);
    expect(walks).toBe(1);
    const { bytes } = await drain(again.chunks);
    expect(bytes).toBeLessThanOrEqual(bound);
    // Each node once is another count: a walk, which `beforeSizingWalk` may refuse.
    source.nodeReads = 0;
    const unique = await open('unique', () => {
      throw new Error('busy: no walk for you');
    });
    await expect(unique.sizeBound()).rejects.toThrow('busy: no walk for you');
    await unique.close();
    expect(source.nodeReads).toBe(0);
    // A snapshot streamed to its end lists its state: the next one in that order is sized from it.
    const streamed = await open('unique');
    await drain(streamed.chunks);
    source.nodeReads = 0;
    const sized = await open('unique', () => {
      throw new Error('walked');
    });
    expect(await sized.sizeBound()).toBeGreaterThan(0);
    await sized.close();
    expect(source.nodeReads).toBe(0);
  }, 60_000);

  it('keeps the newest states only', () => {
    const sizes = new StateSizes();
    const root = (i: number) => new Uint8Array(32).fill(i);
    const listed = (n: number) => ({ nodes: { count: n, bytes: n }, codes: { count: 0, bytes: 0 } });
    for (let i = 1; i <= 9; i++) sizes.set(root(i), 'tree', listed(i));
    expect(sizes.get(root(1), 'tree')).toBeUndefined();
    expect(sizes.get(root(2), 'tree')).toEqual(listed(2));
    expect(sizes.get(root(9), 'tree')).toEqual(listed(9));
    expect(sizes.get(root(9), 'unique')).toBeUndefined();
  });
});

describe('HistorySizes (the block sizes kept between snapshots served)', () => {
  it('reads only the blocks added since, and starts over when its last block is not canonical any more', async () => {
    let reads = 0;
    /** Block n of chain `c`: n x 100 bytes of block RLP, a hash naming both. */
    const chain = (c: number): BlockReader => {
      const storedBlock = async (n: bigint) => (
        reads++, { hash: new Uint8Array(32).fill(c).fill(Number(n), 0, 1), blockRlp: new Uint8Array(Number(n) * 100), receiptsRlp: new Uint8Array(10) }
      );
      return {
        headHash: async () => undefined,
        blockNumber: async () => undefined,
        header: async () => undefined,
        historyGap: async () => undefined,
        stateSize: async () => undefined,
        canonicalHash: async (n) => new Uint8Array(32).fill(c).fill(Number(n), 0, 1),
        storedBlock,
        storedBlocks: async function* (from, to) {
          for (let n = from; n <= to; n++) yield { number: n, ...(await storedBlock(n)) };
        },
        storedHeaders: async function* () {
          yield* [];
          throw new Error('not asked for here');
        },
      };
    };
    const expected = (head: number) => Array.from({ length: head }, (_, i) => blockRawBound((i + 1) * 100, 10)).reduce((a, b) => a + b, 0);
    const history = new HistorySizes();
    expect(await history.upTo(chain(1), 20n)).toBe(expected(20));
    expect(reads).toBe(20);
    expect(await history.upTo(chain(1), 30n)).toBe(expected(30));
    expect(reads).toBe(30);
    // An older view than what it holds: counted afresh, and what it holds is kept.
    expect(await history.upTo(chain(1), 10n)).toBe(expected(10));
    expect(await history.upTo(chain(1), 31n)).toBe(expected(31));
    expect(reads).toBe(41);
    // Another chain (block 31 has another hash there): counted from block 1.
    expect(await history.upTo(chain(2), 31n)).toBe(expected(31));
    expect(reads).toBe(72);
    // The peer that asked hangs up: a count of a long history stops within 1,024 blocks, and what it
    // counted is kept (the next count goes on from there).
    const ac = new AbortController();
    let counted = 0;
    const hashOf = (n: bigint) => new Uint8Array(32).fill(Number(n & 0xffn), 0, 1).fill(Number(n >> 8n), 1, 2);
    const long: BlockReader = {
      ...chain(3),
      canonicalHash: async (n) => hashOf(n),
      storedBlocks: async function* (from, to) {
        for (let n = from; n <= to; n++) {
          counted++;
          if (n === 3000n) ac.abort(new Error('peer gone'));
          yield { number: n, hash: hashOf(n), blockRlp: new Uint8Array(100), receiptsRlp: new Uint8Array(10) };
        }
      },
    };
    const counting = new HistorySizes();
    await expect(counting.upTo(long, 100_000n, ac.signal)).rejects.toThrow('peer gone');
    expect(counted).toBe(3072);
    expect(await counting.upTo(long, 3100n)).toBe(3100 * blockRawBound(100, 10));
    expect(counted).toBe(3072 + 28);
  });
});
