import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import { importArchive } from '../../../src/backup/import.js';
import { BlockVerificationError } from '../../../src/chain/errors.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chain } from '../../../src/chain/chain.js';
import { ibftEngineFor } from '../../../src/consensus/ibft/genesis.js';
import { openBytesDB, type BytesDB } from '../../../src/storage/open-db.js';
import { GENESIS_STATE_PENDING_KEY, HEAD_BLOCK_KEY, SYNC_MARK_KEY } from '../../../src/storage/schema.js';
import { addressOf, openTestChain, sealNext, testGenesis, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { chainWithBlocks, chunked, exportBytes } from '../archive/archive-fixture.js';
import { startNode, until } from '../p2p/net-fixture.js';
import { SENDER } from '../archive/archive-fixture.js';
import { createLegacyTx } from '@ethereumjs/tx';

/**
 * What reaches LevelDB with `sync` (durable through a power loss, not only a kill): a block's trie
 * nodes before the batch that makes it the head, always; that batch too for a block the node reports
 * as sealed or committed; blocks imported in bulk made durable together before they are reported.
 */
interface Write {
  db: 'blockchain' | 'trie';
  op: 'batch' | 'del' | 'put';
  sync: boolean;
  head: boolean;
  syncMark: boolean;
  /** A delete of the record that the genesis state is pending. */
  pending?: boolean;
}

function record(t: Pick<TestChain, 'dbs'>): Write[] {
  const writes: Write[] = [];
  const [blockchain, trie] = t.dbs as [BytesDB, BytesDB];
  for (const [name, db] of [
    ['blockchain', blockchain],
    ['trie', trie],
  ] as const) {
    // biome-ignore lint/suspicious/noExplicitAny: classic-level's internal methods, wrapped to see their options
    const raw = db as unknown as Record<'_batch' | '_del' | '_put', (...a: any[]) => Promise<void>>;
    const batch = raw._batch.bind(db);
    const del = raw._del.bind(db);
    const put = raw._put.bind(db);
    raw._batch = (ops: unknown, options: { sync?: boolean }) => {
      const head = (ops as { type: string; key: Uint8Array }[]).some((o) => o.type === 'put' && equalsBytes(o.key, HEAD_BLOCK_KEY));
      writes.push({ db: name, op: 'batch', sync: options?.sync === true, head, syncMark: false });
      return batch(ops, options);
    };
    raw._del = (key: unknown, options: { sync?: boolean }) => {
      const k = key as Uint8Array;
      writes.push({
        db: name,
        op: 'del',
        sync: options?.sync === true,
        head: false,
        syncMark: equalsBytes(k, SYNC_MARK_KEY),
        pending: equalsBytes(k, GENESIS_STATE_PENDING_KEY),
      });
      return del(key, options);
    };
    raw._put = (key: unknown, value: unknown, options: { sync?: boolean }) => {
      writes.push({ db: name, op: 'put', sync: options?.sync === true, head: false, syncMark: false });
      return put(key, value, options);
    };
  }
  return writes;
}

const closes: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closes.reverse()) await c().catch(() => undefined);
  closes.length = 0;
});

/** A data dir's two databases opened (a new one by default), closed after the test. */
async function openDatabases(dir = mkdtempSync(join(tmpdir(), 'basalt-durable-'))): Promise<{ blockchainDb: BytesDB; trieDb: BytesDB }> {
  const blockchainDb = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
  const trieDb = await openBytesDB(join(dir, 'trie'), 'trie', dir);
  closes.push(async () => {
    await blockchainDb.close();
    await trieDb.close();
  });
  return { blockchainDb, trieDb };
}

async function pair(blocks: number): Promise<{ src: TestChain; dst: Awaited<ReturnType<typeof openTestChain>>; writes: Write[] }> {
  const src = await chainWithBlocks(blocks);
  closes.push(() => src.close());
  const dst = await openTestChain(src.genesis);
  closes.push(() => dst.close());
  return { src, dst, writes: record(dst) };
}

describe('durable commits', () => {
  it('a sealed block: its trie nodes synced, then the head batch synced', async () => {
    const { src } = await pair(2); // blocks with transfers: each writes trie nodes
    const writes = record(src);
    await sealNext(src, []);
    const tx = createLegacyTx(
      { nonce: 1n, to: '0x000000000000000000000000000000000000beef', value: 1n, gasLimit: 21000n, gasPrice: 10n ** 10n },
      { common: src.chain.commonAt(0n) },
    ).sign(SENDER);
    writes.length = 0;
    await sealNext(src, [tx]);
    const trie = writes.findIndex((w) => w.db === 'trie' && w.op === 'batch');
    const head = writes.findIndex((w) => w.db === 'blockchain' && w.head);
    expect(trie).toBeGreaterThanOrEqual(0);
    expect(writes[trie]!.sync).toBe(true);
    expect(head).toBeGreaterThan(trie);
    expect(writes[head]!.sync).toBe(true);
  });

  it('a block imported on its own (a committed proposal, a followed head) is synced too', async () => {
    const { src, dst, writes } = await pair(2);
    const block = await src.chain.blockByNumber(1n);
    expect(await dst.chain.importBlock(block!)).toBe('imported');
    expect(writes.filter((w) => w.db === 'blockchain' && w.head).map((w) => w.sync)).toEqual([true]);
  });

  it('blocks imported in bulk: trie nodes synced, heads not, then one synced write before the import reports them', async () => {
    const { src, dst, writes } = await pair(6);
    const summary = await importArchive(dst.chain, chunked(await exportBytes(src.chain)));
    expect(summary.imported).toBe(6n);
    const heads = writes.filter((w) => w.db === 'blockchain' && w.head);
    expect(heads).toHaveLength(6);
    expect(heads.every((w) => !w.sync)).toBe(true);
    expect(writes.filter((w) => w.db === 'trie' && w.op === 'batch').every((w) => w.sync)).toBe(true);
    const last = writes.findLastIndex((w) => w.db === 'blockchain' && w.head);
    expect(writes.slice(last + 1).some((w) => w.db === 'blockchain' && w.syncMark && w.sync)).toBe(true);
  });

  it("an import stopped by a bad block still makes what it imported before it durable, and reports the import's error", async () => {
    const { src, dst } = await pair(5);
    let calls = 0;
    let synced = 0;
    const chain = dst.chain;
    const target = {
      chainId: chain.chainId,
      genesisHash: chain.genesisHash,
      commonAt: (n: bigint) => chain.commonAt(n),
      get head() {
        return chain.head;
      },
      canonicalHash: (n: bigint) => chain.canonicalHash(n),
      importBlock: async (block: Parameters<typeof chain.importBlock>[0], o?: { bulk?: boolean }) => {
        if (++calls === 3) throw new BlockVerificationError(block.header.number, 'is refused by this test');
        return chain.importBlock(block, o);
      },
      syncCommitted: async () => {
        synced++;
        throw new Error('the sync failing too: not the error to report');
      },
    };
    await expect(importArchive(target, chunked(await exportBytes(src.chain)))).rejects.toThrow(
      /block 3 is invalid: is refused by this test; import stopped there \(2 blocks imported before it/,
    );
    expect(chain.head.number).toBe(2n);
    expect(synced).toBe(1);
  });

  it('a block sync: the blocks of a batch in bulk, the last one synced (and with it the batch)', async () => {
    const { src, dst, writes } = await pair(40);
    const a = await startNode(src.chain, {});
    closes.push(() => a.net.stop());
    const b = await startNode(dst.chain, { bootnodes: [a.addr] });
    closes.push(() => b.net.stop());
    await until(() => dst.chain.head.number === 40n, 'synced to 40');
    expect(bytesToHex(dst.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    const heads = writes.filter((w) => w.db === 'blockchain' && w.head);
    expect(heads.length).toBe(40);
    expect(heads.some((w) => !w.sync)).toBe(true); // in bulk
    expect(heads.at(-1)!.sync).toBe(true); // the head the node then acts on, and the batch before it
  });

  it('a chain opened with syncCommits false (a replay thrown away, or closed durably at its end) syncs no commit', async () => {
    const src = await chainWithBlocks(3);
    closes.push(() => src.close());
    const { blockchainDb, trieDb } = await openDatabases();
    const chain = await Chain.open({ blockchainDb, trieDb, genesis: src.genesis, engine: ibftEngineFor(src.genesis, 'test genesis'), syncCommits: false });
    closes.push(() => chain.close());
    const writes = record({ dbs: [blockchainDb, trieDb] });
    for (const n of [1n, 2n, 3n]) expect(await chain.importBlock((await src.chain.blockByNumber(n))!)).toBe('imported');
    expect(writes.filter((w) => w.db === 'blockchain' && w.head)).toHaveLength(3);
    expect(writes.filter((w) => w.db === 'trie').length).toBeGreaterThan(0);
    expect(writes.some((w) => w.sync)).toBe(false);
  });

  it('a new data dir: the genesis state synced before the genesis block, which is synced', async () => {
    const { blockchainDb, trieDb } = await openDatabases();
    const writes = record({ dbs: [blockchainDb, trieDb] });
    const { genesis } = testGenesis(1, [addressOf(testKey(10))]);
    const chain = await Chain.open({ blockchainDb, trieDb, genesis, engine: ibftEngineFor(genesis, 'test genesis') });
    closes.push(() => chain.close());
    const synced = writes.findIndex((w) => w.db === 'trie' && w.syncMark && w.sync);
    const head = writes.findIndex((w) => w.db === 'blockchain' && w.head);
    expect(synced).toBeGreaterThanOrEqual(0);
    expect(head).toBeGreaterThan(synced);
    expect(writes[head]!.sync).toBe(true);
  });

  it('a genesis state left pending (a snapshot sync that did not happen): synced before its pending record goes, durably', async () => {
    const { genesis } = testGenesis(1, [addressOf(testKey(10))]);
    const first = await openTestChain(genesis, undefined, { genesisState: 'deferred' });
    const dir = first.dir;
    await first.close();
    const { blockchainDb, trieDb } = await openDatabases(dir);
    const writes = record({ dbs: [blockchainDb, trieDb] });
    const chain = await Chain.open({ blockchainDb, trieDb, genesis, engine: ibftEngineFor(genesis, 'test genesis') });
    closes.push(() => chain.close());
    const synced = writes.findIndex((w) => w.db === 'trie' && w.syncMark && w.sync);
    const cleared = writes.findIndex((w) => w.db === 'blockchain' && w.pending);
    expect(synced).toBeGreaterThanOrEqual(0);
    expect(cleared).toBeGreaterThan(synced);
    expect(writes[cleared]!.sync).toBe(true);
  });
});
