import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, expectOneLineError, runCli, tempDir } from '../helpers/cli.js';

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * The real CLI with stdin, stdout and stderr on pipes (never a terminal, so it cannot prompt), the
 * environment's BASALT_PASSPHRASE replaced by `passphrase` (or removed), and `input` on stdin.
 * Asynchronous, so independent cases run side by side.
 */
function run(args: string[], opts: { passphrase?: string; input?: Buffer; memoryLimitKiB?: number } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.BASALT_PASSPHRASE;
  if (opts.passphrase !== undefined) env.BASALT_PASSPHRASE = opts.passphrase;
  // with a memory limit: through a shell that sets it (ulimit -v, virtual memory) and execs the CLI
  const [cmd, argv] =
    opts.memoryLimitKiB === undefined
      ? [process.execPath, [CLI, ...args]]
      : ['/bin/sh', ['-c', `ulimit -v ${opts.memoryLimitKiB} && exec "$0" "$@"`, process.execPath, CLI, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {}); // a command that fails early may not read its stdin
    child.stdin.end(opts.input ?? Buffer.alloc(0));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

const PASSPHRASE = 'a long enough passphrase';
const KEYS = ['keystore/libp2p.key', 'consensus/validator.key'] as const;

function ok(r: Run): Run {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

function noKeysIn(dir: string): void {
  for (const rel of KEYS) expect(existsSync(join(dir, rel)), join(dir, rel)).toBe(false);
}

describe('basalt secrets backup / restore', () => {
  let dir: string;
  let node: string;
  let init: { validatorAddress: string; nodeId: string };
  let keyText: Record<string, string>;
  let passFile: string;
  let backupFile: string;
  let backupRun: Run;

  beforeAll(async () => {
    dir = tempDir('basalt-keys-');
    node = join(dir, 'node1');
    const r = runCli(['secrets', 'init', '--data-dir', node, '--json']);
    expect(r.code, r.stderr).toBe(0);
    init = JSON.parse(r.stdout) as typeof init;
    keyText = Object.fromEntries(KEYS.map((rel) => [rel, readFileSync(join(node, rel), 'utf8')]));
    passFile = join(dir, 'pass.txt');
    writeFileSync(passFile, `${PASSPHRASE}\n`);
    backupFile = join(dir, 'keys.bkb');
    // --passphrase-file wins over $BASALT_PASSPHRASE, and loses its trailing newline
    backupRun = ok(
      await run(['secrets', 'backup', backupFile, '--data-dir', node, '--passphrase-file', passFile], { passphrase: 'a decoy from the environment' }),
    );
  });

  it('backup writes one 0600 encrypted file, atomically, and a summary without key material', () => {
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    const file = readFileSync(backupFile);
    expect(file.length).toBe(236);
    expect(file.subarray(0, 8).toString('latin1')).toBe('BASALTKB');
    expect(file[11]).toBe(17); // the real cost: N = 2^17
    expect(readdirSync(dir).sort()).toEqual(['keys.bkb', 'node1', 'pass.txt']); // no temp file left behind
    const out = backupRun.stdout.toString('utf8');
    expect(out).toContain('[SECRETS BACKUP]');
    expect(out).toMatch(/Keys += keystore\/libp2p\.key, consensus\/validator\.key/);
    expect(out).toContain(`Validator address = ${init.validatorAddress}`);
    expect(out).toContain(`Node ID           = ${init.nodeId}`);
    for (const rel of KEYS) {
      const hex = keyText[rel]!;
      expect(out + backupRun.stderr).not.toContain(hex);
      expect(file.includes(Buffer.from(hex))).toBe(false);
      expect(file.includes(Buffer.from(hex, 'hex'))).toBe(false);
    }
  });

  it('restore into a new data dir gives byte-identical keys, the same validator and node ID', async () => {
    const [human, json] = await Promise.all([
      run(['secrets', 'restore', backupFile, '--data-dir', join(dir, 'node2')], { passphrase: PASSPHRASE }),
      run(['secrets', 'restore', backupFile, '--data-dir', join(dir, 'node3'), '--passphrase-file', passFile, '--json']),
    ]);
    ok(human);
    ok(json);
    const out = human.stdout.toString('utf8');
    expect(out).toContain(`Validator address = ${init.validatorAddress}`);
    expect(out).toContain(`Node ID           = ${init.nodeId}`);
    expect(JSON.parse(json.stdout.toString('utf8'))).toEqual({ dataDir: join(dir, 'node3'), keys: [...KEYS], ...init });
    for (const target of ['node2', 'node3']) {
      for (const rel of KEYS) {
        expect(readFileSync(join(dir, target, rel)).equals(readFileSync(join(node, rel))), `${target}/${rel}`).toBe(true);
        expect(statSync(join(dir, target, rel)).mode & 0o777).toBe(0o600);
        expect(statSync(join(dir, target, rel, '..')).mode & 0o777).toBe(0o700);
      }
    }
    for (const r of [human, json]) for (const hex of Object.values(keyText)) expect(r.stdout.toString() + r.stderr).not.toContain(hex);
    // the restored data dir is a working identity: its keys back up again to the same address
    const again = ok(await run(['secrets', 'backup', join(dir, 'again.bkb'), '--data-dir', join(dir, 'node2'), '--json'], { passphrase: PASSPHRASE }));
    expect(JSON.parse(again.stdout.toString('utf8'))).toMatchObject(init);
  });

  it("pipes: 'backup -' writes the file to stdout (summary on stderr), 'restore -' reads stdin", async () => {
    const b = ok(await run(['secrets', 'backup', '-', '--data-dir', node], { passphrase: PASSPHRASE }));
    expect(b.stdout.length).toBe(236);
    expect(b.stdout.subarray(0, 8).toString('latin1')).toBe('BASALTKB');
    expect(b.stderr).toContain(init.validatorAddress);
    const target = join(dir, 'piped');
    const r = ok(await run(['secrets', 'restore', '-', '--data-dir', target], { passphrase: PASSPHRASE, input: b.stdout }));
    expect(r.stdout.toString()).toContain(init.nodeId);
    for (const rel of KEYS) expect(readFileSync(join(target, rel), 'utf8')).toBe(keyText[rel]);
  });

  it("'backup -' into a pipe whose reader went away exits quietly with 141, as export does; into a file, whole", async () => {
    const env = { ...process.env, NO_COLOR: '1', BASALT_PASSPHRASE: PASSPHRASE };
    const child = spawn(process.execPath, [CLI, 'secrets', 'backup', '-', '--data-dir', node], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // like `| head` having read enough
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise((res) => child.on('exit', res));
    expect(stderr).toBe('');
    expect(code).toBe(141);
    // stdout redirected to a file (`backup - > keys.bkb`): written whole (and fsynced)
    const redirected = join(dir, 'redirected.bkb');
    const fd = openSync(redirected, 'w');
    try {
      const r = spawnSync(process.execPath, [CLI, 'secrets', 'backup', '-', '--data-dir', node], { env, stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    } finally {
      closeSync(fd);
    }
    const back = ok(await run(['secrets', 'restore', redirected, '--data-dir', join(dir, 'from-redirected')], { passphrase: PASSPHRASE }));
    expect(back.stdout.toString()).toContain(init.nodeId);
  });

  it('restore refuses a wrong passphrase and a tampered, truncated, foreign or weakened file, writing no key', async () => {
    const file = readFileSync(backupFile);
    const variant = (name: string, bytes: Buffer) => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    const flipped = (pos: number) => {
      const b = Buffer.from(file);
      b[pos]! ^= 1;
      return b;
    };
    const weakened = Buffer.from(file);
    weakened[11] = 16; // N = 2^16: allowed, but the header is authenticated
    const tooWeak = Buffer.from(file);
    tooWeak[11] = 12;
    const v2 = Buffer.from(file);
    v2.writeUInt16BE(2, 8);
    const wrongOrModified = /^error: cannot decrypt the key backup: wrong passphrase, or the file was modified or truncated$/;
    const cases: [string, string, string, RegExp][] = [
      ['wrong passphrase', backupFile, 'not the right passphrase', wrongOrModified],
      ['ciphertext', variant('ct.bkb', flipped(100)), PASSPHRASE, wrongOrModified],
      ['tag', variant('tag.bkb', flipped(235)), PASSPHRASE, wrongOrModified],
      ['lowered N', variant('weak.bkb', weakened), PASSPHRASE, wrongOrModified],
      ['N below the minimum', variant('tooweak.bkb', tooWeak), PASSPHRASE, /^error: key backup has unacceptable scrypt parameters \(N=2\^12, r=8, p=1;/],
      ['truncated', variant('short.bkb', file.subarray(0, 200)), PASSPHRASE, wrongOrModified],
      ['truncated header', variant('shorter.bkb', file.subarray(0, 40)), PASSPHRASE, /^error: key backup is truncated \(40 bytes\)$/],
      ['foreign', passFile, PASSPHRASE, /^error: not a Basalt key backup \(bad magic bytes\)$/],
      ['key file', join(node, 'consensus/validator.key'), PASSPHRASE, /^error: not a Basalt key backup/],
      ['future version', variant('v2.bkb', v2), PASSPHRASE, /^error: key backup format version 2 is not supported .*upgrade Basalt$/],
      ['huge', variant('huge.bkb', Buffer.concat([file, Buffer.alloc(1 << 20)])), PASSPHRASE, /^error: not a Basalt key backup: 4097 bytes is too large/],
      ['missing', join(dir, 'nonexistent.bkb'), PASSPHRASE, /^error: cannot read .*nonexistent\.bkb: not found/],
      ['directory', dir, PASSPHRASE, /^error: cannot read .*: it is a directory$/],
    ];
    const results = await Promise.all(
      cases.map(([name, file, passphrase]) => run(['secrets', 'restore', file, '--data-dir', join(dir, `target-${name}`)], { passphrase })),
    );
    for (const [i, [name, , , expected]] of cases.entries()) {
      expect(() => expectOneLineError(results[i]!, expected), name).not.toThrow();
      expect(existsSync(join(dir, `target-${name}`)), `${name}: target created`).toBe(false);
    }
    // a foreign file is refused before anyone is asked for a passphrase
    expectOneLineError(await run(['secrets', 'restore', passFile, '--data-dir', join(dir, 'target-x')]), /not a Basalt key backup/);
  });

  it('restore of a file whose scrypt memory cannot be allocated is one error line naming the memory, not a stack trace', async () => {
    const file = Buffer.from(readFileSync(backupFile));
    file[11] = 20; // N = 2^20, r = 8: 1 GiB, within the accepted limits
    const big = join(dir, 'big-n.bkb');
    writeFileSync(big, file);
    // 1 GiB of address space for the whole process: the 1 GiB scrypt can never fit, the CLI itself does
    const r = await run(['secrets', 'restore', big, '--data-dir', join(dir, 'target-big-n')], { passphrase: PASSPHRASE, memoryLimitKiB: 1024 * 1024 });
    expectOneLineError(
      r,
      /^error: cannot derive the key backup's key: scrypt N=2\^20, r=8, p=1 needs 1024 MiB of memory \(.*\): run it where that much memory is available$/,
    );
    expect(existsSync(join(dir, 'target-big-n'))).toBe(false);
  });

  it('restore never overwrites a key: either key present refuses, and nothing else is written', async () => {
    const onlyValidator = join(dir, 'only-validator');
    const onlyLibp2p = join(dir, 'only-libp2p');
    mkdirSync(join(onlyValidator, 'consensus'), { recursive: true });
    writeFileSync(join(onlyValidator, 'consensus/validator.key'), 'ab'.repeat(32));
    mkdirSync(join(onlyLibp2p, 'keystore'), { recursive: true });
    symlinkSync(join(dir, 'does-not-exist'), join(onlyLibp2p, 'keystore/libp2p.key')); // even a dangling symlink
    // the second key cannot be written (its folder is a dangling symlink): the first is taken back
    const half = join(dir, 'half');
    mkdirSync(half);
    symlinkSync(join(dir, 'no-folder'), join(half, 'consensus'));
    const [a, b, c, d] = await Promise.all([
      run(['secrets', 'restore', backupFile, '--data-dir', onlyValidator], { passphrase: PASSPHRASE }),
      run(['secrets', 'restore', backupFile, '--data-dir', onlyLibp2p], { passphrase: PASSPHRASE }),
      run(['secrets', 'restore', backupFile, '--data-dir', node], { passphrase: PASSPHRASE }),
      run(['secrets', 'restore', backupFile, '--data-dir', half], { passphrase: PASSPHRASE }),
    ]);
    expectOneLineError(d, /^error: cannot write the keys into .*half: /);
    expect(readdirSync(half)).toEqual(['consensus']);
    expectOneLineError(a, /^error: .*only-validator\/consensus\/validator\.key already exists: refusing to overwrite a key/);
    expectOneLineError(b, /^error: .*only-libp2p\/keystore\/libp2p\.key already exists: refusing to overwrite a key/);
    expectOneLineError(c, /already exists: refusing to overwrite a key/);
    expect(readFileSync(join(onlyValidator, 'consensus/validator.key'), 'utf8')).toBe('ab'.repeat(32));
    expect(existsSync(join(onlyValidator, 'keystore'))).toBe(false);
    expect(existsSync(join(onlyLibp2p, 'consensus'))).toBe(false);
    expect(existsSync(join(dir, 'does-not-exist'))).toBe(false);
    for (const rel of KEYS) expect(readFileSync(join(node, rel), 'utf8')).toBe(keyText[rel]);
  });

  it("restore refuses a data dir holding another key's sign journal (the keys deleted, consensus/ kept): it would vouch for the restored key", async () => {
    for (const name of ['ibft-sign-journal', 'signed.json']) {
      const target = join(dir, `journal-left-${name}`);
      mkdirSync(join(target, 'consensus'), { recursive: true });
      writeFileSync(join(target, 'consensus', name), 'x');
      expectOneLineError(
        await run(['secrets', 'restore', backupFile, '--data-dir', target], { passphrase: PASSPHRASE }),
        /consensus\/(ibft-sign-journal|signed\.json) is the sign journal of the key that was in this data dir, not of the one restored: move it away first/,
      );
      expect(readdirSync(join(target, 'consensus'))).toEqual([name]);
      expect(existsSync(join(target, 'keystore'))).toBe(false);
    }
  });

  it('backup refuses to overwrite any existing file, and reports missing keys or folders', async () => {
    const existing = join(dir, 'existing.bkb');
    writeFileSync(existing, 'precious');
    const link = join(dir, 'dangling.bkb');
    symlinkSync(join(dir, 'link-target'), link);
    const cases: [string[], RegExp][] = [
      [[existing, '--data-dir', node], /^error: .*existing\.bkb already exists: refusing to overwrite it/],
      [[backupFile, '--data-dir', node], /^error: .*keys\.bkb already exists: refusing to overwrite it/],
      [[link, '--data-dir', node], /^error: .*dangling\.bkb already exists: refusing to overwrite it/],
      [[join(dir, 'no-such-folder', 'k.bkb'), '--data-dir', node], /^error: cannot create .*k\.bkb: folder .*no-such-folder does not exist$/],
      [[join(dir, 'nokeys.bkb'), '--data-dir', join(dir, 'no-keys-here')], /^error: key file .* not found: run "basalt secrets init/],
    ];
    const before = readFileSync(backupFile);
    const results = await Promise.all(cases.map(([args]) => run(['secrets', 'backup', ...args], { passphrase: PASSPHRASE })));
    for (const [i, [args, expected]] of cases.entries()) expect(() => expectOneLineError(results[i]!, expected), args[0]).not.toThrow();
    expect(readFileSync(existing, 'utf8')).toBe('precious');
    expect(readFileSync(backupFile).equals(before)).toBe(true);
    expect(existsSync(join(dir, 'link-target'))).toBe(false);
    expect(existsSync(join(dir, 'nokeys.bkb'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('needs a passphrase of at least 8 characters from a file, the environment or a terminal', async () => {
    const short = join(dir, 'short-pass');
    writeFileSync(short, 'seven77\n');
    const how = /^error: no passphrase: pass --passphrase-file FILE, set BASALT_PASSPHRASE, or run in a terminal to be asked$/;
    const cases: [string[], string | undefined, RegExp][] = [
      [['backup', join(dir, 'p1.bkb'), '--data-dir', node], undefined, how],
      [['restore', backupFile, '--data-dir', join(dir, 'p1')], undefined, how],
      [['backup', join(dir, 'p2.bkb'), '--data-dir', node], '', /^error: the passphrase is empty \(in \$BASALT_PASSPHRASE\)$/],
      [['restore', backupFile, '--data-dir', join(dir, 'p2')], '', /^error: the passphrase is empty/],
      [
        ['backup', join(dir, 'p3.bkb'), '--data-dir', node, '--passphrase-file', short],
        undefined,
        /^error: the passphrase is too short: use at least 8 characters \(in .*short-pass\)$/,
      ],
      [['restore', backupFile, '--data-dir', join(dir, 'p3'), '--passphrase-file', short], PASSPHRASE, /too short/],
      [
        ['backup', join(dir, 'p4.bkb'), '--data-dir', node, '--passphrase-file', join(dir, 'nope')],
        PASSPHRASE,
        /^error: cannot read passphrase file .*nope: not found$/,
      ],
    ];
    const results = await Promise.all(cases.map(([args, passphrase]) => run(['secrets', ...args], passphrase === undefined ? {} : { passphrase })));
    for (const [i, [args, , expected]] of cases.entries()) expect(() => expectOneLineError(results[i]!, expected), args.join(' ')).not.toThrow();
    for (const n of [1, 2, 3, 4]) {
      expect(existsSync(join(dir, `p${n}.bkb`))).toBe(false);
      noKeysIn(join(dir, `p${n}`));
    }
  });

  it('offers no way to write a key in plain text', () => {
    const help = runCli(['secrets', '--help']);
    const commands = [...help.stdout.matchAll(/^ {2}(\w+)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(commands).toEqual(['init', 'backup', 'restore']);
    for (const sub of ['backup', 'restore']) {
      const subHelp = runCli(['secrets', sub, '--help']).stdout;
      expect(
        [...subHelp.matchAll(/^ +(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]),
        sub,
      ).toEqual(['--data-dir', '--passphrase-file', '--json', '--help']);
    }
    const plain = runCli(['secrets', 'export', '--data-dir', node]);
    expect(plain.code).not.toBe(0);
    expect(plain.stdout + plain.stderr).not.toContain(keyText['consensus/validator.key']);
  });
});
