import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBackupService } from '../../../src/backup/local.js';
import { listPieces, parsePieceName, type PieceKind } from '../../../src/backup/pieces.js';
import { BackupScheduler } from '../../../src/backup/scheduler.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import type { BackupTarget } from '../../../src/backup/targets/target.js';
import { backupNowRemote } from '../../../src/rpc/grpc/backup-client.js';
import { operatorClient } from '../../../src/rpc/grpc/proto.js';
import { OperatorServer } from '../../../src/rpc/grpc/server.js';
import { UserError } from '../../../src/util/errors.js';
import { silentLogger } from '../../../src/util/log.js';
import { createTestChain, sealNext } from '../../helpers/chain-fixture.js';
import { until } from '../../helpers/until.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** BackupNow calls made at once, each from a gRPC client of its own. */
const CALLS = 20;

describe('BackupNow over gRPC', () => {
  it('many calls at once take at most two snapshots (the one running, and one for every call queued behind it); one at an unchanged head is refused', async () => {
    // The first upload is held until every call has reached the node; meanwhile a block is sealed, so a
    // backup after it has something new to store.
    const { t, inner, address, puts, release, outcomes } = await heldNode(2);
    void until(() => outcomes.length === CALLS, 'every call at the node', 30_000).then(release);

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

/**
 * A node with one backup target whose first upload is held until `release()`, after which a block is
 * sealed (so a backup queued behind it has something new to store). The node's BackupNow is recorded:
 * `outcomes[i]` is what the scheduler gave the i-th call (pieces, or the error), once it settled.
 */
async function heldNode(blocks = 1) {
  const t = await createTestChain(1);
  cleanups.push(() => t.close());
  for (let i = 0; i < blocks; i++) await sealNext(t);
  const dir = mkdtempSync(join(tmpdir(), 'basalt-backup-now-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
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
  const outcomes: Promise<unknown>[] = [];
  let aborted = 0;
  const backupNow = (kind: PieceKind, signal?: AbortSignal) => {
    signal?.addEventListener('abort', () => aborted++);
    const run = scheduler.backupNow(kind, signal);
    outcomes.push(
      run.then(
        (pieces) => pieces.map((p) => p.kind).join(', '),
        (err: unknown) => err,
      ),
    );
    return run;
  };
  const server = new OperatorServer(new LocalBackupService(t.chain), silentLogger(), { maxStreams: 1, streamIdleTimeoutMs: 1000 }, undefined, backupNow);
  cleanups.push(() => server.close(100));
  const address = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  const client = operatorClient(address);
  cleanups.push(() => client.close());
  /** A BackupNow call, its answer (pieces' kinds, or the gRPC error's code) and a way to cancel it. */
  const call = (archive = false) => {
    let cancel!: () => void;
    const answer = new Promise<string | number>((resolve) => {
      const c = client.BackupNow({ archive }, (err, r) => resolve(err ? (err.code ?? -1) : (r?.pieces ?? []).map((p) => p.kind).join(', ')));
      cancel = () => c.cancel();
    });
    return { answer, cancel };
  };
  return { t, inner, address, puts, release, outcomes, aborted: () => aborted, call };
}

const cancelledByCaller = (e: unknown) => e instanceof UserError && e.code === 'CANCELLED';

describe('BackupNow calls that are cancelled', () => {
  it('a backup queued for a call that was then cancelled is not taken: one snapshot uploaded, and the cancelled call ends CANCELLED on the node', async () => {
    const { puts, release, outcomes, aborted, call } = await heldNode();
    const a = call();
    await until(() => puts.length === 1, "A's snapshot uploading (held)");
    const b = call();
    await until(() => outcomes.length === 2, 'B queued behind A on the node');
    b.cancel();
    await until(() => aborted() === 1, 'the node saw B cancelled');
    release();
    expect(await a.answer).toBe('snapshot');
    // An archive asked for now runs after whatever is queued: had B's snapshot stayed queued, it would
    // have run first (archive and snapshot of the block sealed meanwhile), and this archive found nothing new.
    expect(await call(true).answer).toBe('archive');
    expect(puts.map((f) => parsePieceName(f)?.kind)).toEqual(['snapshot', 'archive']);
    expect(await outcomes[1]).toSatisfy(cancelledByCaller);
    expect(await b.answer).toBe(grpc.status.CANCELLED);
  });

  it('a queued backup two calls wait for still runs for the one that stays when the other cancels', async () => {
    const { puts, release, outcomes, call } = await heldNode();
    const a = call();
    await until(() => puts.length === 1, "A's snapshot uploading (held)");
    const b = call();
    const c = call();
    await until(() => outcomes.length === 3, 'B and C queued behind A on the node');
    b.cancel();
    expect(await outcomes[1]).toSatisfy(cancelledByCaller);
    release();
    expect(await a.answer).toBe('snapshot');
    expect(await c.answer).toBe('archive, snapshot');
    expect(await b.answer).toBe(grpc.status.CANCELLED);
    expect(puts.map((f) => parsePieceName(f)?.kind)).toEqual(['snapshot', 'archive', 'snapshot']);
  });
});
