import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backupToRepository } from '../../../src/backup/repository/backup.js';
import { manifestName, type Manifest } from '../../../src/backup/repository/format.js';
import { LocalIndex } from '../../../src/backup/repository/local-index.js';
import { MANIFEST_READS, Repository, type ManifestSummary } from '../../../src/backup/repository/repository.js';
import { restoreRepositoryAt } from '../../../src/backup/repository/restore.js';
import { RepositoryScheduler } from '../../../src/backup/repository/scheduler.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import type { BackupTarget, StagedPiece, TargetEntry } from '../../../src/backup/targets/target.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

/** A folder target that counts the manifests being read at once, and may stall the reads of some objects until their reader aborts. */
class WatchedTarget implements BackupTarget {
  inFlight = 0;
  maxInFlight = 0;
  manifestReads = 0;
  /** Names whose read waits, before its first byte, for the reader's signal to abort (forever without one). */
  stall: (name: string) => boolean = () => false;
  /** Called when a read stalls. */
  onStall: () => void = () => undefined;
  /** Names listed though they are not there (deleted since the listing). */
  phantoms: string[] = [];

  constructor(readonly inner: LocalDirTarget) {}
  get url() {
    return this.inner.url;
  }
  get stagingDir() {
    return this.inner.stagingDir;
  }
  put(name: string, staged: StagedPiece, signal?: AbortSignal) {
    return this.inner.put(name, staged, signal);
  }
  async list(): Promise<TargetEntry[]> {
    return [...(await this.inner.list()), ...this.phantoms.map((name) => ({ name, bytes: 10, storedAt: Date.now() }))];
  }
  delete(name: string) {
    return this.inner.delete(name);
  }
  close() {}
  get(name: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const self = this;
    return (async function* () {
      if (self.stall(name)) {
        self.onStall();
        await new Promise<never>((_, reject) => {
          if (signal?.aborted) reject(signal.reason);
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      }
      const manifest = name.startsWith('manifest-');
      if (manifest) {
        self.manifestReads++;
        self.maxInFlight = Math.max(self.maxInFlight, ++self.inFlight);
      }
      try {
        yield* self.inner.get(name, signal);
      } finally {
        if (manifest) self.inFlight--;
      }
    })();
  }
  reset() {
    this.inFlight = 0;
    this.maxInFlight = 0;
    this.manifestReads = 0;
  }
}

const MANIFESTS = 2000;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let t: TestChain;
let dir: string;
beforeAll(async () => {
  t = await createTestChain(
    1,
    Array.from({ length: 20 }, (_, i) => addressOf(testKey(100 + i))),
  ); // a state of some nodes: a backup stores a pack
  dir = mkdtempSync(join(tmpdir(), 'basalt-repo-listing-'));
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A repository of `MANIFESTS` manifests of the test chain as a node without retention leaves them:
 * manifest k names k packs (every pack of the backups before it, and its own), so they hold
 * MANIFESTS²/2 pack names together (~140 MB of JSON), while the repository has MANIFESTS packs.
 * Written directly (the objects they name are not there: only the listing is under test).
 */
function manyManifests(folder: string): { newest: Manifest } {
  mkdirSync(folder, { recursive: true });
  const packs = Array.from({ length: MANIFESTS }, (_, i) => `pack-${sha(`pack ${i}`)}`);
  const now = Date.now();
  let newest: Manifest | undefined;
  for (let k = 1; k <= MANIFESTS; k++) {
    const m: Manifest = {
      format: 'basalt-backup',
      version: 1,
      chainId: t.chain.chainId.toString(),
      genesisHash: bytesToHex(t.chain.genesisHash),
      head: { number: String(k), hash: bytesToHex(randomBytes(32)), stateRoot: bytesToHex(randomBytes(32)), timestamp: String(1_700_000_000 + k) },
      genesis: `genesis-${sha('genesis')}`,
      createdAt: new Date(now - (MANIFESTS - k) * 1000).toISOString(),
      segments: [`segment-1-${k}-${sha(`segment ${k}`)}`],
      packs: packs.slice(0, k),
      added: { objects: 2, bytes: 100 },
    };
    const bytes = Buffer.from(JSON.stringify(m));
    writeFileSync(join(folder, manifestName(BigInt(k), sha256Of(bytes))), bytes);
    newest = m;
  }
  return { newest: newest! };
}
const sha256Of = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A summary holds the manifest's fields but not its lists (the lists are what grows with backups × packs). */
const holdsNoLists = (s: ManifestSummary) => !('packs' in s.m) && !('segments' in s.m);

describe('listing a repository of many backups holds summaries, never every manifest whole (memory bounded by its objects, not backups × objects)', () => {
  let target: WatchedTarget;
  let repo: Repository;
  let newest: Manifest;
  const chain = () => ({ chainId: t.chain.chainId.toString(), genesisHash: bytesToHex(t.chain.genesisHash) });

  beforeAll(() => {
    newest = manyManifests(join(dir, 'many')).newest;
    target = new WatchedTarget(new LocalDirTarget(join(dir, 'many')));
    repo = new Repository(target, join(dir, 'staging'));
  }, 60_000);

  it("a chain's manifests (a backup's base choice, retention): summaries without their lists, the lists folded as each is read, at most MANIFEST_READS read at once", async () => {
    target.reset();
    const packs = new Set<string>();
    const read = await repo.chainManifests(chain(), { visit: (_, m) => m.packs.forEach((p) => packs.add(p)) });
    expect(read).toHaveLength(MANIFESTS);
    expect(read.every(holdsNoLists)).toBe(true);
    expect(read.at(-1)!.m.head.hash).toBe(newest.head.hash);
    expect(packs.size).toBe(MANIFESTS); // the distinct packs, not the 2,001,000 names the manifests hold together
    expect(target.manifestReads).toBe(MANIFESTS);
    expect(target.maxInFlight).toBeLessThanOrEqual(MANIFEST_READS);
  }, 60_000);

  it("the scheduler's start (readLast) keeps the interval from the newest backup, from summaries, MANIFEST_READS at a time", async () => {
    target.reset();
    const spy = vi.spyOn(Repository.prototype, 'chainManifests');
    let read: (n: number) => void = () => undefined;
    const storedAt = new Promise<number>((resolve) => (read = resolve));
    const s = new RepositoryScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging-sched'),
      indexDir: join(dir, 'index-sched'),
      intervalMs: 3_600_000,
      retention: {},
      pruneIntervalMs: 0,
      logger: pino({ level: 'silent' }),
      events: { onTargetRead: (newest) => read(newest[0]!.storedAt) },
    });
    try {
      s.start();
      expect(await storedAt).toBe(Date.parse(newest.createdAt));
      const summaries = (await spy.mock.results[0]!.value) as ManifestSummary[];
      expect(summaries).toHaveLength(MANIFESTS);
      expect(summaries.every(holdsNoLists)).toBe(true);
      expect(target.maxInFlight).toBeLessThanOrEqual(MANIFEST_READS);
    } finally {
      spy.mockRestore();
      await s.stop();
    }
  }, 60_000);

  it('`backup list` (readManifests) and a restore read MANIFEST_READS at a time, not every manifest at once', async () => {
    target.reset();
    const listing = await repo.list();
    const listed = await repo.readManifests(
      listing.manifests.map((e) => e.name),
      { listing },
    );
    expect(listed).toHaveLength(MANIFESTS);
    expect(listed.every(holdsNoLists)).toBe(true);
    expect(listed.some((s) => s.whole)).toBe(false); // the objects they name are not there
    expect(target.maxInFlight).toBeLessThanOrEqual(MANIFEST_READS);

    target.reset();
    // The newest is chosen, then read again: its history is not there, so the restore fails after.
    const steps: string[] = [];
    await expect(restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'restored'), genesis: t.genesis, onStep: (s) => steps.push(s) })).rejects.toThrow();
    expect(steps[0]).toBe(`restoring ${listing.manifests.at(-1)!.name}`);
    expect(target.manifestReads).toBeGreaterThanOrEqual(MANIFESTS);
    expect(target.maxInFlight).toBeLessThanOrEqual(MANIFEST_READS);
  }, 60_000);

  it('a backup chooses its base from summaries and completes, reading MANIFEST_READS at a time', async () => {
    target.reset();
    await sealNext(t);
    const index = await LocalIndex.open(join(dir, 'index-many'));
    try {
      const b = await backupToRepository(t.chain, repo, index, { compression: 'zstd' });
      expect(b.added.blocks).toBe(t.chain.head.number); // no base: the manifests' history is not there
      expect(target.maxInFlight).toBeLessThanOrEqual(MANIFEST_READS);
    } finally {
      await index.close();
    }
  }, 60_000);
});

describe('a manifest deleted between the listing and its read (retention in the node; readers take no lock without write access)', () => {
  it('is passed over, said, where the caller passes over what cannot be read; thrown where it does not (a prune)', async () => {
    const folder = join(dir, 'gone');
    const target = new WatchedTarget(new LocalDirTarget(folder));
    const repo = new Repository(target, join(dir, 'staging-gone'));
    const index = await LocalIndex.open(join(dir, 'index-gone'));
    try {
      await sealNext(t);
      const b = await backupToRepository(t.chain, repo, index, { compression: 'zstd' });
      const phantom = `manifest-${'0'.repeat(19)}1-${'e'.repeat(64)}`;
      target.phantoms = [phantom];
      const skipped: string[] = [];
      const read = await repo.chainManifests(
        { chainId: t.chain.chainId.toString(), genesisHash: bytesToHex(t.chain.genesisHash) },
        { onSkipped: (name, why) => skipped.push(`${name}: ${why}`) },
      );
      expect(read.map((s) => s.name)).toEqual([b.manifest]);
      expect(skipped).toEqual([`${phantom}: it was deleted since the listing`]);
      await expect(repo.readManifests([phantom, b.manifest])).rejects.toThrow(/ENOENT/);
      // a backup and a restore go on without it
      await sealNext(t);
      const next = await backupToRepository(t.chain, repo, index, { compression: 'zstd' });
      expect(next.damaged).toEqual([`${phantom}: it was deleted since the listing`]);
      const steps: string[] = [];
      const r = await restoreRepositoryAt(repo, {}, { dataDir: join(dir, 'restored-gone'), genesis: t.genesis, onStep: (s) => steps.push(s) });
      expect(r.head).toBe(next.head);
      expect(steps).toContain(`note: passed over ${phantom}, which cannot be read (it was deleted since the listing; run backup verify)`);
    } finally {
      await index.close();
    }
  }, 60_000);
});

describe('a backup stopped while it reads the repository (the node stopping)', () => {
  /**
   * A backup through a target whose reads of `stalled` objects wait until their reader aborts: the
   * node's abort ends it at once, with the abort's error, wherever it reads (its listing of manifests,
   * the packs its local index loads: a node restored from the repository loads every pack at its first
   * backup). Without the signal passed down to the read, it would wait for the whole download.
   */
  it.each([
    ['reading the manifests', (name: string) => name.startsWith('manifest-')],
    ['loading its local index from the packs', (name: string) => name.startsWith('pack-')],
  ])(
    '%s: it settles with the abort',
    async (what, stalled) => {
      const folder = join(dir, `abort-${what.split(' ')[0]}`);
      const plain = new Repository(new LocalDirTarget(folder), join(dir, 'staging-abort'));
      const first = await LocalIndex.open(join(dir, `index-abort-first-${what}`));
      try {
        await sealNext(t);
        await backupToRepository(t.chain, plain, first, { compression: 'zstd' }); // a committed pack
      } finally {
        await first.close();
      }
      const target = new WatchedTarget(new LocalDirTarget(folder));
      target.stall = stalled;
      let stalledNow: () => void = () => undefined;
      const isStalled = new Promise<void>((resolve) => (stalledNow = resolve));
      target.onStall = () => stalledNow();
      // A new index (a restored node's): its first backup loads every committed pack.
      const index = await LocalIndex.open(join(dir, `index-abort-${what}`));
      try {
        const abort = new AbortController();
        const backup = backupToRepository(t.chain, new Repository(target, join(dir, 'staging-abort')), index, { compression: 'zstd', signal: abort.signal });
        await isStalled;
        abort.abort(new Error('the node is stopping'));
        const stuck = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting for the read'), 10_000).unref());
        await expect(Promise.race([backup.then(() => 'completed'), stuck])).rejects.toThrow('the node is stopping');
        // nothing it did is relied on: the next backup completes
        target.stall = () => false;
        const next = await backupToRepository(t.chain, new Repository(target, join(dir, 'staging-abort')), index, { compression: 'zstd' });
        expect(next.head).toBe(t.chain.head.number);
      } finally {
        await index.close();
      }
    },
    30_000,
  );
});
