import { createMPT } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { MerkleStateManager } from '@ethereumjs/statemanager';
import { bytesToHex, createAddressFromString, hexToBytes, MapDB, unprefixedHexToBytes, ValueEncoding } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { stateItems } from '../../../src/backup/state-walk.js';
import type { GenesisFile } from '../../../src/chain/chain-config.js';
import { makeGenesisFile } from '../../../src/consensus/ibft/genesis.js';
import { Genesis, type StateSink } from '../../../src/chain/genesis-source.js';
import { buildSortedTrie, SortedKeys } from '../../../src/chain/stack-trie.js';

type Alloc = GenesisFile['genesis']['alloc'];

/** A small deterministic PRNG (mulberry32), so that a failing case can be replayed by its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  return { next, int, bytes };
}

const hex = (b: Uint8Array) => bytesToHex(b);

/** The state MerkleStateManager builds from `alloc`, inserted the way Basalt did before the sorted builder. */
async function referenceState(alloc: Alloc): Promise<{ root: Uint8Array; db: MapDB<string, Uint8Array> }> {
  const db = new MapDB<string, Uint8Array>();
  const trie = await createMPT({ db, useKeyHashing: true, valueEncoding: ValueEncoding.Bytes });
  const state = new MerkleStateManager({ trie });
  for (const [addr, entry] of Object.entries(alloc)) {
    const address = createAddressFromString(addr);
    const { Account } = await import('@ethereumjs/util');
    await state.putAccount(address, new Account(BigInt(entry.nonce ?? '0x0'), BigInt(entry.balance)));
    if (entry.code !== undefined && entry.code !== '0x') await state.putCode(address, hexToBytes(entry.code as `0x${string}`));
    for (const [slot, value] of Object.entries(entry.storage ?? {})) {
      await state.putStorage(address, hexToBytes(slot as `0x${string}`), hexToBytes(value as `0x${string}`));
    }
  }
  return { root: await state.getStateRoot(), db };
}

/** Every node and code reachable from `root` in an ethereumjs database (the walk snapshots and db check use). */
async function reachable(db: MapDB<string, Uint8Array>, root: Uint8Array): Promise<{ nodes: Map<string, string>; codes: Map<string, string> }> {
  const reader = {
    node: async (h: Uint8Array) => db.get(hex(h).slice(2)),
    code: async (h: Uint8Array) => db.get(`63${hex(h).slice(2)}`),
  };
  const nodes = new Map<string, string>();
  const codes = new Map<string, string>();
  for await (const item of stateItems(reader, root)) (item.kind === 'node' ? nodes : codes).set(hex(item.hash), hex(item.data));
  return { nodes, codes };
}

/** The state of a genesis file holding `alloc`, read as a stream of its JSON (Genesis.stateRoot). */
async function buildGenesisState(alloc: Alloc, sink?: StateSink): Promise<Uint8Array> {
  const g = makeGenesisFile({
    name: 't',
    chainId: 1,
    validators: [new Uint8Array(20).fill(1)],
    premine: [],
    gasLimit: 30_000_000n,
    baseFee: 1n,
    timestamp: 0n,
  });
  g.genesis.alloc = alloc;
  return (await Genesis.of(g)).stateRoot(sink);
}

async function built(alloc: Alloc) {
  const nodes = new Map<string, string>();
  const codes = new Map<string, string>();
  let writes = 0;
  const root = await buildGenesisState(alloc, {
    node: (h, d) => {
      writes++;
      nodes.set(hex(h), hex(d));
    },
    code: (h, d) => void codes.set(hex(h), hex(d)),
  });
  return { root, nodes, codes, writes };
}

function randomAlloc(seed: number): Alloc {
  const r = prng(seed);
  const alloc: Alloc = {};
  const count = [0, 1, 2, 17, r.int(120)][seed % 5]!;
  for (let i = 0; i < count; i++) {
    const entry: Alloc[string] = { balance: `0x${r.int(4) === 0 ? '0' : BigInt(hex(r.bytes(1 + r.int(32)))).toString(16)}` };
    if (r.int(3) === 0) entry.nonce = `0x${r.int(1000).toString(16)}`;
    if (r.int(5) === 0) entry.code = r.int(4) === 0 ? '0x' : hex(r.bytes(1 + r.int(200)));
    if (r.int(4) === 0) {
      const storage: Record<string, string> = {};
      const slots = r.int(60);
      for (let s = 0; s < slots; s++) {
        // Small slot numbers (as compilers lay them out), zero values, one-byte and full-width values.
        const slot = r.int(2) === 0 ? hex(new Uint8Array(32).fill(0).map((_, k) => (k === 31 ? r.int(256) : 0))) : hex(r.bytes(32));
        const kind = r.int(4);
        const value = kind === 0 ? new Uint8Array(32) : kind === 1 ? new Uint8Array(32).fill(0).map((_, k) => (k === 31 ? 1 + r.int(255) : 0)) : r.bytes(32);
        storage[slot] = hex(value);
      }
      entry.storage = storage;
    }
    alloc[hex(r.bytes(20))] = entry;
  }
  return alloc;
}

describe('buildGenesisState', () => {
  it('gives the state root and exactly the reachable nodes and codes MerkleStateManager gives, for random allocations', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const alloc = randomAlloc(seed);
      const ref = await referenceState(alloc);
      const mine = await built(alloc);
      expect(hex(mine.root), `seed ${seed}`).toBe(hex(ref.root));
      const want = await reachable(ref.db, ref.root);
      expect(mine.nodes, `seed ${seed}`).toEqual(want.nodes);
      expect(mine.codes, `seed ${seed}`).toEqual(want.codes);
      // Only final nodes: each one written once (no two accounts here share a storage trie).
      expect(mine.writes, `seed ${seed}`).toBe(mine.nodes.size);
    }
  });

  it('empty alloc: the empty root, nothing written', async () => {
    const mine = await built({});
    expect(hex(mine.root)).toBe('0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421');
    expect(mine.writes).toBe(0);
  });

  it('a slot given twice: the later entry decides, a later zero deletes it', async () => {
    const slot = `0x${'00'.repeat(31)}05`;
    const one = `0x${'00'.repeat(31)}01`;
    const two = `0x${'00'.repeat(31)}02`;
    const zero = `0x${'00'.repeat(32)}`;
    const a = '0x00000000000000000000000000000000000000aa';
    for (const storage of [
      { [slot]: one, [slot.toUpperCase().replace('0X', '0x')]: two },
      { [slot]: one, [slot.replace('05', '0A')]: two, [slot.replace('05', '0a')]: zero },
    ]) {
      const alloc: Alloc = { [a]: { balance: '0x1', storage } };
      const ref = await referenceState(alloc);
      expect(hex((await built(alloc)).root)).toBe(hex(ref.root));
    }
  });

  it('refuses an address named twice (in another case)', async () => {
    const a = '0x00000000000000000000000000000000000000aa';
    await expect(built({ [a]: { balance: '0x1' }, [a.replace('aa', 'AA')]: { balance: '0x2' } })).rejects.toThrow(/names 0x0+aa more than once/);
  });
});

/** Every node reachable from `root` of a plain trie (values are not followed). */
async function reachableRaw(db: MapDB<string, Uint8Array>, root: Uint8Array): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (ref: unknown): Promise<void> => {
    let node: unknown = ref;
    if (ref instanceof Uint8Array) {
      const data = await db.get(hex(ref).slice(2));
      if (data === undefined) throw new Error(`missing node ${hex(ref)}`);
      out.set(hex(ref), hex(data));
      node = RLP.decode(data);
    }
    const items = node as unknown[];
    if (items.length === 17) {
      for (let i = 0; i < 16; i++) {
        const c = items[i];
        if (c instanceof Uint8Array ? c.length === 32 : Array.isArray(c)) await visit(c);
      }
    } else if ((items[0] as Uint8Array)[0]! >> 4 < 2) {
      await visit(items[1]); // an extension's child (a leaf's value is not a reference)
    }
  };
  await visit(root);
  return out;
}

describe('buildSortedTrie', () => {
  it('matches the ethereumjs trie on keys sharing long prefixes and tiny values (embedded nodes)', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = prng(1000 + seed);
      const bases = Array.from({ length: 1 + r.int(3) }, () => r.bytes(32));
      const count = 1 + r.int(80);
      const keys = new Uint8Array(count * 32);
      const values: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const k = Uint8Array.from(bases[r.int(bases.length)]!);
        // Change only the last 0..4 nibbles: keys share up to 63 nibbles, and some repeat.
        const change = r.int(5);
        for (let n = 64 - change; n < 64; n++) {
          const v = r.int(16);
          k[n >> 1] = n & 1 ? (k[n >> 1]! & 0xf0) | v : (k[n >> 1]! & 0x0f) | (v << 4);
        }
        keys.set(k, i * 32);
        values.push(r.int(3) === 0 ? r.bytes(1 + r.int(40)) : Uint8Array.of(1 + r.int(200)));
      }
      const db = new MapDB<string, Uint8Array>();
      const trie = await createMPT({ db, valueEncoding: ValueEncoding.Bytes });
      for (let i = 0; i < count; i++) await trie.put(keys.subarray(i * 32, (i + 1) * 32), values[i]!);
      const sorted = new SortedKeys(keys, count);
      const nodes = new Map<string, string>();
      const root = await buildSortedTrie(
        sorted,
        (j) => values[sorted.index(j)]!,
        (h, d) => void nodes.set(hex(h), hex(d)),
      );
      expect(hex(root), `seed ${seed}`).toBe(hex(trie.root()));
      expect(nodes, `seed ${seed}`).toEqual(await reachableRaw(db, trie.root()));
    }
  });

  it('sorts keys and keeps the last of equal keys', () => {
    const keys = new Uint8Array(4 * 32);
    keys.set(unprefixedHexToBytes('ff'.repeat(32)), 0);
    keys.set(unprefixedHexToBytes(`${'00'.repeat(31)}01`), 32);
    keys.set(unprefixedHexToBytes('ff'.repeat(32)), 64);
    keys.set(unprefixedHexToBytes(`${'00'.repeat(3)}01${'00'.repeat(28)}`), 96);
    const s = new SortedKeys(keys, 4);
    expect(Array.from(s.order)).toEqual([1, 3, 2]);
    expect(s.overridden).toBe(0);
  });
});
