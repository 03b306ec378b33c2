import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenesisFile } from '../../../src/chain/chain-config.js';
import { Genesis, genesisAt, genesisOfBytes, MAX_GENESIS_CONFIG_BYTES, MAX_GENESIS_STRING_BYTES } from '../../../src/chain/genesis-source.js';
import { openTestChain, testGenesis } from '../../helpers/chain-fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'basalt-genesis-source-'));
  dirs.push(d);
  return d;
};

const base = (): GenesisFile => testGenesis(1).genesis;
const read = (text: string) => Genesis.read(genesisOfBytes(Buffer.from(text), 'g.json'));
const A = '0x00000000000000000000000000000000000000aa';
const SLOT = `0x${'00'.repeat(31)}01`;

/** The test genesis as JSON with `alloc` spliced in as raw text (to write what JSON.stringify would not). */
function withAllocText(allocText: string): string {
  const g = base();
  g.genesis.alloc = '@' as never;
  return JSON.stringify(g).replace('"@"', allocText);
}

describe('Genesis.read', () => {
  it('refuses each kind of bad genesis file with one line naming where', async () => {
    const cases: [string, RegExp][] = [
      ['{"name":', /genesis file g\.json is not valid JSON: the document ends before its value does/],
      ['[1]', /g\.json is invalid: \(root\): must be an object/],
      ['"x"', /g\.json is invalid: \(root\): must be an object/],
      [withAllocText('[]'), /genesis\.alloc: must be an object of addresses/],
      [withAllocText('{"0x12":{"balance":"0x1"}}'), /genesis\.alloc\.0x12: must be a 20-byte 0x-prefixed address/],
      [withAllocText(`{"${A}":1}`), new RegExp(`genesis\\.alloc\\.${A}: must be an object \\(balance, nonce, code, storage\\)`)],
      [withAllocText(`{"${A}":{"balance":"12"}}`), new RegExp(`genesis\\.alloc\\.${A}\\.balance: must be a 0x-prefixed hex quantity`)],
      [withAllocText(`{"${A}":{"balance":{"x":1}}}`), new RegExp(`genesis\\.alloc\\.${A}\\.balance: must be a 0x-prefixed hex quantity`)],
      [withAllocText(`{"${A}":{"nonce":"0x1"}}`), new RegExp(`genesis\\.alloc\\.${A}\\.balance: is missing`)],
      [withAllocText(`{"${A}":{"balance":"0x1","owner":"me"}}`), new RegExp(`genesis\\.alloc\\.${A}: unrecognized key "owner"`)],
      [withAllocText(`{"${A}":{"balance":"0x1","balance":"0x2"}}`), new RegExp(`genesis\\.alloc\\.${A}\\.balance: appears more than once`)],
      [withAllocText(`{"${A}":{"balance":"0x1","code":"0x123"}}`), new RegExp(`genesis\\.alloc\\.${A}\\.code: must be 0x-prefixed hex bytes`)],
      [withAllocText(`{"${A}":{"balance":"0x1${'0'.repeat(64)}"}}`), new RegExp(`genesis\\.alloc\\.${A}\\.balance: does not fit in 256 bits`)],
      [withAllocText(`{"${A}":{"balance":"0x1","nonce":"0xffffffffffffffff"}}`), new RegExp(`genesis\\.alloc\\.${A}\\.nonce: does not fit in 64 bits`)],
      [withAllocText(`{"${A}":{"balance":"0x1","storage":{"0x01":"${SLOT}"}}}`), /storage\.0x01: a slot must be a 32-byte 0x-prefixed hash/],
      [withAllocText(`{"${A}":{"balance":"0x1","storage":{"${SLOT}":"0x01"}}}`), /storage\.0x0+1: must be a 32-byte 0x-prefixed hash/],
      [withAllocText(`{"${A}":{"balance":"0x1","storage":[]}}`), /storage: must be an object of 32-byte slots/],
      [JSON.stringify({ ...base(), params: { ...base().params, chainID: 'x' } }), /g\.json is invalid: params\.chainID: /],
      [JSON.stringify({ ...base(), genesis: 5 }), /g\.json is invalid: genesis: must be an object/],
      [JSON.stringify(base()).replace('{', `{"genesis":{},`), /genesis: appears more than once/],
      [
        JSON.stringify({ ...base(), extra: Array(5).fill('x'.repeat(MAX_GENESIS_CONFIG_BYTES / 4 - 1024)) }),
        /its parts other than genesis\.alloc exceed 16 MiB/,
      ],
      [JSON.stringify({ ...base(), name: 'x'.repeat(MAX_GENESIS_STRING_BYTES + 1) }), /not valid JSON: a string longer than 4194304 bytes at byte 8/],
    ];
    for (const [text, want] of cases) await expect(read(text), text.slice(0, 120)).rejects.toThrow(want);
  });

  it('counts the accounts, and gives equal digests for equal files and another digest for any change of the block', async () => {
    const g = base();
    g.genesis.alloc[A] = { balance: '0x5', storage: { [SLOT]: SLOT } };
    const one = await Genesis.of(g);
    expect(one.accounts).toBe(Object.keys(g.genesis.alloc).length);
    expect(bytesToHex((await Genesis.of(structuredClone(g))).digest)).toBe(bytesToHex(one.digest));
    const changed = structuredClone(g);
    changed.genesis.alloc[A]!.storage![SLOT] = SLOT.replace('01', '02');
    expect(bytesToHex((await Genesis.of(changed)).digest)).not.toBe(bytesToHex(one.digest));
    const header = structuredClone(g);
    header.genesis.timestamp = '0x7';
    expect(bytesToHex((await Genesis.of(header)).digest)).not.toBe(bytesToHex(one.digest));
    // The fork schedule is not the genesis block's: Chain.open compares it on its own.
    const params = structuredClone(g);
    params.params.forks.prague = 5;
    expect(bytesToHex((await Genesis.of(params)).digest)).toBe(bytesToHex(one.digest));
  });

  it('names a file that is missing or not a file', async () => {
    const dir = newDir();
    await expect(Genesis.read(genesisAt(join(dir, 'none.json')))).rejects.toThrow(/genesis file .*none\.json not found/);
    await expect(Genesis.read(genesisAt(dir))).rejects.toThrow(/cannot read genesis file/);
  });
});

describe('a genesis file changed after it was read', () => {
  it('is refused when its state is built or its bytes stored, never used', async () => {
    const dir = newDir();
    const path = join(dir, 'g.json');
    const g = base();
    writeFileSync(path, JSON.stringify(g));
    const genesis = await Genesis.read(genesisAt(path));
    g.genesis.alloc[A] = { balance: '0x9' };
    writeFileSync(path, JSON.stringify(g));
    await expect(genesis.stateRoot()).rejects.toThrow(/genesis file .*g\.json changed while it was being read: start again/);
    await expect(openTestChain(genesis, join(dir, 'data'))).rejects.toThrow(/changed while it was being read/);
  });
});

describe('Genesis.stateRoot', () => {
  it('builds the same state with its account records spilled to a scratch file, and removes the file', async () => {
    const g = base();
    for (let i = 1; i <= 500; i++)
      g.genesis.alloc[`0x${i.toString(16).padStart(40, '0')}`] = {
        balance: `0x${i.toString(16)}`,
        ...(i % 50 === 0 ? { nonce: '0x3', code: '0x6001', storage: { [SLOT]: SLOT } } : {}),
      };
    const genesis = await Genesis.of(g);
    const collect = async (inMemory?: number, scratch?: string) => {
      const nodes: string[] = [];
      const root = await genesis.stateRoot({ node: (h) => void nodes.push(bytesToHex(h)), code: () => undefined }, scratch, inMemory);
      return { root: bytesToHex(root), nodes };
    };
    const scratch = newDir();
    // What a build killed with kill -9 left (a pid that runs no more): removed by the next one.
    mkdirSync(join(scratch, '.genesis-build-999999999'));
    const memory = await collect();
    const spilled = await collect(7, scratch);
    expect(spilled).toEqual(memory);
    expect(readdirSync(scratch)).toEqual([]);
    expect(await collect(7)).toEqual(memory); // no scratch folder given: one in the OS temp folder
  });

  it('refuses an address given twice (in another case), wherever its records are', async () => {
    const text = withAllocText(`{"${A}":{"balance":"0x1"},"${A.replace('aa', 'AA')}":{"balance":"0x2"}}`);
    const genesis = await read(text);
    for (const inMemory of [undefined, 1])
      await expect(genesis.stateRoot(undefined, newDir(), inMemory)).rejects.toThrow(/genesis\.alloc names 0x0+aa more than once/);
  });
});

describe('the stored genesis file', () => {
  it('is the file byte for byte, across several pieces, and the chain opens with its own configuration without it', async () => {
    const dir = newDir();
    const g = base();
    // Whitespace and an unknown top-level field: the file is kept as the operator gave it.
    for (let i = 1; i <= 30_000; i++) g.genesis.alloc[`0x${i.toString(16).padStart(40, '0')}`] = { balance: '0x1' };
    const text = `${JSON.stringify({ ...g, comment: 'kept' }, null, 1)}\n`;
    expect(text.length).toBeGreaterThan(2 * 1024 * 1024);
    const path = join(dir, 'g.json');
    writeFileSync(path, text);
    const t = await openTestChain(await Genesis.read(genesisAt(path)), join(dir, 'data'));
    try {
      const stored = await t.chain.genesisFile();
      expect(stored.size).toBe(Buffer.byteLength(text));
      const pieces: Uint8Array[] = [];
      for await (const p of stored.open()) pieces.push(p);
      expect(pieces.length).toBe(3);
      expect(Buffer.concat(pieces).toString()).toBe(text);
    } finally {
      await t.close();
    }
    expect(existsSync(join(dir, 'data'))).toBe(true);
  });
});
