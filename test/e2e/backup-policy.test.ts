import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CliProcess,
  expectOneLineError,
  processesKilledAfterAll,
  processesKilledAfterEach,
  rpc,
  runCli,
  runCliAsync,
  serverArgs,
  singleValidatorChain,
} from '../helpers/cli.js';
import { DEV_ADDRESS, transactionLoad } from '../helpers/load.js';
import { s3Env, startS3rver } from '../helpers/s3.js';

const start = processesKilledAfterEach(); // a short test's nodes; the scenario's below live through its steps
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

interface ListedJson {
  kind: 'snapshot' | 'archive';
  startBlock: string;
  endBlock: string;
  time: string;
  bytes: number;
  digest: string;
  file: string;
}

const blockAt = (url: string, n: number | string) =>
  rpc<{ number: string; hash: string }>(url, 'eth_getBlockByNumber', [typeof n === 'number' ? `0x${n.toString(16)}` : n, false]);

/** Async: s3rver runs in this process, so a synchronous child would wait for it forever. */
async function list(target: string, env?: Record<string, string>): Promise<ListedJson[]> {
  const r = await runCliAsync(['backup', 'list', '--backup-dir', target, '--json'], env ? { env } : {});
  if (r.code !== 0) throw new Error(`backup list exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ListedJson[];
}

/** Every archive starts right after the piece before it (by name; `backup verify` checks hashes). */
function expectOneChain(pieces: ListedJson[]): void {
  let end = 0;
  for (const p of pieces) {
    if (p.kind === 'archive') expect(Number(p.startBlock), p.file).toBe(end + 1);
    end = Math.max(end, Number(p.endBlock));
  }
}

async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

function metric(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}` : ' '}`) || (labels === '' && l.startsWith(`${name}{`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function stored(p: CliProcess, target: string, kind?: string): number {
  return p.events('backup.stored').filter((l) => l.target === target && (kind === undefined || l.kind === kind)).length;
}

const backupFlags = (dirs: string[]) => [
  ...dirs.flatMap((d) => ['--backup-dir', d]),
  '--backup-snapshot-interval',
  '3s',
  '--backup-archive-interval',
  '1s',
  '--backup-keep-last',
  '2',
  '--prometheus',
  '127.0.0.1:0',
];

describe('scheduled backups', () => {
  /**
   * A sealing node under load backing up to a folder and to S3, and beside it a node whose S3 endpoint
   * does not answer: shared by the steps below, in order, each starting from where the one before left
   * them.
   */
  describe.sequential('a sealing node under load, backing up to a folder and to S3, and one whose S3 does not answer', () => {
    const running = processesKilledAfterAll();
    const startShared = (args: string[], opts: { env?: Record<string, string> } = {}) => {
      const p = new CliProcess(args, opts);
      running.push(p);
      return p;
    };
    let dir: string;
    let node1: string;
    let genesis: string;
    let env: Record<string, string>;
    let folder: string;
    let bucket: string;
    let down: CliProcess;
    let node: CliProcess;
    let load: ReturnType<typeof transactionLoad>;

    beforeAll(async () => {
      ({ dir, node1, genesis } = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] }));
      const s3 = await startS3rver(dir, ['backups']);
      cleanups.push(s3.close);
      env = s3Env(s3.endpoint);
      folder = join(dir, 'bk');
      bucket = 's3://backups/node1';

      // A second node whose S3 endpoint does not answer, running meanwhile.
      const other = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
      down = startShared(
        serverArgs(other.node1, other.genesis, [
          '--seal',
          '--block-time',
          '0.3',
          '--backup-dir',
          's3://backups/down',
          '--backup-snapshot-interval',
          '1s',
          '--backup-retries',
          '2',
          '--backup-retry-delay',
          '100ms',
          '--prometheus',
          '127.0.0.1:0',
        ]),
        { env: { ...env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await closedPort()}` } },
      );

      node = startShared(serverArgs(node1, genesis, ['--seal', '--block-time', '0.2', ...backupFlags([folder, bucket])]), { env });
      load = transactionLoad(await node.rpcUrl());
    }, 60_000);

    it('retention keeps 2 snapshots in each target, the archives from the older one on in one chain, and leaves no staged files', async () => {
      await node.waitFor(() => stored(node, folder, 'snapshot') >= 3 && stored(node, bucket, 'snapshot') >= 3, '3 snapshots in each target', 40_000);
      // The node keeps going meanwhile, so a listing may fall between a new piece and its retention: poll briefly.
      for (const t of [folder, bucket]) {
        await eventually(async () => {
          const pieces = await list(t, env);
          expect(pieces.filter((p) => p.kind === 'snapshot').length, t).toBe(2);
          expect(
            pieces.some((p) => p.kind === 'archive'),
            t,
          ).toBe(true);
          expect(pieces[0]!.kind, t).toBe('snapshot'); // nothing older than the oldest kept snapshot
          expectOneChain(pieces);
        });
      }
      // No staging leftovers: a piece being written has one (pieces come every second), so wait for a moment between pieces.
      await eventually(async () => expect(readdirSync(folder).filter((f) => f.startsWith('.'))).toEqual([]));
    }, 80_000);

    it('backup now over gRPC takes a snapshot to each target, and the metrics report the backups', async () => {
      const now = await runCliAsync(['backup', 'now', '--grpc-address', await node.grpcAddress(), '--json'], { env });
      expect(now.code, now.stderr).toBe(0);
      const taken = JSON.parse(now.stdout) as { kind: string; target: string }[];
      expect(
        taken
          .filter((p) => p.kind === 'snapshot')
          .map((p) => p.target)
          .sort(),
      ).toEqual([bucket, folder].sort());
      const promUrl = `http://${(await node.waitForEvent('metrics.listening')).address}`;
      const m = await metrics(promUrl);
      expect(metric(m, 'basalt_backup_last_success_timestamp_seconds', 'kind="snapshot"')).toBeGreaterThan(Date.now() / 1000 - 30);
      expect(metric(m, 'basalt_backup_bytes', 'kind="archive"')).toBeGreaterThan(0);
      expect(metric(m, 'basalt_backup_duration_seconds_count', 'kind="snapshot"')).toBeGreaterThanOrEqual(3);
      expect(metric(m, 'basalt_chain_head_block')).toBeGreaterThan(10);
      expect(m).toMatch(/^basalt_txpool_pending \d+$/m);
    }, 40_000);

    it('killed with -9 as soon as a piece starts: nothing partial is visible, and the next start goes on from the last piece in one chain', async () => {
      const startedSoFar = () => node.events('backup.started').length;
      const before = startedSoFar();
      await node.waitFor(() => startedSoFar() > before, 'a piece in progress', 20_000);
      const killedPid = node.child.pid!;
      await node.stop('SIGKILL');
      await load.stop().catch(() => undefined);
      const leftByKill = readdirSync(folder).filter((f) => f.startsWith('.'));
      const afterKill = await list(folder);
      const lastBeforeKill = Number(afterKill[afterKill.length - 1]!.endBlock);
      node = startShared(serverArgs(node1, genesis, ['--seal', '--block-time', '0.2', ...backupFlags([folder, bucket])]), { env });
      await node.rpcUrl();
      await node.waitFor(() => stored(node, folder) >= 1 && stored(node, bucket) >= 1, 'a piece after the restart', 20_000);
      // The first piece after the restart may be taken before the node seals a new block (it then ends
      // where the last one did): pieces come every second, so a later one goes past it.
      let resumed = await list(folder);
      await eventually(async () => {
        resumed = await list(folder);
        expect(Number(resumed[resumed.length - 1]!.endBlock)).toBeGreaterThan(lastBeforeKill);
      });
      expectOneChain(resumed);
      // The killed run's staged files were removed (the new run may be staging its own piece meanwhile).
      const stillThere = readdirSync(folder).filter((f) => f.startsWith('.'));
      expect(stillThere.filter((f) => leftByKill.includes(f) || f.endsWith(`-${killedPid}`))).toEqual([]);
      if (leftByKill.length > 0) expect(node.events('backup.partial-removed').length > 0).toBe(true);
    }, 80_000);

    it('an unreachable S3 target is retried and counted in the metrics, while that node keeps sealing', async () => {
      const downProm = `http://${(await down.waitForEvent('metrics.listening')).address}`;
      await down.waitForEvent('backup.failed', undefined, 20_000);
      expect(down.events('backup.retry').length > 0).toBe(true);
      const failures = metric(await metrics(downProm), 'basalt_backup_failures_total', 'kind="snapshot"');
      expect(failures).toBeGreaterThanOrEqual(1);
      const sealedThen = down.sealed().length;
      await down.waitFor(() => down.sealed().length >= sealedThen + 3, 'blocks after the failures', 10_000);
      await down.stop();
    }, 40_000);

    it('backup verify passes on both targets', async () => {
      for (const t of [folder, bucket]) {
        const v = await runCliAsync(['backup', 'verify', '--backup-dir', t, '--json'], { env });
        expect(v.code, v.stderr).toBe(0);
        expect(JSON.parse(v.stdout)).toMatchObject({ valid: true, problems: [] });
      }
    }, 40_000);

    it('a point-in-time restore from S3 of a block between the two snapshots gives the original block', async () => {
      // The target is listed only once the node has stopped (a running node's retention may drop the
      // oldest snapshot between a listing and the restore); the original, restarted without sealing,
      // is the reference.
      expect((await node.stop()).code).toBe(0);
      const pieces = await list(bucket, env);
      const snaps = pieces.filter((p) => p.kind === 'snapshot');
      const target = Number(snaps[0]!.endBlock) + Math.max(1, Math.floor((Number(snaps[1]!.endBlock) - Number(snaps[0]!.endBlock)) / 2));
      expect(target).toBeLessThan(Number(snaps[1]!.endBlock));
      const reference = startShared(serverArgs(node1, genesis));
      const want = await blockAt(await reference.rpcUrl(), target);
      expect((await reference.stop()).code).toBe(0);
      const restoredDir = join(dir, 'restored');
      const r = await runCliAsync(
        ['backup', 'restore', '--backup-dir', bucket, '--data-dir', restoredDir, '--chain', genesis, '--at-block', String(target), '--json'],
        { env },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ head: String(target), headHash: want.hash, snapshot: snaps[0]!.file });
      const restored = startShared(serverArgs(restoredDir, join(restoredDir, 'genesis.json')));
      const url2 = await restored.rpcUrl();
      expect((await blockAt(url2, 'latest')).number).toBe(`0x${target.toString(16)}`);
      expect((await blockAt(url2, target)).hash).toBe(want.hash);
      await restored.stop();
    }, 90_000);

    it('a flipped byte in an archive: backup verify names the file', async () => {
      const local = (await list(folder)).find((p) => p.kind === 'archive')!.file;
      const path = join(folder, local);
      const bytes = readFileSync(path);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      writeFileSync(path, bytes);
      const bad = runCli(['backup', 'verify', '--backup-dir', folder]);
      expectOneLineError(bad, new RegExp(`^error: 1 damaged or missing: ${local.replace(/\./g, '\\.')}: `));
    }, 30_000);
  });

  it('backup now without --backup-dir on the node is a one-line FAILED_PRECONDITION; bad flags and missing folders are one line each', {
    timeout: 90_000,
  }, async () => {
    const { node1, genesis, dir } = singleValidatorChain();
    const node = start(serverArgs(node1, genesis, []));
    const r = await runCliAsync(['backup', 'now', '--grpc-address', await node.grpcAddress()]);
    expectOneLineError(r, /^error: this node takes no scheduled backups: start it with --backup-dir/);
    expectOneLineError(runCli(['backup', 'list', '--backup-dir', join(dir, 'nope')]), /^error: backup folder .*nope does not exist$/);
    expectOneLineError(
      runCli(['backup', 'restore', '--backup-dir', join(dir, 'nope'), '--data-dir', join(dir, 'r'), '--chain', genesis, '--at-time', 'yesterday']),
      /--at-time.*ISO 8601/,
    );
    expectOneLineError(
      runCli([
        'backup',
        'restore',
        '--backup-dir',
        join(dir, 'nope'),
        '--data-dir',
        join(dir, 'r'),
        '--chain',
        genesis,
        '--at-block',
        '1',
        '--at-time',
        '2026-01-01T00:00:00Z',
      ]),
      /^error: pass only one of --at-block and --at-time$/,
    );
    // Bad flags stop the server before it opens anything.
    for (const [flags, pattern] of [
      [['--backup-dir', 's3://UPPER/x'], /is not s3:\/\/bucket\/prefix/],
      [['--backup-dir', join(dir, 'b'), '--backup-keep-last', '-1'], /--backup-keep-last.*not a whole number/],
      [['--backup-dir', join(dir, 'b'), '--backup-snapshot-interval', '0'], /must be more than 0/],
      [['--backup-dir', join(dir, 'b'), '--backup-dir', join(dir, 'b')], /the same --backup-dir is given twice/],
    ] as [string[], RegExp][]) {
      expectOneLineError(runCli(serverArgs(join(dir, 'fresh'), genesis, flags)), pattern);
    }
    expect(existsSync(join(dir, 'fresh'))).toBe(false);
  });
});

/** Run `check` until it passes, for up to 10 s. */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
