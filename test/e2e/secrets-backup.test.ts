import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, runCli, tempDir, expectOneLineError } from '../helpers/cli.js';

function withEnv(args: string[], env: Record<string, string | undefined>, input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, BASALT_PASSPHRASE: undefined, ...env }, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}


describe('basalt secrets backup / restore', () => {
  it('moves both keys through one encrypted file, byte for byte', () => {
    const dir = tempDir();
    const node = join(dir, 'node1');
    const init = JSON.parse(runCli(['secrets', 'init', '--data-dir', node, '--json']).stdout) as { validatorAddress: string; nodeId: string };
    const passFile = join(dir, 'pass.txt');
    writeFileSync(passFile, 'a long enough passphrase\n');
    const backup = join(dir, 'keys.bkb');
    const b = withEnv(['secrets', 'backup', backup, '--data-dir', node, '--passphrase-file', passFile], {});
    expect(b.code, b.stderr).toBe(0);
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    expect(b.stderr).toContain(init.validatorAddress);
    const secret = readFileSync(join(node, 'consensus/validator.key'), 'utf8');
    expect(readFileSync(backup).includes(Buffer.from(secret))).toBe(false);
    expect(b.stdout + b.stderr).not.toContain(secret);

    const restored = join(dir, 'node2');
    const r = withEnv(['secrets', 'restore', backup, '--data-dir', restored], { BASALT_PASSPHRASE: 'a long enough passphrase' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(init.validatorAddress);
    expect(r.stderr).toContain(init.nodeId);
    for (const f of ['consensus/validator.key', 'keystore/libp2p.key']) {
      expect(readFileSync(join(restored, f))).toEqual(readFileSync(join(node, f)));
      expect(statSync(join(restored, f)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(restored, 'consensus')).mode & 0o777).toBe(0o700);
  });

  it('refuses a wrong passphrase, a tampered file, existing keys, an existing backup and a missing passphrase, writing no key', () => {
    const dir = tempDir();
    const node = join(dir, 'node1');
    runCli(['secrets', 'init', '--data-dir', node]);
    const backup = join(dir, 'keys.bkb');
    expect(withEnv(['secrets', 'backup', backup, '--data-dir', node], { BASALT_PASSPHRASE: 'right passphrase' }).code).toBe(0);

    const target = join(dir, 'target');
    expectOneLineError(withEnv(['secrets', 'restore', backup, '--data-dir', target], { BASALT_PASSPHRASE: 'wrong passphrase' }), /wrong passphrase, or the file was modified/);
    const tampered = join(dir, 'tampered.bkb');
    const t = readFileSync(backup);
    t[t.length - 20]! ^= 1;
    writeFileSync(tampered, t);
    expectOneLineError(withEnv(['secrets', 'restore', tampered, '--data-dir', target], { BASALT_PASSPHRASE: 'right passphrase' }), /wrong passphrase, or the file was modified/);
    writeFileSync(join(dir, 'short.bkb'), t.subarray(0, 30));
    expectOneLineError(withEnv(['secrets', 'restore', join(dir, 'short.bkb'), '--data-dir', target], { BASALT_PASSPHRASE: 'right passphrase' }), /not a Basalt key backup|too short/);
    expect(existsSync(join(target, 'consensus/validator.key'))).toBe(false);
    expect(existsSync(join(target, 'keystore/libp2p.key'))).toBe(false);

    expectOneLineError(withEnv(['secrets', 'restore', backup, '--data-dir', node], { BASALT_PASSPHRASE: 'right passphrase' }), /already exists: refusing to overwrite/);
    expectOneLineError(withEnv(['secrets', 'backup', backup, '--data-dir', node], { BASALT_PASSPHRASE: 'right passphrase' }), /already exists/);
    expectOneLineError(withEnv(['secrets', 'backup', join(dir, 'b2.bkb'), '--data-dir', node], {}, ''), /no passphrase: pass --passphrase-file FILE, set BASALT_PASSPHRASE/);
    expectOneLineError(withEnv(['secrets', 'backup', join(dir, 'b3.bkb'), '--data-dir', node], { BASALT_PASSPHRASE: 'short' }), /too short/);
    expectOneLineError(withEnv(['secrets', 'backup', join(dir, 'b4.bkb'), '--data-dir', join(dir, 'nokeys')], { BASALT_PASSPHRASE: 'right passphrase' }), /not found: run "basalt secrets init/);
    expect(existsSync(join(dir, 'b2.bkb')) || existsSync(join(dir, 'b3.bkb'))).toBe(false);
  });
});
