import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPieces } from '../../../src/backup/pieces.js';
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
