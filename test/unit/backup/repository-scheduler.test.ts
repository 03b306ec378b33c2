import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepositoryLock } from '../../../src/backup/repository/lock.js';
import { Repository } from '../../../src/backup/repository/repository.js';
import { RepositoryScheduler } from '../../../src/backup/repository/scheduler.js';
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
