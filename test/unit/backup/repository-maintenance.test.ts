import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { pino } from 'pino';
import { bytesToHex, hexToBytes, KECCAK256_RLP } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backupToRepository } from '../../../src/backup/repository/backup.js';
import { manifestName, parseObjectName, type Manifest } from '../../../src/backup/repository/format.js';
import { LocalIndex } from '../../../src/backup/repository/local-index.js';
import { openBytesDB } from '../../../src/storage/open-db.js';
import { RepositoryLock } from '../../../src/backup/repository/lock.js';
import { encodeIndex, HashList, readPack } from '../../../src/backup/repository/pack.js';
import { pruneRepository } from '../../../src/backup/repository/prune.js';
import { restoreRepositoryAt } from '../../../src/backup/repository/restore.js';
import { RepositoryScheduler } from '../../../src/backup/repository/scheduler.js';
import { verifyRepository } from '../../../src/backup/repository/verify.js';
import { Repository } from '../../../src/backup/repository/repository.js';
import { readSegment } from '../../../src/backup/repository/segment.js';
import { checkStateComplete } from '../../../src/backup/state-walk.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import type { BackupTarget } from '../../../src/backup/targets/target.js';
import { addressOf, createTestChain, openTestChain, sealNext, testGenesis, type TestChain } from '../../helpers/chain-fixture.js';

const keyOf = (i: number) => {
  const k = new Uint8Array(32).fill(9);
  k[31] = i + 1;
  return k;
};
const FUNDED = Array.from({ length: 200 }, (_, i) => keyOf(i));
let t: TestChain;
let dir: string;
let nonce = 0n;

const transfers = (n: number) =>
  Array.from({ length: n }, () =>
    createFeeMarket1559Tx(
      {
        nonce: nonce++,
        to: `0x${(0xabc0000n + nonce).toString(16).padStart(40, '0')}`,
        value: 1n,
        gasLimit: 21000n,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
      },
      { common: t.chain.commonAt(t.chain.head.number + 1n) },
    ).sign(FUNDED[0]!),
  );

/** A repository of 4 backups, 2 blocks of 5 transfers apart, at `path`. */
async function makeRepository(path: string): Promise<Repository> {
  const repo = new Repository(new LocalDirTarget(path), join(dir, 'staging'));
  const index = await LocalIndex.open(join(dir, `index-${Math.random()}`));
  try {
    for (let i = 0; i < 4; i++) {
      for (let b = 0; b < 2; b++) await sealNext(t, transfers(5));
      await backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: 4 });
    }
  } finally {
    await index.close();
  }
  return repo;
}

/** The INDEX object earlier versions stored beside pack `sha` (naming pack `as`), made from the pack's items. */
async function oldIndex(repo: Repository, sha: string, as = sha): Promise<Uint8Array> {
  const hashes = { nodes: new HashList(), code: new HashList() };
  for await (const rec of readPack(repo, sha)) for (const it of rec.items) hashes[rec.kind].push(it.hash);
  return encodeIndex(as, hashes);
}

/** Every manifest present restores its whole state from the packs it names (hashes checked), and its segments are this chain's blocks 1…head. */
async function everyBackupComplete(repo: Repository): Promise<number> {
  const { manifests } = await repo.list();
  for (const e of manifests) {
    const m: Manifest = await repo.manifest(e.name);
    let next = 1n;
    for (const s of m.segments)
      for await (const b of readSegment(repo, s, m)) {
        expect(b.number).toBe(next);
        expect(bytesToHex(b.hash)).toBe(bytesToHex((await t.chain.canonicalHash(next++))!));
      }
    expect(next - 1n).toBe(BigInt(m.head.number));
    const nodes = new Map<string, Uint8Array>();
    for (const p of m.packs)
      for await (const rec of readPack(repo, parseObjectName(p)!.sha256)) for (const it of rec.items) nodes.set(bytesToHex(it.hash), it.data);
    await checkStateComplete({ node: async (h) => nodes.get(bytesToHex(h)), code: async () => undefined }, hexToBytes(m.head.stateRoot as `0x${string}`));
  }
  return manifests.length;
}

const repoBytes = async (repo: Repository) => (await repo.target.list()).reduce((n, e) => (e.name.startsWith('lock-') ? n : n + e.bytes), 0);

beforeAll(async () => {
  t = await createTestChain(1, FUNDED.map(addressOf));
  dir = mkdtempSync(join(tmpdir(), 'basalt-prune-'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('backup repository: prune', () => {
  it('after older backups are removed, prune deletes and rewrites what no remaining backup needs; each remaining backup is complete', async () => {
    const repo = await makeRepository(join(dir, 'repo'));
    const { manifests } = await repo.list();
    expect(manifests).toHaveLength(4);
    // A pack is stored alone: its items' hashes are computed from it wherever they are needed.
    expect(readdirSync(join(dir, 'repo')).filter((f) => f.startsWith('index-'))).toEqual([]);
    // retention removed the two oldest backups
    for (const m of manifests.slice(0, 2)) await repo.target.delete(m.name);
    const before = await repoBytes(repo);
    // each pack is read from the repository once (its live items are counted and moved from the scratch database)
    const reads = new Map<string, number>();
    const t0 = repo.target;
    const countingTarget: BackupTarget = {
      url: t0.url,
      stagingDir: t0.stagingDir,
      put: (n, st, sig) => t0.put(n, st, sig),
      list: () => t0.list(),
      get: (name) => {
        reads.set(name, (reads.get(name) ?? 0) + 1);
        return t0.get(name);
      },
      delete: (n) => t0.delete(n),
      close: () => t0.close(),
    };
    const s = await pruneRepository(new Repository(countingTarget, join(dir, 'staging')), { scratchDir: dir, segmentBlocks: 4 });
    expect(s.manifests).toBe(2);
    expect(s.packs.repacked).toBeGreaterThan(0);
    const packReads = [...reads].filter(([n]) => n.startsWith('pack-'));
    expect(packReads.length).toBeGreaterThan(1);
    expect(packReads.filter(([, times]) => times > 1)).toEqual([]);
    expect(s.bytesAfter).toBeLessThan(before);
    expect(s.bytesBefore).toBe(before);
    expect(await everyBackupComplete(repo)).toBe(2);
    // segments the remaining backups do not name are gone; a second prune has nothing left to do
    const again = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4 });
    expect(again.packs).toMatchObject({ repacked: 0, deleted: 0, written: 0 });
    expect(again.bytesAfter).toBe(again.bytesBefore);
    expect(readdirSync(dir).filter((f) => f.startsWith('.prune'))).toEqual([]);
  });

  it('merges the pieces of each complete segment into one segment that every backup then names; a backup after it stores only new blocks', async () => {
    const repo = await makeRepository(join(dir, 'repo-merge'));
    const ranges = async () => (await repo.list()).segments.map((x) => [x.first!, x.last!] as const);
    // four backups 2 blocks apart: no block stored twice, the segments they completed in pieces
    const before = await ranges();
    for (let i = 1; i < before.length; i++) expect(before[i]![0], 'no block stored twice').toBeGreaterThan(before[i - 1]![1]);
    expect(
      before.some(([a, b]) => b - a + 1n < 4n && b % 4n === 0n),
      'a piece that completes a segment',
    ).toBe(true);
    const s = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4 });
    expect(s.merged).toBeGreaterThan(0);
    expect(await everyBackupComplete(repo)).toBe(4);
    for (const e of (await repo.list()).manifests) {
      const m = await repo.manifest(e.name);
      const complete = (BigInt(m.head.number) / 4n) * 4n;
      for (const name of m.segments) {
        const o = parseObjectName(name)!;
        if (o.last! <= complete) expect([(o.first! - 1n) % 4n, o.last! - o.first!], `${e.name}: ${name} is a whole segment`).toEqual([0n, 3n]);
      }
    }
    // the pieces that completed a segment are gone (no backup names them now); pieces of a segment a
    // backup had not completed stay while that backup does
    const after = await ranges();
    for (const [a, b] of after) if (b % 4n === 0n) expect([(a - 1n) % 4n, b - a]).toEqual([0n, 3n]);
    expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
    const again = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4 });
    expect(again.merged).toBe(0);
    expect(again.bytesAfter).toBe(again.bytesBefore);
    // the next backup names the merged segments and stores only the blocks since
    const last = (await repo.list()).manifests.at(-1)!;
    const lastHead = BigInt((await repo.manifest(last.name)).head.number);
    await sealNext(t, transfers(1));
    await sealNext(t, transfers(1));
    const index = await LocalIndex.open(join(dir, `index-${Math.random()}`));
    try {
      const next = await backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: 4 });
      expect(next.added.blocks).toBe(next.head - lastHead);
      const m = await repo.manifest(next.manifest);
      const merged = (await repo.manifest(last.name)).segments.filter((n) => parseObjectName(n)!.last! % 4n === 0n);
      expect(m.segments.slice(0, merged.length)).toEqual(merged);
    } finally {
      await index.close();
    }
    expect(await everyBackupComplete(repo)).toBe(5);
  });

  it('with historyOnly, merges the pieces without reading a pack; a damaged piece leaves its group as it is, and the prune goes on', async () => {
    const path = join(dir, 'repo-merge-only');
    const base = await makeRepository(path);
    const { manifests } = await base.list();
    const packsBefore = await Promise.all(manifests.map(async (e) => (await base.manifest(e.name)).packs));
    // a piece of a complete segment, damaged (one byte in its middle)
    const newest = await base.manifest(manifests.at(-1)!.name);
    const pieces = newest.segments.filter((n) => {
      const o = parseObjectName(n)!;
      return o.last! % 4n === 0n && o.last! - o.first! < 3n;
    });
    expect(pieces.length).toBeGreaterThan(0);
    const damaged = pieces[0]!;
    const bytes = readFileSync(join(path, damaged));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(join(path, damaged), bytes);
    const reads: string[] = [];
    const t0 = new LocalDirTarget(path);
    const counting: BackupTarget = {
      ...t0,
      url: t0.url,
      stagingDir: t0.stagingDir,
      put: (n, st, sig) => t0.put(n, st, sig),
      list: () => t0.list(),
      delete: (n) => t0.delete(n),
      close: () => t0.close(),
      get: (n) => (reads.push(n), t0.get(n)),
    };
    const scratchDir = join(dir, 'history-only-scratch');
    const s = await pruneRepository(new Repository(counting, join(dir, 'staging')), { scratchDir, segmentBlocks: 4, historyOnly: true });
    expect(reads.filter((n) => n.startsWith('pack-'))).toEqual([]);
    expect(existsSync(scratchDir)).toBe(false); // no scratch database for packs it does not read
    expect(s.packs).toMatchObject({ repacked: 0, written: 0, deleted: 0 });
    const o = parseObjectName(damaged)!;
    const first = ((o.first! - 1n) / 4n) * 4n + 1n;
    expect(s.notMerged).toHaveLength(1);
    expect(s.notMerged[0]).toMatch(new RegExp(`^blocks ${first}…${o.last} left in \\d+ pieces: .*${damaged}`));
    const repo = new Repository(new LocalDirTarget(path), join(dir, 'staging'));
    const after = (await repo.list()).manifests;
    expect(after).toHaveLength(manifests.length);
    for (const [i, e] of after.entries()) {
      const m = await repo.manifest(e.name);
      expect(m.packs).toEqual(packsBefore[i]); // each backup names the packs it named
      if (BigInt(m.head.number) >= o.last!) expect(m.segments).toContain(damaged); // still named, not merged
      // the pieces of every other complete segment are merged
      for (const n of m.segments) {
        const x = parseObjectName(n)!;
        if (x.last! % 4n === 0n && x.last! !== o.last) expect([(x.first! - 1n) % 4n, x.last! - x.first!], n).toEqual([0n, 3n]);
      }
    }
    expect(readdirSync(path)).toContain(damaged);
    const v = await verifyRepository(repo, { scratchDir: dir });
    expect(v.problems.some((p) => p.includes(damaged))).toBe(true);
  });

  it('a merged segment a killed prune left (no manifest names it) is written again, not trusted unread', async () => {
    const path = join(dir, 'repo-leftover');
    const repo = await makeRepository(path);
    // the segments a prune would merge, learned on a copy
    const probe = join(dir, 'repo-leftover-probe');
    cpSync(path, probe, { recursive: true });
    const probeRepo = new Repository(new LocalDirTarget(probe), join(dir, 'staging'));
    await pruneRepository(probeRepo, { scratchDir: dir, segmentBlocks: 4, historyOnly: true });
    const before = new Set(readdirSync(path));
    const merged = readdirSync(probe).filter((n) => n.startsWith('segment-') && !before.has(n));
    expect(merged.length).toBeGreaterThan(0);
    // as a killed run might have left one, but damaged since
    writeFileSync(join(path, merged[0]!), 'not a segment');
    const s = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4, historyOnly: true });
    expect(s.notMerged).toEqual([]);
    expect(readFileSync(join(path, merged[0]!))).toEqual(readFileSync(join(probe, merged[0]!)));
    expect(await everyBackupComplete(repo)).toBe(4);
    expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
  });

  it('a merged segment a manifest names but the repository lost is written again before any manifest is made to name it', async () => {
    const path = join(dir, 'repo-lost-merged');
    const repo = await makeRepository(path);
    const probe = join(dir, 'repo-lost-merged-probe');
    cpSync(path, probe, { recursive: true });
    await pruneRepository(new Repository(new LocalDirTarget(probe), join(dir, 'staging')), { scratchDir: dir, segmentBlocks: 4, historyOnly: true });
    const before = new Set(readdirSync(path));
    const merged = readdirSync(probe).filter((n) => n.startsWith('segment-') && !before.has(n));
    // a manifest the probe's prune wrote, naming merged segments: copied back without them (as a
    // lifecycle rule or a hand might have deleted them), beside the manifests that name the pieces
    const rewritten = readdirSync(probe).filter((n) => n.startsWith('manifest-') && !before.has(n));
    const naming = rewritten.find((n) => merged.some((sg) => readFileSync(join(probe, n), 'utf8').includes(sg)))!;
    expect(naming).toBeDefined();
    cpSync(join(probe, naming), join(path, naming));
    const s = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4, historyOnly: true });
    expect(s.notMerged).toEqual([]);
    for (const sg of merged) expect(readFileSync(join(path, sg))).toEqual(readFileSync(join(probe, sg)));
    expect(await everyBackupComplete(repo)).toBeGreaterThan(0);
    expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
  });

  it('killed at any of its writes or deletions, prune leaves a repository whose every backup restores, and the next prune finishes', async () => {
    const source = join(dir, 'repo-kill');
    const base = await makeRepository(source);
    for (const m of (await base.list()).manifests.slice(0, 2)) await base.target.delete(m.name);
    // how many writes and deletions a whole prune makes
    const probe = join(dir, 'probe');
    cpSync(source, probe, { recursive: true });
    const counting = failingTarget(new LocalDirTarget(probe), Number.POSITIVE_INFINITY);
    await pruneRepository(new Repository(counting, join(dir, 'staging')), { scratchDir: dir, segmentBlocks: 4 });
    const steps = counting.calls();
    expect(steps).toBeGreaterThan(4);
    for (let k = 1; k <= steps; k++) {
      const path = join(dir, `kill-${k}`);
      cpSync(source, path, { recursive: true });
      const repo = new Repository(failingTarget(new LocalDirTarget(path), k), join(dir, 'staging'));
      const outcome = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4 }).then(
        () => 'finished', // killed at the release of its lock: its work was done
        (err: Error) => err.message,
      );
      expect(outcome, `killed at call ${k}`).toMatch(/killed|finished/);
      const plain = new Repository(new LocalDirTarget(path), join(dir, 'staging'));
      expect(await everyBackupComplete(plain), `after a kill at call ${k}`).toBeGreaterThanOrEqual(2);
      await pruneRepository(plain, { scratchDir: dir, segmentBlocks: 4, now: () => Date.now() + 31 * 60_000 }); // the killed run's lock is stale by then
      expect(await everyBackupComplete(plain)).toBe(2);
    }
  });

  it('a prune and a backup never run together: each refuses while the other holds its lock, and a stale lock is ignored', async () => {
    const repo = await makeRepository(join(dir, 'repo-lock'));
    const backupLock = await RepositoryLock.take(repo, false);
    await expect(pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4 })).rejects.toThrow(/is being backed up by process/);
    await backupLock.release();
    const pruneLock = await RepositoryLock.take(repo, true);
    const index = await LocalIndex.open(join(dir, 'index-lock'));
    try {
      await expect(backupToRepository(t.chain, repo, index, { compression: 'zstd' })).rejects.toThrow(/is being pruned by process/);
      // 31 minutes later the prune's lock is stale (its process died): a backup goes ahead
      await expect(RepositoryLock.take(repo, false, () => Date.now() + 31 * 60_000)).resolves.toBeDefined();
      // a fresh lock of a process of this host that is gone (killed with -9) is stale at once; one of another host is not
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      const lockOf = (host: string) =>
        repo.putBytes(
          () => `lock-${randomBytes(32).toString('hex')}`,
          new TextEncoder().encode(JSON.stringify({ exclusive: true, at: Date.now(), host, pid: dead })),
        );
      await pruneLock.release();
      await lockOf(hostname());
      const taken = await RepositoryLock.take(repo, true);
      await taken.release();
      await lockOf('another-host');
      await expect(RepositoryLock.take(repo, false)).rejects.toThrow(/is being pruned by process \d+ on another-host/);
    } finally {
      await index.close();
      await pruneLock.release().catch(() => undefined);
    }
  });
});

describe('backup repository: a prune stopped between writing the manifests again and deleting the old ones', () => {
  // Every backup is then under two manifests (same head, same createdAt, other segments), each restoring.
  const killed = () => join(dir, 'repo-twice');
  let heads: bigint[];
  beforeAll(async () => {
    const repo = await makeRepository(killed());
    const inner = new LocalDirTarget(killed());
    const stopping: BackupTarget = {
      url: inner.url,
      stagingDir: inner.stagingDir,
      put: (n, st, sig) => inner.put(n, st, sig),
      list: () => inner.list(),
      get: (n) => inner.get(n),
      async delete(n) {
        if (n.startsWith('manifest-')) throw new Error('killed at its first manifest deletion');
        return inner.delete(n);
      },
      close: () => inner.close(),
    };
    await expect(pruneRepository(new Repository(stopping, join(dir, 'staging')), { scratchDir: dir, segmentBlocks: 4 })).rejects.toThrow(/killed/);
    const { manifests } = await repo.list();
    heads = [...new Set(manifests.map((m) => m.last!))];
    expect(heads).toHaveLength(4);
    expect(manifests).toHaveLength(8);
  });
  const copyOfKilled = (name: string) => {
    const path = join(dir, name);
    cpSync(killed(), path, { recursive: true });
    return new Repository(new LocalDirTarget(path), join(dir, 'staging'));
  };
  const distinctHeads = async (repo: Repository) => [...new Set((await repo.list()).manifests.map((m) => m.last!))];

  it('retention (before any prune) counts each backup once: keep-last 3 keeps 3 backups, both manifests of each, and removes both of the others', async () => {
    const repo = copyOfKilled('twice-retention');
    await sealNext(t, transfers(5));
    const removed: string[] = [];
    const s = new RepositoryScheduler({
      chain: t.chain,
      target: repo.target,
      stagingDir: join(dir, 'staging-twice'),
      indexDir: join(dir, 'index-twice'),
      intervalMs: 3_600_000,
      retention: { keepLast: 3 },
      pruneIntervalMs: 0,
      logger: pino({ level: 'info' }, { write: (l: string) => void (JSON.parse(l).msg === 'backup removed by retention' && removed.push(JSON.parse(l).file)) }),
      segmentBlocks: 4,
    });
    try {
      await s.backupNow();
    } finally {
      await s.stop();
    }
    expect(await distinctHeads(repo)).toEqual([heads[2], heads[3], t.chain.head.number]);
    expect((await repo.list()).manifests).toHaveLength(5); // the kept backups' second manifests are the next prune's to delete
    expect(removed).toHaveLength(4);
    expect(await everyBackupComplete(repo)).toBe(5);
  });

  it('the next prune (history only, or whole) keeps one manifest of each backup; the summary counts backups', async () => {
    for (const historyOnly of [true, false]) {
      const repo = copyOfKilled(`twice-prune-${historyOnly}`);
      const s = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4, historyOnly });
      expect(s.manifests, `historyOnly ${historyOnly}`).toBe(4);
      expect((await repo.list()).manifests, `historyOnly ${historyOnly}`).toHaveLength(4);
      expect(await distinctHeads(repo)).toEqual(heads);
      expect(await everyBackupComplete(repo)).toBe(4);
      expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
    }
  });

  it('verify checks both manifests and counts the backup once; a restore takes the manifest whose objects are all there', async () => {
    const repo = copyOfKilled('twice-restore');
    const report = await verifyRepository(repo, { scratchDir: dir });
    expect(report.problems).toEqual([]);
    expect(report.backups.filter((b) => b.ok)).toHaveLength(8);
    expect(report.backups.filter((b) => b.copyOf === undefined).map((b) => BigInt(b.head))).toEqual(heads);
    // The newest backup: lose an object of the manifest that sorts last by name and that the other does not name.
    const pair = (await repo.list()).manifests.filter((m) => m.last === heads[3]);
    expect(pair).toHaveLength(2);
    const [kept, damaged] = await Promise.all(pair.map((m) => repo.manifest(m.name)));
    const only = [...damaged!.packs, ...damaged!.segments].filter((o) => !kept!.packs.includes(o) && !kept!.segments.includes(o));
    expect(only.length).toBeGreaterThan(0);
    rmSync(join(dir, 'twice-restore', only[0]!));
    const r = await restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'twice-restored'), genesis: t.genesis, history: 'full' });
    expect([r.head, r.manifest]).toEqual([heads[3], pair[0]!.name]);
  });
});

describe('backup repository: a lock that cannot be read', () => {
  it('holds the repository while it is fresh; once it stayed unreadable past the stale time it holds nothing, and a prune deletes it', async () => {
    const repo = await makeRepository(join(dir, 'repo-bad-lock'));
    const bad = `lock-${'ab'.repeat(32)}`;
    writeFileSync(join(dir, 'repo-bad-lock', bad), 'not a lock'); // damaged (or half-written by a dead process)
    await expect(RepositoryLock.take(repo, true)).rejects.toThrow(/has a lock that cannot be read/);
    // 31 minutes on (never refreshed since it was stored): no process's
    const later = () => Date.now() + 31 * 60_000;
    const taken = await RepositoryLock.take(repo, true, later);
    await taken.release();
    await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4, now: later });
    expect(readdirSync(join(dir, 'repo-bad-lock')).filter((n) => n.startsWith('lock-'))).toEqual([]);
  });
});

describe('backup repository: two processes taking locks at once', () => {
  /**
   * A target whose first lock write and the list after it each wait for the test's word: `step` lets
   * one through and waits until it is done, so the test sets the order of two takers' writes and lists.
   */
  function gatedTarget(inner: BackupTarget) {
    const gate = () => {
      let open!: () => void;
      let done!: () => void;
      const opened = new Promise<void>((r) => (open = r));
      const finished = new Promise<void>((r) => (done = r));
      return { open, opened, done, finished };
    };
    const gates = { write: gate(), list: gate() };
    let wrote = false;
    let listed = false;
    const target: BackupTarget = {
      url: inner.url,
      stagingDir: inner.stagingDir,
      async put(name, staged, signal) {
        if (!name.startsWith('lock-') || wrote) return inner.put(name, staged, signal);
        wrote = true;
        await gates.write.opened;
        await inner.put(name, staged, signal);
        gates.write.done();
      },
      async list() {
        if (!wrote || listed) return inner.list();
        listed = true;
        await gates.list.opened;
        const entries = await inner.list();
        gates.list.done();
        return entries;
      },
      get: (name, signal) => inner.get(name, signal),
      delete: (name) => inner.delete(name),
      close: () => inner.close(),
    };
    return {
      target,
      step: async (which: 'write' | 'list') => {
        gates[which].open();
        await gates[which].finished;
      },
    };
  }

  it('in every order of their writes and lists, a prune never proceeds beside another holder; two backups always do', async () => {
    const steps = ['wA', 'lA', 'wB', 'lB'];
    const orders: string[][] = [];
    const permute = (done: string[], left: string[]) => {
      if (left.length === 0) return void orders.push(done);
      for (const x of left)
        permute(
          [...done, x],
          left.filter((y) => y !== x),
        );
    };
    permute([], steps);
    // A taker lists after it writes: 6 of the 24 orders.
    const valid = orders.filter((o) => o.indexOf('wA') < o.indexOf('lA') && o.indexOf('wB') < o.indexOf('lB'));
    expect(valid).toHaveLength(6);
    for (const [kinds, exclusive] of [
      ['backup + prune', [false, true]],
      ['prune + prune', [true, true]],
      ['backup + backup', [false, false]],
    ] as const) {
      for (const order of valid) {
        const folder = join(dir, `repo-race-${Math.random()}`);
        const takers = [0, 1].map((i) => {
          const g = gatedTarget(new LocalDirTarget(folder));
          const taking = RepositoryLock.take(new Repository(g.target, join(dir, 'staging')), exclusive[i]!);
          taking.catch(() => undefined);
          return { step: g.step, taking };
        });
        for (const s of order) await takers[s[1] === 'A' ? 0 : 1]!.step(s[0] === 'w' ? 'write' : 'list');
        const outcome = await Promise.allSettled(takers.map((t) => t.taking));
        const held = outcome.filter((o) => o.status === 'fulfilled');
        const what = `${kinds}, ${order.join(' ')}`;
        if (exclusive[0] || exclusive[1]) {
          expect(held.length, what).toBeLessThan(2);
          // One that wrote and listed before the other wrote goes ahead; the other gives way.
          if (order.indexOf('lA') < order.indexOf('wB'))
            expect(
              outcome.map((o) => o.status),
              what,
            ).toEqual(['fulfilled', 'rejected']);
          if (order.indexOf('lB') < order.indexOf('wA'))
            expect(
              outcome.map((o) => o.status),
              what,
            ).toEqual(['rejected', 'fulfilled']);
          for (const o of outcome) if (o.status === 'rejected') expect(String(o.reason), what).toMatch(/is being (pruned|backed up) by process/);
        } else expect(held, what).toHaveLength(2);
        for (const o of held) await (o as PromiseFulfilledResult<RepositoryLock>).value.release();
        // Whatever happened, no lock is left behind.
        expect((await new Repository(new LocalDirTarget(folder), join(dir, 'staging')).list()).locks, what).toEqual([]);
      }
    }
  }, 60_000);
});

describe('backup repository: a lock that went unwritten too long', () => {
  it('stays lost even after a later refresh gets through (a prune may have taken it for stale meanwhile)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const inner = new LocalDirTarget(join(dir, 'repo-lapse'));
      let failing = false;
      let written = 0;
      const target: BackupTarget = {
        url: inner.url,
        stagingDir: inner.stagingDir,
        async put(name, staged, signal) {
          if (name.startsWith('lock-') && failing) {
            written++;
            throw new Error('the bucket cannot be reached');
          }
          await inner.put(name, staged, signal);
          if (name.startsWith('lock-')) written++;
        },
        list: () => inner.list(),
        get: (name, signal) => inner.get(name, signal),
        delete: (name) => inner.delete(name),
        close: () => inner.close(),
      };
      const settled = async (n: number) => {
        for (let i = 0; i < 500 && written < n; i++) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setTimeout(r, 20)); // the refresh's own continuation
      };
      let t = Date.now();
      const lock = await RepositoryLock.take(new Repository(target, join(dir, 'staging')), false, () => t);
      await settled(1);
      const refresh = async () => {
        t += 5 * 60_000;
        const before = written;
        vi.advanceTimersByTime(5 * 60_000);
        await settled(before + 1);
      };
      await refresh();
      expect(() => lock.assertHeld(t, 'the test step')).not.toThrow();
      // Six refreshes fail: 35 minutes since the lock was last written, more than others wait.
      failing = true;
      for (let i = 0; i < 6; i++) await refresh();
      failing = false;
      await refresh(); // and this one gets through
      expect((await new Repository(inner, join(dir, 'staging')).list()).locks).toHaveLength(1);
      expect(() => lock.assertHeld(t, 'the test step')).toThrow(/could not be refreshed for 35 minutes: stopped before the test step/);
      await lock.release();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('backup repository: a backup whose lock went stale', () => {
  it('writes no manifest (a prune may have taken its lock for stale and deleted what it names); the next backup completes', async () => {
    const repo = await makeRepository(join(dir, 'repo-stale-backup'));
    await sealNext(t, transfers(5)); // something new to back up
    const before = (await repo.list()).manifests.length;
    const index = await LocalIndex.open(join(dir, 'index-stale-backup'));
    try {
      // The backup's lock is written at the start; its clock then runs 26 minutes while the state is
      // stored (the refresh every 5 minutes never got through): past what others wait before taking it for stale.
      let skew = 0;
      const clock = () => Date.now() + skew;
      await expect(
        backupToRepository(t.chain, repo, index, {
          compression: 'zstd',
          clock,
          onProgress: (p) => {
            if (p.phase === 'state') skew = 26 * 60_000;
          },
        }),
      ).rejects.toThrow(/could not be refreshed for 26 minutes: stopped before writing the backup's manifest/);
      expect((await repo.list()).manifests.length).toBe(before);
      expect((await repo.list()).locks).toEqual([]); // released all the same
      // The next one, its lock refreshed in time, completes and restores the state it names.
      const done = await backupToRepository(t.chain, repo, index, { compression: 'zstd' });
      expect((await repo.list()).manifests.length).toBe(before + 1);
      expect(done.head).toBe(t.chain.head.number);
      expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
    } finally {
      await index.close();
    }
  });
});

describe('backup repository: a backup killed at any step', () => {
  it('leaves every backup present complete, and the next backup (after a restart) is complete and relies on nothing the killed one stored', async () => {
    const source = join(dir, 'repo-kill-backup');
    await makeRepository(source);
    for (let b = 0; b < 2; b++) await sealNext(t, transfers(5)); // something new to back up
    const probe = join(dir, 'probe-backup');
    cpSync(source, probe, { recursive: true });
    const counting = failingTarget(new LocalDirTarget(probe), Number.POSITIVE_INFINITY);
    const probeIndex = await LocalIndex.open(join(dir, 'index-probe'));
    await backupToRepository(t.chain, new Repository(counting, join(dir, 'staging')), probeIndex, { compression: 'zstd', segmentBlocks: 4 });
    await probeIndex.close();
    const steps = counting.calls();
    expect(steps).toBeGreaterThan(3); // lock, segment, packs, manifest, unlock
    for (let k = 1; k <= steps; k++) {
      const path = join(dir, `kill-backup-${k}`);
      cpSync(source, path, { recursive: true });
      const indexDir = join(dir, `index-kill-${k}`);
      let index = await LocalIndex.open(indexDir);
      const outcome = await backupToRepository(t.chain, new Repository(failingTarget(new LocalDirTarget(path), k), join(dir, 'staging')), index, {
        compression: 'zstd',
        segmentBlocks: 4,
      }).then(
        () => 'finished', // killed at the release of its lock: the backup was complete
        (err: Error) => err.message,
      );
      expect(outcome, `killed at call ${k}`).toMatch(/killed|finished/);
      await index.close();
      const plain = new Repository(new LocalDirTarget(path), join(dir, 'staging'));
      expect(await everyBackupComplete(plain), `after a kill at call ${k}`).toBeGreaterThanOrEqual(4);
      index = await LocalIndex.open(indexDir); // the restarted node's
      try {
        await backupToRepository(t.chain, plain, index, { compression: 'zstd', segmentBlocks: 4, now: () => new Date(Date.now() + 1000) });
      } finally {
        await index.close();
      }
      expect(await everyBackupComplete(plain)).toBeGreaterThanOrEqual(5);
      expect((await verifyRepository(plain, { scratchDir: dir })).problems).toEqual([]);
    }
  });
});

describe('backup repository: the local index after a prune', () => {
  it('loads only the packs the prune wrote, sweeps the entries of those it deleted, and the next backup stores only what changed', async () => {
    const path = join(dir, 'repo-index-prune');
    const repo = new Repository(new LocalDirTarget(path), join(dir, 'staging'));
    const index = await LocalIndex.open(join(dir, 'index-prune'));
    try {
      for (let i = 0; i < 4; i++) {
        for (let b = 0; b < 2; b++) await sealNext(t, transfers(5));
        await backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: 4 });
      }
      const committedPacks = async () =>
        new Set((await repo.manifest((await repo.list()).manifests.at(-1)!.name)).packs.map((p) => parseObjectName(p)!.sha256));
      const before = await committedPacks();
      for (const m of (await repo.list()).manifests.slice(0, 3)) await repo.target.delete(m.name);
      const s = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4 });
      expect(s.packs.repacked).toBeGreaterThan(0);
      const after = await committedPacks();
      const written = [...after].filter((p) => !before.has(p));
      expect(written.length).toBeGreaterThan(0);
      // Only the packs the prune wrote are read; the entries of the deleted ones are swept, not reloaded.
      const synced = await index.sync(repo, after);
      expect(synced.loaded).toBe(written.length);
      expect(synced.swept).toBeGreaterThan(0);
      expect(await index.sync(repo, after)).toEqual({ loaded: 0, swept: 0 });
      // A block later, a backup stores about what that block changed, not the state again.
      await sealNext(t, transfers(1));
      const r = await backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: 4 });
      expect(r.added.nodes).toBeGreaterThan(0);
      expect(r.added.nodes).toBeLessThan(60);
    } finally {
      await index.close();
    }
    expect(await everyBackupComplete(repo)).toBe(2);
    expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
  });

  it('an index of the first layout (item keys without a pack) is cleared when opened and loaded again from the packs', async () => {
    const path = join(dir, 'repo-index-v1');
    const repo = await makeRepository(path);
    const indexDir = join(dir, 'index-v1');
    // The first layout: 'n' + hash keys with empty values, 'k' + pack keys, no format record.
    const db = await openBytesDB(indexDir, 'backup index', indexDir);
    const packs = new Set((await repo.manifest((await repo.list()).manifests.at(-1)!.name)).packs.map((p) => parseObjectName(p)!.sha256));
    await db.put(Uint8Array.of(0x6e, ...new Uint8Array(32).fill(7)), new Uint8Array(0));
    for (const p of packs) await db.put(Uint8Array.of(0x6b, ...Buffer.from(p, 'hex')), new Uint8Array(0));
    await db.close();
    const index = await LocalIndex.open(indexDir);
    try {
      expect(await index.has('nodes', [new Uint8Array(32).fill(7)])).toEqual([false]);
      expect((await index.sync(repo, packs)).loaded).toBe(packs.size);
    } finally {
      await index.close();
    }
  });

  it("a backup killed after its packs' entries were written, before its manifest: none of them counts when the index is opened again, and the next sync sweeps them", async () => {
    const path = join(dir, 'repo-index-pending');
    const repo = new Repository(new LocalDirTarget(path), join(dir, 'staging'));
    const indexDir = join(dir, 'index-pending');
    let index = await LocalIndex.open(indexDir);
    const hash = new Uint8Array(32).fill(9);
    try {
      await index.sync(repo, new Set());
      await index.addPending('ab'.repeat(32), { nodes: [hash], code: [] });
      expect(await index.has('nodes', [hash])).toEqual([false]); // pending: not the repository's yet
    } finally {
      await index.close();
    }
    index = await LocalIndex.open(indexDir);
    try {
      expect((await index.sync(repo, new Set())).swept).toBe(1); // its entry, pointing at a pack never committed
      await index.commitPending(); // nothing pending is left to commit after the reopen
      expect(await index.has('nodes', [hash])).toEqual([false]);
    } finally {
      await index.close();
    }
  });
});

describe('backup repository: what a backup trusts', () => {
  it('a local index whose load was cut short loads those packs again, and a new backup is complete', async () => {
    const path = join(dir, 'repo-cut');
    const repo = await makeRepository(path);
    const indexDir = join(dir, 'index-cut');
    const index = await LocalIndex.open(indexDir);
    try {
      const flaky = new Repository(readFailingTarget(new LocalDirTarget(path)), join(dir, 'staging'));
      const packs = new Set((await repo.manifest((await repo.list()).manifests.at(-1)!.name)).packs.map((p) => parseObjectName(p)!.sha256));
      await expect(index.sync(flaky, packs)).rejects.toThrow(/read failed/);
      // What the cut-short load wrote points at a pack never recorded as loaded: the packs are loaded again.
      expect((await index.sync(repo, packs)).loaded).toBe(packs.size);
      for (let b = 0; b < 2; b++) await sealNext(t, transfers(3));
      await backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: 4 });
    } finally {
      await index.close();
    }
    expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
  });

  it('a pack deleted by hand is not relied on: the next backup stores its nodes again and is complete; a forged index gets nothing live deleted', async () => {
    const path = join(dir, 'repo-heal');
    const repo = await makeRepository(path);
    const newest = await repo.manifest((await repo.list()).manifests.at(-1)!.name);
    const [lost, forged, other] = newest.packs.slice(0, 3).map((p) => parseObjectName(p)!.sha256);
    rmSync(join(path, `pack-${lost}`));
    // An index object (as earlier versions wrote) that lists another pack's items: nothing relies on it.
    writeFileSync(join(path, `index-${forged}`), await oldIndex(repo, other!, forged));
    const index = await LocalIndex.open(join(dir, 'index-heal'));
    let manifest: string;
    try {
      for (let b = 0; b < 2; b++) await sealNext(t, transfers(3));
      manifest = (await backupToRepository(t.chain, repo, index, { compression: 'zstd', segmentBlocks: 4 })).manifest;
    } finally {
      await index.close();
    }
    // the older backups named the lost pack: retention removes them; prune must keep every live item
    for (const e of (await repo.list()).manifests) if (e.name !== manifest) await repo.target.delete(e.name);
    await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4 });
    expect(await everyBackupComplete(repo)).toBe(1);
  });
});

describe('backup repository: a manifest anyone who can put an object adds beside a backup', () => {
  // The newest backup's manifest again, with the packs left out and (or not) the state root of an empty
  // state, padded with spaces until its name sorts before (or after) the real one's: one put, no delete.
  const EMPTY_ROOT = bytesToHex(KECCAK256_RLP);
  async function crafted(name: string, change: { stateRoot?: string }, sorts: 'first' | 'last') {
    const path = join(dir, name);
    const repo = await makeRepository(path);
    const real = (await repo.list()).manifests.at(-1)!;
    const m = await repo.manifest(real.name);
    const json = JSON.stringify({ ...m, head: { ...m.head, ...change }, packs: [] });
    for (let pad = 0; ; pad++) {
      const bytes = Buffer.from(json + ' '.repeat(pad));
      const forged = manifestName(BigInt(m.head.number), createHash('sha256').update(bytes).digest('hex'));
      if (sorts === 'first' ? forged < real.name : forged > real.name) {
        writeFileSync(join(path, forged), bytes);
        return { repo, path, real: real.name, m, forged };
      }
    }
  }
  /** The newest backup restores whole: its head and the real state root. */
  const restoresNewest = async (repo: Repository, m: Manifest, as: string) => {
    const r = await restoreRepositoryAt(repo, {}, { dataDir: join(dir, as), genesis: t.genesis, history: 'full' });
    expect([r.head, r.stateRoot]).toEqual([BigInt(m.head.number), m.head.stateRoot]);
  };

  it('naming the state root of an empty state: verify names it; a prune (whole or history only) keeps the real backup and its packs; a restore takes the real one', async () => {
    for (const sorts of ['first', 'last'] as const) {
      const { repo, path, m, forged } = await crafted(`forged-root-${sorts}`, { stateRoot: EMPTY_ROOT }, sorts);
      const before = await repoBytes(repo);
      const report = await verifyRepository(repo, { scratchDir: dir });
      expect(report.problems, sorts).toEqual([`${forged}: names state root ${EMPTY_ROOT}, not its head block's ${m.head.stateRoot}`]);
      expect(
        report.backups.find((b) => b.name === forged),
        sorts,
      ).toMatchObject({ ok: false });
      expect(report.backups.find((b) => b.name === forged)!.copyOf, sorts).toBeUndefined(); // another backup, not a copy of the real one
      await restoresNewest(repo, m, `forged-root-${sorts}-restored`);
      for (const historyOnly of [true, false]) {
        await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4, historyOnly });
        const after = await verifyRepository(repo, { scratchDir: dir });
        expect(
          after.backups.filter((b) => b.ok),
          `${sorts} ${historyOnly}`,
        ).toHaveLength(4);
        expect(after.problems, `${sorts} ${historyOnly}`).toHaveLength(1);
        expect(after.problems[0], `${sorts} ${historyOnly}`).toMatch(/names state root 0x56e81f.*, not its head block's/);
        await restoresNewest(repo, m, `forged-root-${sorts}-${historyOnly}-restored`);
      }
      expect(await repoBytes(repo)).toBeGreaterThan(before / 2); // no pack of the real backup deleted
      expect(readdirSync(path).filter((n) => n.startsWith('pack-')).length).toBeGreaterThan(0);
    }
  });

  it('naming the same state root (a copy to count once) but no pack: verify names it, a copy of the real one; a restore falls back on the real one; a prune deletes none of its packs', async () => {
    for (const historyOnly of [true, false]) {
      const { repo, real, m, forged } = await crafted(`forged-copy-${historyOnly}`, {}, 'first');
      const report = await verifyRepository(repo, { scratchDir: dir });
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatch(new RegExp(`^${forged}: its state is incomplete`));
      expect(report.backups.find((b) => b.name === forged)).toMatchObject({ ok: false, copyOf: real });
      expect(report.backups.find((b) => b.name === real)).toMatchObject({ ok: true });
      expect(report.backups.find((b) => b.name === real)!.copyOf).toBeUndefined();
      await restoresNewest(repo, m, `forged-copy-${historyOnly}-restored`);
      const s = await pruneRepository(repo, { scratchDir: dir, segmentBlocks: 4, historyOnly });
      expect([s.manifests, s.copiesLeft]).toEqual([4, []]);
      // One manifest of the backup is left (the first, written again naming the packs of both), and every backup restores whole.
      expect(await everyBackupComplete(repo)).toBe(4);
      expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);
      await restoresNewest(repo, m, `forged-copy-${historyOnly}-pruned-restored`);
    }
  });
});

describe('backup repository: verify', () => {
  it('a whole repository verifies; two halves (--read-data-subset 1/2 and 2/2) read every pack and segment between them', async () => {
    const path = join(dir, 'repo-verify');
    const repo = await makeRepository(path);
    const all = await verifyRepository(repo, { scratchDir: dir });
    expect(all.problems).toEqual([]);
    expect(all.backups.map((b) => b.ok)).toEqual([true, true, true, true]);
    const halves = await Promise.all([1, 2].map((n) => verifyRepository(repo, { scratchDir: dir, subset: { n, of: 2 } })));
    expect(halves[0]!.objectsRead + halves[1]!.objectsRead).toBe(all.objectsRead);
    expect(halves.every((h) => h.problems.length === 0)).toBe(true);
  });

  it('names a damaged pack and the backups whose state it breaks, a missing segment, and a pack whose index lies', async () => {
    const path = join(dir, 'repo-damaged');
    const repo = await makeRepository(path);
    const { manifests } = await repo.list();
    const newest = await repo.manifest(manifests.at(-1)!.name);
    const pack = newest.packs[0]!;
    const bytes = readFileSync(join(path, pack));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(join(path, pack), bytes);
    const segment = newest.segments.at(-1)!;
    rmSync(join(path, segment));
    // Index objects as earlier versions wrote them beside each pack: a true one is checked and passes,
    // another pack's put in place of this one's is named.
    const [liar, other, honest] = newest.packs.slice(1, 4).map((p) => parseObjectName(p)!.sha256);
    writeFileSync(join(path, `index-${liar}`), await oldIndex(repo, other!));
    writeFileSync(join(path, `index-${honest}`), await oldIndex(repo, honest!));
    const r = await verifyRepository(repo, { scratchDir: dir });
    expect(r.problems.filter((p) => p.startsWith(`pack-${honest}: `))).toEqual([]);
    expect(r.problems.some((p) => p.startsWith(`${pack}: `) && /checksum mismatch|damaged|corrupt/.test(p))).toBe(true);
    expect(r.problems.some((p) => p.startsWith(`${manifests.at(-1)!.name}: `) && p.includes(segment))).toBe(true);
    expect(r.problems.some((p) => /its state is incomplete/.test(p))).toBe(true);
    expect(r.problems.some((p) => p.startsWith(`pack-${liar}: `) && /is the index of pack/.test(p))).toBe(true);
    expect(r.backups.at(-1)!.ok).toBe(false);
  });
});

describe('backup repository: verify checks the chain from its genesis', () => {
  /**
   * A backup of 5 blocks of a 2-validator chain under the legacy quorum (one seal a block), and its
   * manifest; one block a segment, so each block's seals are checked against the block before it in
   * another segment (block 1's against the genesis block).
   */
  async function legacyChainBackup(path: string) {
    const { genesis, keys } = testGenesis(2);
    delete (genesis.params.engine.ibft as { quorumSwitchBlock?: number }).quorumSwitchBlock;
    const opened = await openTestChain(genesis);
    try {
      for (let i = 0; i < 5; i++) await sealNext({ chain: opened.chain, keys });
      const repo = new Repository(new LocalDirTarget(path), join(dir, 'staging'));
      const index = await LocalIndex.open(join(dir, `index-${Math.random()}`));
      try {
        const { manifest } = await backupToRepository(opened.chain, repo, index, { compression: 'zstd', segmentBlocks: 1 });
        return { repo, genesis, m: await repo.manifest(manifest) };
      } finally {
        await index.close();
      }
    } finally {
      await opened.close();
      rmSync(opened.dir, { recursive: true, force: true });
    }
  }
  /** A new manifest, like `m` but naming `genesis` (a JSON genesis file, stored as the first format did: its bytes as they are) as its chain's. */
  async function withGenesis(repo: Repository, m: Manifest, genesis: unknown): Promise<{ manifest: string; genesis: string }> {
    const name = await repo.putBytes((sha) => `genesis-${sha}`, new TextEncoder().encode(JSON.stringify(genesis)));
    return { manifest: await repo.writeManifest({ ...m, genesis: name }), genesis: name };
  }

  it('a genesis object that makes another genesis block, or is not its name, is named; seals are counted by its rules, block 1 against its validators', async () => {
    const { repo, genesis, m } = await legacyChainBackup(join(dir, 'repo-genesis'));
    const path = join(dir, 'repo-genesis');
    expect((await verifyRepository(repo, { scratchDir: dir })).problems).toEqual([]);

    // The same genesis block (params are not in it), but rules that ask 2 seals of 2 where the blocks carry 1.
    const strict = await withGenesis(repo, m, { ...genesis, params: { ...genesis.params, engine: { ibft: { type: 'PoA', quorumSwitchBlock: 0 } } } });
    // Another validator: another genesis block than the one block 1 names as its parent.
    const other = await withGenesis(repo, m, testGenesis(1).genesis);
    // Damaged in place: one byte of its compressed pieces changed.
    const damaged = readFileSync(join(path, m.genesis));
    damaged[Math.floor(damaged.length / 2)]! ^= 0x01;
    writeFileSync(join(path, m.genesis), damaged);

    const r = await verifyRepository(repo, { scratchDir: dir });
    const of = (manifest: string) => r.problems.filter((p) => p.startsWith(`${manifest}: `));
    expect(of(strict.manifest)).toContain(`${strict.manifest}: ${m.segments[0]}: block 1 is invalid: 1 committed seals, quorum is 2 of 2 validators`);
    expect(
      r.problems.some((p) => p.startsWith(`${other.genesis}: `) && /makes genesis block 0x[0-9a-f]{64}, not the 0x[0-9a-f]{64} its backups name/.test(p)),
    ).toBe(true);
    expect(
      r.problems.some((p) => p.startsWith(`${m.genesis}: `) && /checksum|damaged|corrupt|decompress/i.test(p)),
      r.problems.join('\n'),
    ).toBe(true);
    // each backup is named broken, by what it needs
    expect(of(other.manifest).some((p) => p.startsWith(`${other.manifest}: needs ${other.genesis}: it makes genesis block`))).toBe(true);
    expect(r.backups.map((b) => b.ok)).toEqual([false, false, false]);
  });
});

/** A target whose reads fail half-way through any object (a network cut). */
function readFailingTarget(inner: BackupTarget): BackupTarget {
  return {
    ...inner,
    url: inner.url,
    stagingDir: inner.stagingDir,
    put: (n, st, sig) => inner.put(n, st, sig),
    list: () => inner.list(),
    async *get(name) {
      let n = 0;
      for await (const c of inner.get(name)) {
        if (n++ > 0 || name.startsWith('pack-')) throw new Error('read failed');
        yield c;
      }
    },
    delete: (n) => inner.delete(n),
    close: () => inner.close(),
  };
}

/** A target whose `k`-th put or delete throws (a process killed there); counts its calls. */
function failingTarget(inner: BackupTarget, k: number): BackupTarget & { calls(): number } {
  let n = 0;
  const hit = () => {
    if (++n === k) throw new Error(`killed at call ${k}`);
  };
  return {
    url: inner.url,
    stagingDir: inner.stagingDir,
    async put(name, staged, signal) {
      hit();
      return inner.put(name, staged, signal);
    },
    list: () => inner.list(),
    get: (name) => inner.get(name),
    async delete(name) {
      hit();
      return inner.delete(name);
    },
    close: () => inner.close(),
    calls: () => n,
  };
}
