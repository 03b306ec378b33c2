import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepositoryLock } from '../../../src/backup/repository/lock.js';
import { Repository } from '../../../src/backup/repository/repository.js';
import { pruneRepository } from '../../../src/backup/repository/prune.js';
import { nextTickMs, RepositoryScheduler } from '../../../src/backup/repository/scheduler.js';
import { backupToRepository } from '../../../src/backup/repository/backup.js';
import { LocalIndex } from '../../../src/backup/repository/local-index.js';
import type { BackupTarget } from '../../../src/backup/targets/target.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import { createTestChain, openTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { restoreRepositoryAt } from '../../../src/backup/repository/restore.js';
import { bytesToHex } from '@ethereumjs/util';

let t: TestChain;
let dir: string;
beforeAll(async () => {
  t = await createTestChain(1);
  dir = mkdtempSync(join(tmpdir(), 'basalt-repo-sched-'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A scheduler of `chain` into the repository folder `repo` under the test folder, with its own staging
 * and index folders (`who`: one per node sharing a repository), hourly, no retention, no prune.
 */
const schedulerOf = (chain: TestChain['chain'], repo: string, who: string, more: Partial<ConstructorParameters<typeof RepositoryScheduler>[0]> = {}) =>
  new RepositoryScheduler({
    chain,
    target: new LocalDirTarget(join(dir, repo)),
    stagingDir: join(dir, `staging-${repo}-${who}`),
    indexDir: join(dir, `index-${repo}-${who}`),
    intervalMs: 3_600_000,
    retention: {},
    pruneIntervalMs: 0,
    logger: pino({ level: 'silent' }),
    ...more,
  });

describe('RepositoryScheduler retention', () => {
  it('removes backups under an exclusive lock: while another process holds a lock it is left to the next backup, which does it', async () => {
    const lines: { event?: string; reason?: string; msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const target = new LocalDirTarget(join(dir, 'repo'));
    const s = new RepositoryScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging'),
      indexDir: join(dir, 'index'),
      intervalMs: 3_600_000,
      retention: { keepLast: 1 },
      pruneIntervalMs: 0,
      logger,
    });
    const repo = new Repository(new LocalDirTarget(join(dir, 'repo')), join(dir, 'staging-other'));
    const manifests = async () => (await repo.list()).manifests.length;
    try {
      await sealNext(t);
      await s.backupNow();
      expect(await manifests()).toBe(1);
      // another node's backup (a shared lock) under way: this backup is stored, the older one kept for now
      const other = await RepositoryLock.take(repo, false);
      await sealNext(t);
      await s.backupNow();
      expect(await manifests()).toBe(2);
      const deferred = lines.filter((l) => l.event === 'backup.retention-deferred');
      expect(deferred).toHaveLength(1);
      expect(deferred[0]!.reason).toMatch(/is being backed up by process \d+/);
      await other.release();
      await sealNext(t);
      await s.backupNow();
      expect(await manifests()).toBe(1);
      expect(lines.filter((l) => l.msg === 'backup removed by retention')).toHaveLength(2);
      expect((await repo.list()).locks).toEqual([]); // its lock released
    } finally {
      await s.stop();
    }
  });
});

describe('RepositoryScheduler prune', () => {
  it('prunes once a backup completed a history segment in pieces, though retention removed nothing: the segment is merged', async () => {
    const lines: { event?: string; msg: string; historyOnly?: boolean; merged?: number }[] = [];
    const s = new RepositoryScheduler({
      chain: t.chain,
      target: new LocalDirTarget(join(dir, 'repo-merge')),
      stagingDir: join(dir, 'staging-m'),
      indexDir: join(dir, 'index-m'),
      intervalMs: 3_600_000,
      retention: {},
      pruneIntervalMs: 1,
      logger: pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) }),
      segmentBlocks: 4,
    });
    const repo = new Repository(new LocalDirTarget(join(dir, 'repo-merge')), join(dir, 'staging-m2'));
    const pruned = () => lines.filter((l) => l.event === 'backup.pruned').length;
    try {
      // a backup at each block: each stores one block as a piece, until one completes a segment
      let completed = false;
      for (let i = 0; i < 5 && !completed; i++) {
        await sealNext(t);
        await s.backupNow();
        completed = t.chain.head.number % 4n === 0n && i > 0;
        expect(pruned(), `after the backup at block ${t.chain.head.number}`).toBe(completed ? 1 : 0);
      }
      expect(completed).toBe(true);
      // only the history: the packs left unread
      expect(lines.find((l) => l.event === 'backup.pruned')).toMatchObject({ historyOnly: true, merged: 1 });
      const newest = (await repo.list()).manifests.at(-1)!;
      const last = (await repo.manifest(newest.name)).segments.at(-1)!;
      expect(last).toMatch(new RegExp(`^segment-0*${t.chain.head.number - 3n}-0*${t.chain.head.number}-`));
      // the next backup (no piece of a complete segment) does not prune again
      await sealNext(t);
      await s.backupNow();
      expect(pruned()).toBe(1);
    } finally {
      await s.stop();
    }
  });
});

describe('RepositoryScheduler and a prune of another process', () => {
  it('a backup that a prune rewrote the moment its lock was released is still reported stored (its summary, not its manifest read back)', async () => {
    const path = join(dir, 'repo-raced');
    const inner = new LocalDirTarget(path);
    const other = new Repository(new LocalDirTarget(path), join(dir, 'staging-raced-other'));
    let armed = false;
    let raced = 0;
    const target: BackupTarget = {
      ...inner,
      url: inner.url,
      stagingDir: inner.stagingDir,
      put: (n, st, sig) => inner.put(n, st, sig),
      list: () => inner.list(),
      get: (n, sig) => inner.get(n, sig),
      close: () => inner.close(),
      delete: async (n) => {
        await inner.delete(n);
        if (armed && n.startsWith('lock-')) {
          armed = false;
          // another process's prune, between the backup's lock released and anything after it: it merges
          // the pieces the backup completed and writes its manifest again under another name
          const p = await pruneRepository(other, { scratchDir: dir, segmentBlocks: 4, historyOnly: true });
          raced += p.merged;
        }
      },
    };
    const lines: { event?: string }[] = [];
    const s = new RepositoryScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging-raced'),
      indexDir: join(dir, 'index-raced'),
      intervalMs: 3_600_000,
      retention: {},
      pruneIntervalMs: 0,
      logger: pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) }),
      segmentBlocks: 4,
    });
    try {
      // backups until the next one completes a segment in pieces
      await sealNext(t);
      await s.backupNow();
      while ((t.chain.head.number + 1n) % 4n !== 0n) {
        await sealNext(t);
        await s.backupNow();
      }
      await sealNext(t);
      armed = true;
      const piece = await s.backupNow();
      expect(raced).toBe(1);
      expect(piece.map((p) => p.endBlock)).toEqual([t.chain.head.number]);
      expect(lines.filter((l) => l.event === 'backup.failed')).toEqual([]);
      expect(lines.at(-1)).toMatchObject({ event: 'backup.stored' });
    } finally {
      await s.stop();
    }
  });
});

describe('RepositoryScheduler start', () => {
  it('reports when the newest backup of the repository was taken as soon as it reads it at start', async () => {
    const target = new LocalDirTarget(join(dir, 'repo-start'));
    const opts = {
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging-s'),
      indexDir: join(dir, 'index-s'),
      intervalMs: 3_600_000,
      retention: {},
      pruneIntervalMs: 0,
      logger: pino({ level: 'silent' }),
    };
    const first = new RepositoryScheduler(opts);
    await sealNext(t);
    const before = Date.now();
    expect(await first.backupNow()).toHaveLength(1);
    const after = Date.now();
    await first.stop();
    const reads: { kind: string; storedAt: number }[][] = [];
    const again = new RepositoryScheduler({ ...opts, target: new LocalDirTarget(join(dir, 'repo-start')), events: { onTargetRead: (n) => reads.push(n) } });
    try {
      again.start();
      for (let i = 0; i < 300 && reads.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(reads).toHaveLength(1);
      expect(reads[0]).toHaveLength(1);
      expect(reads[0]![0]!.kind).toBe('backup');
      // The manifest's createdAt of the backup just taken.
      expect(reads[0]![0]!.storedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(reads[0]![0]!.storedAt).toBeLessThanOrEqual(after);
    } finally {
      await again.stop();
    }
  });
});

describe('a repository holding two timelines (a chain rolled back to an older block that went on from there)', () => {
  it("its newest backup is the new timeline's: retention keeps it, a restore without a point takes it, a block point is a block of it, a time point of the chain as it was then", async () => {
    // Timeline 1: backups at blocks 4, 6 and 8. Timeline 2: restored from the backup at block 4, three
    // blocks sealed later in time, backed up at block 7 (lower than 8, newer).
    const a = await createTestChain(1);
    const opts = (chain: TestChain['chain'], who: string, retention: { keepLast?: number }) => schedulerOf(chain, 'repo-two', who, { retention });
    const repo = new Repository(new LocalDirTarget(join(dir, 'repo-two')), join(dir, 'staging-two-r'));
    const heads = async () => (await repo.list()).manifests.map((m) => m.last!);
    let b: Awaited<ReturnType<typeof openTestChain>> | undefined;
    try {
      const sa = opts(a.chain, 'a', {});
      for (const upTo of [4, 6, 8]) {
        while (a.chain.head.number < upTo) await sealNext(a);
        await sa.backupNow();
      }
      await sa.stop();
      expect(await heads()).toEqual([4n, 6n, 8n]);
      const hashA = async (n: bigint) => bytesToHex((await a.chain.canonicalHash(n))!);

      await restoreRepositoryAt(repo, { block: 4n }, { dataDir: join(dir, 'two-b'), genesis: a.genesis, history: 'full' });
      b = await openTestChain(a.genesis, join(dir, 'two-b'));
      const tb = { chain: b.chain, keys: a.keys };
      for (let i = 0; i < 3; i++) await sealNext(tb, [], 100n);
      const hashB = async (n: bigint) => bytesToHex((await b!.chain.canonicalHash(n))!);
      expect(await hashB(5n)).not.toBe(await hashA(5n));
      const sb = opts(b.chain, 'b', {});
      await sb.backupNow();
      await sb.stop();
      expect(await heads()).toEqual([4n, 6n, 7n, 8n]);

      const restore = (at: { block?: bigint; time?: bigint }, name: string) =>
        restoreRepositoryAt(repo, at, { dataDir: join(dir, `two-r-${name}`), genesis: a.genesis, history: 'full' });
      // no point: the new timeline's head, not the higher block of the timeline left
      const newest = await restore({}, 'newest');
      expect([newest.head, newest.headHash]).toEqual([7n, await hashB(7n)]);
      // a block: of the chain as it is now: the backup at 4 (not timeline 1's at 6), then blocks 5 and 6 of the new timeline
      const six = await restore({ block: 6n }, 'six');
      expect([six.head, six.headHash, six.blocksImported]).toEqual([6n, await hashB(6n), 2n]);
      // a block only the timeline left reached: refused with one line
      await expect(restore({ block: 8n }, 'eight')).rejects.toThrow(/newest backup .* is at block 7, before block 8/);
      // a time: the chain as it was then (timeline 1's backup at 6, then its block 7 from its backup at 8)
      const time = (await a.chain.blockByNumber(7n))!.header.timestamp;
      const then = await restore({ time }, 'then');
      expect([then.head, then.headHash, then.blocksImported]).toEqual([7n, await hashA(7n), 1n]);
      // a time after the roll-back, when the new timeline was at its block 6: the backup at 4 (not timeline
      // 1's at 8, whose time is earlier) and the new timeline's blocks 5 and 6
      const later = await restore({ time: (await b.chain.blockByNumber(6n))!.header.timestamp }, 'later');
      expect([later.head, later.headHash, later.blocksImported]).toEqual([6n, await hashB(6n), 2n]);
      // a time after timeline 1 stopped and before the new timeline's first block: timeline 1's head
      const between = await restore({ time: (await b.chain.blockByNumber(5n))!.header.timestamp - 1n }, 'between');
      expect([between.head, between.headHash]).toEqual([8n, await hashA(8n)]);

      // keep-last 1 on the new timeline keeps its own backup and removes the timeline left's
      const keep = opts(b.chain, 'b', { keepLast: 1 });
      await sealNext(tb, [], 100n);
      await keep.backupNow();
      await keep.stop();
      const left = await repo.list();
      expect(left.manifests.map((m) => m.last)).toEqual([8n]);
      expect((await repo.manifest(left.manifests[0]!.name)).head.hash).toBe(await hashB(8n));
    } finally {
      await b?.close();
      await a.close();
    }
  });
});

describe('a repository with a backup at block 0 (a scheduler started on a new chain backs up at once)', () => {
  it("a point between it and a later backup restores the block: the genesis is in every backup's history", async () => {
    const a = await createTestChain(1);
    const repo = new Repository(new LocalDirTarget(join(dir, 'repo-zero')), join(dir, 'staging-zero-r'));
    try {
      const s = schedulerOf(a.chain, 'repo-zero', 'a');
      await s.backupNow();
      while (a.chain.head.number < 6n) await sealNext(a);
      await s.backupNow();
      await s.stop();
      expect((await repo.list()).manifests.map((m) => m.last)).toEqual([0n, 6n]);
      const three = bytesToHex((await a.chain.canonicalHash(3n))!);
      const byBlock = await restoreRepositoryAt(repo, { block: 3n }, { dataDir: join(dir, 'zero-block'), genesis: a.genesis, history: 'full' });
      expect([byBlock.head, byBlock.headHash]).toEqual([3n, three]);
      const time = (await a.chain.blockByNumber(3n))!.header.timestamp;
      const byTime = await restoreRepositoryAt(repo, { time }, { dataDir: join(dir, 'zero-time'), genesis: a.genesis, history: 'full' });
      expect([byTime.head, byTime.headHash]).toEqual([3n, three]);
    } finally {
      await a.close();
    }
  });
});

describe('retention after a roll-back from blocks sealed while a clock ran ahead', () => {
  it('the backup just written is never removed by its own retention; once the node passes the timeline left, that one goes', async () => {
    // Timeline 1: blocks 5-8 sealed a day ahead, backups at 4 and 8. Timeline 2: restored from 4, blocks
    // sealed at the right time, so their times are earlier than timeline 1's block 8.
    const a = await createTestChain(1);
    const repo = new Repository(new LocalDirTarget(join(dir, 'repo-clock')), join(dir, 'staging-clock-r'));
    const opts = (chain: TestChain['chain'], who: string, retention: { keepLast?: number }) => schedulerOf(chain, 'repo-clock', who, { retention });
    let b: Awaited<ReturnType<typeof openTestChain>> | undefined;
    try {
      const sa = opts(a.chain, 'a', {});
      while (a.chain.head.number < 4n) await sealNext(a);
      await sa.backupNow();
      while (a.chain.head.number < 8n) await sealNext(a, [], 86_400n);
      await sa.backupNow();
      await sa.stop();
      await restoreRepositoryAt(repo, { block: 4n }, { dataDir: join(dir, 'clock-b'), genesis: a.genesis, history: 'full' });
      b = await openTestChain(a.genesis, join(dir, 'clock-b'));
      const tb = { chain: b.chain, keys: a.keys };
      const sb = opts(b.chain, 'b', { keepLast: 1 });
      const manifests = async () => Promise.all((await repo.list()).manifests.map(async (m) => `${m.last}:${(await repo.manifest(m.name)).head.hash}`));
      const hashB = async (n: bigint) => bytesToHex((await b!.chain.canonicalHash(n))!);
      const hashA8 = bytesToHex((await a.chain.canonicalHash(8n))!);
      while (b.chain.head.number < 7n) await sealNext(tb, [], 5n);
      await sb.backupNow();
      // kept: timeline 1's block 8 (newer by time, not yet passed by this node) and the backup just written
      expect((await manifests()).sort()).toEqual([`7:${await hashB(7n)}`, `8:${hashA8}`].sort());
      while (b.chain.head.number < 9n) await sealNext(tb, [], 5n);
      await sb.backupNow();
      await sb.stop();
      // this node's block 8 is not timeline 1's: that backup is of a timeline left, older than any of its own
      expect(await manifests()).toEqual([`9:${await hashB(9n)}`]);
    } finally {
      await b?.close();
      await a.close();
    }
  });
});

describe('a restore to a block between backups', () => {
  it('reads the newest backup history from the candidate nearest the block, not the whole history, to choose its base', async () => {
    const a = await createTestChain(1);
    const repo = new Repository(new LocalDirTarget(join(dir, 'repo-reads')), join(dir, 'staging-reads-r'));
    try {
      const s = schedulerOf(a.chain, 'repo-reads', 'a', { segmentBlocks: 4 });
      for (let upTo = 4n; upTo <= 40n; upTo += 4n) {
        while (a.chain.head.number < upTo) await sealNext(a);
        await s.backupNow();
      }
      await s.stop();
      expect((await repo.list()).manifests).toHaveLength(10);
      // Segments read before the restore's first step (its plan), not the restore's own reads.
      const segmentsRead = new Set<string>();
      let planning = true;
      const get = repo.get.bind(repo);
      repo.get = (name, signal) => {
        if (planning && name.startsWith('segment-')) segmentsRead.add(name);
        return get(name, signal);
      };
      const r = await restoreRepositoryAt(
        repo,
        { block: 38n },
        { dataDir: join(dir, 'reads-38'), genesis: a.genesis, history: 'full', onStep: () => (planning = false) },
      );
      expect([r.head, r.blocksImported]).toEqual([38n, 2n]);
      // the segment holding block 36 (the base's head); before: the nine holding a backup's head
      expect(segmentsRead.size).toBe(1);
    } finally {
      await a.close();
    }
  });
});

describe('RepositoryScheduler and a newest backup created after now', () => {
  it('a manifest whose createdAt is a year ahead (a clock ahead, or put there) counts as taken now, said once: a backup is stored within one interval, and no tick is further off than the interval', async () => {
    const path = join(dir, 'repo-ahead');
    const yearAhead = Date.now() + 365 * 86_400_000;
    const index = await LocalIndex.open(join(dir, 'index-ahead-writer'));
    try {
      await sealNext(t);
      await backupToRepository(t.chain, new Repository(new LocalDirTarget(path), join(dir, 'staging-ahead-writer')), index, {
        compression: 'zstd',
        now: () => new Date(yearAhead),
      });
    } finally {
      await index.close();
    }
    await sealNext(t);
    const lines: { event?: string; at?: string }[] = [];
    const stored: number[] = [];
    const reads: number[] = [];
    const overflows: string[] = [];
    const onWarning = (w: Error) => w.name === 'TimeoutOverflowWarning' && overflows.push(w.message);
    process.on('warning', onWarning);
    const intervalMs = 300;
    const s = schedulerOf(t.chain, 'repo-ahead', 'a', {
      intervalMs,
      logger: pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) }),
      events: { onStored: (p) => stored.push(p.storedAt), onTargetRead: (n) => reads.push(...n.map((x) => x.storedAt)) },
    });
    const started = Date.now();
    try {
      s.start();
      for (let i = 0; i < 1000 && stored.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(stored).toHaveLength(1);
      expect(reads).toHaveLength(1);
      expect(reads[0]).toBeLessThanOrEqual(stored[0]!); // not the year ahead: an alert on the last backup's age still fires
      expect(reads[0]).toBeGreaterThanOrEqual(started);
      expect(lines.filter((l) => l.event === 'backup.time-in-future').map((l) => l.at)).toEqual([new Date(yearAhead).toISOString()]);
    } finally {
      await s.stop();
      process.off('warning', onWarning);
    }
    expect(overflows).toEqual([]);
    // The delay to the next tick is never more than the interval, whatever the last backup's time says.
    for (const lastAt of [yearAhead, Number.NaN, Date.now() - 10 * intervalMs, undefined])
      expect(nextTickMs(intervalMs, lastAt, Date.now())).toBeLessThanOrEqual(intervalMs);
  });
});
