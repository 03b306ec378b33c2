import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGenesisFile } from '../../../src/chain/chain-config.js';
import { createChainRules } from '../../../src/chain/chain-config.js';
import { parseForks, writeGenesis } from '../../../src/cli/genesis.js';
import { tempDir } from '../../helpers/cli.js';

const VALIDATOR = '0x1a642f0e3c3af545e7acbd38b07251b3990914f1';
const base = { name: 'basalt', consensus: 'ibft', ibftValidator: [VALIDATOR], chainId: 100, premine: [] };

function written(fork?: string[]) {
  const { path } = writeGenesis({ ...base, dir: join(tempDir(), 'genesis.json'), ...(fork ? { fork } : {}) });
  return parseGenesisFile(readFileSync(path, 'utf8'), path);
}

describe('basalt genesis --fork', () => {
  it('puts a new chain on the newest rules by default', () => {
    const g = written();
    expect(g.params.forks).toMatchObject({ london: 0, cancun: 0, prague: 0 });
    expect(createChainRules(g).forkAt(0n)).toBe('prague');
  });

  it('schedules the forks named, and only those', () => {
    const g = written(['cancun:0', 'prague:100']);
    expect(g.params.forks.cancun).toBe(0);
    expect(g.params.forks.prague).toBe(100);
    const rules = createChainRules(g);
    expect([rules.forkAt(99n), rules.forkAt(100n)]).toEqual(['cancun', 'prague']);
    const london = written(['london:0']);
    expect(Object.keys(london.params.forks)).not.toContain('cancun');
    expect(createChainRules(london).forkAt(10n ** 12n)).toBe('london');
  });

  it('refuses bad fork flags with one clear line', () => {
    expect(() => parseForks(['cancun'])).toThrow(/--fork "cancun" is not NAME:BLOCK/);
    expect(() => parseForks(['osaka:0'])).toThrow(/unknown fork osaka/);
    expect(() => parseForks(['cancun:0', 'cancun:5'])).toThrow(/--fork cancun given twice/);
    expect(() => parseForks(['prague:0'])).toThrow(/needs --fork cancun/);
    expect(() => parseForks(['cancun:10', 'prague:5'])).toThrow(/needs --fork cancun at or before block 5/);
    expect(() => parseForks(['london:3'])).toThrow(/london must be at block 0/);
    expect(() => parseForks(['cancun:-1'])).toThrow(/not NAME:BLOCK/);
  });

  it('keeps an existing genesis file without Cancun/Prague on London rules', () => {
    const g = parseGenesisFile(readFileSync(new URL('../../fixtures/v1/genesis.json', import.meta.url), 'utf8'), 'v1');
    const rules = createChainRules(g);
    expect(rules.forkAt(10n ** 9n)).toBe('london');
    expect(rules.commonAt(5n).isActivatedEIP(1153)).toBe(false);
    expect(rules.commonAt(5n).isActivatedEIP(3855)).toBe(true);
  });
});
