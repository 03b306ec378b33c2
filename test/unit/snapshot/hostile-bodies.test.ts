import { join } from 'node:path';
import { createBlockHeaderFromBytesArray } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { bigIntToUnpaddedBytes, bytesToHex } from '@ethereumjs/util';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import * as blockRecords from '../../../src/backup/block-records.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { blockWithHeader, headerOpts } from '../../../src/chain/block-util.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { sealBlock } from '../../../src/consensus/ibft/seal.js';
import { BackupFileError } from '../../../src/container/errors.js';
import type { SnapshotHeader } from '../../../src/snapshot/format.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { collect } from '../../helpers/collect.js';
import { chainWithBlocks } from '../archive/archive-fixture.js';
import { rebuildWithBlock } from './tamper.js';

// Every call of decodeBlockRlp (a whole block, its transactions included) is seen.
vi.mock('../../../src/backup/block-records.js', async (original) => {
  const mod = await original<typeof import('../../../src/backup/block-records.js')>();
  return { ...mod, decodeBlockRlp: vi.fn(mod.decodeBlockRlp) };
});
const decodeBlockRlp = vi.mocked(blockRecords.decodeBlockRlp);

/**
 * Whole blocks in a snapshot whose bodies a hostile writer chose (tens of thousands of ten-byte
 * transactions each, which @ethereumjs decodes at ~70 µs and ~0.9 KB apiece): their transactions are
 * decoded only once their header is verified, and only as many as its gas used pays for.
 */
async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

async function refusal(bytes: Uint8Array, genesis: TestChain['genesis']): Promise<BackupFileError> {
  try {
    await restoreSnapshot(once(bytes), { dataDir: join(tempDir(), 'restored'), genesis });
  } catch (err) {
    expect(err).toBeInstanceOf(BackupFileError);
    return err as BackupFileError;
  }
  throw new Error('the snapshot was restored');
}

/** The smallest legacy transaction RLP can hold: nine empty fields (10 bytes). */
const minimalTxs = (n: number) => Array.from({ length: n }, () => Array.from({ length: 9 }, () => new Uint8Array(0)));

let t: TestChain;
let real: Uint8Array;

beforeAll(async () => {
  t = await createTestChain(1);
  await sealNext(t);
  real = await collect((await createSnapshot(t.chain, { compression: 'zstd' })).chunks);
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => {
  decodeBlockRlp.mockClear();
});

describe('hostile block bodies in a snapshot', () => {
  it('blocks of 9,980 minimal transactions each, block 1 linked to no parent: refused INVALID_BLOCK without a body decoded', async () => {
    const common = t.chain.commonAt(1n);
    const block1 = (await t.chain.blockByNumber(1n))!;
    let header: SnapshotHeader | undefined;
    let receiptsRlp: Uint8Array | undefined;
    for await (const ev of readSnapshot(once(real))) {
      if (ev.kind === 'header') header = ev.header;
      if (ev.kind === 'block') receiptsRlp = ev.receiptsRlp;
    }
    // Blocks 1..12, each sealed by the validator (a writer holding its key), block 1 on a parent that is not the genesis.
    const blocks: { hash: Uint8Array; rlp: Uint8Array }[] = [];
    let parentHash: Uint8Array = new Uint8Array(32).fill(0xee);
    for (let n = 1n; n <= 12n; n++) {
      const raw = block1.header.raw();
      raw[0] = parentHash;
      raw[8] = bigIntToUnpaddedBytes(n); // number
      const sealed = sealBlock(blockWithHeader(block1, createBlockHeaderFromBytesArray(raw, headerOpts(common)), common), t.keys[0]!, [t.keys[0]!], common);
      const hash = blockHash(sealed.header);
      blocks.push({ hash, rlp: RLP.encode([sealed.header.raw(), minimalTxs(9_980), []]) });
      parentHash = hash;
    }
    expect(blocks[0]!.rlp.length).toBeGreaterThan(99_000);
    const head = { number: '12', hash: bytesToHex(blocks.at(-1)!.hash), stateRoot: header!.head.stateRoot };
    const writer = new SnapshotWriter({ ...header!, head });
    const parts = [await collect(writer.start())];
    for (const [i, b] of blocks.entries()) parts.push(await writer.block(BigInt(i + 1), b.hash, b.rlp, receiptsRlp!));
    parts.push(await writer.items('nodes', [new Uint8Array(64).fill(0xab)]), writer.finish().bytes);
    const err = await refusal(Buffer.concat(parts), t.genesis);
    expect(err.code).toBe('INVALID_BLOCK');
    expect(err.message).toMatch(/^block 1 is invalid: parent hash 0xe{64} is not the hash of block 0 /);
    expect(decodeBlockRlp).not.toHaveBeenCalled();
  });

  it('a verified header over a body of more transactions than its gas used pays for: refused before that body is decoded', async () => {
    const src = await chainWithBlocks(3); // block 3: two transfers, 42,000 gas
    try {
      const bytes = await collect((await createSnapshot(src.chain, { compression: 'zstd' })).chunks);
      expect((await src.chain.blockByNumber(3n))!.header.gasUsed).toBe(42_000n);
      // Its sealed header, its two transactions, and 9,980 minimal ones after them.
      const tampered = await rebuildWithBlock(bytes, 3n, (rlp) => {
        const [h, txs, uncles] = RLP.decode(rlp) as [Uint8Array[], Uint8Array[], Uint8Array[]];
        return RLP.encode([h, [...txs, ...minimalTxs(9_980)], uncles]);
      });
      const err = await refusal(tampered, src.genesis);
      expect(err.code).toBe('INVALID_BLOCK');
      expect(err.message).toBe('block 3 in the snapshot holds more transactions than its gas used (42000) pays for (at most 2, at 21000 each)');
      // Blocks 1 and 2 were, once verified; block 3 never.
      expect(decodeBlockRlp.mock.calls.map((c) => c[1])).toEqual([1n, 2n]);
      // Untouched, the same snapshot restores (every block decoded, once verified).
      decodeBlockRlp.mockClear();
      const restored = await restoreSnapshot(once(bytes), { dataDir: join(tempDir(), 'restored'), genesis: src.genesis });
      expect(restored.head).toBe(3n);
      expect(decodeBlockRlp.mock.calls.map((c) => c[1])).toEqual([1n, 2n, 3n]);
    } finally {
      await src.close();
    }
  });
});
