import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, createAddressFromString, hexToBytes } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToRepository } from '../../../src/backup/repository/backup.js';
import { parseObjectName, type Manifest } from '../../../src/backup/repository/format.js';
import { LocalIndex } from '../../../src/backup/repository/local-index.js';
import { readPack } from '../../../src/backup/repository/pack.js';
import { Repository } from '../../../src/backup/repository/repository.js';
import { restoreFromRepository, restoreRepositoryAt } from '../../../src/backup/repository/restore.js';
import { readSegment } from '../../../src/backup/repository/segment.js';
import { checkStateComplete } from '../../../src/backup/state-walk.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import { addressOf, createTestChain, openTestChain, sealNext, testGenesis, type TestChain } from '../../helpers/chain-fixture.js';

/** A state of some size: 400 funded accounts, then transfers to new ones block by block. */
const keyOf = (i: number) => {
  const k = new Uint8Array(32).fill(7);
  k[30] = i >> 8;
  k[31] = i & 0xff;
  return k;
};
const FUNDED = Array.from({ length: 400 }, (_, i) => keyOf(i));
const recipient = (n: bigint) => `0x${(0xbeef0000n + n).toString(16).padStart(40, '0')}` as const;
const SEGMENT = 4;

let t: TestChain;
let dir: string;
let repo: Repository;
let nonce = 0n;

const transfers = (n: number) =>
  Array.from({ length: n }, () =>
    createFeeMarket1559Tx(
      { nonce: nonce++, to: recipient(nonce), value: 1n, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: t.chain.commonAt(t.chain.head.number + 1n) },
    ).sign(FUNDED[0]!),
  );

const seal = async (blocks: number, txsEach = 1) => {
  for (let i = 0; i < blocks; i++) await sealNext(t, transfers(txsEach));
};

const backup = async (index: LocalIndex, opts: { signal?: AbortSignal } = {}) =>
  backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: SEGMENT, ...opts });

/** Every node and code of the manifest's state, read back from the packs it names, hashes checked. */
async function stateOf(m: Manifest): Promise<{ nodes: number; codes: number }> {
  const nodes = new Map<string, Uint8Array>();
  const codes = new Map<string, Uint8Array>();
  for (const p of m.packs) {
    for await (const rec of readPack(repo, parseObjectName(p)!.sha256)) {
      for (const it of rec.items) (rec.kind === 'nodes' ? nodes : codes).set(bytesToHex(it.hash), it.data);
    }
  }
  return checkStateComplete(
    { node: async (h) => nodes.get(bytesToHex(h)), code: async (h) => codes.get(bytesToHex(h)) },
    hexToBytes(m.head.stateRoot as `0x${string}`),
  );
}

async function blocksOf(m: Manifest): Promise<string[]> {
  const hashes: string[] = [];
  for (const s of m.segments) for await (const b of readSegment(repo, s, m)) hashes.push(bytesToHex(b.hash));
  return hashes;
}

const canonical = async (to: bigint) => {
  const out: string[] = [];
  for (let n = 1n; n <= to; n++) out.push(bytesToHex((await t.chain.canonicalHash(n))!));
  return out;
};

beforeAll(async () => {
  t = await createTestChain(1, FUNDED.map(addressOf));
  dir = mkdtempSync(join(tmpdir(), 'basalt-repo-'));
  repo = new Repository(new LocalDirTarget(join(dir, 'repo')), join(dir, 'staging'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('backup repository: a backup stores what changed since the last one', () => {
  let index: LocalIndex;
  let first: Awaited<ReturnType<typeof backup>>;
  let full: { nodes: number; codes: number };

  it('the first backup stores the whole state and history 1…head, and its manifest reads back complete', async () => {
    // and a contract: its code is stored once, beside the nodes
    const deploy = createFeeMarket1559Tx(
      {
        nonce: 0n,
        data: hexToBytes('0x600a600c600039600a6000f360016001016000550000'),
        gasLimit: 100_000n,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
      },
      { common: t.chain.commonAt(1n) },
    ).sign(FUNDED[1]!);
    await sealNext(t, [deploy, ...transfers(2)]);
    await seal(5, 2);
    index = await LocalIndex.open(join(dir, 'index'));
    first = await backup(index);
    const m = await repo.manifest(first.manifest);
    full = await stateOf(m);
    expect(full.nodes).toBeGreaterThan(400);
    expect(first.added.nodes).toBe(full.nodes);
    expect(full.codes).toBe(1);
    expect(first.added.codes).toBe(1);
    expect(first.added.blocks).toBe(6n);
    // blocks 1-4 as a complete segment, 5-6 as a piece of the next one
    expect(m.segments.map((s) => [parseObjectName(s)!.first, parseObjectName(s)!.last])).toEqual([
      [1n, 4n],
      [5n, 6n],
    ]);
    expect(await blocksOf(m)).toEqual(await canonical(6n));
  });

  it('a backup 3 blocks later stores those blocks and the nodes they changed, and its state is complete', async () => {
    await seal(3, 1);
    const objects = async () => {
      const l = await repo.list();
      return l.manifests.length + l.packs.size + l.indexes.size + l.segments.length + l.genesis.size;
    };
    const before = await objects();
    const second = await backup(index);
    // what it says it stored is what the repository gained, its manifest aside
    expect(second.added.objects).toBe((await objects()) - before - 1);
    expect(second.added.objects).toBeGreaterThanOrEqual(3); // two pieces and a pack at least
    const m = await repo.manifest(second.manifest);
    // only the 3 new blocks: 7-8 as a piece completing the segment 5-8 (the piece 5-6 is kept; a prune
    // merges the two), 9 as a piece of the next
    expect(second.added.blocks).toBe(3n);
    expect(second.added.nodes).toBeGreaterThan(0);
    expect(second.added.nodes).toBeLessThan(full.nodes / 5);
    expect(second.added.bytes).toBeLessThan(first.added.bytes / 5);
    expect(m.segments.map((s) => [parseObjectName(s)!.first, parseObjectName(s)!.last])).toEqual([
      [1n, 4n],
      [5n, 6n],
      [7n, 8n],
      [9n, 9n],
    ]);
    expect(m.segments.slice(0, 2)).toEqual((await repo.manifest(first.manifest)).segments); // the complete segment and the piece are shared
    expect(await blocksOf(m)).toEqual(await canonical(9n));
    const s = await stateOf(m);
    expect(s.nodes).toBeGreaterThan(400);
  });

  it('a backup with nothing new stores only its manifest', async () => {
    const again = await backup(index);
    expect(again.added).toMatchObject({ objects: 0, bytes: 0, blocks: 0n, nodes: 0, codes: 0 });
    expect(await stateOf(await repo.manifest(again.manifest))).toBeDefined();
  });

  it('a manifest is read back before it is stored: one a reader would refuse (a gap in its history) is not written', async () => {
    const { manifests } = await repo.list();
    const m = await repo.manifest(manifests.at(-1)!.name);
    expect(m.segments.length).toBeGreaterThan(2);
    const gap = { ...m, segments: [m.segments[0]!, ...m.segments.slice(2)] };
    await expect(repo.writeManifest(gap)).rejects.toThrow(/^backup manifest: segment \S+ starts at block \d+, not \d+$/);
    expect((await repo.list()).manifests).toEqual(manifests);
  });

  it('an interrupted backup leaves no manifest and nothing the next backup relies on; the next one is complete', async () => {
    await seal(2, 3);
    const before = (await repo.list()).manifests.length;
    const abort = new AbortController();
    const interrupted = backupToRepository(t.chain, repo, index, {
      compression: 'zstd',
      segmentBlocks: SEGMENT,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.phase === 'state') abort.abort();
      },
    });
    await expect(interrupted).rejects.toThrow();
    expect((await repo.list()).manifests.length).toBe(before);
    expect(readdirSync(join(dir, 'repo')).filter((f) => f.startsWith('.'))).toEqual([]); // no staged file left in the folder
    // the pieces it wrote, which no manifest names, damaged since: the next backup writes them again, not trusting them unread
    const listing = await repo.list();
    const named = new Set((await Promise.all(listing.manifests.map((e) => repo.manifest(e.name)))).flatMap((m) => m.segments));
    const leftovers = listing.segments.map((s) => s.name).filter((n) => !named.has(n));
    expect(leftovers.length).toBeGreaterThan(0);
    for (const n of leftovers) writeFileSync(join(dir, 'repo', n), 'not a segment');
    // the interrupted backup's stored nodes were never committed to the index: the next backup stores them again
    await index.close();
    index = await LocalIndex.open(join(dir, 'index'));
    const next = await backup(index);
    expect(await blocksOf(await repo.manifest(next.manifest))).toEqual(await canonical(t.chain.head.number));
    expect(next.added.nodes).toBeGreaterThan(0);
    expect((await stateOf(await repo.manifest(next.manifest))).nodes).toBeGreaterThan(400);
  });

  it('a machine without the local index rebuilds it from the repository and still stores only what changed', async () => {
    await index.close();
    await seal(1, 1);
    const fresh = await LocalIndex.open(join(dir, 'index-fresh'));
    try {
      const r = await backup(fresh);
      expect(r.added.nodes).toBeGreaterThan(0);
      expect(r.added.nodes).toBeLessThan(full.nodes / 5);
      expect((await stateOf(await repo.manifest(r.manifest))).nodes).toBeGreaterThan(400);
    } finally {
      await fresh.close();
    }
  });
});

describe('backup repository: restore', () => {
  it('a backup that shares most of its objects with earlier ones restores to the same head and state, with only that state in trie/', async () => {
    const latest = (await repo.list()).manifests.at(-1)!;
    const m = await repo.manifest(latest.name);
    const dataDir = join(dir, 'restored');
    const r = await restoreFromRepository(repo, latest.name, { dataDir, genesis: t.genesis });
    expect(r.head).toBe(BigInt(m.head.number));
    expect(r.headHash).toBe(m.head.hash);
    expect(r.codes).toBe(1);
    const restored = await openTestChain(t.genesis, dataDir);
    try {
      expect(bytesToHex(restored.chain.head.hash)).toBe(m.head.hash);
      const [a, b] = [await t.chain.stateAt(t.chain.head.header), await restored.chain.stateAt(restored.chain.head.header)];
      for (const who of [addressOf(FUNDED[0]!), addressOf(FUNDED[399]!), recipient(3n)]) {
        expect((await b.getAccount(createAddressFromString(who)))?.balance).toBe((await a.getAccount(createAddressFromString(who)))?.balance);
      }
      // only the head's state: its node count, not the packs' (which hold earlier states' nodes too)
      expect(r.nodes).toBe((await stateOf(m)).nodes);
    } finally {
      await restored.close();
    }
    expect(readdirSync(dir).filter((f) => f.includes('scratch') || f.includes('restoring'))).toEqual([]);
  });

  it('the genesis comes from the repository when the operator gives none (checked against the manifest)', async () => {
    const latest = (await repo.list()).manifests.at(-1)!;
    const dataDir = join(dir, 'restored-own-genesis');
    const r = await restoreFromRepository(repo, latest.name, { dataDir });
    expect(r.genesisHash).toBe(bytesToHex(t.chain.genesisHash));
    expect(existsSync(join(dataDir, 'genesis.json'))).toBe(true);
  });

  it("to a point in time: the newest backup at or before the block, then the blocks after it executed from a later backup's segments", async () => {
    const heads = (await repo.list()).manifests.map((m) => m.last!);
    const point = heads[0]! + 2n; // between the first backup and the next
    expect(heads.includes(point)).toBe(false);
    const dataDir = join(dir, 'restored-pitr');
    const steps: string[] = [];
    const r = await restoreRepositoryAt(repo, { block: point }, { dataDir, genesis: t.genesis, onStep: (s) => steps.push(s) });
    expect(r.head).toBe(point);
    expect(r.blocksImported).toBe(2n);
    expect(r.headHash).toBe((await canonical(point)).at(-1));
    expect(steps).toHaveLength(2);
    const restored = await openTestChain(t.genesis, dataDir);
    try {
      expect(bytesToHex(restored.chain.head.header.stateRoot)).toBe(bytesToHex((await t.chain.blockByNumber(point))!.header.stateRoot));
    } finally {
      await restored.close();
    }
    // by time: the last block at or before the time (sealNext: one second a block)
    const time = (await t.chain.blockByNumber(point))!.header.timestamp;
    const byTime = await restoreRepositoryAt(repo, { time }, { dataDir: join(dir, 'restored-time'), genesis: t.genesis });
    expect(byTime.head).toBe(point);
    expect(byTime.headHash).toBe(r.headHash);
    // no point: the newest backup
    const newest = await restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'restored-newest'), genesis: t.genesis });
    expect(newest.head).toBe(heads.at(-1));
    expect(newest.blocksImported).toBe(0n);
    // a block after the newest backup is refused with one line

    await expect(restoreRepositoryAt(repo, { block: heads.at(-1)! + 5n }, { dataDir: join(dir, 'r-late'), genesis: t.genesis })).rejects.toThrow(
      /before block/,
    );
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('a damaged pack fails the restore with one error naming it, and leaves no data dir', async () => {
    const latest = (await repo.list()).manifests.at(-1)!;
    const m = await repo.manifest(latest.name);
    const pack = join(dir, 'repo', m.packs[0]!);
    const original = readFileSync(pack);
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    writeFileSync(pack, damaged);
    try {
      const dataDir = join(dir, 'restored-damaged');
      await expect(restoreFromRepository(repo, latest.name, { dataDir, genesis: t.genesis })).rejects.toThrow(/checksum mismatch|damaged|corrupt/);
      expect(existsSync(dataDir)).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes('scratch') || f.includes('restoring'))).toEqual([]);
    } finally {
      writeFileSync(pack, original);
    }
  });
});

describe('backup repository: a state whose contracts share storage (the walk in tree order remembers no node)', () => {
  it('stores a shared subtree once in one pack, again in a later pack (as a snapshot carries it), and restores and verifies either', async () => {
    // Three contracts with the same code and 30 slots, two of them the same 30: one storage trie under two accounts.
    const { genesis, keys } = testGenesis(1);
    const slots = (k: number) => {
      const st: Record<string, string> = {};
      for (let i = 1; i <= 30; i++) st[`0x${(i * k).toString(16).padStart(64, '0')}`] = `0x${(i + 5).toString(16).padStart(64, '0')}`;
      return st;
    };
    for (const [i, k] of [
      [0, 1],
      [1, 1],
      [2, 7],
    ] as const)
      genesis.genesis.alloc[`0x${(0xe000 + i).toString(16).padStart(40, '0')}`] = { balance: '0x1', code: '0x6001600055', storage: slots(k) };
    const shared = await openTestChain(genesis);
    const d = mkdtempSync(join(tmpdir(), 'basalt-repo-shared-'));
    try {
      await sealNext({ chain: shared.chain, keys });
      const want = await checkStateComplete(shared.chain.trie, shared.chain.head.header.stateRoot);
      /** The repository verifies clean, and `manifest` restores into `dataDir` with the whole state. */
      const verifiedAndRestored = async (repo: Repository, manifest: string, dataDir: string) => {
        const { verifyRepository } = await import('../../../src/backup/repository/verify.js');
        expect((await verifyRepository(repo, { scratchDir: d })).problems).toEqual([]);
        await restoreFromRepository(repo, manifest, { dataDir, genesis });
        const restored = await openTestChain(genesis, dataDir);
        try {
          expect(await checkStateComplete(restored.chain.trie, restored.chain.head.header.stateRoot)).toEqual(want);
        } finally {
          await restored.close();
        }
      };
      const { stateItems } = await import('../../../src/backup/state-walk.js');
      let treeNodes = 0;
      for await (const it of stateItems(shared.chain.trie, shared.chain.head.header.stateRoot, undefined, 'tree')) if (it.kind === 'node') treeNodes++;
      expect(treeNodes).toBeGreaterThan(want.nodes);
      // Packs of ~1 KB: the shared storage trie's second visit may fall in a later pack; at most the tree's count is stored.
      const small = new Repository(new LocalDirTarget(join(d, 'small')), join(d, 'staging-small'));
      const smallIndex = await LocalIndex.open(join(d, 'index-small'));
      try {
        const b = await backupToRepository(shared.chain, small, smallIndex, { compression: 'zstd', segmentBlocks: SEGMENT, packTargetBytes: 1024 });
        expect((await small.manifest(b.manifest)).packs.length).toBeGreaterThan(5);
        expect(b.added.nodes).toBeGreaterThanOrEqual(want.nodes);
        expect(b.added.nodes).toBeLessThanOrEqual(treeNodes);
        await verifiedAndRestored(small, b.manifest, join(d, 'restored-small'));
      } finally {
        await smallIndex.close();
      }
      const r = new Repository(new LocalDirTarget(join(d, 'repo')), join(d, 'staging'));
      const index = await LocalIndex.open(join(d, 'index'));
      try {
        const b = await backupToRepository(shared.chain, r, index, { compression: 'zstd', segmentBlocks: SEGMENT });
        // One pack: each node and code once, though the walk in tree order meets the shared storage trie twice.
        expect(b.added.nodes).toBe(want.nodes);
        expect(b.added.codes).toBe(1);
        await verifiedAndRestored(r, b.manifest, join(d, 'restored'));
      } finally {
        await index.close();
      }
    } finally {
      await shared.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('backup repository: what is not this chain, or cannot be read', () => {
  it('a restore takes the backups of its own genesis where another genesis of the same chain ID also backed up; a damaged manifest is passed over by backups and restores alike', async () => {
    const d = mkdtempSync(join(tmpdir(), 'basalt-repo-two-'));
    // another network of the same chain ID (a relaunch: another premine), backed up last into one repository
    const other = await createTestChain(1, [addressOf(keyOf(399))]);
    const r = new Repository(new LocalDirTarget(join(d, 'repo')), join(d, 'staging'));
    const indexA = await LocalIndex.open(join(d, 'index-a'));
    const indexB = await LocalIndex.open(join(d, 'index-b'));
    try {
      expect(other.chain.chainId).toBe(t.chain.chainId);
      expect(bytesToHex(other.chain.genesisHash)).not.toBe(bytesToHex(t.chain.genesisHash));
      const a = await backupToRepository(t.chain, r, indexA, { compression: 'zstd', segmentBlocks: SEGMENT });
      await sealNext(other);
      await sealNext(other);
      const b = await backupToRepository(other.chain, r, indexB, { compression: 'zstd', segmentBlocks: SEGMENT });
      expect(b.head).toBe(2n);
      const restoredA = await restoreRepositoryAt(r, {}, { dataDir: join(d, 'restored-a'), genesis: t.genesis });
      expect([restoredA.head, restoredA.headHash]).toEqual([a.head, a.headHash]);
      const restoredB = await restoreRepositoryAt(r, {}, { dataDir: join(d, 'restored-b'), genesis: other.genesis });
      expect([restoredB.head, restoredB.headHash]).toEqual([b.head, b.headHash]);

      // a manifest whose bytes are not its name's: the next backup and a restore pass it over, each saying so
      const damaged = `manifest-00000000000000000001-${'0'.repeat(64)}`;
      writeFileSync(join(d, 'repo', damaged), 'x');
      await sealNext(t, transfers(1));
      const next = await backupToRepository(t.chain, r, indexA, { compression: 'zstd', segmentBlocks: SEGMENT });
      expect(next.damaged).toHaveLength(1);
      expect(next.damaged[0]).toContain(damaged);
      expect(next.added.blocks).toBe(1n); // still the base's history reused: only the damaged one passed over
      const steps: string[] = [];
      const again = await restoreRepositoryAt(r, {}, { dataDir: join(d, 'restored-a2'), genesis: t.genesis, onStep: (s) => steps.push(s) });
      expect(again.head).toBe(next.head);
      expect(steps.some((s) => s.startsWith(`note: passed over ${damaged}`))).toBe(true);
    } finally {
      await indexA.close();
      await indexB.close();
      await other.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
