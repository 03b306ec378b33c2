import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { genesisCommand } from '../../../src/cli/genesis.js';
import { tempDir } from '../../helpers/cli.js';

/** `basalt genesis` for `n` made-up validators, run in-process: what it writes to stdout and stderr. */
async function genesisOutput(n: number): Promise<{ stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  const validators = Array.from({ length: n }, (_, i) => ['--ibft-validator', `0x${(i + 1).toString(16).padStart(40, '0')}`]).flat();
  await genesisCommand().parseAsync(['--dir', join(tempDir(), 'genesis.json'), ...validators], { from: 'user' });
  vi.restoreAllMocks();
  return { stdout: out.join(''), stderr: err.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('basalt genesis: the quorum and fault tolerance of the set it writes', () => {
  it.each([
    [1, '1 validator: each block needs 1 committed seal; sealing goes on with up to 0 down, and up to 0 faulty cannot fork the chain'],
    [4, '4 validators: each block needs 3 committed seals; sealing goes on with up to 1 down, and up to 1 faulty cannot fork the chain'],
    [6, '6 validators: each block needs 4 committed seals; sealing goes on with up to 2 down, and up to 1 faulty cannot fork the chain'],
    [7, '7 validators: each block needs 5 committed seals; sealing goes on with up to 2 down, and up to 2 faulty cannot fork the chain'],
  ])('%i validators: the figures on stdout, no warning', async (n, line) => {
    const { stdout, stderr } = await genesisOutput(n);
    expect(stdout.split('\n')).toContain(line);
    expect(stderr).toBe('');
  });

  it('2 validators: a warning on stderr that they tolerate no fault and halt while either is stopped', async () => {
    const { stdout, stderr } = await genesisOutput(2);
    expect(stdout.split('\n')).toContain(
      '2 validators: each block needs 2 committed seals; sealing goes on with up to 0 down, and up to 0 faulty cannot fork the chain',
    );
    expect(stderr).toBe('warning: 2 validators tolerate no faulty validator (F = 0) and halt while either is stopped; 4 validators tolerate one\n');
  });

  it('3 validators: a warning on stderr that they tolerate no fault', async () => {
    const { stdout, stderr } = await genesisOutput(3);
    expect(stdout.split('\n')).toContain(
      '3 validators: each block needs 2 committed seals; sealing goes on with up to 1 down, and up to 0 faulty cannot fork the chain',
    );
    expect(stderr).toBe('warning: 3 validators tolerate no faulty validator (F = 0); 4 validators tolerate one\n');
  });
});
