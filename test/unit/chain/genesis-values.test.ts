import { describe, expect, it } from 'vitest';
import { parseGenesisFile } from '../../../src/chain/chain-config.js';
import { UserError } from '../../../src/util/errors.js';
import { testGenesis } from '../../helpers/chain-fixture.js';

/** Genesis values that pass the schema but no chain can start from: one clear error, not a crash later. */
describe('genesis values', () => {
  const valid = testGenesis(1).genesis;
  const parse = (patch: (g: typeof valid) => void) => {
    const g = structuredClone(valid);
    patch(g);
    return () => parseGenesisFile(JSON.stringify(g), 'g.json');
  };

  it('accepts a genesis written by `basalt genesis`', () => {
    expect(parse(() => undefined)().genesis.gasLimit).toBe(valid.genesis.gasLimit);
  });

  it.each([
    ['gasLimit 0', (g: typeof valid) => (g.genesis.gasLimit = '0x0'), /genesis\.gasLimit 0 is outside 5000\.\./],
    ['gasLimit below 5000', (g: typeof valid) => (g.genesis.gasLimit = '0x1387'), /genesis\.gasLimit 4999 is outside/],
    ['gasLimit above 2^63-1', (g: typeof valid) => (g.genesis.gasLimit = '0x8000000000000000'), /genesis\.gasLimit .* is outside/],
    ['a 1-byte extraData', (g: typeof valid) => (g.genesis.extraData = '0x00'), /genesis\.extraData: extraData is 1 bytes, shorter than the 32-byte IBFT vanity/],
    ['a vanity and no RLP', (g: typeof valid) => (g.genesis.extraData = `0x${'00'.repeat(32)}`), /genesis\.extraData: /],
    ['no validators', (g: typeof valid) => (g.genesis.extraData = `0x${'00'.repeat(32)}c3c080c0`), /names no IBFT validator/],
    ['a timestamp beyond 64 bits', (g: typeof valid) => (g.genesis.timestamp = '0x10000000000000000'), /genesis\.timestamp does not fit/],
    ['a balance beyond 256 bits', (g: typeof valid) => (g.genesis.alloc['0x00000000000000000000000000000000000000aa'] = { balance: `0x1${'0'.repeat(64)}` }), /balance does not fit/],
  ])('refuses %s', (_name, patch, message) => {
    const run = parse(patch);
    expect(run).toThrow(UserError);
    expect(run).toThrow(message);
  });
});
