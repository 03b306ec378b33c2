import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockHeader } from '@ethereumjs/block';
import { IbftEngine } from '../../../src/consensus/ibft/engine.js';
import { quorumRuleOf } from '../../../src/consensus/ibft/genesis.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { HistoryBackfill, type HistoryFeed } from '../../../src/backup/repository/backfill.js';
import { backupToRepository } from '../../../src/backup/repository/backup.js';
import { LocalIndex } from '../../../src/backup/repository/local-index.js';
import { Repository } from '../../../src/backup/repository/repository.js';
import { restoreRepositoryAt } from '../../../src/backup/repository/restore.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import { checkDataDir } from '../../../src/node/db-check.js';
import { BasaltNode } from '../../../src/node/node.js';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { HistoryUnavailableError } from '../../../src/storage/history.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, openTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { PeerHistoryFeed } from '../../../src/sync/history-feed.js';
import { nodesStoppedAfterEach, until } from '../p2p/net-fixture.js';

const SENDER = testKey(9);
const SEGMENT = 4;
const BLOCKS = 14;
const logger = pino({ level: 'silent' });

let dir: string;
let t: TestChain;
let repo: Repository;
let manifest: string;
let nonce = 0n;

const transfer = (chain: TestChain, salt: number) =>
  createFeeMarket1559Tx(
    {
      nonce: nonce++,
      to: `0x${(salt * 1000 + Number(nonce)).toString(16).padStart(40, '0')}`,
      value: 1n,
      gasLimit: 21000n,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
      chainId: 100n,
    },
    { common: chain.chain.commonAt(chain.chain.head.number + 1n) },
  ).sign(SENDER);

/** Every block of `chain` 1..to, as stored (header, body, receipts). */
async function storedBlocks(chain: TestChain['chain'], to: bigint): Promise<string[]> {
  const out: string[] = [];
  for await (const b of chain.store.storedBlocks(1n, to)) out.push(`${bytesToHex(b.hash)}:${bytesToHex(b.blockRlp)}:${bytesToHex(b.receiptsRlp)}`);
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'basalt-backfill-'));
  t = await createTestChain(1, [addressOf(SENDER)]);
  for (let i = 0; i < BLOCKS; i++) await sealNext(t, [transfer(t, 1), transfer(t, 1)]);
  repo = new Repository(new LocalDirTarget(join(dir, 'repo')), join(dir, 'staging'));
  const index = await LocalIndex.open(join(dir, 'index'));
  try {
    manifest = (await backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: SEGMENT })).manifest;
  } finally {
    await index.close();
  }
}, 60_000);

afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('restore at the head, history back-filled (issue #21)', () => {
  it('a restore writes the headers and the head whole; blocks below answer "pruned history", the data dir checks clean', async () => {
    const dataDir = join(dir, 'restored');
    const r = await restoreRepositoryAt(repo, {}, { dataDir, genesis: t.genesis });
    expect(r.head).toBe(BigInt(BLOCKS));
    expect(r.historyGap).toEqual({ from: 1n, to: BigInt(BLOCKS - 1) });
    const restored = await openTestChain(t.genesis, dataDir);
    try {
      const c = restored.chain;
      expect(await c.store.historySource()).toEqual({ repository: repo.url, backup: manifest });
      // the head whole, with its transactions and receipts
      const head = await c.blockByNumber(BigInt(BLOCKS));
      expect(head!.transactions).toHaveLength(2);
      expect(await c.receipts(BigInt(BLOCKS), c.head.hash)).toHaveLength(2);
      // below it: every header, verified and linked; bodies and receipts are to come
      expect(bytesToHex((await c.store.canonicalHeader(3n))!.hash())).not.toBe('');
      expect(bytesToHex((await c.canonicalHash(3n))!)).toBe(bytesToHex((await t.chain.canonicalHash(3n))!));
      await expect(c.blockByNumber(3n)).rejects.toBeInstanceOf(HistoryUnavailableError);
      await expect(c.receipts(3n, (await c.canonicalHash(3n))!)).rejects.toThrow(/pruned history unavailable: block 3/);
      // a snapshot or export of it refuses with that one line, rather than write an incomplete file
      await expect(storedBlocks(c, BigInt(BLOCKS))).rejects.toThrow(/pruned history unavailable: block 1 /);
      await expect(createSnapshot(c, { compression: 'zstd' })).rejects.toThrow(
        /^this node's history is still being back-filled \(blocks 1-13\): a snapshot carries every block/,
      );
      // JSON-RPC answers as a node whose history is pruned (EIP-4444), the head as usual
      const rpc = new RpcDispatcher({ methods: ethMethods({ chain: c, txpool: new TxPool(c) }), logger });
      const call = async (method: string, params: unknown[]) =>
        JSON.parse(await rpc.handleText(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }))) as {
          result?: unknown;
          error?: { code: number; message: string };
        };
      expect((await call('eth_getBlockByNumber', ['0x3', false])).error).toMatchObject({ code: 4444 });
      expect((await call('eth_getBlockReceipts', ['0x3'])).error).toMatchObject({ code: 4444 });
      expect((await call('eth_getBlockByNumber', ['latest', true])).result).toMatchObject({ number: `0x${BLOCKS.toString(16)}` });
      // a transaction of the gap is not found yet (its lookup comes with its body): not "no such transaction"
      const tx = (await t.chain.blockByNumber(3n))!.transactions[0]!;
      for (const method of ['eth_getTransactionByHash', 'eth_getTransactionReceipt']) {
        expect((await call(method, [bytesToHex(tx.hash())])).error).toMatchObject({
          code: 4444,
          message: expect.stringMatching(/^transaction not found, but this node's history is still being back-filled \(blocks 1-13\)/),
        });
      }
    } finally {
      await restored.close();
    }
    const report = await checkDataDir(dataDir, { full: true });
    expect(report.problems).toEqual([]);
  });

  it('the back-fill makes every block whole, byte for byte the original, and resumes where a killed one left off', async () => {
    const dataDir = join(dir, 'restored');
    let restored = await openTestChain(t.genesis, dataDir);
    // A node killed after its first batch: blocks 1-5 whole, the gap from 6 (what one fillHistory batch leaves).
    const filled = [];
    for (let n = 1n; n <= 5n; n++) {
      const block = (await t.chain.blockByNumber(n))!;
      const hash = (await t.chain.canonicalHash(n))!;
      filled.push({ block, hash, receipts: (await t.chain.receipts(n, hash))! });
    }
    expect(await restored.chain.store.fillHistory(filled)).toEqual({ from: 6n, to: BigInt(BLOCKS - 1) });
    await restored.close();
    restored = await openTestChain(t.genesis, dataDir);
    try {
      const c = restored.chain;
      expect(await c.store.historyGap()).toEqual({ from: 6n, to: BigInt(BLOCKS - 1) });
      expect(await storedBlocks(c, 5n)).toEqual(await storedBlocks(t.chain, 5n));
      await expect(c.blockByNumber(6n)).rejects.toBeInstanceOf(HistoryUnavailableError);
      const b = (await HistoryBackfill.start(c, { logger, stagingDir: dir }))!;
      await b.finished();
      expect(b.status()).toMatchObject({ started: { from: 6n, to: BigInt(BLOCKS - 1) } });
      expect(b.status().gap).toBeUndefined();
      expect(await c.store.historyGap()).toBeUndefined();
      expect(await c.store.historySource()).toBeUndefined();
      expect(await storedBlocks(c, BigInt(BLOCKS))).toEqual(await storedBlocks(t.chain, BigInt(BLOCKS)));
      const tx = (await t.chain.blockByNumber(3n))!.transactions[1]!;
      expect(await c.store.txLookup(tx.hash())).toEqual({ blockNumber: 3n, index: 1 });
      // nothing left to do on the next start
      expect(await HistoryBackfill.start(c, { logger, stagingDir: dir })).toBeUndefined();
    } finally {
      await restored.close();
    }
    expect((await checkDataDir(dataDir, { full: true })).problems).toEqual([]);
  });

  it('below the free-space floor (writes paused) the back-fill writes nothing and tries again; it completes once writes resume', async () => {
    const dataDir = join(dir, 'paused');
    await restoreRepositoryAt(repo, {}, { dataDir, genesis: t.genesis });
    const restored = await openTestChain(t.genesis, dataDir);
    try {
      const c = restored.chain;
      const gap = await c.store.historyGap();
      c.pauseWrites('disk almost full: 10 MiB free, below --min-free-disk 256 MiB');
      const b = (await HistoryBackfill.start(c, { logger, stagingDir: dir, retryMs: 100 }))!;
      await until(() => /not written now: disk almost full/.test(b.status().error ?? ''), 'the back-fill held');
      expect(await c.store.historyGap()).toEqual(gap);
      c.pauseWrites(undefined);
      await b.finished();
      expect(await c.store.historyGap()).toBeUndefined();
      expect(await storedBlocks(c, BigInt(BLOCKS))).toEqual(await storedBlocks(t.chain, BigInt(BLOCKS)));
    } finally {
      await restored.close();
    }
  });

  it('a repository whose blocks are not the chain the headers verified is refused: nothing is written, the failure is in the status', async () => {
    // Another chain from the same genesis: its blocks 1.. differ.
    const other = await createTestChain(1, [addressOf(SENDER)]);
    const otherRepo = new Repository(new LocalDirTarget(join(dir, 'other-repo')), join(dir, 'staging'));
    let otherManifest: string;
    try {
      nonce = 0n;
      for (let i = 0; i < BLOCKS; i++) await sealNext(other, [transfer(other, 2)]);
      const index = await LocalIndex.open(join(dir, 'other-index'));
      try {
        otherManifest = (await backupToRepository(other.chain, otherRepo, index, { compression: 'zstd', segmentBlocks: SEGMENT })).manifest;
      } finally {
        await index.close();
      }
    } finally {
      await other.close();
    }
    const dataDir = join(dir, 'restored-2');
    await restoreRepositoryAt(repo, {}, { dataDir, genesis: t.genesis });
    const restored = await openTestChain(t.genesis, dataDir);
    try {
      const c = restored.chain;
      const gap = (await c.store.historyGap())!;
      await c.store.writeHistoryGap(gap, { repository: otherRepo.url, backup: otherManifest });
      const b = (await HistoryBackfill.start(c, { logger, stagingDir: dir, retryMs: 60_000 }))!;
      await expect.poll(() => b.status().error, { timeout: 10_000 }).toMatch(/^block 1 in segment-.* is 0x[0-9a-f]{64}, not the chain's 0x[0-9a-f]{64}$/);
      expect(b.status().gap).toEqual(gap);
      await b.stop();
      expect(await c.store.historyGap()).toEqual(gap);
      await expect(c.blockByNumber(1n)).rejects.toBeInstanceOf(HistoryUnavailableError);
    } finally {
      await restored.close();
    }
  });

  it('the backup restored from pruned since: the back-fill reads a later backup of its own timeline, not a newer one of another (a roll-back)', async () => {
    const target = new LocalDirTarget(join(dir, 'fallback-repo'));
    const fallback = new Repository(target, join(dir, 'staging'));
    const backup = async (chain: TestChain['chain'], index: string) => {
      const i = await LocalIndex.open(join(dir, index));
      try {
        return (await backupToRepository(chain, fallback, i, { compression: 'zstd', segmentBlocks: SEGMENT })).manifest;
      } finally {
        await i.close();
      }
    };
    const restoredFrom = await backup(t.chain, 'fallback-index');
    // Another timeline of this genesis, sealed later and higher: the newest backup in the repository.
    const other = await createTestChain(1, [addressOf(SENDER)]);
    try {
      for (let i = 0; i < BLOCKS + 6; i++) await sealNext(other);
      await backup(other.chain, 'fallback-other-index');
    } finally {
      await other.close();
    }
    const dataDir = join(dir, 'restored-fallback');
    // A block number is of the newest timeline; a time, of the chain as it was then.
    await expect(restoreRepositoryAt(fallback, { block: BigInt(BLOCKS) }, { dataDir, genesis: t.genesis })).rejects.toThrow(/rolled back from: --at-time/);
    await restoreRepositoryAt(fallback, { time: (await t.chain.blockByNumber(BigInt(BLOCKS)))!.header.timestamp }, { dataDir, genesis: t.genesis });
    const restored = await openTestChain(t.genesis, dataDir);
    try {
      const c = restored.chain;
      expect(await c.store.historySource()).toEqual({ repository: fallback.url, backup: restoredFrom });
      await backup(t.chain, 'fallback-index'); // the same head, taken again
      await target.delete(restoredFrom);
      const b = (await HistoryBackfill.start(c, { logger, stagingDir: dir, retryMs: 60_000 }))!;
      await b.finished();
      expect(b.status().error).toBeUndefined();
      expect(await c.store.historyGap()).toBeUndefined();
      expect(await storedBlocks(c, BigInt(BLOCKS))).toEqual(await storedBlocks(t.chain, BigInt(BLOCKS)));
    } finally {
      await restored.close();
    }
  });

  it('--history full restores every block whole: no gap, nothing to back-fill', async () => {
    const dataDir = join(dir, 'restored-full');
    const r = await restoreRepositoryAt(repo, {}, { dataDir, genesis: t.genesis, history: 'full' });
    expect(r.historyGap).toBeUndefined();
    const restored = await openTestChain(t.genesis, dataDir);
    try {
      expect(await restored.chain.store.historyGap()).toBeUndefined();
      expect(await storedBlocks(restored.chain, BigInt(BLOCKS))).toEqual(await storedBlocks(t.chain, BigInt(BLOCKS)));
    } finally {
      await restored.close();
    }
  });

  it('--trusted-block: headers up to the checkpoint are checked by hash links, the later ones by seals; a checkpoint not of this chain is refused', async () => {
    const at = 9n;
    const hash = (await t.chain.canonicalHash(at))!;
    // The seals each restore reads: every block's without a checkpoint, only those after it with one.
    const sealed: bigint[] = [];
    const ibft = new IbftEngine(quorumRuleOf(t.genesis));
    const engine = Object.create(ibft, {
      sealSignatures: { value: (h: BlockHeader) => (sealed.push(h.number), ibft.sealSignatures(h)) },
    }) as IbftEngine;
    await restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'restored-untrusted'), genesis: t.genesis, engine, history: 'full' });
    expect(sealed).toEqual(Array.from({ length: BLOCKS }, (_, i) => BigInt(i + 1)));
    sealed.length = 0;
    const r = await restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'restored-trusted'), genesis: t.genesis, engine, trustedBlock: { number: at, hash } });
    expect(r.headHash).toBe(bytesToHex(t.chain.head.hash));
    expect(sealed).toEqual([10n, 11n, 12n, 13n, 14n]);
    const forged = hash.slice();
    forged[0]! ^= 1;
    await expect(
      restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'restored-forged'), genesis: t.genesis, trustedBlock: { number: at, hash: forged } }),
    ).rejects.toThrow(/^block 9 is 0x[0-9a-f]{64}, not the trusted 0x[0-9a-f]{64}: the backup is of another chain, or forged$/);
    await expect(
      restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'restored-late'), genesis: t.genesis, trustedBlock: { number: 99n, hash } }),
    ).rejects.toThrow(/^the trusted block 99 is after the backup's head 14/);
    expect(readdirSync(dir).filter((f) => f.includes('forged') || f.includes('late'))).toEqual([]);
  });

  it('a restored node backs up into the repository it came from while it back-fills (each block once, its history reused); a new repository needs the gap, one line until it is back', async () => {
    const dataDir = join(dir, 'restored-3');
    await restoreRepositoryAt(repo, {}, { dataDir, genesis: t.genesis });
    const restored = await openTestChain(t.genesis, dataDir);
    const index = await LocalIndex.open(join(dataDir, 'backup-index'));
    try {
      const c = restored.chain;
      // Block 15: the backup reuses the segments (and the piece 13-14) of the backup it was restored from.
      await sealNext({ chain: c, keys: t.keys });
      const b = await backupToRepository(c, repo, index, { compression: 'zstd', segmentBlocks: SEGMENT });
      expect(b.head).toBe(15n);
      expect(b.added.blocks).toBe(1n);
      // Block 16 completes the segment 13-16: the piece 13-14 is reused, only block 16 is stored.
      await sealNext({ chain: c, keys: t.keys });
      const completing = await backupToRepository(c, repo, index, { compression: 'zstd', segmentBlocks: SEGMENT });
      expect([completing.head, completing.added.blocks]).toEqual([16n, 1n]);
      // A repository that holds none of its history needs the blocks of the gap: not back yet, one line.
      const fresh = new Repository(new LocalDirTarget(join(dir, 'repo-fresh')), join(dir, 'staging'));
      const freshIndex = await LocalIndex.open(join(dir, 'index-fresh'));
      try {
        await expect(backupToRepository(c, fresh, freshIndex, { compression: 'zstd', segmentBlocks: SEGMENT })).rejects.toThrow(
          /^pruned history unavailable: block 1 is not held on this node yet/,
        );
        const fill = (await HistoryBackfill.start(c, { logger, stagingDir: dir }))!;
        await fill.finished();
        const after = await backupToRepository(c, fresh, freshIndex, { compression: 'zstd', segmentBlocks: SEGMENT });
        expect([after.head, after.added.blocks]).toEqual([16n, 16n]);
      } finally {
        await freshIndex.close();
      }
    } finally {
      await index.close();
      await restored.close();
    }
  });
});

describe('history back-filled from peers (issue #21)', () => {
  const { cleanup, node } = nodesStoppedAfterEach();
  /** A data dir restored at the head of `t` with its gap, whose recorded repository is out of reach. */
  const restoredFromGoneRepository = async (name: string) => {
    const dataDir = join(dir, name);
    // The backup of block 14 (the test above added a later one, of another node's blocks 15-16).
    await restoreRepositoryAt(repo, { block: BigInt(BLOCKS) }, { dataDir, genesis: t.genesis });
    const restored = await openTestChain(t.genesis, dataDir);
    cleanup.push(() => restored.close());
    const gap = (await restored.chain.store.historyGap())!;
    await restored.chain.store.writeHistoryGap(gap, { repository: join(dir, 'gone-repo'), backup: manifest });
    return { restored, gap };
  };

  it('the recorded repository out of reach: the blocks come from a peer, checked against the headers, byte for byte the original', async () => {
    const { restored, gap } = await restoredFromGoneRepository('peer-fill');
    const source = await node(t.chain);
    const me = await node(restored.chain, { bootnodes: [source.addr], blockSync: false });
    await until(() => me.net.peerCount() === 1, 'connected');
    const b = (await HistoryBackfill.start(restored.chain, { logger, stagingDir: dir, retryMs: 60_000, peers: me.net.historyFeed() }))!;
    expect(b.status().source).toBe(`${join(dir, 'gone-repo')} (${manifest}), then peers`);
    await b.finished();
    expect(b.status().gap).toBeUndefined();
    expect(await restored.chain.store.historyGap()).toBeUndefined();
    expect(gap).toEqual({ from: 1n, to: BigInt(BLOCKS - 1) });
    expect(await storedBlocks(restored.chain, BigInt(BLOCKS))).toEqual(await storedBlocks(t.chain, BigInt(BLOCKS)));
  });

  it("a peer serving another chain's blocks is dropped and the next one fills the gap; a peer restored at its head (no history) is passed over", async () => {
    // Another chain from the same genesis, one block longer: the highest head, asked first.
    const other = await createTestChain(1, [addressOf(SENDER)]);
    cleanup.push(() => other.close());
    const saved = nonce;
    nonce = 0n;
    for (let i = 0; i <= BLOCKS; i++) await sealNext(other, [transfer(other, 3)]);
    nonce = saved;
    const { restored } = await restoredFromGoneRepository('peer-fill-2');
    // A node that is itself restored and back-filling holds only its head: it answers nothing below it.
    const { restored: empty } = await restoredFromGoneRepository('peer-empty');
    const liar = await node(other.chain);
    const holdsNothing = await node(empty.chain);
    const honest = await node(t.chain);
    const me = await node(restored.chain, { bootnodes: [liar.addr, holdsNothing.addr], blockSync: false });
    await until(() => me.net.peerCount() === 2, 'connected');
    const feed = new PeerHistoryFeed(me.net.host, me.net.peerManager, restored.chain, { asideMs: 60_000, peerWaitMs: 0 });
    const b = (await HistoryBackfill.start(restored.chain, { logger, stagingDir: dir, retryMs: 200, peers: feed }))!;
    // The liar is banned for its first block (its header, before its body is decoded); the empty one
    // passed over; nobody left: the status says so.
    await until(() => me.net.peerManager.banned(liar.net.host.peerId) !== undefined, 'liar banned');
    expect(me.net.peerManager.banned(liar.net.host.peerId)!.reason).toMatch(
      /^history: block 1 from the peer is 0x[0-9a-f]{64}, not the chain's 0x[0-9a-f]{64}$/,
    );
    await expect.poll(() => b.status().error, { timeout: 10_000 }).toMatch(/peers: no peer serves block 1 \(1 connected\)/);
    expect(me.net.peerManager.banned(holdsNothing.net.host.peerId)).toBeUndefined();
    expect(await restored.chain.store.historyGap()).toEqual({ from: 1n, to: BigInt(BLOCKS - 1) });
    // An honest peer with the history: the next round fills the gap from it.
    await me.net.add(honest.addr);
    await b.finished();
    expect(await storedBlocks(restored.chain, BigInt(BLOCKS))).toEqual(await storedBlocks(t.chain, BigInt(BLOCKS)));
  }, 30_000);

  it('a back-fill stops at once when the node stops, even with its feed waiting on something it cannot cancel', async () => {
    const { restored } = await restoredFromGoneRepository('stuck-feed');
    let asked = 0;
    const stuck: HistoryFeed = {
      name: 'a feed that never answers and ignores its signal',
      async *blocks() {
        asked++;
        await new Promise(() => undefined);
      },
    };
    const b = (await HistoryBackfill.start(restored.chain, { logger, stagingDir: dir, retryMs: 60_000, peers: stuck }))!;
    for (let i = 0; i < 100 && asked === 0; i++) await new Promise((r) => setTimeout(r, 50)); // the repository failed: the stuck feed is asked
    expect(asked).toBe(1);
    const began = Date.now();
    await b.stop();
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(await restored.chain.store.historyGap()).toEqual({ from: 1n, to: BigInt(BLOCKS - 1) });
  });

  it('a back-fill waiting for peers (none yet: a node that just started) stops at once when the node stops', async () => {
    const { restored } = await restoredFromGoneRepository('peer-wait');
    const me = await node(restored.chain, { blockSync: false });
    const b = (await HistoryBackfill.start(restored.chain, { logger, stagingDir: dir, retryMs: 60_000, peers: me.net.historyFeed() }))!;
    await new Promise((r) => setTimeout(r, 500)); // the repository failed; the feed waits for a peer (30 s)
    const began = Date.now();
    await b.stop();
    expect(Date.now() - began).toBeLessThan(5_000); // not the 30 s wait
    expect(await restored.chain.store.historyGap()).toEqual({ from: 1n, to: BigInt(BLOCKS - 1) });
  });
});

describe('server --history full: the history gap is filled before the node serves (BasaltNode.start)', () => {
  /** A data dir restored at block 14 with its history as headers only; its recorded source replaced if asked. */
  const restoredDir = async (name: string, source?: { repository: string; backup: string } | 'none') => {
    const dataDir = join(dir, name);
    await restoreRepositoryAt(repo, { block: BigInt(BLOCKS) }, { dataDir, genesis: t.genesis });
    if (source !== undefined) {
      const c = await openTestChain(t.genesis, dataDir);
      try {
        await c.chain.store.writeHistoryGap((await c.chain.store.historyGap())!, source === 'none' ? undefined : source);
      } finally {
        await c.close();
      }
    }
    return dataDir;
  };
  const startNode = (dataDir: string, extra: Partial<Parameters<typeof BasaltNode.start>[0]> = {}) =>
    BasaltNode.start({
      dataDir,
      genesis: t.genesis,
      seal: false,
      blockTimeMs: 1000,
      jsonrpc: { host: '127.0.0.1', port: 0 },
      history: 'full',
      logger,
      ...extra,
    });

  it('from the repository it was restored from: every block is whole, byte for byte, when the node starts serving', async () => {
    const node = await startNode(await restoredDir('full-from-repo'));
    try {
      expect(node.jsonRpcAddress).toBeDefined();
      expect(await node.chain.store.historyGap()).toBeUndefined();
      expect(await storedBlocks(node.chain, BigInt(BLOCKS))).toEqual(await storedBlocks(t.chain, BigInt(BLOCKS)));
    } finally {
      await node.stop();
    }
  });

  it('with no source (no repository recorded, no networking) it is refused in one line, and the gap is left as it was', async () => {
    const dataDir = await restoredDir('full-no-source', 'none');
    await expect(startNode(dataDir)).rejects.toThrow(
      /^--history full: blocks 1-13 are held as headers only, and there is no source to fill them from \(no backup repository recorded, no peers: --no-libp2p\)/,
    );
    const c = await openTestChain(t.genesis, dataDir);
    try {
      expect(await c.chain.store.historyGap()).toEqual({ from: 1n, to: BigInt(BLOCKS - 1) });
    } finally {
      await c.close();
    }
  });

  it('told to stop while it waits (its repository out of reach), the start ends at once, having served nothing', async () => {
    const dataDir = await restoredDir('full-stopped', { repository: join(dir, 'gone-repo'), backup: manifest });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 500);
    const began = Date.now();
    const node = await startNode(dataDir, { startSignal: stop.signal });
    try {
      expect(Date.now() - began).toBeLessThan(5_000);
      expect(node.jsonRpcAddress).toBeUndefined();
      expect(await node.chain.store.historyGap()).toEqual({ from: 1n, to: BigInt(BLOCKS - 1) });
    } finally {
      await node.stop();
    }
  });

  it('a data dir without keys, networking on: its validator key is on disk before peers see it proven, so a start stopped while it waits leaves it, and the next start is the same validator', async () => {
    const dataDir = await restoredDir('full-new-keys', { repository: join(dir, 'gone-repo'), backup: manifest });
    const keyFile = join(dataDir, 'consensus', 'validator.key');
    expect(existsSync(keyFile)).toBe(false); // a restore writes no keys
    const startStopped = async () => {
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 500);
      const node = await startNode(dataDir, {
        seal: true,
        startSignal: stop.signal,
        p2p: { listen: { host: '127.0.0.1', port: 0 }, bootnodes: [], maxPeers: 5, discovery: false },
      });
      try {
        expect(node.jsonRpcAddress).toBeUndefined(); // stopped while it waited for the history
        return node.validatorAddress;
      } finally {
        await node.stop();
      }
    };
    const first = await startStopped();
    expect(existsSync(keyFile)).toBe(true);
    expect(await startStopped()).toBe(first);
  });
});
