import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, expectOneLineError, processesKilledAfterEach, runCli, serverArgs, singleValidatorChain } from '../helpers/cli.js';

/**
 * The backup commands as an operator meets them on a real machine: whose genesis is trusted, what
 * interrupted runs leave, pipes that close, disks that fill, paths that are not plain files.
 * One chain, made once, worked on offline (--data-dir).
 */
const start = processesKilledAfterEach();
let chain: ReturnType<typeof singleValidatorChain>;
let genesisHash: string;
let snapshot: string;
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

beforeAll(async () => {
  chain = singleValidatorChain();
  const node = start(serverArgs(chain.node1, chain.genesis, ['--seal', '--block-time', '0.02']));
  await node.waitForBlock(60);
  expect((await node.stop()).code).toBe(0);
  snapshot = join(chain.dir, 'node.bsn');
  const s = runCli(['snapshot', snapshot, '--data-dir', chain.node1, '--json']);
  expect(s.code, s.stderr).toBe(0);
  genesisHash = (JSON.parse(s.stdout) as { genesisHash: string }).genesisHash;
  expect(genesisHash).toMatch(/^0x[0-9a-f]{64}$/);
}, 60_000);

describe('whose genesis a restore trusts', () => {
  it('needs --chain, --genesis-hash or --trust-snapshot-genesis, and every summary names the chain', () => {
    const { dir, genesis, node1 } = chain;
    expectOneLineError(
      runCli(['restore', snapshot, '--data-dir', join(dir, 'r0')]),
      /pass --chain genesis\.json .*--genesis-hash 0x.*--trust-snapshot-genesis/,
    );
    expectOneLineError(runCli(['restore', snapshot, '--data-dir', join(dir, 'r0'), '--genesis-hash', `0x${'11'.repeat(32)}`]), /not the expected 0x1111/);
    expect(existsSync(join(dir, 'r0'))).toBe(false);

    const trusted = runCli(['restore', snapshot, '--data-dir', join(dir, 'r1'), '--trust-snapshot-genesis', '--seals', 'set-changes', '--quiet']);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(trusted.stderr.split('\n')[0]).toMatch(/^warning: --trust-snapshot-genesis/);
    expect(trusted.stderr).toContain(`chain ID 100, genesis ${genesisHash} (trusted from: snapshot (unverified))`);
    // One validator throughout: the head's seals vouch for every header below it.
    expect(trusted.stderr).toMatch(
      /^Seals checked on 1 of \d+ blocks \(where the validator set changes, and the head\); the other headers by their hash links/m,
    );
    // `restore`'s default: every block's seals (the file may not be one this operator made).
    const byHash = runCli(['restore', snapshot, '--data-dir', join(dir, 'r2'), '--genesis-hash', genesisHash, '--json']);
    expect(byHash.code, byHash.stderr).toBe(0);
    const summary = JSON.parse(byHash.stdout) as { head: string; sealedBlocks: number };
    expect(summary).toMatchObject({ chainId: '100', genesisHash, trustAnchor: 'genesis hash' });
    expect(summary.sealedBlocks).toBe(Number(summary.head));

    const exp = runCli(['export', join(dir, 'a.bsa'), '1', '20', '--data-dir', node1, '--json']);
    expect(exp.code, exp.stderr).toBe(0);
    expect(JSON.parse(exp.stdout)).toMatchObject({ chainId: '100', genesisHash });
    const imp = runCli(['import', join(dir, 'a.bsa'), '--data-dir', join(dir, 'node3'), '--chain', genesis]);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stderr).toContain(`chain ID 100, genesis ${genesisHash}`);

    const bare = runCli(['archive', 'verify', join(dir, 'a.bsa')]);
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toContain(`chain ID 100, genesis ${genesisHash} (as the file states it)`);
    expect(bare.stdout).toMatch(/^not checked: the chain binding .*; the validator set .*; the execution /m);
    const json = JSON.parse(runCli(['archive', 'verify', join(dir, 'a.bsa'), '--json']).stdout) as { notChecked: string[] };
    expect(json.notChecked).toEqual(['chain binding', 'validator set', 'execution']);
    const full = runCli(['archive', 'verify', join(dir, 'a.bsa'), '--chain', genesis]);
    expect(full.stdout).not.toContain('not checked');
    const inspect = runCli(['archive', 'inspect', join(dir, 'a.bsa')]);
    expect(inspect.stdout).toContain(`Genesis      ${genesisHash}`);
    expect(inspect.stdout).not.toContain('Created');
  });
});

describe('leftovers of interrupted runs', () => {
  it('the next run for the same target removes them and says so; a live process keeps its own', () => {
    const { dir, genesis, node1 } = chain;
    const pid = deadPid();
    writeFileSync(join(dir, `.b.bsa.partial-${pid}`), 'half an archive');
    writeFileSync(join(dir, `.b.bsa.partial-${process.pid}`), 'a running export');
    mkdirSync(join(dir, `.r3.restoring-${pid}`));
    writeFileSync(join(dir, `.r3.restoring-${pid}`, 'CURRENT'), 'half a data dir');

    const exp = runCli(['export', join(dir, 'b.bsa'), '--data-dir', node1, '--quiet']);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stderr).toContain(`note: removed ${join(dir, `.b.bsa.partial-${pid}`)} left by process ${pid}`);
    const res = runCli(['restore', snapshot, '--data-dir', join(dir, 'r3'), '--chain', genesis, '--quiet']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`note: removed ${join(dir, `.r3.restoring-${pid}`)} left by process ${pid}`);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-') || f.includes('.restoring-'))).toEqual([`.b.bsa.partial-${process.pid}`]);
  });

  /** A repository of one backup of node 1 (made once), that backup under a second manifest too, as a prune stopped before it deleted the old one leaves it. */
  let repository: string | undefined;
  const repositoryOfTwoManifests = () => {
    const { dir, node1 } = chain;
    if (repository !== undefined) return repository;
    const data = join(dir, 'node-repo');
    cpSync(node1, data, { recursive: true });
    const repo = join(dir, 'repo');
    const created = runCli(['backup', 'create', '--data-dir', data, '--backup-dir', repo, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const name = (JSON.parse(created.stdout) as { backup: string }).backup;
    const copy = Buffer.from(JSON.stringify(JSON.parse(readFileSync(join(repo, name), 'utf8')), null, 1));
    writeFileSync(join(repo, `${name.slice(0, -64)}${createHash('sha256').update(copy).digest('hex')}`), copy);
    repository = repo;
    return repo;
  };

  it('a backup an interrupted prune left under two manifests is listed and counted once', () => {
    const repo = repositoryOfTwoManifests();
    const list = runCli(['backup', 'list', '--backup-dir', repo, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout) as unknown[]).toHaveLength(1);
    const verify = runCli(['backup', 'verify', '--backup-dir', repo]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^ok {7}manifest-\S+ \(another manifest of the backup manifest-/m);
    expect(verify.stdout).toMatch(/^OK: 1 backups,/m);
  });

  it('backup restore from a repository removes them too', () => {
    const { dir, genesis } = chain;
    const repo = repositoryOfTwoManifests();
    const pid = deadPid();
    mkdirSync(join(dir, `.r4.restoring-${pid}`));
    writeFileSync(join(dir, `.r4.restoring-${pid}`, 'CURRENT'), 'half a data dir');
    const res = runCli(['backup', 'restore', '--backup-dir', repo, '--data-dir', join(dir, 'r4'), '--chain', genesis, '--quiet']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`note: removed ${join(dir, `.r4.restoring-${pid}`)} left by process ${pid}`);
    expect(readdirSync(dir).filter((f) => f.startsWith('.r4.'))).toEqual([]);
  });

  it('a damaged manifest beside a good one: backup list and restore pass it over with a note line; verify names it DAMAGED and checks the rest', () => {
    const { dir, genesis } = chain;
    const repo = join(dir, 'repo-junk');
    cpSync(repositoryOfTwoManifests(), repo, { recursive: true });
    const junk = `manifest-00000000000000000001-${'0'.repeat(64)}`;
    writeFileSync(join(repo, junk), 'not a manifest');
    const note = `note: passed over ${junk}, which cannot be read (`;
    const list = runCli(['backup', 'list', '--backup-dir', repo, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout) as unknown[]).toHaveLength(1);
    expect(list.stderr).toContain(note);
    const res = runCli(['backup', 'restore', '--backup-dir', repo, '--data-dir', join(dir, 'r-junk'), '--chain', genesis]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(note);
    expect(res.stderr).toMatch(/^Restored block /m);
    const verify = runCli(['backup', 'verify', '--backup-dir', repo]);
    expect(verify.code).not.toBe(0);
    expect(verify.stdout).toContain(`DAMAGED  ${junk}: `);
    expect(verify.stdout).toMatch(/^ok {7}manifest-\S+$/m); // the backup itself checked, and whole
  });
});

describe('rough edges: one line, or a quiet exit, never a stack trace', () => {
  it('an unexpected failure (not a UserError) is one line, its stack only with BASALT_DEBUG', () => {
    // A preloaded module makes the command line's parsing throw a plain Error of two lines.
    const preload = join(chain.dir, 'throw.mjs');
    const commander = pathToFileURL(createRequire(import.meta.url).resolve('commander')).href;
    writeFileSync(
      preload,
      `import { Command } from '${commander}';\nCommand.prototype.parseAsync = async () => { throw new Error('the disk caught fire\\nsecond line'); };\n`,
    );
    const env = { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` };
    const plain = runCli(['status'], { env });
    expect(plain.code).toBe(1);
    expect(plain.stderr).toBe('error: unexpected failure: the disk caught fire\n');
    const debug = runCli(['status'], { env: { ...env, BASALT_DEBUG: '1' } });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^error: unexpected failure: the disk caught fire\nError: the disk caught fire\nsecond line\n {4}at /);
  });

  it('export - into a pipe whose reader went away exits quietly with 141', async () => {
    const child = spawn(process.execPath, [CLI, 'export', '-', '--data-dir', chain.node1, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // like `| head` having read enough
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise((res) => child.on('exit', res));
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });

  it('export --force replaces only a regular file; restore refuses a file as target', () => {
    const { dir, node1, genesis } = chain;
    const fifo = join(dir, 'fifo.bsa');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const link = join(dir, 'link.bsa');
    symlinkSync(join(dir, 'elsewhere.bsa'), link);
    expectOneLineError(runCli(['export', fifo, '--data-dir', node1, '--force']), /fifo\.bsa is a FIFO, not a regular file/);
    expectOneLineError(runCli(['export', link, '--data-dir', node1, '--force']), /link\.bsa is a symbolic link, not a regular file/);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(existsSync(join(dir, 'elsewhere.bsa'))).toBe(false);
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    expectOneLineError(runCli(['restore', snapshot, '--data-dir', file, '--chain', genesis]), /plain exists and is not a folder/);
    expectOneLineError(runCli(['restore', snapshot, '--data-dir', join(file, 'sub'), '--chain', genesis]), /plain is not a folder/);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  describe('a full disk and a read-only one', () => {
    const mnt = () => join(chain.dir, 'mnt');
    let mounted = false;
    beforeAll(() => {
      mkdirSync(mnt());
      const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', mnt()], { encoding: 'utf8' });
      mounted = m.status === 0;
      if (!mounted) console.log(`skipping the disk tests: cannot mount a tmpfs here (${(m.stderr || String(m.error)).trim()})`);
      else writeFileSync(join(mnt(), 'filler'), Buffer.alloc(12 * 1024)); // one 4 KiB page left
    });
    afterAll(() => {
      if (mounted) spawnSync('umount', [mnt()]);
    });

    it('export to a full disk, to a file or through stdout: one line, no partial file', (ctx) => {
      if (!mounted) return ctx.skip();
      expectOneLineError(runCli(['export', join(mnt(), 'x.bsa'), '--data-dir', chain.node1]), /cannot write .*x\.bsa: .*ENOSPC|no space left/i);
      expect(readdirSync(mnt())).toEqual(['filler']);
      const fd = openSync(join(mnt(), 'out.bsa'), 'w');
      try {
        const r = spawnSync(process.execPath, [CLI, 'export', '-', '--data-dir', chain.node1, '--quiet'], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
        expectOneLineError({ code: r.status, stderr: r.stderr }, /^error: cannot write to stdout: .*(ENOSPC|no space left)/i);
      } finally {
        closeSync(fd);
      }
    });

    it('export and restore into a read-only folder: one line naming the cause', (ctx) => {
      if (!mounted) return ctx.skip();
      // A leftover that cannot be removed (as another user's in a sticky /tmp) is kept with a warning, not a failure of its own.
      const pid = deadPid();
      const leftover = join(mnt(), `.z.bsa.partial-${pid}`);
      writeFileSync(leftover, '');
      expect(spawnSync('mount', ['-o', 'remount,ro', mnt()]).status).toBe(0);
      expectOneLineError(runCli(['export', join(mnt(), 'y.bsa'), '--data-dir', chain.node1]), /cannot write in .*mnt: .*(EROFS|read-only)/i);
      const z = runCli(['export', join(mnt(), 'z.bsa'), '--data-dir', chain.node1, '--quiet']);
      expect(z.code).toBe(1);
      expect(z.stderr.trim().split('\n')).toEqual([
        `warning: cannot remove ${leftover}: EROFS, left by process ${pid} (interrupted earlier run): kept`,
        expect.stringMatching(/^error: cannot write in .*mnt: .*(EROFS|read-only)/i),
      ]);
      expectOneLineError(
        runCli(['restore', snapshot, '--data-dir', join(mnt(), 'r'), '--chain', chain.genesis]),
        /cannot create .*\.r\.restoring-\d+: .*(EROFS|read-only)/i,
      );
    });
  });
});
