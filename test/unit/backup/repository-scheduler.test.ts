import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepositoryLock } from '../../../src/backup/repository/lock.js';
import { Repository } from '../../../src/backup/repository/repository.js';
import { pruneRepository } from '../../../src/backup/repository/prune.js';
import { RepositoryScheduler } from '../../../src/backup/repository/scheduler.js';
import type { BackupTarget } from '../../../src/backup/targets/target.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';

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
