import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { privateKeyToAddress } from '../../src/keys/address.js';
import { bytesToHex, hexToBytes, toChecksumAddress } from '@ethereumjs/util';
import { runCli, tempDir } from '../helpers/cli.js';

describe('basalt secrets init', () => {
  it('creates both keys 0600 in 0700 folders and prints address and node ID as JSON', () => {
    const dir = join(tempDir(), 'node1');
    const r = runCli(['secrets', 'init', '--data-dir', dir, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { validatorAddress: string; nodeId: string };
    expect(Object.keys(out).sort()).toEqual(['nodeId', 'validatorAddress']);
    for (const [folder, file] of [
      ['keystore', 'libp2p.key'],
      ['consensus', 'validator.key'],
    ] as const) {
      expect(statSync(join(dir, folder)).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, folder, file)).mode & 0o777).toBe(0o600);
    }
    const validatorKey = readFileSync(join(dir, 'consensus/validator.key'), 'utf8');
    expect(validatorKey).toMatch(/^[0-9a-f]{64}$/);
    expect(out.validatorAddress).toBe(toChecksumAddress(bytesToHex(privateKeyToAddress(hexToBytes(`0x${validatorKey}`)))));
    expect(out.nodeId).toMatch(/^16Uiu2HA[1-9A-HJ-NP-Za-km-z]{45}$/);
    // the key itself never reaches the output
    expect(r.stdout + r.stderr).not.toContain(validatorKey);
  });

  it('prints a human summary without --json', () => {
    const r = runCli(['secrets', 'init', '--data-dir', join(tempDir(), 'n')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Public key \(address\) = 0x[0-9a-fA-F]{40}/);
    expect(r.stdout).toMatch(/Node ID += 16Uiu2HA/);
  });

  it('refuses to overwrite existing keys and leaves them unchanged', () => {
    const dir = join(tempDir(), 'node1');
    expect(runCli(['secrets', 'init', '--data-dir', dir]).code).toBe(0);
    const before = readFileSync(join(dir, 'consensus/validator.key'), 'utf8');
    const r = runCli(['secrets', 'init', '--data-dir', dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/already exists: refusing to overwrite/);
    expect(readFileSync(join(dir, 'consensus/validator.key'), 'utf8')).toBe(before);
  });

  it('requires --data-dir', () => {
    const r = runCli(['secrets', 'init']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--data-dir/);
  });
});
