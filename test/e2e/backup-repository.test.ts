import { cpSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, processesKilledAfterEach, rpc, runCliAsync, serverArgs, singleValidatorChain } from '../helpers/cli.js';
import { DEV_ADDRESS, DEV_KEY, transactionLoad } from '../helpers/load.js';
import { s3Env, startS3rver } from '../helpers/s3.js';

const start = processesKilledAfterEach();

/** `n` transfers from the dev account to fresh addresses, then wait until they are all in blocks. */
async function transfers(url: string, n: number, salt: number): Promise<void> {
  const wallet = new Wallet(DEV_KEY);
  let nonce = Number(BigInt(await rpc<string>(url, 'eth_getTransactionCount', [DEV_ADDRESS, 'pending'])));
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) {
    const raw = await wallet.signTransaction({
      type: 2,
      chainId: 100,
      nonce: nonce++,
      to: `0x${(salt * 10_000 + i + 1).toString(16).padStart(40, '0')}`,
      value: 1n,
      gasLimit: 21000,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
    });
    hashes.push(await rpc<string>(url, 'eth_sendRawTransaction', [raw]));
  }
  for (const h of hashes) {
    for (let i = 0; (await rpc(url, 'eth_getTransactionReceipt', [h])) === null; i++) {
      if (i > 200) throw new Error(`transaction ${h} not mined`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The error a JSON-RPC call answers (it must answer one). */
async function rpcError(url: string, method: string, params: unknown[]): Promise<{ code: number; message: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { error?: { code: number; message: string } };
  if (!body.error) throw new Error(`${method} answered without an error`);
  return body.error;
}

const blockAt = (url: string, n: bigint | 'latest') =>
  rpc<{ number: string; hash: string }>(url, 'eth_getBlockByNumber', [n === 'latest' ? n : `0x${n.toString(16)}`, false]);

interface Created {
  backup: string;
  head: string;
  headHash: string;
  added: { objects: number; bytes: number; blocks: string; nodes: number; codes: number };
}

describe.sequential('a backup repository from the CLI (issue #21)', () => {
  const chain = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
  const repo = join(chain.dir, 'repo');
  let first: Created;
  let second: Created;
  /** Block hashes of the original chain, by number. */
  const original = new Map<bigint, string>();

  /** Run the node for `n` transfers in blocks, record its blocks, stop it. */
  const runNode = async (n: number, salt: number) => {
    const node = start(serverArgs(chain.node1, chain.genesis, ['--seal', '--block-time', '0.2', '--no-libp2p']));
    const url = await node.rpcUrl();
    await transfers(url, n, salt);
    expect((await node.stop()).code).toBe(0);
    // every block it sealed up to its stop (reading the head over RPC before the stop missed those sealed after)
    for (const b of node.sealed()) original.set(BigInt(b.number), b.hash);
    expect(original.has(BigInt(node.events('node.stopped')[0]!.head))).toBe(true);
  };

  beforeAll(async () => {
    await runNode(40, 1);
  }, 60_000);

  it("backup create stores a stopped node's history and state; a node running on the data dir refuses it in one line", { timeout: 60_000 }, async () => {
    const r = await runCliAsync(['backup', 'create', '--data-dir', chain.node1, '--backup-dir', repo, '--json']);
    expect(r.code, r.stderr).toBe(0);
    first = JSON.parse(r.stdout) as Created;
    expect(first.added.nodes).toBeGreaterThan(40);
    expect(BigInt(first.added.blocks)).toBe(BigInt(first.head));
    expect(first.headHash).toBe(original.get(BigInt(first.head)));

    const node = start(serverArgs(chain.node1, chain.genesis, ['--no-libp2p']));
    await node.rpcUrl();
    const locked = await runCliAsync(['backup', 'create', '--data-dir', chain.node1, '--backup-dir', repo]);
    expectOneLineError(locked, /locked by another running node/);
    expect((await node.stop()).code).toBe(0);
  });

  it('a second backup after a few transfers stores the new blocks and the trie nodes they changed: far fewer bytes', { timeout: 60_000 }, async () => {
    await runNode(3, 2);
    const r = await runCliAsync(['backup', 'create', '--data-dir', chain.node1, '--backup-dir', repo, '--json']);
    expect(r.code, r.stderr).toBe(0);
    second = JSON.parse(r.stdout) as Created;
    expect(BigInt(second.head)).toBeGreaterThan(BigInt(first.head));
    expect(BigInt(second.added.blocks)).toBeLessThanOrEqual(BigInt(second.head) - BigInt(first.head) + 8192n); // the new blocks (and the unfinished segment's piece)
    console.log(
      `first backup: ${first.added.bytes} bytes (${first.added.blocks} blocks, ${first.added.nodes} nodes); second, ${BigInt(second.head) - BigInt(first.head)} blocks later: ${second.added.bytes} bytes (${second.added.blocks} blocks, ${second.added.nodes} nodes)`,
    );
    expect(second.added.nodes).toBeGreaterThan(0);
    expect(second.added.nodes).toBeLessThan(first.added.nodes / 3);
    expect(second.added.bytes).toBeLessThan(first.added.bytes / 2);
    // and the human summary says what it stored
    const again = await runCliAsync(['backup', 'create', '--data-dir', chain.node1, '--backup-dir', repo]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(
      /^Backup of block \d+ \(0x[0-9a-f]{64}\) as manifest-\d+-[0-9a-f]{64} in .*: stored .* new \(0 blocks, 0 trie nodes, 0 codes\)/m,
    );
  });

  it('backup list shows the backups, newest last', async () => {
    const r = await runCliAsync(['backup', 'list', '--backup-dir', repo, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as { kind: string; endBlock: string; file: string }[];
    expect(rows.map((x) => x.kind)).toEqual(['backup', 'backup', 'backup']);
    expect(rows.map((x) => x.endBlock)).toEqual([first.head, second.head, second.head]);
    expect(rows[0]!.file).toBe(first.backup);
  });

  it('backup verify reads the repository whole, or a part of it at a time; a bad part is one line; a damaged pack is named, and fails it', {
    timeout: 60_000,
  }, async () => {
    const all = await runCliAsync(['backup', 'verify', '--backup-dir', repo, '--json']);
    expect(all.code, all.stderr).toBe(0);
    const report = JSON.parse(all.stdout) as { valid: boolean; objectsRead: number; backups: { ok: boolean }[] };
    expect(report.valid).toBe(true);
    expect(report.backups.map((b) => b.ok)).toEqual([true, true, true]);
    const part = await runCliAsync(['backup', 'verify', '--backup-dir', repo, '--read-data-subset', '1/2']);
    expect(part.code, part.stderr).toBe(0);
    expect(part.stdout).toMatch(/^OK: 3 backups, \d+ objects read \(packs, segments, genesis files\) \(part 1 of 2\)$/m);
    expectOneLineError(await runCliAsync(['backup', 'verify', '--backup-dir', repo, '--read-data-subset', '3/2']), /is not n\/m/);
    // A copy with one byte of a pack flipped: verify names the pack and the backups it breaks, and fails.
    const damaged = join(chain.dir, 'repo-damaged');
    cpSync(repo, damaged, { recursive: true });
    const pack = readdirSync(damaged).find((f) => f.startsWith('pack-'))!;
    const bytes = readFileSync(join(damaged, pack));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(join(damaged, pack), bytes);
    const bad = await runCliAsync(['backup', 'verify', '--backup-dir', damaged]);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toMatch(/^DAMAGED {2}manifest-/m);
    expectOneLineError(bad, new RegExp(`^error: \\d+ damaged or missing: .*${pack}: `));
  });

  it('backup restore builds a data dir at the newest backup; the node serves at its head at once and back-fills the history from the repository', {
    timeout: 90_000,
  }, async () => {
    const dataDir = join(chain.dir, 'restored');
    const r = await runCliAsync(['backup', 'restore', '--backup-dir', repo, '--data-dir', dataDir, '--chain', chain.genesis, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const head = BigInt(second.head);
    expect(JSON.parse(r.stdout)).toMatchObject({
      head: second.head,
      headHash: second.headHash,
      blocksImported: '0',
      backfill: { from: '1', to: String(head - 1n) },
      sealedBlocks: 1, // `backup restore`'s default: one validator throughout, so the head's seals alone
    });
    // Where the disk goes: headers of every block, bodies of the genesis and the head only, and the gap.
    const inspect = await runCliAsync(['db', 'inspect', '--data-dir', dataDir, '--json', '--quiet']);
    expect(inspect.code, inspect.stderr).toBe(0);
    const rows = (JSON.parse(inspect.stdout) as { rows: { kind: string; entries: number }[] }).rows;
    const entries = (kind: string) => rows.find((x) => x.kind === kind)?.entries;
    expect([entries('headers (h)'), entries('bodies (b)'), entries('history gap (HistoryGap)')]).toEqual([Number(head) + 1, 2, 1]);
    const table = await runCliAsync(['db', 'inspect', '--data-dir', dataDir, '--quiet']);
    expect(table.stdout).toMatch(/^blockchain +headers \(h\) +\d+ +[\d.]+ (B|KiB)$/m);
    // The repository out of reach: the node still serves at its head; the blocks below it are "pruned
    // history" until the back-fill gets them, and status says why it waits.
    const copyDir = join(chain.dir, 'restored-peers');
    const copy = await runCliAsync(['backup', 'restore', '--backup-dir', repo, '--data-dir', copyDir, '--chain', chain.genesis]);
    expect(copy.code, copy.stderr).toBe(0);
    // Without --quiet (not a TTY): a line as each phase begins, in its own unit, then the summary.
    for (const line of [
      /^restore: restoring manifest-/m,
      /^restore: blocks: \d+ blocks$/m,
      /^restore: packs: \d+ packs$/m,
      /^restore: checking the genesis file/m,
      /^Restored block /m,
    ])
      expect(copy.stderr).toMatch(line);
    const away = `${repo}.away`;
    renameSync(repo, away);
    try {
      const node = start(serverArgs(dataDir, join(dataDir, 'genesis.json'), ['--no-libp2p']));
      const url = await node.rpcUrl();
      expect((await blockAt(url, 'latest')).hash).toBe(second.headHash);
      const balance = await rpc<string>(url, 'eth_getBalance', [`0x${(2 * 10_000 + 1).toString(16).padStart(40, '0')}`, 'latest']);
      expect(BigInt(balance)).toBe(1n);
      await node.waitForEvent('history.backfill-failed');
      const gapAnswer = await rpcError(url, 'eth_getBlockByNumber', ['0x1', false]);
      expect(gapAnswer).toMatchObject({ code: 4444 });
      expect(gapAnswer.message).toMatch(/^pruned history unavailable: block 1 is not held on this node yet/);
      expect(await rpcError(url, 'eth_getBlockReceipts', ['0x1'])).toMatchObject({ code: 4444 });
      const status = await runCliAsync(['status', '--grpc-address', await node.grpcAddress(), '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        history: { backfillFrom: 1, backfillTo: Number(head - 1n), error: expect.stringMatching(/does not exist/) },
      });
      expect((await node.stop()).code).toBe(0);
      // With peers: a copy restored from the same backup back-fills from a node that holds the history,
      // the repository still out of reach.
      const holder = start(serverArgs(chain.node1, chain.genesis));
      const follower = start(serverArgs(copyDir, join(copyDir, 'genesis.json'), ['--bootnode', await holder.p2pAddress()]));
      const fUrl = await follower.rpcUrl();
      await follower.waitForEvent('history.backfilled');
      expect(follower.events('history.backfill-started')[0]).toMatchObject({
        from: 1,
        to: Number(head - 1n),
        source: `${repo} (${(JSON.parse(r.stdout) as { backup: string }).backup}), then peers`,
      });
      for (let n = 1n; n <= head; n++) expect((await blockAt(fUrl, n)).hash).toBe(original.get(n));
      expect(await rpc(fUrl, 'eth_getBlockReceipts', ['0x1'])).toEqual(await rpc(await holder.rpcUrl(), 'eth_getBlockReceipts', ['0x1']));
      expect((await follower.stop()).code).toBe(0);
      expect((await holder.stop()).code).toBe(0);
      const copyCheck = await runCliAsync(['db', 'check', '--data-dir', copyDir, '--full', '--json']);
      expect(copyCheck.code, copyCheck.stderr).toBe(0);
    } finally {
      renameSync(away, repo);
    }
    // Back within reach: the next start back-fills every block, the same as the original's.
    const node = start(serverArgs(dataDir, join(dataDir, 'genesis.json'), ['--no-libp2p']));
    const url = await node.rpcUrl();
    await node.waitForEvent('history.backfilled');
    for (let n = 1n; n <= head; n++) expect((await blockAt(url, n)).hash).toBe(original.get(n));
    const status = await runCliAsync(['status', '--grpc-address', await node.grpcAddress(), '--json']);
    expect(JSON.parse(status.stdout).history).toBeUndefined();
    expect((await node.stop()).code).toBe(0);
    const check = await runCliAsync(['db', 'check', '--data-dir', dataDir, '--full', '--json']);
    expect(check.code, check.stderr).toBe(0);
  });

  it('backup restore --at-block gives the original block between two backups; a block past the newest is one line', { timeout: 60_000 }, async () => {
    const point = BigInt(first.head) + 1n;
    const dataDir = join(chain.dir, 'restored-pitr');
    const r = await runCliAsync([
      'backup',
      'restore',
      '--backup-dir',
      repo,
      '--data-dir',
      dataDir,
      '--chain',
      chain.genesis,
      '--at-block',
      String(point),
      '--trusted-block',
      `${first.head}:${first.headHash}`,
      '--json',
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ head: String(point), headHash: original.get(point), backup: first.backup, blocksImported: '1' });
    const late = await runCliAsync([
      'backup',
      'restore',
      '--backup-dir',
      repo,
      '--data-dir',
      join(chain.dir, 'late'),
      '--chain',
      chain.genesis,
      '--at-block',
      String(BigInt(second.head) + 100n),
    ]);
    expectOneLineError(late, /newest backup .* is at block \d+, before block/);
    const restoreArgs = ['backup', 'restore', '--backup-dir', repo, '--data-dir', join(chain.dir, 'untrusted'), '--chain', chain.genesis];
    expectOneLineError(await runCliAsync([...restoreArgs, '--trusted-block', '5']), /"5" is not N:0xHASH/);
    expectOneLineError(
      await runCliAsync([...restoreArgs, '--trusted-block', `1:0x${'ab'.repeat(32)}`]),
      /^error: block 1 is 0x[0-9a-f]{64}, not the trusted 0x(ab){32}: the backup is of another chain, or forged$/,
    );
    expect(existsSync(join(chain.dir, 'untrusted'))).toBe(false);
    expect(existsSync(join(chain.dir, 'late'))).toBe(false);
  });

  it('basalt prune keeps the last states of the stopped node and says what it freed; older states answer in one line; a running node refuses it, and prunes by itself with --state-history', {
    timeout: 60_000,
  }, async () => {
    const r = await runCliAsync(['prune', '--data-dir', chain.node1, '--state-history', '2', '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as { head: string; keptFrom: string; statesKept: number; deleted: number; bytesBefore: number; bytesAfter: number };
    expect(p).toMatchObject({ head: second.head, keptFrom: String(BigInt(second.head) - 1n), statesKept: 2 });
    expect(p.deleted).toBeGreaterThan(0);
    const again = await runCliAsync(['prune', '--data-dir', chain.node1, '--state-history', '2']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^Pruned .*: kept the states of blocks \d+-\d+ \(\d+ trie nodes, \d+ codes\), deleted 0 of \d+ entries; trie\/ .* -> .* in /m);
    const node = start(serverArgs(chain.node1, chain.genesis, ['--no-libp2p']));
    const url = await node.rpcUrl();
    const holder = `0x${(2 * 10_000 + 1).toString(16).padStart(40, '0')}`;
    expect(BigInt(await rpc<string>(url, 'eth_getBalance', [holder, 'latest']))).toBe(1n);
    const old = await rpcError(url, 'eth_getBalance', [holder, '0x1']);
    expect(old.message).toBe(
      `historical state for block 1 is not available: this node keeps the states from block ${p.keptFrom} on (pruned by \`basalt prune\`, or restored at that block)`,
    );
    expectOneLineError(await runCliAsync(['prune', '--data-dir', chain.node1]), /is locked by another running node/);
    expect((await node.stop()).code).toBe(0);
    expectOneLineError(await runCliAsync(['prune', '--data-dir', chain.node1, '--state-history', '0']), /"0" is not a number of states/);

    // Running, it prunes by itself: the last 3 states, every 2 blocks, while it seals.
    const sealer = start(
      serverArgs(chain.node1, chain.genesis, ['--seal', '--block-time', '0.2', '--no-libp2p', '--state-history', '3', '--state-prune-interval', '2']),
    );
    expect((await sealer.waitForEvent('chain.opened')).stateHistory).toBe(3);
    const sealing = await sealer.rpcUrl();
    await transfers(sealing, 3, 3);
    const pruned = await sealer.waitForEvent('state.pruned');
    expect(pruned.keptFrom).toBe(pruned.head - 2);
    const below = await rpcError(sealing, 'eth_getBalance', [holder, `0x${(pruned.keptFrom - 1).toString(16)}`]);
    expect(below.message).toMatch(
      new RegExp(`^historical state for block ${pruned.keptFrom - 1} is not available: this node keeps the states from block \\d+ on`),
    );
    expect(BigInt(await rpc<string>(sealing, 'eth_getBalance', [holder, 'latest']))).toBe(1n);
    expect((await sealer.stop()).code).toBe(0);
    const checked = await runCliAsync(['db', 'check', '--data-dir', chain.node1, '--full', '--json', '--quiet']);
    expect(checked.code, checked.stdout).toBe(0);
    expectOneLineError(
      await runCliAsync(serverArgs(chain.node1, chain.genesis, ['--no-libp2p', '--state-history', 'all'])),
      /this data dir is pruned \(it keeps the states of its last 3 blocks\): it cannot become an archive node/,
    );
  });
});

/** A sealing node's flags for scheduled backups into the repository `target`: a backup and a prune each second, the newest 2 kept. */
const scheduledFlags = (target: string) => [
  '--seal',
  '--block-time',
  '0.2',
  '--no-libp2p',
  '--backup-dir',
  target,
  '--backup-repository',
  '--backup-interval',
  '1s',
  '--backup-keep-last',
  '2',
  '--backup-prune-interval',
  '1s',
];

describe.sequential('scheduled backups into a repository while the node seals under load (issue #21)', () => {
  const chain = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
  const repo = join(chain.dir, 'repo');
  const flags = scheduledFlags(repo);

  it('backs up every interval, each backup storing what changed; retention keeps the newest 2 and prune deletes what the others alone needed; backup now works and --archive is one line', {
    timeout: 60_000,
  }, async () => {
    const node = start(serverArgs(chain.node1, chain.genesis, flags));
    const url = await node.rpcUrl();
    const load = transactionLoad(url);
    await node.waitFor(() => node.events('backup.stored').length >= 3, '3 backups', 40_000);
    // retention removed the oldest backups, so the node pruned what they alone needed (a prune after
    // each removal: one whose removed backup had the state of the next, before the load's first
    // transactions landed, frees nothing)
    await node.waitForEvent('backup.pruned', (e) => e.bytesAfter < e.bytesBefore, 20_000);
    await load.stop();
    const stored = node.events('backup.stored');
    expect(stored.every((e) => e.kind === 'backup' && e.target === repo)).toBe(true);
    const now = await runCliAsync(['backup', 'now', '--grpc-address', await node.grpcAddress(), '--json']);
    expect(now.code, now.stderr).toBe(0);
    const taken = JSON.parse(now.stdout) as { kind: string; bytes: number }[];
    expect(taken.map((p) => p.kind)).toEqual(['backup']);
    // what a backup stores is what changed since the last one, not the chain: far less than a snapshot of it
    const snap = await runCliAsync(['snapshot', join(chain.dir, 'node.bsn'), '--grpc-address', await node.grpcAddress(), '--json', '--quiet']);
    expect(snap.code, snap.stderr).toBe(0);
    expect(taken[0]!.bytes).toBeLessThan((JSON.parse(snap.stdout) as { bytes: number }).bytes / 2);
    expectOneLineError(
      await runCliAsync(['backup', 'now', '--archive', '--grpc-address', await node.grpcAddress()]),
      /backs up into a repository.*drop --archive/,
    );
    expect((await node.stop()).code).toBe(0);
    const list = await runCliAsync(['backup', 'list', '--backup-dir', repo, '--json']);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(2);
    // by hand: what the backups removed since the node's last prune needed goes
    const prune = await runCliAsync(['backup', 'prune', '--backup-dir', repo, '--json']);
    expect(prune.code, prune.stderr).toBe(0);
    const p = JSON.parse(prune.stdout) as { manifests: number; bytesBefore: number; bytesAfter: number };
    expect(p.manifests).toBe(2);
    expect(p.bytesAfter).toBeLessThanOrEqual(p.bytesBefore);
  });

  it('kill -9 during a backup leaves nothing visible; the next start removes what it staged and goes on; the newest backup restores', {
    timeout: 90_000,
  }, async () => {
    let node = start(serverArgs(chain.node1, chain.genesis, flags));
    await node.waitForEvent('backup.started', (e) => e.kind === 'backup');
    await node.stop('SIGKILL');
    node = start(serverArgs(chain.node1, chain.genesis, flags));
    await node.waitFor(() => node.events('backup.stored').length >= 1, 'a backup after the restart', 30_000);
    expect((await node.stop()).code).toBe(0);
    expect(readdirSync(repo).filter((f) => f.startsWith('.'))).toEqual([]);
    const dataDir = join(chain.dir, 'restored');
    const r = await runCliAsync(['backup', 'restore', '--backup-dir', repo, '--data-dir', dataDir, '--chain', chain.genesis, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const restored = JSON.parse(r.stdout) as { head: string; headHash: string };
    const reference = start(serverArgs(chain.node1, chain.genesis, ['--no-libp2p']));
    expect((await blockAt(await reference.rpcUrl(), BigInt(restored.head))).hash).toBe(restored.headHash);
    expect((await reference.stop()).code).toBe(0);
  });

  it("flags: --backup-interval without --backup-repository, and --backup-repository with the pieces' intervals, are one line each", async () => {
    expectOneLineError(
      await runCliAsync(serverArgs(chain.node1, chain.genesis, ['--backup-dir', repo, '--backup-interval', '1s'])),
      /--backup-interval needs --backup-repository/,
    );
    expectOneLineError(
      await runCliAsync(serverArgs(chain.node1, chain.genesis, ['--backup-dir', repo, '--backup-repository', '--backup-snapshot-interval', '1h'])),
      /--backup-repository takes --backup-interval/,
    );
  });
});

describe.sequential('a backup repository in S3 (s3rver)', () => {
  const chain = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
  const bucket = 's3://backups/basalt/repo';
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let env: Record<string, string>;
  beforeAll(async () => {
    s3 = await startS3rver(chain.dir, ['backups']);
    env = s3Env(s3.endpoint);
  });
  afterAll(async () => {
    await s3?.close();
  });

  it('the same objects as in a folder: two backups (the second stores what changed), verify, prune and restore, each a real S3 call', {
    timeout: 90_000,
  }, async () => {
    const heads: string[] = [];
    const added: Created['added'][] = [];
    for (let i = 0; i < 2; i++) {
      const node = start(serverArgs(chain.node1, chain.genesis, ['--seal', '--block-time', '0.2', '--no-libp2p']));
      // the second round pays one of the first round's accounts again: the state's shape is kept and
      // only a few of its nodes change
      await transfers(await node.rpcUrl(), i === 0 ? 5 : 1, 3);
      expect((await node.stop()).code).toBe(0);
      const r = await runCliAsync(['backup', 'create', '--data-dir', chain.node1, '--backup-dir', bucket, '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      heads.push((JSON.parse(r.stdout) as Created).head);
      added.push((JSON.parse(r.stdout) as Created).added);
    }
    // As in a folder: the first stores the whole history and state; the second the blocks since (no
    // block twice) and only the nodes that changed: fewer than the state has, whose shape is unchanged.
    expect(BigInt(added[0]!.blocks)).toBe(BigInt(heads[0]!));
    expect(BigInt(added[1]!.blocks)).toBe(BigInt(heads[1]!) - BigInt(heads[0]!));
    expect(added[1]!.nodes).toBeGreaterThan(0);
    expect(added[1]!.nodes).toBeLessThan(added[0]!.nodes);
    const verify = await runCliAsync(['backup', 'verify', '--backup-dir', bucket, '--json'], { env });
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ valid: true });
    const prune = await runCliAsync(['backup', 'prune', '--backup-dir', bucket, '--json'], { env });
    expect(prune.code, prune.stderr).toBe(0);
    const dataDir = join(chain.dir, 'from-s3');
    const r = await runCliAsync(
      ['backup', 'restore', '--backup-dir', bucket, '--data-dir', dataDir, '--chain', chain.genesis, '--at-block', heads[0]!, '--json', '--quiet'],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ head: heads[0] });
    // nothing staged is left behind beside the data dir
    expect(readdirSync(chain.dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('scheduled backups into S3 under load: retention keeps 2 and the node prunes; the newest restores, serves at its head at once and back-fills from S3', {
    timeout: 90_000,
  }, async () => {
    const sched = 's3://backups/basalt/scheduled';
    const flags = scheduledFlags(sched);
    const node = start(serverArgs(chain.node1, chain.genesis, flags), { env });
    const url0 = await node.rpcUrl();
    const load = transactionLoad(url0, 40, Number(BigInt(await rpc<string>(url0, 'eth_getTransactionCount', [DEV_ADDRESS, 'pending']))));
    await node.waitFor(() => node.events('backup.stored').length >= 3, '3 backups', 40_000);
    // a prune after each removal (a removed backup whose state the next one still holds whole frees
    // nothing: the load's first transactions may land after the first two backups)
    await node.waitForEvent('backup.pruned', (e) => e.bytesAfter < e.bytesBefore, 30_000);
    load.check();
    await load.stop();
    expect((await node.stop()).code).toBe(0);
    expect(node.events('backup.stored').every((e) => e.target === sched)).toBe(true);
    const list = await runCliAsync(['backup', 'list', '--backup-dir', sched, '--json'], { env });
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(2);
    const dataDir = join(chain.dir, 'from-s3-scheduled');
    const r = await runCliAsync(['backup', 'restore', '--backup-dir', sched, '--data-dir', dataDir, '--chain', chain.genesis, '--json', '--quiet'], { env });
    expect(r.code, r.stderr).toBe(0);
    const restored = JSON.parse(r.stdout) as { head: string; headHash: string; backfill: { from: string; to: string } };
    const head = BigInt(restored.head);
    expect(restored.backfill).toEqual({ from: '1', to: String(head - 1n) });
    const copy = start(serverArgs(dataDir, join(dataDir, 'genesis.json'), ['--no-libp2p']), { env });
    const url = await copy.rpcUrl();
    expect((await blockAt(url, 'latest')).hash).toBe(restored.headHash);
    await copy.waitForEvent('history.backfilled');
    expect(copy.events('history.backfill-started')[0]).toMatchObject({ from: 1, to: Number(head - 1n), source: expect.stringContaining(sched) });
    const hashes: string[] = [];
    for (let n = 1n; n <= head; n++) hashes.push((await blockAt(url, n)).hash);
    expect((await copy.stop()).code).toBe(0);
    const reference = start(serverArgs(chain.node1, chain.genesis, ['--no-libp2p']));
    const refUrl = await reference.rpcUrl();
    for (let n = 1n; n <= head; n++) expect(hashes[Number(n) - 1], `block ${n}`).toBe((await blockAt(refUrl, n)).hash);
    expect((await reference.stop()).code).toBe(0);
  });
});
