import { copyFileSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { bytesToHex } from '@ethereumjs/util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { listPieces, pieceName } from '../../../src/backup/pieces.js';
import { planRestore } from '../../../src/backup/point-in-time.js';
import { BackupScheduler, backupNowEach, NothingNewError, type SchedulerOptions } from '../../../src/backup/scheduler.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import type { BackupTarget } from '../../../src/backup/targets/target.js';
import { inspectArchive, verifyArchive } from '../../../src/backup/verify-archive.js';
import { verifyPieces } from '../../../src/backup/verify-pieces.js';
import { UserError } from '../../../src/util/errors.js';
import { Genesis } from '../../../src/chain/genesis-source.js';
import type { IbftEngine } from '../../../src/consensus/ibft/engine.js';
import { sealBlock } from '../../../src/consensus/ibft/seal.js';
import { addressOf, createTestChain, openTestChain, sealNext, testGenesis, testKey, type TestChain } from '../../helpers/chain-fixture.js';

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

  /** Pieces of the timeline a node left (empty files), stored an hour ago. */
  function leftTimeline(dir: string, pieces: (readonly ['snapshot' | 'archive', bigint, bigint])[]): void {
    const D = '0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const [kind, startBlock, endBlock] of pieces) {
      const f = join(dir, 'bk', pieceName({ kind, startBlock, endBlock, time: 1000n + endBlock, digest: D }));
      writeFileSync(f, '');
      utimesSync(f, hourAgo, hourAgo);
    }
  }
  const left = [
    ['snapshot', 1n, 10n],
    ['archive', 11n, 20n],
    ['archive', 21n, 30n],
    ['snapshot', 1n, 30n],
  ] as const;
  const stored = (p: { kind: string; startBlock: bigint; endBlock: bigint }[]) => p.map((x) => `${x.kind} ${x.startBlock}-${x.endBlock}`);

  it('a node restored to an older block: its snapshot is the newest (stored last), kept by keep-last 1, and its archives continue it, not the higher pieces of the timeline it left', async () => {
    // The target holds S10, A11-20, A21-30, S30 of the timeline the node left; the node now runs at block 25.
    const { t, s, dir, target } = await setup(25, undefined, { retention: { keepLast: 1 } });
    leftTimeline(dir, [...left]);
    expect(stored(await s.backupNow('snapshot'))).toEqual(['snapshot 1-25']);
    expect(await names(target)).toEqual(['snapshot 1-25']);
    for (let i = 0; i < 7; i++) await sealNext(t);
    expect(stored(await s.backupNow('archive'))).toEqual(['archive 26-32']);
    expect(await names(target)).toEqual(['snapshot 1-25', 'archive 26-32']);
    expect(planRestore(await listPieces(target)).reach).toBe(32n);
    expect((await verifyPieces(target, await listPieces(target))).problems).toEqual([]);
  });

  it('without retention the timeline left stays: a restarted scheduler, reading the stored times from the target, goes on from its own chain, and a restore takes it', async () => {
    const { t, s, dir, target } = await setup(25);
    leftTimeline(dir, [...left]);
    expect(stored(await s.backupNow('snapshot'))).toEqual(['snapshot 1-25']);
    for (let i = 0; i < 3; i++) await sealNext(t);
    expect(stored(await s.backupNow('archive'))).toEqual(['archive 26-28']);
    await s.stop();
    for (let i = 0; i < 4; i++) await sealNext(t);
    const again = new BackupScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging'),
      snapshotIntervalMs: 1,
      archiveIntervalMs: 1,
      retention: {},
      logger: log,
    });
    cleanups.push(() => again.stop());
    expect(stored(await again.backupNow('archive'))).toEqual(['archive 29-32']);
    const plan = planRestore(await listPieces(target));
    expect([plan.snapshot.endBlock, plan.archives.map((a) => a.endBlock), plan.reach]).toEqual([25n, [28n, 32n], 32n]);
  });

  it('backup verify of a target with the pieces of two timelines: each archive is checked against the piece of its own before it, no overlap reported; a missing one is still named', async () => {
    // Timeline 1: S10, A11-20, A21-30, S30. Timeline 2: the same blocks 1-25, then its own (other timestamps): S25, A26-30, A31-32.
    const { t, s, dir, target } = await setup(10);
    await s.backupNow('snapshot');
    for (const _ of [1, 2]) {
      for (let i = 0; i < 10; i++) await sealNext(t);
      await s.backupNow('archive');
    }
    await s.backupNow('snapshot');
    await s.stop();
    const t2 = await createTestChain(1);
    cleanups.push(() => t2.close());
    for (let i = 0; i < 25; i++) await sealNext(t2);
    const s2 = new BackupScheduler({
      chain: t2.chain,
      target,
      stagingDir: join(dir, 'staging'),
      snapshotIntervalMs: 1,
      archiveIntervalMs: 1,
      retention: {},
      logger: log,
    });
    cleanups.push(() => s2.stop());
    expect(stored(await s2.backupNow('snapshot'))).toEqual(['snapshot 1-25']);
    for (let i = 0; i < 5; i++) await sealNext(t2, [], 2n);
    expect(stored(await s2.backupNow('archive'))).toEqual(['archive 26-30']);
    for (let i = 0; i < 2; i++) await sealNext(t2, [], 2n);
    expect(stored(await s2.backupNow('archive'))).toEqual(['archive 31-32']);
    expect(await names(target)).toEqual([
      'snapshot 1-10',
      'archive 11-20',
      'snapshot 1-25',
      'archive 21-30',
      'archive 26-30',
      'snapshot 1-30',
      'archive 31-32',
    ]);
    expect((await verifyPieces(target, await listPieces(target))).problems).toEqual([]);
    expect(planRestore(await listPieces(target)).reach).toBe(32n);
    // Without timeline 2's A26-30, its A31-32 continues none of the pieces ending at block 30 (timeline 1's).
    await target.delete((await listPieces(target)).find((p) => p.startBlock === 26n)!.file);
    const problems = (await verifyPieces(target, await listPieces(target))).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^archive-000000031-000000032-.*: its first block's parent 0x[0-9a-f]{64} is not the last block 0x[0-9a-f]{64} of archive-000000021-000000030-.*, nor 0x[0-9a-f]{64} of snapshot-000000030-.* \(the pieces are not one chain\)$/,
    );
  });

  it("a node restored to a block where the timeline it left has an archive starting right after: its archives do not continue that one (the blocks' times differ)", async () => {
    // Timeline 1: S10, A11-25, A26-30, S30. Timeline 2: the same blocks 1-25, then its own, sealed later (other timestamps).
    const { t, s, dir, target } = await setup(10);
    await s.backupNow('snapshot');
    for (const to of [25, 30]) {
      while (t.chain.head.number < BigInt(to)) await sealNext(t);
      await s.backupNow('archive');
    }
    await s.backupNow('snapshot');
    await s.stop();
    const t2 = await createTestChain(1);
    cleanups.push(() => t2.close());
    for (let i = 0; i < 25; i++) await sealNext(t2);
    const s2 = new BackupScheduler({
      chain: t2.chain,
      target,
      stagingDir: join(dir, 'staging'),
      snapshotIntervalMs: 1,
      archiveIntervalMs: 1,
      retention: {},
      logger: log,
    });
    cleanups.push(() => s2.stop());
    expect(stored(await s2.backupNow('snapshot'))).toEqual(['snapshot 1-25']);
    // By the next archive the head is past timeline 1's A26-30.
    for (let i = 0; i < 15; i++) await sealNext(t2, [], 2n);
    expect(stored(await s2.backupNow('archive'))).toEqual(['archive 26-40']);
    const pieces = await listPieces(target);
    expect((await verifyPieces(target, pieces)).problems).toEqual([]);
    const plan = planRestore(pieces);
    expect([plan.snapshot.endBlock, ...plan.archives.map((a) => `${a.startBlock}-${a.endBlock}`)]).toEqual([25n, '26-40']);
  });

  it('backup verify of a chain with an emergency validator-set change: by the genesis file the newest snapshot carries, or --chain; without one that names the change, it is not checked, not damage', async () => {
    const { genesis, keys } = testGenesis(4);
    const all = [...keys, testKey(4), testKey(5)];
    // From block 4, validator 0 and two keys the genesis set never had decide.
    const changed = structuredClone(genesis);
    changed.params.engine.ibft.validatorSetChanges = [{ block: 4, validators: [0, 4, 5].map((i) => addressOf(testKey(i))) }];
    const dir = mkdtempSync(join(tmpdir(), 'basalt-sched-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const open = async (g: typeof genesis) => {
      const c = await openTestChain(g, join(dir, `chain-${cleanups.length}`));
      cleanups.push(() => c.close());
      return c.chain;
    };
    const scheduler = (chain: TestChain['chain'], target: BackupTarget) => {
      const s = new BackupScheduler({
        chain,
        target,
        stagingDir: join(dir, 'staging'),
        snapshotIntervalMs: 3_600_000,
        archiveIntervalMs: 600_000,
        retention: {},
        logger: log,
      });
      cleanups.push(() => s.stop());
      return s;
    };
    // Sealed by the proposer and a quorum of the set the engine says decides the block (the change's from block 4).
    const seal = async (chain: TestChain['chain'], blocks: number) => {
      for (let i = 0; i < blocks; i++) {
        const parent = chain.head.header;
        const fields = chain.engine.nextHeader(parent);
        const set: string[] = chain.engine.validatorsAfter(parent).map((v) => bytesToHex(v));
        const signers = all.filter((k) => set.includes(addressOf(k)));
        const proposer = signers.find((k) => addressOf(k) === bytesToHex(fields.coinbase))!;
        const quorum = (chain.engine as IbftEngine).quorumAt(parent.number + 1n, set.length);
        await chain.produceBlock({ ...fields, timestamp: parent.timestamp + 1n }, [], async (built) =>
          sealBlock(built.block, proposer, signers.slice(0, quorum), chain.commonAt(built.block.header.number)),
        );
      }
    };
    const piecesOf = async (target: BackupTarget) => (await listPieces(target)).map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`);
    const verify = async (target: BackupTarget, g?: typeof genesis) => {
      const r = await verifyPieces(target, await listPieces(target), g ? { genesis: await Genesis.of(g), scratchDir: dir } : {});
      return { problems: r.problems, notChecked: r.notChecked };
    };

    // The nodes' genesis file named the change before its block: every snapshot carries it.
    const chain = await open(changed);
    const target = new LocalDirTarget(join(dir, 'all'));
    const s = scheduler(chain, target);
    await seal(chain, 2);
    await s.backupNow('snapshot');
    await seal(chain, 3);
    await s.backupNow('archive');
    await seal(chain, 1);
    await s.backupNow('snapshot');
    expect(await piecesOf(target)).toEqual(['snapshot 1-2', 'archive 3-5', 'archive 6-6', 'snapshot 1-6']);
    expect(await verify(target)).toEqual({ problems: [], notChecked: [] });
    expect(await verify(target, changed)).toEqual({ problems: [], notChecked: [] });

    // Archives alone carry no genesis file: the change is not checked, and not reported as damage; --chain checks it.
    const archives = new LocalDirTarget(join(dir, 'archives'), true);
    for (const p of await listPieces(target)) if (p.kind === 'archive') copyFileSync(join(dir, 'all', p.file), join(dir, 'archives', p.file));
    const gap = expect.stringMatching(/^archive-000000003-000000005-.*: no snapshot or archive before it holds block 2 \(blocks before 3 are missing\)$/);
    const bare = await verify(archives);
    expect(bare.problems).toEqual([gap]);
    expect(bare.notChecked).toHaveLength(1);
    expect(bare.notChecked[0]).toMatch(
      /^archive-000000003-000000005-.*: the validator set changes without a vote at block 4, taken as the emergency change \(params\.engine\.ibft\.validatorSetChanges\) a genesis file would name \(no genesis file in hand names it: pass --chain\)$/,
    );
    expect(await verify(archives, changed)).toEqual({ problems: [gap], notChecked: [] });
    // `archive inspect` and `archive verify` without --chain say the same of the file.
    const file = (await listPieces(archives))[0]!.file;
    expect((await inspectArchive(archives.get(file))).unexplainedSetChanges).toEqual({ count: 1, first: [4n] });
    const alone = await verifyArchive(() => archives.get(file), undefined);
    expect(alone.notChecked.find((n) => n.what === 'validator set')?.why).toMatch(
      /; the validator set changes without a vote at block 4, taken as the emergency change/,
    );
    // A genesis file without the change: strict, the block is damage.
    const strict = await verify(archives, genesis);
    expect(strict.problems).toHaveLength(2);
    expect(strict.problems[0]).toMatch(
      /^archive-000000003-000000005-.*: block 4 is invalid: validator set differs from its parent without a vote \(archive is corrupt or forged\)$/,
    );
    const other = structuredClone(changed);
    other.params.chainID = 101;
    other.genesis.timestamp = '0x1';
    expect((await verify(archives, other)).problems[0]).toMatch(
      /^archive-000000003-000000005-.*: of another chain \(chain ID 100, genesis 0x[0-9a-f]{64}\) than --chain \(genesis 0x[0-9a-f]{64}\)$/,
    );

    // The change put into the genesis file after the newest snapshot (whose copy lacks it): not checked past that snapshot's head.
    const before = await open(genesis);
    await seal(before, 2);
    const later = new LocalDirTarget(join(dir, 'later'), true);
    await scheduler(before, later).backupNow('snapshot');
    const after = await open(changed);
    for (let n = 1n; n <= 2n; n++) await after.importBlock((await before.blockByNumber(n))!);
    await seal(after, 3);
    await scheduler(after, later).backupNow('archive');
    expect(await piecesOf(later)).toEqual(['snapshot 1-2', 'archive 3-5']);
    const stale = await verify(later);
    expect(stale.problems).toEqual([]);
    expect(stale.notChecked).toEqual([expect.stringMatching(/^archive-000000003-000000005-.*: the validator set changes without a vote at block 4,/)]);
  });

  it('backup now into several targets: one whose newest snapshot already ends at the head refuses it, and the targets behind it still take theirs', async () => {
    const { t, s, dir, target } = await setup(2);
    expect(stored(await s.backupNow('snapshot'))).toEqual(['snapshot 1-2']);
    // A second target, empty (as one whose last upload failed would be behind).
    const behind = new LocalDirTarget(join(dir, 'behind'));
    const s2 = new BackupScheduler({
      chain: t.chain,
      target: behind,
      stagingDir: join(dir, 'staging'),
      tag: 'behind',
      snapshotIntervalMs: 3_600_000,
      archiveIntervalMs: 600_000,
      retention: {},
      logger: log,
    });
    cleanups.push(() => s2.stop());
    const nothingNew = /^no new blocks since the last snapshot \(snapshot-000000002-[^)]+\), which ends at the head \(block 2\): nothing new to snapshot$/;
    await expect(s.backupNow('snapshot')).rejects.toThrow(nothingNew);
    const both = () => backupNowEach([() => s.backupNow('snapshot'), () => s2.backupNow('snapshot')]);
    expect((await both()).map((p) => `${p.target === target.url ? 'first' : 'behind'}: ${p.kind} ${p.startBlock}-${p.endBlock}`)).toEqual([
      'behind: snapshot 1-2',
    ]);
    // Every target refusing: the first refusal.
    await expect(both()).rejects.toSatisfy((e) => e instanceof UserError && e.code === 'FAILED_PRECONDITION' && nothingNew.test(e.message));
    expect(await names(target)).toEqual(['snapshot 1-2']);
  });

  it("backup now into several targets passes over only a target's nothing-new refusal: another FAILED_PRECONDITION (a repository's lock, a limit) fails the call", async () => {
    const locked = () => Promise.reject(new UserError('the repository is locked by a prune', { code: 'FAILED_PRECONDITION' }));
    const piece = { kind: 'snapshot' } as Awaited<ReturnType<typeof backupNowEach>>[number];
    const stores = () => Promise.resolve([piece]);
    await expect(backupNowEach([locked, stores])).rejects.toThrow(/^the repository is locked by a prune$/);
    await expect(backupNowEach([stores, locked])).rejects.toThrow(/^the repository is locked by a prune$/);
    // nothing new in one, nothing stored anywhere: that refusal
    await expect(
      backupNowEach([() => Promise.reject(new NothingNewError('no new blocks since the last piece (x)')), () => Promise.resolve([])]),
    ).rejects.toThrow(/^no new blocks/);
  });

  it("a snapshot stored a year ahead by the target's clock counts as stored now, said once: the next snapshot is taken after one interval, and the time reported is not ahead", async () => {
    const { t, s, target, dir } = await setup(2);
    await s.backupNow('snapshot');
    const yearAhead = new Date(Date.now() + 365 * 86_400_000);
    for (const p of await listPieces(target)) utimesSync(join(dir, 'bk', p.file), yearAhead, yearAhead);
    const aheadAt = Math.max(...(await listPieces(target)).map((p) => p.storedAt)); // as the file system keeps it
    await sealNext(t);
    const lines: { event?: string; at?: string }[] = [];
    const stored: string[] = [];
    const reads: number[] = [];
    const again = new BackupScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging'),
      snapshotIntervalMs: 300,
      archiveIntervalMs: 0,
      retention: {},
      logger: pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) }),
      events: { onStored: (p) => stored.push(`${p.kind} ${p.startBlock}-${p.endBlock}`), onTargetRead: (n) => reads.push(...n.map((x) => x.storedAt)) },
    });
    cleanups.push(() => again.stop());
    const started = Date.now();
    again.start();
    for (let i = 0; i < 1000 && !stored.includes('snapshot 1-3'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(stored).toEqual(['archive 3-3', 'snapshot 1-3']); // the archive up to its head first, as always
    expect(reads).toHaveLength(1);
    expect(reads[0]).toBeGreaterThanOrEqual(started);
    expect(reads[0]).toBeLessThanOrEqual(Date.now());
    expect(lines.filter((l) => l.event === 'backup.time-in-future').map((l) => l.at)).toEqual([new Date(aheadAt).toISOString()]);
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
