import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { listPieces, pieceName } from '../../../src/backup/pieces.js';
import { planRestore } from '../../../src/backup/point-in-time.js';
import { BackupScheduler, type SchedulerOptions } from '../../../src/backup/scheduler.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import type { BackupTarget } from '../../../src/backup/targets/target.js';
import { verifyPieces } from '../../../src/backup/verify-pieces.js';
import { UserError } from '../../../src/util/errors.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';

const log = pino({ level: 'silent' });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(blocks: number, target?: (dir: string) => BackupTarget, extra: Partial<SchedulerOptions> = {}) {
  const t: TestChain = await createTestChain(1);
  cleanups.push(() => t.close());
  for (let i = 0; i < blocks; i++) await sealNext(t);
  const dir = mkdtempSync(join(tmpdir(), 'basalt-sched-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const failures: string[] = [];
  const tgt = target ? target(dir) : new LocalDirTarget(join(dir, 'bk'));
  const s = new BackupScheduler({
    chain: t.chain,
    target: tgt,
    stagingDir: join(dir, 'staging'),
    snapshotIntervalMs: 3_600_000,
    archiveIntervalMs: 600_000,
    retention: {},
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    logger: log,
    events: { onFailure: (kind) => failures.push(kind) },
    ...extra,
  });
  cleanups.push(() => s.stop());
  return { t, s, dir, target: tgt, failures };
}

const names = async (target: BackupTarget) => (await listPieces(target)).map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`);

describe('BackupScheduler', () => {
  it('a first archive request on an empty target takes a snapshot; then archives continue it; a snapshot closes the chain with an archive first', async () => {
    const { t, s, target } = await setup(3);
    expect((await s.backupNow('archive')).map((p) => p.kind)).toEqual(['snapshot']);
    await sealNext(t);
    await sealNext(t);
    expect((await s.backupNow('archive')).map((p) => `${p.startBlock}-${p.endBlock}`)).toEqual(['4-5']);
    await expect(s.backupNow('archive')).rejects.toThrow(/no new blocks since the last piece \(archive-000000004-000000005-/);
    await sealNext(t);
    const snap = await s.backupNow('snapshot');
    expect(snap.map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`)).toEqual(['archive 6-6', 'snapshot 1-6']);
    expect(await names(target)).toEqual(['snapshot 1-3', 'archive 4-5', 'archive 6-6', 'snapshot 1-6']);
    const report = await verifyPieces(target, await listPieces(target));
    expect(report.problems).toEqual([]);
  });

  it('a new scheduler on the same target goes on from its last piece', async () => {
    const { t, s, target, dir } = await setup(2);
    await s.backupNow('snapshot');
    await sealNext(t);
    const again = new BackupScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging'),
      snapshotIntervalMs: 1,
      archiveIntervalMs: 1,
      retention: {},
      logger: log,
    });
    expect((await again.backupNow('archive')).map((p) => `${p.startBlock}-${p.endBlock}`)).toEqual(['3-3']);
  });

  it('a new scheduler reports, when it first reads the target, when its newest snapshot and archive were stored', async () => {
    const { t, s, target, dir } = await setup(2);
    await s.backupNow('snapshot');
    await sealNext(t);
    await s.backupNow('archive');
    const listed = await listPieces(target);
    const reads: { kind: string; storedAt: number }[][] = [];
    const again = new BackupScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging'),
      snapshotIntervalMs: 3_600_000,
      archiveIntervalMs: 600_000,
      retention: {},
      logger: log,
      events: { onTargetRead: (newest) => reads.push(newest) },
    });
    cleanups.push(() => again.stop());
    again.start(); // its first tick reads the target
    for (let i = 0; i < 200 && reads.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const byKind = (k: string) => Math.max(...listed.filter((p) => p.kind === k).map((p) => p.storedAt));
    expect(reads[0]?.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { kind: 'archive', storedAt: byKind('archive') },
      { kind: 'snapshot', storedAt: byKind('snapshot') },
    ]);
  });

  it('a node restored to an older block: its archives continue its own snapshot, not the pieces beyond its head, so nothing is lost', async () => {
    // The target holds S10, A11-20, A21-30 (of the timeline the node left); the node now runs at block 25.
    const { t, s, dir, target } = await setup(25, undefined, { retention: { keepLast: 1 } });
    const D = '0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    for (const [kind, startBlock, endBlock] of [
      ['snapshot', 1n, 10n],
      ['archive', 11n, 20n],
      ['archive', 21n, 30n],
    ] as const)
      writeFileSync(join(dir, 'bk', pieceName({ kind, startBlock, endBlock, time: 1000n + endBlock, digest: D })), '');
    expect((await s.backupNow('snapshot')).map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`)).toEqual(['snapshot 1-25']);
    expect(await names(target)).toEqual(['snapshot 1-25', 'archive 21-30']); // the newest piece stays
    for (let i = 0; i < 3; i++) await sealNext(t);
    expect((await s.backupNow('archive')).map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`)).toEqual(['archive 26-28']);
    for (let i = 0; i < 4; i++) await sealNext(t);
    expect((await s.backupNow('archive')).map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`)).toEqual(['archive 29-32']);
    expect(await names(target)).toEqual(['snapshot 1-25', 'archive 26-28', 'archive 29-32']);
    expect(planRestore(await listPieces(target)).reach).toBe(32n);
    expect((await verifyPieces(target, await listPieces(target))).problems).toEqual([]);
  });

  it('retention runs after each piece', async () => {
    const { t, s, target } = await setup(1, undefined, { retention: { keepLast: 1 } });
    await s.backupNow('snapshot');
    await sealNext(t);
    await s.backupNow('archive');
    await sealNext(t);
    await s.backupNow('snapshot');
    expect(await names(target)).toEqual(['snapshot 1-3']);
  });

  it('a target that fails every put: retried, reported once, nothing visible or staged, and the next piece starts from the same place', async () => {
    let puts = 0;
    let failing = true;
    const { t, s, target, dir, failures } = await setup(2, (d) => {
      const inner = new LocalDirTarget(join(d, 'bk'));
      return Object.assign(Object.create(inner) as BackupTarget, {
        put: async (...args: Parameters<BackupTarget['put']>) => {
          puts++;
          if (failing) throw new Error('upload refused');
          return inner.put(...args);
        },
      });
    });
    await expect(s.backupNow('snapshot')).rejects.toThrow('upload refused');
    expect(puts).toBe(3);
    expect(failures).toEqual(['snapshot']);
    expect(await names(target)).toEqual([]);
    expect(readdirSync(join(dir, 'bk'))).toEqual([]); // the staged file went too
    failing = false;
    await sealNext(t);
    expect((await s.backupNow('snapshot')).map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`)).toEqual(['snapshot 1-3']);
  });

  it('the genesis alone is nothing to back up; after stop, requests are refused', async () => {
    const { s } = await setup(0);
    await expect(s.backupNow('snapshot')).rejects.toSatisfy((e) => e instanceof UserError && e.code === 'FAILED_PRECONDITION');
    await s.stop();
    await expect(s.backupNow('snapshot')).rejects.toThrow();
  });
});
