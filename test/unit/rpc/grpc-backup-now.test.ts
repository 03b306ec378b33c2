import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBackupService } from '../../../src/backup/local.js';
import { listPieces, parsePieceName, type PieceKind } from '../../../src/backup/pieces.js';
import { BackupScheduler } from '../../../src/backup/scheduler.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import type { BackupTarget } from '../../../src/backup/targets/target.js';
import { backupNowRemote } from '../../../src/rpc/grpc/backup-client.js';
import { OperatorServer } from '../../../src/rpc/grpc/server.js';
import { UserError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import { createTestChain, sealNext } from '../../helpers/chain-fixture.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** BackupNow calls made at once, each from a gRPC client of its own. */
const CALLS = 20;

describe('BackupNow over gRPC', () => {
  it('many calls at once take at most two snapshots (the one running, and one for every call queued behind it); one at an unchanged head is refused', async () => {
    const t = await createTestChain(1);
    cleanups.push(() => t.close());
    await sealNext(t);
    await sealNext(t);
    const dir = mkdtempSync(join(tmpdir(), 'basalt-backup-now-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

    // The first upload is held until every call has reached the node; meanwhile a block is sealed, so a
    // backup after it has something new to store.
    let arrived = 0;
    let allArrived!: () => void;
    const held = new Promise<void>((resolve) => (allArrived = resolve));
    const puts: string[] = [];
    const inner = new LocalDirTarget(join(dir, 'bk'));
    const target = Object.assign(Object.create(inner) as BackupTarget, {
      put: async (...args: Parameters<BackupTarget['put']>) => {
        puts.push(args[0]);
        if (puts.length === 1) {
          await held;
          await sealNext(t);
        }
        return inner.put(...args);
      },
    });
    const scheduler = new BackupScheduler({
      chain: t.chain,
      target,
      stagingDir: join(dir, 'staging'),
      snapshotIntervalMs: 3_600_000,
      archiveIntervalMs: 600_000,
      retention: {},
      logger: silentLogger(),
    });
    cleanups.push(() => scheduler.stop());
    const backupNow = (kind: PieceKind) => {
      if (++arrived === CALLS) allArrived();
      return scheduler.backupNow(kind);
    };
    const server = new OperatorServer(new LocalBackupService(t.chain), silentLogger(), { maxStreams: 1, streamIdleTimeoutMs: 1000 }, undefined, backupNow);
    cleanups.push(() => server.close(100));
    const address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;

    const call = (archive = false) =>
      backupNowRemote(address, archive).then(
        (pieces) => pieces.map((p) => `${p.kind} ${p.startBlock}-${p.endBlock}`).join(', '),
        (err: unknown) => err,
      );
    const answers = await Promise.all(Array.from({ length: CALLS }, () => call()));
    const counted = new Map<unknown, number>();
    for (const a of answers) counted.set(a, (counted.get(a) ?? 0) + 1);
    // The first call's snapshot at block 2; every other call joined the one queued behind it (block 3).
    expect(counted).toEqual(
      new Map([
        ['snapshot 1-2', 1],
        ['archive 3-3, snapshot 1-3', CALLS - 1],
      ]),
    );
    const named = (files: string[]) => files.map((f) => parsePieceName(f)).map((p) => `${p?.kind} ${p?.startBlock}-${p?.endBlock}`);
    expect(named(puts), 'two snapshots uploaded, and the archive closing the chain before the second').toEqual(['snapshot 1-2', 'archive 3-3', 'snapshot 1-3']);

    // The head has not moved since: a snapshot would be the one just stored again.
    const again = await call();
    expect(again).toBeInstanceOf(UserError);
    expect((again as UserError).code).toBe('FAILED_PRECONDITION');
    expect((again as UserError).message).toMatch(
      /^no new blocks since the last snapshot \(snapshot-000000003-[^)]+\), which ends at the head \(block 3\): nothing new to snapshot$/,
    );
    expect(await call(true)).toSatisfy((e) => e instanceof UserError && /^no new blocks since the last piece \(snapshot-000000003-/.test(e.message));
    expect(named((await listPieces(inner)).map((p) => p.file))).toEqual(['snapshot 1-2', 'archive 3-3', 'snapshot 1-3']);
    expect(puts).toHaveLength(3);

    // A new block: a snapshot again.
    await sealNext(t);
    expect(await call()).toBe('archive 4-4, snapshot 1-4');
  });
});
