import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, createAddressFromString, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupFileError } from '../../../src/container/errors.js';
import { encodeRecord, RecordType } from '../../../src/container/framing.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { openTestChain, testGenesis, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { chainWithBlocks, chunked, SENDER } from '../archive/archive-fixture.js';
import { sealNext } from '../../helpers/chain-fixture.js';

// Storage contract: stores calldata[32:64] at slot calldata[0:32] (see bench/lib/fixture.mjs).
const INITCODE = hexToBytes('0x6008600c60003960086000f36020356000355500');

let source: TestChain;
let contract: string;
let snapshot: Uint8Array;

async function snapshotBytes(t: TestChain): Promise<Uint8Array> {
  const snap = await createSnapshot(t.chain, { compression: 'zstd' });
  const parts: Uint8Array[] = [];
  for (;;) {
    const r = await snap.chunks.next();
    if (r.done) break;
    parts.push(r.value);
  }
  return Buffer.concat(parts);
}

beforeAll(async () => {
  source = await chainWithBlocks(5);
  const common = source.chain.commonAt(0n);
  const state = await source.chain.stateAt(source.chain.head.header);
  let nonce = (await state.getAccount(createAddressFromString(bytesToHex(privateToAddress(SENDER)))))!.nonce;
  const fee = { maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n };
  contract = bytesToHex(generateAddress(privateToAddress(SENDER), nonce === 0n ? new Uint8Array(0) : hexToBytes(`0x${nonce.toString(16).padStart(2, '0')}`)));
  await sealNext(source, [createFeeMarket1559Tx({ nonce: nonce++, gasLimit: 100_000n, data: INITCODE, ...fee }, { common }).sign(SENDER)]);
  const writes = [];
  for (let i = 1n; i <= 40n; i++) {
    const data = hexToBytes(`0x${i.toString(16).padStart(64, '0')}${(i * 7n).toString(16).padStart(64, '0')}`);
    writes.push(createFeeMarket1559Tx({ nonce: nonce++, to: createAddressFromString(contract), gasLimit: 60_000n, data, ...fee }, { common }).sign(SENDER));
  }
  await sealNext(source, writes);
  snapshot = await snapshotBytes(source);
});
afterAll(async () => {
  await source?.close();
});

describe('snapshot and restore', () => {
  it('restores head, history and the whole head state without replay', async () => {
    const dataDir = join(tempDir(), 'restored');
    const s = await restoreSnapshot(chunked(snapshot, 4096), { dataDir });
    expect(s.head).toBe(source.chain.head.number);
    expect(s.codes).toBe(1);
    expect(readdirSync(dataDir).sort()).toEqual(['blockchain', 'genesis.json', 'trie']);
    const restored = await openTestChain(source.genesis, dataDir);
    try {
      expect(bytesToHex(restored.chain.head.hash)).toBe(bytesToHex(source.chain.head.hash));
      const a = await source.chain.stateAt(source.chain.head.header);
      const b = await restored.chain.stateAt(restored.chain.head.header);
      const addr = createAddressFromString(contract);
      for (const slot of [1n, 17n, 40n]) {
        const key = hexToBytes(`0x${slot.toString(16).padStart(64, '0')}`);
        expect(bytesToHex(await b.getStorage(addr, key))).toBe(bytesToHex(await a.getStorage(addr, key)));
        expect((await b.getStorage(addr, key)).length).toBeGreaterThan(0);
      }
      expect(bytesToHex(await b.getCode(addr))).toBe(bytesToHex(await a.getCode(addr)));
      const sender = createAddressFromString(bytesToHex(privateToAddress(SENDER)));
      expect((await b.getAccount(sender))?.balance).toBe((await a.getAccount(sender))?.balance);
      // history: old blocks and receipts are there
      const n = 3n;
      expect(await restored.chain.receipts(n, (await restored.chain.store.canonicalHash(n))!)).toEqual(
        await source.chain.receipts(n, (await source.chain.store.canonicalHash(n))!),
      );
      // and the restored chain extends: the next block executes on the restored state
      await sealNext({ chain: restored.chain, keys: source.keys });
      expect(restored.chain.head.number).toBe(source.chain.head.number + 1n);
    } finally {
      await restored.close();
    }
  });

  it('holds only the head state: fewer trie nodes than the source database', async () => {
    const dataDir = join(tempDir(), 'restored');
    const s = await restoreSnapshot(chunked(snapshot), { dataDir });
    let sourceNodes = 0;
    for await (const _ of source.dbs[1]!.keys()) sourceNodes++;
    expect(s.nodes).toBeLessThan(sourceNodes);
  });

  const refused = async (bytes: Uint8Array, pattern: RegExp) => {
    const parent = tempDir();
    const dataDir = join(parent, 'restored');
    await expect(restoreSnapshot(chunked(bytes), { dataDir })).rejects.toThrow(pattern);
    // nothing left behind: neither the data dir nor the temporary one
    expect(readdirSync(parent)).toEqual([]);
    expect(existsSync(dataDir)).toBe(false);
  };

  it('refuses a truncated snapshot and leaves nothing behind', async () => {
    for (const frac of [0.1, 0.5, 0.9, 0.999]) await refused(snapshot.subarray(0, Math.floor(snapshot.length * frac)), /incomplete|truncated/);
  });

  it('refuses any flipped byte', async () => {
    for (const pos of [5, 60, Math.floor(snapshot.length / 3), Math.floor(snapshot.length * 0.8), snapshot.length - 10]) {
      const b = Uint8Array.from(snapshot);
      b[pos]! ^= 0x04;
      await refused(b, /./);
    }
  });

  it('refuses a tampered state node even with valid checksums and digest', async () => {
    // Re-frame the snapshot with one state node altered: records and digest stay self-consistent,
    // but the altered node hashes to something nothing refers to (and the original is missing).
    const { rebuildWithAlteredNode } = await import('./tamper.js');
    const forged = await rebuildWithAlteredNode(snapshot);
    await refused(forged, /snapshot's state is not the head's: state node 0x[0-9a-f]{64} is not referred to by the state before it/);
  });

  it('refuses a snapshot padded with a state node nothing references (valid checksums and digest)', async () => {
    const { rebuildWithJunkNode } = await import('./tamper.js');
    await refused(
      await rebuildWithJunkNode(snapshot),
      /snapshot's state is not the head's: state node 0x[0-9a-f]{64} is not referred to by the state before it/,
    );
  });

  it('refuses a snapshot padded with empty state records (valid checksums and digest): a stream of them would cost its sender nothing', async () => {
    const { rebuildWithEmptyRecords } = await import('./tamper.js');
    await refused(await rebuildWithEmptyRecords(snapshot, 3), /snapshot has an empty state record/);
  });

  it('writes code records as they fill (not all at the end), and restore takes code before its account', async () => {
    // 48 contracts of 32 KiB of distinct code: 1.5 MiB, more than a record; a few nodes records' worth of accounts.
    const { genesis, keys } = testGenesis(1);
    for (let i = 0; i < 48; i++) {
      const code = `0x${Buffer.alloc(32 * 1024, i + 1).toString('hex')}`;
      genesis.genesis.alloc[`0x${(0xc000 + i).toString(16).padStart(40, '0')}`] = { balance: '0x1', code };
    }
    const opened = await openTestChain(genesis);
    try {
      await sealNext({ chain: opened.chain, keys });
      const bytes = await snapshotBytes({ ...opened, keys, genesis, close: opened.close });
      const kinds: string[] = [];
      for await (const ev of readSnapshot(chunked(bytes))) if (ev.kind === 'nodes' || ev.kind === 'code') kinds.push(ev.kind);
      expect(kinds.indexOf('code')).toBeLessThan(kinds.lastIndexOf('nodes')); // a full code record went out mid-walk
      expect(kinds.filter((k) => k === 'code').length).toBe(2);
      const s = await restoreSnapshot(chunked(bytes, 65_536), { dataDir: join(tempDir(), 'restored'), genesis });
      expect(s.codes).toBe(48);
    } finally {
      await opened.close();
    }
  });

  it("restores a state whose contracts share storage and code, in tree order (each shared subtree again) and in unique order (an earlier version's)", async () => {
    // Three contracts with the same code and the same 20 slots: one storage trie, referred to three times.
    const { genesis, keys } = testGenesis(1);
    const storage: Record<string, string> = {};
    for (let i = 1; i <= 20; i++) storage[`0x${i.toString(16).padStart(64, '0')}`] = `0x${(i * 3).toString(16).padStart(64, '0')}`;
    for (let i = 0; i < 3; i++) genesis.genesis.alloc[`0x${(0xd000 + i).toString(16).padStart(40, '0')}`] = { balance: '0x1', code: '0x6001600055', storage };
    const opened = await openTestChain(genesis);
    try {
      // The first start kept the genesis state's size as a walk in tree order counts it: the shared code once.
      const genesisKept = (await opened.chain.store.stateSize())!;
      expect(genesisKept).toMatchObject({ number: 0n, order: 'tree', codes: 1 });
      await sealNext({ chain: opened.chain, keys });
      const { checkStateComplete } = await import('../../../src/backup/state-walk.js');
      const want = await checkStateComplete(opened.chain.trie, opened.chain.head.header.stateRoot);
      const trailers: Record<string, number> = {};
      for (const stateOrder of ['tree', 'unique'] as const) {
        const snap = await createSnapshot(opened.chain, { compression: 'zstd', stateOrder });
        const parts: Uint8Array[] = [];
        for await (const c of snap.chunks) parts.push(c);
        const bytes = Buffer.concat(parts);
        for await (const ev of readSnapshot(chunked(bytes))) {
          if (ev.kind === 'header') expect(ev.header.stateOrder).toBe(stateOrder === 'tree' ? 'tree' : undefined);
          if (ev.kind === 'trailer') trailers[stateOrder] = Number(ev.trailer.nodeCount);
        }
        const dataDir = join(tempDir(), `restored-${stateOrder}`);
        const r = await restoreSnapshot(chunked(bytes, 8192), { dataDir, genesis });
        expect(r.nodes).toBe(trailers[stateOrder]);
        const restored = await openTestChain(genesis, dataDir);
        try {
          expect(await checkStateComplete(restored.chain.trie, restored.chain.head.header.stateRoot)).toEqual(want);
          // The restore keeps the state's size as the snapshot listed it (its next snapshot's estimate).
          expect(await restored.chain.store.stateSize()).toMatchObject({
            root: restored.chain.head.header.stateRoot,
            number: restored.chain.head.number,
            order: stateOrder,
            nodes: trailers[stateOrder],
            codes: 1,
          });
          const st = await restored.chain.stateAt(restored.chain.head.header);
          const slot = await st.getStorage(createAddressFromString(`0x${(0xd002).toString(16).padStart(40, '0')}`), hexToBytes(`0x${'0'.repeat(63)}7`));
          expect(bytesToHex(slot)).toBe('0x15');
        } finally {
          await restored.close();
        }
      }
      // The shared storage trie comes three times in tree order, once in unique order; the code once in both.
      expect(trailers.unique).toBe(want.nodes);
      expect(trailers.tree).toBeGreaterThan(want.nodes);
      // The genesis figure was the tree walk's (an empty block changed no state here).
      expect(opened.chain.head.header.stateRoot).toEqual(genesisKept.root);
      expect(genesisKept.nodes).toBe(trailers.tree);
      // The source kept the size its snapshot in tree order listed (one in unique order keeps nothing).
      expect(await opened.chain.store.stateSize()).toMatchObject({ root: opened.chain.head.header.stateRoot, order: 'tree', nodes: trailers.tree });
    } finally {
      await opened.close();
    }
  });

  it('refuses a snapshot of another chain when given a genesis file', async () => {
    const other = await chainWithBlocks(1, 3n);
    try {
      const g = { ...other.genesis, genesis: { ...other.genesis.genesis, timestamp: '0x2' } };
      await expect(restoreSnapshot(chunked(snapshot), { dataDir: join(tempDir(), 'r'), genesis: g })).rejects.toThrow(/belongs to another chain/);
    } finally {
      await other.close();
    }
  });

  it('refuses a non-empty target dir, and a block archive passed as a snapshot', async () => {
    const dir = join(tempDir(), 'busy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep.txt'), 'x');
    await expect(restoreSnapshot(chunked(snapshot), { dataDir: dir })).rejects.toThrow(/exists and is not empty/);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
    const archiveLike = Buffer.concat([Buffer.from('BASALTAR'), Buffer.from([0, 1]), encodeRecord(RecordType.Header, Buffer.from('{}'))]);
    await expect(restoreSnapshot(chunked(archiveLike), { dataDir: join(tempDir(), 'r') })).rejects.toThrow(BackupFileError);
    await expect(restoreSnapshot(chunked(archiveLike), { dataDir: join(tempDir(), 'r') })).rejects.toThrow(/block archive, not a snapshot/);
  });

  it('refuses to snapshot a chain that has only its genesis block (such a file could never be restored)', async () => {
    const fresh = await openTestChain(source.genesis);
    try {
      await expect(createSnapshot(fresh.chain, { compression: 'zstd' })).rejects.toThrow(/only its genesis block: nothing to snapshot yet/);
    } finally {
      await fresh.close();
    }
  });
});
