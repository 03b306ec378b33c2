import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPieces, pieceName, type Piece } from '../../../src/backup/pieces.js';
import { planRestore, restoreToPoint } from '../../../src/backup/point-in-time.js';
import { BackupScheduler } from '../../../src/backup/scheduler.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import { createTestChain, openTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';

let t: TestChain;
let dir: string;
let target: LocalDirTarget;
const hashes: string[] = [];
const times: bigint[] = [];

// Pieces: snapshot 1-2, archive 3-5, archive 6-6 + snapshot 1-6, archive 7-9 (sealNext: one second between blocks).
beforeAll(async () => {
  t = await createTestChain(1);
  dir = mkdtempSync(join(tmpdir(), 'basalt-pitr-'));
  target = new LocalDirTarget(join(dir, 'bk'));
  const s = new BackupScheduler({
    chain: t.chain,
    target,
    stagingDir: join(dir, 'st'),
    snapshotIntervalMs: 1,
    archiveIntervalMs: 1,
    retention: {},
    logger: pino({ level: 'silent' }),
  });
  const seal = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const b = await sealNext(t);
      hashes.push(bytesToHex((await t.chain.canonicalHash(b.header.number))!)); // the IBFT hash
      times.push(b.header.timestamp);
    }
  };
  await seal(2);
  await s.backupNow('snapshot');
  await seal(3);
  await s.backupNow('archive');
  await seal(1);
  await s.backupNow('snapshot');
  await seal(3);
  await s.backupNow('archive');
  await s.stop();
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

async function headOf(dataDir: string): Promise<{ number: bigint; hash: string }> {
  const c = await openTestChain(t.genesis, dataDir);
  try {
    return { number: c.chain.head.number, hash: bytesToHex(c.chain.head.hash) };
  } finally {
    await c.close();
  }
}

describe('point-in-time restore', () => {
  it('to a block inside an archive: that block is the head, with the original hash', async () => {
    const plan = planRestore(await listPieces(target), { block: 4n });
    expect(plan.snapshot.endBlock).toBe(2n);
    const out = join(dir, 'at4');
    const s = await restoreToPoint(target, plan, { dataDir: out, genesis: t.genesis });
    expect(s.head).toBe(4n);
    expect(await headOf(out)).toEqual({ number: 4n, hash: hashes[3] });
  });

  it('to a time: the last block at or before it', async () => {
    const plan = planRestore(await listPieces(target), { time: times[7]! }); // block 8's own second: included
    const out = join(dir, 'attime');
    const s = await restoreToPoint(target, plan, { dataDir: out, genesis: t.genesis });
    expect(s.head).toBe(8n);
    expect((await headOf(out)).hash).toBe(hashes[7]);
  });

  it('a damaged archive: the error names it, and neither the target nor a work folder is left', async () => {
    const pieces = await listPieces(target);
    const victim = pieces.find((p) => p.kind === 'archive' && p.startBlock === 3n)!;
    const path = join(target.url, victim.file);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    bad[bad.length - 40]! ^= 0xff; // in the trailer's digest
    writeFileSync(path, bad);
    try {
      const out = join(dir, 'damaged');
      await expect(restoreToPoint(target, planRestore(pieces, { block: 5n }), { dataDir: out, genesis: t.genesis })).rejects.toThrow(
        new RegExp(`^${victim.file.replace(/\./g, '\\.')}: `),
      );
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((n) => n.includes('pitr'))).toEqual([]);
    } finally {
      writeFileSync(path, good);
    }
  });

  it('refuses a target that exists and is not empty, before reading anything', async () => {
    const out = join(dir, 'at4'); // made by the first test
    await expect(restoreToPoint(target, planRestore(await listPieces(target), { block: 3n }), { dataDir: out, genesis: t.genesis })).rejects.toThrow(
      /exists and is not an empty folder/,
    );
  });
});

describe('pieces that do not hold what their names say (a target others can write to)', () => {
  /** A new folder target holding copies of `pieces`, each under its own name or the one `rename` gives it. */
  async function targetWith(name: string, pieces: Piece[], rename: (p: Piece) => string = (p) => p.file): Promise<LocalDirTarget> {
    const folder = join(dir, name);
    mkdirSync(folder);
    for (const p of pieces) copyFileSync(join(target.url, p.file), join(folder, rename(p)));
    return new LocalDirTarget(folder);
  }
  const renamed = (p: Piece, to: Partial<Piece>) => pieceName({ ...p, ...to, digest: p.digest8 });

  it('an archive of blocks 7-9 named for 7-12 (its digest prefix right) is refused, not restored to block 9', async () => {
    const pieces = await listPieces(target);
    const last = pieces.find((p) => p.kind === 'archive' && p.startBlock === 7n)!;
    const kept = pieces.filter((p) => p.kind === 'snapshot' && p.endBlock === 6n);
    const other = await targetWith('renamed-archive', [...kept, last], (p) => (p === last ? renamed(p, { endBlock: 12n }) : p.file));
    const plan = planRestore(await listPieces(other));
    expect(plan.reach).toBe(12n);
    const out = join(dir, 'renamed-archive-out');
    await expect(restoreToPoint(other, plan, { dataDir: out, genesis: t.genesis })).rejects.toThrow(
      `${renamed(last, { endBlock: 12n })}: holds blocks 7-9, its name says 7-12`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a snapshot of block 2 named for block 3 is refused at its header', async () => {
    const pieces = await listPieces(target);
    const first = pieces.find((p) => p.kind === 'snapshot' && p.endBlock === 2n)!;
    const other = await targetWith('renamed-snapshot', [first], (p) => renamed(p, { endBlock: 3n }));
    const out = join(dir, 'renamed-snapshot-out');
    await expect(restoreToPoint(other, planRestore(await listPieces(other)), { dataDir: out, genesis: t.genesis })).rejects.toThrow(
      `${renamed(first, { endBlock: 3n })}: its head is block 2, its name says 3`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a snapshot or an archive whose name gives another time for its last block is refused', async () => {
    const pieces = await listPieces(target);
    const first = pieces.find((p) => p.kind === 'snapshot' && p.endBlock === 2n)!;
    const archive = pieces.find((p) => p.kind === 'archive' && p.startBlock === 3n)!;
    const later = (p: Piece) => renamed(p, { time: p.time + 100n });
    for (const [name, victim, message] of [
      ['later-snapshot', first, `${later(first)}: its last block 2 has time ${times[1]}, its name says ${first.time + 100n}`],
      ['later-archive', archive, `${later(archive)}: its last block 5 has time ${times[4]}, its name says ${archive.time + 100n}`],
    ] as const) {
      const other = await targetWith(name, [first, archive], (p) => (p === victim ? later(p) : p.file));
      const out = join(dir, `${name}-out`);
      await expect(restoreToPoint(other, planRestore(await listPieces(other)), { dataDir: out, genesis: t.genesis })).rejects.toThrow(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('the same pieces under their own names restore to the newest block they hold', async () => {
    const pieces = await listPieces(target);
    const kept = pieces.filter((p) => (p.kind === 'snapshot' && p.endBlock === 2n) || (p.kind === 'archive' && p.startBlock === 3n));
    const other = await targetWith('as-named', kept);
    const s = await restoreToPoint(other, planRestore(await listPieces(other)), { dataDir: join(dir, 'as-named-out'), genesis: t.genesis });
    expect(s.head).toBe(5n);
  });
});
