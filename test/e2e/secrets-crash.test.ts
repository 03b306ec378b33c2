import { FileSignedStore, NOTHING_SIGNED } from '../../src/consensus/ibft/core/sign-journal.js';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, processesKilledAfterEach, serverArgs, singleValidatorChain, tempDir } from '../helpers/cli.js';

const startNode = processesKilledAfterEach();
const PASSPHRASE = 'a long enough passphrase';
const KEYS = ['keystore/libp2p.key', 'consensus/validator.key'] as const;
const NOBODY = 65534;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real CLI with $BASALT_PASSPHRASE set, optionally as another user. */
function cli(args: string[], opts: { uid?: number } = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NO_COLOR: '1', BASALT_PASSPHRASE: PASSPHRASE },
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Non-zero exit; stderr, JSON log lines aside, is one `error:` line matching `pattern`, and no stack trace. */
function oneErrorLine(r: Run, pattern: RegExp, opts: { grpcLog?: boolean; notes?: RegExp } = {}): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('{'))
    // grpc-js logs a failed bind itself ("E No address added..."), before Basalt's error line: not this test's subject
    .filter((l) => !(opts.grpcLog && /^E No address added/.test(l)))
    // `note:` lines the case expects (what a start cleaned up), each checked by `notes`
    .filter((l) => !(opts.notes && l.startsWith('note: ') && opts.notes.test(l)));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

function ok(r: Run): Run {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

function noKeysIn(dir: string): void {
  for (const rel of KEYS) expect(existsSync(join(dir, rel)), join(dir, rel)).toBe(false);
}

/** Every file under a key folder of `dir`. */
function keyFolderFiles(dir: string): string[] {
  return ['keystore', 'consensus'].flatMap((f) => (existsSync(join(dir, f)) ? readdirSync(join(dir, f)).map((n) => `${f}/${n}`) : [])).sort();
}

function listenOnFreePort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

describe('keys under crash and failed starts', () => {
  let chain: ReturnType<typeof singleValidatorChain>;
  let backup: string;
  let keyText: Record<string, string>;

  beforeAll(() => {
    chain = singleValidatorChain({ chainId: 779 });
    backup = join(chain.dir, 'keys.bkb');
    ok(cli(['secrets', 'backup', backup, '--data-dir', chain.node1]));
    keyText = Object.fromEntries(KEYS.map((rel) => [rel, readFileSync(join(chain.node1, rel), 'utf8')]));
  });

  /** Restore the backup into `dataDir` and start a node on it: it goes by the backed-up validator. */
  async function restoreAndStart(dataDir: string): Promise<void> {
    ok(cli(['secrets', 'restore', backup, '--data-dir', dataDir]));
    for (const rel of KEYS) expect(readFileSync(join(dataDir, rel), 'utf8')).toBe(keyText[rel]);
    const node = startNode(serverArgs(dataDir, chain.genesis));
    expect((await node.waitForEvent('chain.opened')).validator).toBe(chain.validator);
    expect((await node.stop()).code).toBe(0);
  }

  it('a server whose port is in use, on a fresh data dir, exits with one line and no keys: secrets restore then works', async () => {
    const taken = await listenOnFreePort();
    try {
      const dataDir = join(tempDir(), 'fresh');
      const jsonrpc = cli([
        'server',
        '--data-dir',
        dataDir,
        '--chain',
        chain.genesis,
        '--jsonrpc',
        `127.0.0.1:${taken.port}`,
        '--ws',
        '127.0.0.1:0',
        '--grpc-address',
        '127.0.0.1:0',
        '--no-libp2p',
        '--log-format',
        'json',
      ]);
      oneErrorLine(jsonrpc, /cannot listen for JSON-RPC on 127\.0\.0\.1:\d+: address in use/);
      noKeysIn(dataDir);
      const grpc = cli([
        'server',
        '--data-dir',
        dataDir,
        '--chain',
        chain.genesis,
        '--jsonrpc',
        '127.0.0.1:0',
        '--ws',
        '127.0.0.1:0',
        '--grpc-address',
        `127.0.0.1:${taken.port}`,
        '--no-libp2p',
        '--log-format',
        'json',
      ]);
      oneErrorLine(grpc, /cannot listen for gRPC on 127\.0\.0\.1:\d+/, { grpcLog: true });
      noKeysIn(dataDir);
      await restoreAndStart(dataDir);
    } finally {
      taken.server.close();
    }
  });

  it('a server given a bad genesis, or one that differs from the stored chain, leaves no keys: secrets restore then works', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ not json');
    const fresh = join(dir, 'fresh');
    oneErrorLine(cli(serverArgs(fresh, bad)), /bad\.json/);
    noKeysIn(fresh);

    // A data dir holding a chain but no keys (as a snapshot restore leaves it), started with the wrong genesis.
    const withChain = join(dir, 'with-chain');
    const first = startNode(serverArgs(withChain, chain.genesis));
    await first.waitForEvent('chain.opened');
    expect((await first.stop()).code).toBe(0);
    rmSync(join(withChain, 'keystore'), { recursive: true });
    rmSync(join(withChain, 'consensus'), { recursive: true });
    const other = join(dir, 'other.json');
    ok(cli(['genesis', '--dir', other, '--ibft-validator', chain.validator, '--chain-id', '780']));
    oneErrorLine(cli(serverArgs(withChain, other)), /genesis mismatch/);
    noKeysIn(withChain);
    expect(keyFolderFiles(withChain)).toEqual([]);
    await restoreAndStart(withChain);
  });

  it('restore recovers a data dir an interrupted key write left: an empty key and a leftover temp file', () => {
    const dataDir = join(tempDir(), 'n');
    mkdirSync(join(dataDir, 'keystore'), { recursive: true });
    mkdirSync(join(dataDir, 'consensus'));
    writeFileSync(join(dataDir, KEYS[0]), ''); // what versions before this one left when killed mid-write
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(dataDir, `consensus/.validator.key.${deadPid}.tmp`), 'abc');
    const r = ok(cli(['secrets', 'restore', backup, '--data-dir', dataDir, '--json']));
    expect(r.stderr).toMatch(/^note: removed .*\.validator\.key\.\d+\.tmp, left by an interrupted key write/m);
    expect(r.stderr).toMatch(/^note: removed .*libp2p\.key: empty \(0 bytes\)/m);
    expect(keyFolderFiles(dataDir)).toEqual(['consensus/validator.key', 'keystore/libp2p.key']);
    for (const rel of KEYS) expect(readFileSync(join(dataDir, rel), 'utf8')).toBe(keyText[rel]);
  });

  it('a server finishes a key write that was killed after its commit, and starts with those keys', async () => {
    const dataDir = join(tempDir(), 'n');
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    for (const rel of KEYS) {
      const [folder, name] = rel.split('/') as [string, string];
      mkdirSync(join(dataDir, folder), { recursive: true, mode: 0o700 });
      writeFileSync(join(dataDir, folder, `.${name}.${deadPid}.tmp`), keyText[rel]!, { mode: 0o600 });
    }
    linkSync(join(dataDir, `keystore/.libp2p.key.${deadPid}.tmp`), join(dataDir, KEYS[0])); // the commit; killed before validator.key
    const node = startNode(serverArgs(dataDir, chain.genesis));
    expect((await node.waitForEvent('chain.opened')).validator).toBe(chain.validator);
    expect(node.logs.some((l) => l.level === 40 && /^finished writing .*validator\.key/.test(l.msg))).toBe(true);
    expect((await node.stop()).code).toBe(0);
    expect(keyFolderFiles(dataDir)).toEqual(['consensus/validator.key', 'keystore/libp2p.key']);
  });

  it('a key beside an empty one: server, restore and backup refuse with one line naming the files', () => {
    const dataDir = join(tempDir(), 'n');
    ok(cli(['secrets', 'restore', backup, '--data-dir', dataDir]));
    writeFileSync(join(dataDir, KEYS[1]), '');
    oneErrorLine(cli(serverArgs(dataDir, chain.genesis)), /libp2p\.key exists but .*consensus\/validator\.key is empty \(0 bytes\): a node needs both keys/);
    oneErrorLine(cli(['secrets', 'restore', backup, '--data-dir', dataDir]), /libp2p\.key already exists: refusing to overwrite a key/);
    oneErrorLine(cli(['secrets', 'backup', join(dataDir, '..', 'b.bkb'), '--data-dir', dataDir]), /validator\.key is empty \(0 bytes\)/);
    expect(readFileSync(join(dataDir, KEYS[0]), 'utf8')).toBe(keyText[KEYS[0]]);
  });

  it('keys others can read (copied in under umask 022): server and backup warn, naming each file and the chmod, and still run', async () => {
    const dataDir = join(tempDir(), 'n');
    for (const rel of KEYS) {
      mkdirSync(join(dataDir, rel, '..'), { recursive: true });
      chmodSync(join(dataDir, rel, '..'), 0o755);
      writeFileSync(join(dataDir, rel), keyText[rel]!);
      chmodSync(join(dataDir, rel), 0o644);
    }
    const fixOf = (rel: string) => `chmod 600 ${join(dataDir, rel)} && chmod 700 ${join(dataDir, rel, '..')}`;
    const node = startNode(serverArgs(dataDir, chain.genesis));
    expect((await node.waitForEvent('chain.opened')).validator).toBe(chain.validator);
    expect((await node.stop()).code).toBe(0);
    const warned = node.events('keys.exposed');
    expect(warned.map((e) => [e.level, e.path, e.fix])).toEqual(KEYS.map((rel) => [40, join(dataDir, rel), fixOf(rel)]));
    expect(warned[0]!.msg).toMatch(/is open to other users \(file 0644, folder 0755; .*\): run chmod 600 /);

    const b = ok(cli(['secrets', 'backup', join(dataDir, '..', 'b.bkb'), '--data-dir', dataDir]));
    expect(b.stderr.trim().split('\n')).toEqual(
      KEYS.map((rel) => expect.stringMatching(new RegExp(`^warning: key file ${join(dataDir, rel)} is open .*: run ${fixOf(rel)}$`))),
    );
    for (const hex of Object.values(keyText)) expect(node.stderr + b.stderr).not.toContain(hex);
    // the modes are the operator's to change: warned about, left as they were
    for (const rel of KEYS) expect([statSync(join(dataDir, rel)).mode & 0o777, statSync(join(dataDir, rel, '..')).mode & 0o777]).toEqual([0o644, 0o755]);
  });

  it('an unreadable key (chmod 000, or a directory in its place) is one error line naming the file', (ctx) => {
    const dataDir = join(tempDir(), 'n');
    ok(cli(['secrets', 'restore', backup, '--data-dir', dataDir]));
    const key = join(dataDir, KEYS[1]);
    rmSync(key);
    mkdirSync(key);
    oneErrorLine(cli(serverArgs(dataDir, chain.genesis)), new RegExp(`key file ${key} is not a file`));
    rmSync(key, { recursive: true });
    writeFileSync(key, keyText[KEYS[1]]!, { mode: 0o600 });

    chmodSync(key, 0o000);
    // root reads a 0000 file anyway: run the CLI as nobody, owning the data dir (as an operator would).
    const root = process.getuid?.() === 0;
    if (root) {
      const all = readdirSync(dataDir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name));
      for (const p of [join(dataDir, '..'), dataDir, ...all]) chownSync(p, NOBODY, NOBODY);
      if (cli(['--version'], { uid: NOBODY }).code !== 0) {
        console.warn('skipped: running as root and the CLI cannot run as nobody, so chmod 000 cannot be observed');
        ctx.skip();
      }
    }
    const as = root ? { uid: NOBODY } : {};
    const genesis = join(dataDir, '..', 'genesis.json'); // where nobody can read it
    writeFileSync(genesis, readFileSync(chain.genesis));
    oneErrorLine(
      cli(['secrets', 'backup', join(dataDir, '..', 'b.bkb'), '--data-dir', dataDir], as),
      new RegExp(`cannot read key file ${key}: permission denied`),
    );
    oneErrorLine(cli(serverArgs(dataDir, genesis), as), new RegExp(`cannot read key file ${key}: permission denied`));
  });

  it('secrets init killed at random moments leaves no keys or both: a re-run never meets half a pair', async () => {
    for (let i = 0; i < 5; i++) {
      const dataDir = join(tempDir(), 'n');
      const child = spawn(process.execPath, [CLI, 'secrets', 'init', '--data-dir', dataDir], { stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 250));
      child.kill('SIGKILL');
      await exited;
      const again = cli(['secrets', 'init', '--data-dir', dataDir, '--json']);
      // A kill mid-write leaves temporary key files, which the re-run removes and names first.
      if (again.code !== 0)
        oneErrorLine(again, /libp2p\.key already exists: refusing to overwrite a key/, {
          notes: /^note: removed \S+\/\.(libp2p|validator)\.key\.\d+\.tmp, left by an interrupted key write \(process \d+\)$/,
        });
      for (const rel of KEYS) expect(readFileSync(join(dataDir, rel), 'utf8')).toMatch(/^[0-9a-f]{64}$/);
      // Beside the keys, the journal saying the new key signed nothing (or none, or its temporary file,
      // when the first run was killed after the keys: the validator then waits as a restored one would).
      const journal = new FileSignedStore(join(dataDir, 'consensus'));
      expect([undefined, NOTHING_SIGNED]).toContainEqual(journal.load());
      expect(keyFolderFiles(dataDir).filter((f) => !f.startsWith('consensus/ibft-sign-journal'))).toEqual(['consensus/validator.key', 'keystore/libp2p.key']);
    }
  });
});
