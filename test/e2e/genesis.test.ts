import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { decodeIbftExtra } from '../../src/consensus/ibft/extra.js';
import { runCli, tempDir, expectOneLineError } from '../helpers/cli.js';

function validatorsOf(genesisPath: string): string[] {
  const g = JSON.parse(readFileSync(genesisPath, 'utf8')) as { genesis: { extraData: string } };
  return decodeIbftExtra(hexToBytes(g.genesis.extraData as `0x${string}`)).validators.map((v) => bytesToHex(v));
}

describe('basalt genesis', () => {
  const A = '0x1111111111111111111111111111111111111111';
  const B = '0x2222222222222222222222222222222222222222';

  it('writes validators, chain ID, premine and gas limit', () => {
    const dir = tempDir();
    const path = join(dir, 'genesis.json');
    const r = runCli([
      'genesis',
      '--dir',
      path,
      '--consensus',
      'ibft',
      '--ibft-validator',
      A,
      '--ibft-validator',
      B,
      '--chain-id',
      '4242',
      '--premine',
      `${A}:1000`,
      '--premine',
      B,
      '--block-gas-limit',
      '12345678',
    ]);
    expect(r.code).toBe(0);
    const g = JSON.parse(readFileSync(path, 'utf8'));
    expect(g.params.chainID).toBe(4242);
    expect(g.params.engine).toHaveProperty('ibft');
    expect(BigInt(g.genesis.gasLimit)).toBe(12345678n);
    expect(BigInt(g.genesis.alloc[A].balance)).toBe(1000n);
    expect(BigInt(g.genesis.alloc[B].balance)).toBe(10n ** 21n);
    expect(validatorsOf(path)).toEqual([A, B]);
    // 32-byte vanity, then the RLP list
    expect(g.genesis.extraData.slice(2, 66)).toBe('0'.repeat(64));
  });

  it('reads validator keys from every data dir matching --ibft-validators-prefix-path', () => {
    const dir = tempDir();
    const addrs = [1, 2, 3, 4].map((i) => {
      const r = runCli(['secrets', 'init', '--data-dir', join(dir, `node${i}`), '--json']);
      return (JSON.parse(r.stdout) as { validatorAddress: string }).validatorAddress.toLowerCase();
    });
    writeFileSync(join(dir, 'node-notes.txt'), 'a file, not a data dir');
    mkdirSync(join(dir, 'node_modules/some-package'), { recursive: true }); // a folder, not a data dir
    const path = join(dir, 'genesis.json');
    const r = runCli(['genesis', '--dir', path, '--ibft-validators-prefix-path', join(dir, 'node')]);
    expect(r.code).toBe(0);
    expect(validatorsOf(path)).toEqual(addrs);
  });

  it('rejects a malformed address in one line', () => {
    expectOneLineError(
      runCli(['genesis', '--dir', join(tempDir(), 'g.json'), '--ibft-validator', '0x1234']),
      /--ibft-validator "0x1234" is not a 0x-prefixed 20-byte address/,
    );
  });

  it('rejects a duplicate validator in one line', () => {
    expectOneLineError(
      runCli(['genesis', '--dir', join(tempDir(), 'g.json'), '--ibft-validator', A, '--ibft-validator', A.toUpperCase().replace('0X', '0x')]),
      /duplicate validator/,
    );
  });

  it('rejects zero validators in one line', () => {
    const path = join(tempDir(), 'g.json');
    expectOneLineError(runCli(['genesis', '--dir', path]), /no validators/);
  });

  it('rejects a prefix path that matches no data dir, and a data dir without keys', () => {
    const dir = tempDir();
    expectOneLineError(runCli(['genesis', '--dir', join(dir, 'g.json'), '--ibft-validators-prefix-path', join(dir, 'nothing')]), /no data dir matches/);
    runCli(['secrets', 'init', '--data-dir', join(dir, 'node1')]);
    runCli(['secrets', 'init', '--data-dir', join(dir, 'node2')]);
    writeFileSync(join(dir, 'node2/consensus/validator.key'), 'not a key');
    expectOneLineError(
      runCli(['genesis', '--dir', join(dir, 'g.json'), '--ibft-validators-prefix-path', join(dir, 'node')]),
      /does not hold a 32-byte hex secp256k1 key/,
    );
  });

  it('rejects a bad premine, chain ID or consensus, and never overwrites a genesis file', () => {
    const dir = tempDir();
    expectOneLineError(
      runCli(['genesis', '--dir', join(dir, 'g.json'), '--ibft-validator', A, '--premine', `${A}:lots`]),
      /amount "lots" is not a whole number/,
    );
    expectOneLineError(runCli(['genesis', '--dir', join(dir, 'g.json'), '--ibft-validator', A, '--chain-id', '-5']), /chain-id/);
    expectOneLineError(runCli(['genesis', '--dir', join(dir, 'g.json'), '--ibft-validator', A, '--consensus', 'pow']), /unsupported consensus "pow"/);
    const path = join(dir, 'existing.json');
    writeFileSync(path, 'keep me');
    expectOneLineError(runCli(['genesis', '--dir', path, '--ibft-validator', A]), /already exists/);
    expect(readFileSync(path, 'utf8')).toBe('keep me');
    // a missing folder is one line, and nothing is left behind (the file is written whole or not at all)
    expectOneLineError(
      runCli(['genesis', '--dir', join(dir, 'missing', 'g.json'), '--ibft-validator', A]),
      /^error: cannot write genesis file .*: its folder does not exist$/,
    );
    const made = join(dir, 'made.json');
    expect(runCli(['genesis', '--dir', made, '--ibft-validator', A]).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['existing.json', 'made.json']);
  });
});

describe('a large genesis file', () => {
  it('whose state is built in a worker thread: a problem found there is one error line, and the data dir stays new', () => {
    const dir = tempDir();
    const path = join(dir, 'g.json');
    expect(runCli(['genesis', '--dir', path, '--ibft-validator', '0x1111111111111111111111111111111111111111']).code).toBe(0);
    const g = JSON.parse(readFileSync(path, 'utf8'));
    // Over 8 MiB (built in a worker), with one address twice: the second in capitals.
    for (let i = 1; i <= 120_000; i++) g.genesis.alloc[`0x${i.toString(16).padStart(40, 'a')}`] = { balance: '0x1' };
    g.genesis.alloc[`0x${(77).toString(16).padStart(40, 'A')}`] = { balance: '0x2' };
    writeFileSync(path, JSON.stringify(g));
    const dataDir = join(dir, 'data');
    const r = runCli(['server', '--data-dir', dataDir, '--chain', path, '--no-libp2p', '--no-grpc-address', '--no-ws', '--jsonrpc', '127.0.0.1:0']);
    expectOneLineError(r, /^error: genesis file .*g\.json is invalid: genesis\.alloc names 0xa+4d more than once \(addresses are not case-sensitive\)$/);
    // No genesis block was written: the next start (with a good file) makes the chain from scratch.
    delete g.genesis.alloc[`0x${(77).toString(16).padStart(40, 'A')}`];
    writeFileSync(path, JSON.stringify(g));
    const again = runCli(['db', 'check', '--data-dir', dataDir, '--json']);
    expect(again.stdout + again.stderr).toMatch(/no chain|holds no chain/);
  }, 60_000);
});

describe('basalt --help', () => {
  it('prints help for the program and for every command', () => {
    const top = runCli(['--help']);
    expect(top.code).toBe(0);
    const commands = ['server', 'secrets', 'genesis', 'status', 'peers', 'export', 'import', 'archive', 'snapshot', 'restore', 'backup'];
    for (const c of commands) expect(top.stdout).toContain(c);
    for (const c of commands) {
      const r = runCli([c, '--help']);
      expect(r.code, `${c}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^Usage: basalt /);
    }
  });

  it('prints the package version for --version and -V', () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });
});
