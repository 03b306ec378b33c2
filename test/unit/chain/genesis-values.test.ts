import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { parseGenesisFile } from '../../../src/chain/chain-config.js';
import { encodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { checkIbftGenesis } from '../../../src/consensus/ibft/genesis.js';
import { UserError } from '../../../src/util/errors.js';
import { testGenesis } from '../../helpers/chain-fixture.js';

/** Genesis values that pass the schema but no chain can start from: one clear error, not a crash later. */
const A = '0x00000000000000000000000000000000000000aa';
const ibftExtraHex = (validators: string[]) =>
  bytesToHex(
    encodeIbftExtra({
      vanity: new Uint8Array(0),
      validators: validators.map((v) => hexToBytes(v as `0x${string}`)),
      proposerSeal: new Uint8Array(0),
      committedSeals: [],
    }),
  );

describe('genesis values', () => {
  const valid = testGenesis(1).genesis;
  const parse = (patch: (g: typeof valid) => void) => {
    const g = structuredClone(valid);
    patch(g);
    // As a node reads it: the chain's checks, then what IBFT reads (extraData).
    return () => {
      const parsed = parseGenesisFile(JSON.stringify(g), 'g.json');
      checkIbftGenesis(parsed, 'g.json');
      return parsed;
    };
  };

  it('accepts a genesis written by `basalt genesis`', () => {
    expect(parse(() => undefined)().genesis.gasLimit).toBe(valid.genesis.gasLimit);
  });

  it.each([
    ['gasLimit 0', (g: typeof valid) => (g.genesis.gasLimit = '0x0'), /genesis\.gasLimit 0 is outside 5000\.\./],
    ['gasLimit below 5000', (g: typeof valid) => (g.genesis.gasLimit = '0x1387'), /genesis\.gasLimit 4999 is outside/],
    ['gasLimit above 2^63-1', (g: typeof valid) => (g.genesis.gasLimit = '0x8000000000000000'), /genesis\.gasLimit .* is outside/],
    [
      'a 1-byte extraData',
      (g: typeof valid) => (g.genesis.extraData = '0x00'),
      /genesis\.extraData: extraData is 1 bytes, shorter than the 32-byte IBFT vanity/,
    ],
    ['a vanity and no RLP', (g: typeof valid) => (g.genesis.extraData = `0x${'00'.repeat(32)}`), /genesis\.extraData: /],
    ['no validators', (g: typeof valid) => (g.genesis.extraData = `0x${'00'.repeat(32)}c3c080c0`), /names no IBFT validator/],
    // [A, A]: two validators, a quorum of 2 that one key reaches alone (or, with B and C, 3 of 4 of three keys).
    ['a validator listed twice', (g: typeof valid) => (g.genesis.extraData = ibftExtraHex([A, A])), /genesis\.extraData names a validator twice/],
    ['a timestamp beyond 64 bits', (g: typeof valid) => (g.genesis.timestamp = '0x10000000000000000'), /genesis\.timestamp does not fit/],
    [
      'a balance beyond 256 bits',
      (g: typeof valid) => (g.genesis.alloc['0x00000000000000000000000000000000000000aa'] = { balance: `0x1${'0'.repeat(64)}` }),
      /balance does not fit/,
    ],
    // The alloc is checked in place (not by zod's record): the same one-line messages.
    ['an alloc that is a list', (g: typeof valid) => ((g.genesis as { alloc: unknown }).alloc = []), /genesis\.alloc: must be an object of addresses/],
    ['a short address', (g: typeof valid) => (g.genesis.alloc['0xaa'] = { balance: '0x1' }), /genesis\.alloc\.0xaa: must be a 20-byte/],
    ['an entry that is a string', (g: typeof valid) => ((g.genesis.alloc as Record<string, unknown>)[A] = '0x1'), /genesis\.alloc\.0x0+aa: must be an object/],
    ['a missing balance', (g: typeof valid) => ((g.genesis.alloc as Record<string, unknown>)[A] = { nonce: '0x1' }), /genesis\.alloc\.0x0+aa\.balance: /],
    ['an unknown field', (g: typeof valid) => ((g.genesis.alloc as Record<string, unknown>)[A] = { balance: '0x1', foo: 1 }), /genesis\.alloc\.0x0+aa: .*foo/],
    ['bad code', (g: typeof valid) => (g.genesis.alloc[A] = { balance: '0x1', code: '0x123' }), /genesis\.alloc\.0x0+aa\.code: must be 0x-prefixed hex bytes/],
    [
      'a short slot',
      (g: typeof valid) => (g.genesis.alloc[A] = { balance: '0x1', storage: { '0x01': `0x${'00'.repeat(32)}` } }),
      /genesis\.alloc\.0x0+aa\.storage\.0x01: a slot must be/,
    ],
    [
      'a short slot value',
      (g: typeof valid) => (g.genesis.alloc[A] = { balance: '0x1', storage: { [`0x${'00'.repeat(32)}`]: '0x01' } }),
      /genesis\.alloc\.0x0+aa\.storage\.0x0+: must be a 32-byte/,
    ],
  ])('refuses %s', (_name, patch, message) => {
    const run = parse(patch);
    expect(run).toThrow(UserError);
    expect(run).toThrow(message);
  });
});

describe('genesis keys in messages', () => {
  const valid = testGenesis(1).genesis;
  const message = (patch: (g: Record<string, unknown>) => void) => {
    const g = structuredClone(valid) as unknown as Record<string, unknown>;
    patch(g);
    try {
      parseGenesisFile(JSON.stringify(g), 'g.json');
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  };
  const forged = 'x\nerror: none, genesis OK\n\u001b[32mOK';

  it.each([
    ['an unknown fork', (g: Record<string, unknown>) => ((g.params as { forks: Record<string, number> }).forks[forged] = 5)],
    ['an alloc key that is no address', (g: Record<string, unknown>) => ((g.genesis as { alloc: Record<string, unknown> }).alloc[forged] = { balance: '0x1' })],
  ])('shows %s quoted: one line, no escape, no forged error line', (_, patch) => {
    const m = message(patch);
    expect(m.includes('\n') || m.includes('\u001b')).toBe(false);
    expect(m).toContain('"x\\nerror: none, genesis OK\\n\\u001b[32mOK"');
  });
});
