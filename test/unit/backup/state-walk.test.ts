import { RLP } from '@ethereumjs/rlp';
import { Account, KECCAK256_NULL, KECCAK256_RLP, createAddressFromString, hexToBytes } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MissingStateError,
  StreamedStateCheck,
  checkStateComplete,
  stateItems,
  type MarkedAlready,
  type StateItem,
  type StateOrder,
} from '../../../src/backup/state-walk.js';
import { openState } from '../../../src/chain/state.js';
import { createTestChain, type TestChain } from '../../helpers/chain-fixture.js';

/** A state with 300 accounts, two contracts with the same code and the same storage (shared subtrees), one with its own. */
let t: TestChain;
let root: Uint8Array;
let items: StateItem[];

beforeAll(async () => {
  t = await createTestChain(1);
  const state = await openState(t.chain.trie, t.chain.commonAt(0n));
  for (let i = 1; i <= 300; i++)
    await state.putAccount(createAddressFromString(`0x${i.toString(16).padStart(40, '0')}`), new Account(0n, BigInt(i) * 10n ** 15n));
  const code = hexToBytes('0x60005460005260206000f3');
  for (const [addr, salt] of [
    [`0x${'aa'.repeat(20)}`, 0],
    [`0x${'bb'.repeat(20)}`, 0],
    [`0x${'cc'.repeat(20)}`, 1],
  ] as const) {
    const a = createAddressFromString(addr);
    await state.putAccount(a, new Account(0n, 1n));
    await state.putCode(a, salt === 0 ? code : hexToBytes('0x6001600055'));
    for (let s = 0; s < 60; s++)
      await state.putStorage(a, hexToBytes(`0x${(s + salt * 1000).toString(16).padStart(64, '0')}`), hexToBytes(`0x${(s + 1).toString(16).padStart(2, '0')}`));
  }
  root = await state.getStateRoot();
  await t.chain.trie.flush();
  items = [];
  for await (const it of stateItems(t.chain.trie, root)) items.push(it);
});
afterAll(() => t?.close());

function check(list: StateItem[], order: StateOrder = 'unique', rememberedCodes?: number): { nodes: number; codes: number } {
  const c = new StreamedStateCheck(root, order, rememberedCodes);
  for (const it of list) {
    if (it.kind === 'node') c.node(it.hash, it.data);
    else c.code(it.hash);
  }
  return c.finish();
}

describe('the state as a stream: StreamedStateCheck', () => {
  it("accepts what the walk writes, each node and code once, with the walk's own counts", async () => {
    const counts = check(items);
    expect(counts).toEqual(await checkStateComplete(t.chain.trie, root));
    expect(counts.codes).toBe(2); // two distinct codes for three contracts
    expect(new Set(items.map((i) => Buffer.from(i.hash).toString('hex'))).size).toBe(items.length);
  });

  it('takes code before or after the account that has it (code records fill apart from nodes records)', () => {
    const codes = items.filter((i) => i.kind === 'code');
    const nodes = items.filter((i) => i.kind === 'node');
    expect(check([...codes, ...nodes])).toEqual(check(items));
    expect(check([...nodes, ...codes])).toEqual(check(items));
  });

  it('refuses a missing node, a node twice, a node nothing refers to, a child before its parent, and stray code', () => {
    const nodeAt = items.findIndex((i, k) => k > 0 && i.kind === 'node');
    const codeAt = items.findIndex((i) => i.kind === 'code');
    expect(() => check(items.slice(0, -1))).toThrow(MissingStateError);
    expect(() => check(items.filter((_, k) => k !== nodeAt))).toThrow(/is missing|not referred to/);
    expect(() => check([...items.slice(0, nodeAt + 1), items[nodeAt]!, ...items.slice(nodeAt + 1)])).toThrow(/comes twice/);
    const junk: StateItem = { kind: 'node', hash: new Uint8Array(32).fill(7), data: new Uint8Array([0xc0]) };
    expect(() => check([...items, junk])).toThrow(/not referred to by the state before it/);
    expect(() => check([items[nodeAt]!, ...items])).toThrow(/not referred to/);
    expect(() => check([...items.slice(0, codeAt + 1), items[codeAt]!, ...items.slice(codeAt + 1)])).toThrow(/contract code 0x[0-9a-f]{64} comes twice/);
    expect(() => check([...items.slice(0, codeAt), ...items.slice(codeAt + 1)])).toThrow(/contract code 0x[0-9a-f]{64} is missing/);
    const stray: StateItem = { kind: 'code', hash: new Uint8Array(32).fill(9), data: new Uint8Array([0x00]) };
    expect(() => check([stray, ...items])).toThrow(/contract code 0x0909[0-9a-f]{60} belongs to no account/);
  });
});

describe("the state in tree order (snapshots' stateOrder 'tree'): nothing remembered of the nodes", () => {
  const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');
  async function treeItems(rememberedCodes?: number): Promise<StateItem[]> {
    const out: StateItem[] = [];
    for await (const it of stateItems(t.chain.trie, root, undefined, 'tree', rememberedCodes)) out.push(it);
    return out;
  }

  it('gives a subtree two contracts share once for each, the same nodes as the unique walk, and the check accepts it', async () => {
    const tree = await treeItems();
    const unique = new Set(items.map((i) => hex(i.hash)));
    expect(new Set(tree.map((i) => hex(i.hash)))).toEqual(unique);
    // 0xaa.. and 0xbb.. have the same storage: its trie comes twice; their code (the same) once.
    expect(tree.filter((i) => i.kind === 'node').length).toBeGreaterThan(items.filter((i) => i.kind === 'node').length);
    expect(tree.filter((i) => i.kind === 'code')).toHaveLength(2);
    const counts = check(tree, 'tree');
    expect(counts.codes).toBe(2);
    expect(counts.nodes).toBe(tree.filter((i) => i.kind === 'node').length);
    // Code records fill apart: code before or after the nodes.
    const codes = tree.filter((i) => i.kind === 'code');
    const nodes = tree.filter((i) => i.kind === 'node');
    expect(check([...codes, ...nodes], 'tree')).toEqual(counts);
    expect(check([...nodes, ...codes], 'tree')).toEqual(counts);
    // A reader remembering each node once (an earlier Basalt's) refuses the repeated subtree.
    expect(() => check(tree, 'unique')).toThrow(/comes twice|not referred to/);
  });

  it('refuses a node more often than referred to, a missing node, junk, a child before its parent, and code no account has', async () => {
    const tree = await treeItems();
    const nodeAt = tree.findIndex((i, k) => k > 0 && i.kind === 'node');
    expect(() => check(tree.slice(0, -1), 'tree')).toThrow(MissingStateError);
    expect(() =>
      check(
        tree.filter((_, k) => k !== nodeAt),
        'tree',
      ),
    ).toThrow(/is missing|not referred to/);
    expect(() => check([...tree.slice(0, nodeAt + 1), tree[nodeAt]!, ...tree.slice(nodeAt + 1)], 'tree')).toThrow(/comes more often than it is referred to/);
    const junk: StateItem = { kind: 'node', hash: new Uint8Array(32).fill(7), data: new Uint8Array([0xc0]) };
    expect(() => check([...tree, junk], 'tree')).toThrow(/not referred to by the state before it/);
    expect(() => check([tree[nodeAt]!, ...tree], 'tree')).toThrow(/not referred to/);
    const codeAt = tree.findIndex((i) => i.kind === 'code');
    expect(() => check([...tree.slice(0, codeAt + 1), tree[codeAt]!, ...tree.slice(codeAt + 1)], 'tree')).toThrow(/belongs to no account/);
    expect(() => check([...tree.slice(0, codeAt), ...tree.slice(codeAt + 1)], 'tree')).toThrow(/contract code 0x[0-9a-f]{64} is missing/);
  });

  it('past the codes both sides remember, a code comes for each account that has it, and the check expects exactly that', async () => {
    // Remembering one code: the shared code is remembered only if it came first, else it comes twice.
    const tree = await treeItems(1);
    const codes = tree.filter((i) => i.kind === 'code');
    const shared = codes.filter((c) => codes.filter((d) => hex(d.hash) === hex(c.hash)).length > 1);
    expect(codes.length).toBe(shared.length > 0 ? 3 : 2);
    expect(check(tree, 'tree', 1).codes).toBe(codes.length);
    // Remembering none: each account's code, three in all; a reader remembering more misses none but refuses the extra.
    const none = await treeItems(0);
    expect(none.filter((i) => i.kind === 'code')).toHaveLength(3);
    expect(check(none, 'tree', 0).codes).toBe(3);
    expect(() => check(none, 'tree')).toThrow(/belongs to no account/);
  });
});

describe('the walk reads ahead (no skip): the next batch is read while this one is given', () => {
  it('gives the same items in the same order as a walk reading one node at a time', async () => {
    // A source without `nodes` (no batch read): Promise.all of single reads, same walk.
    const single = { node: (h: Uint8Array) => t.chain.trie.node(h), code: (h: Uint8Array) => t.chain.trie.code(h) };
    const again: StateItem[] = [];
    for await (const it of stateItems(single, root)) again.push(it);
    expect(again.map((i) => `${i.kind}:${Buffer.from(i.hash).toString('hex')}`)).toEqual(items.map((i) => `${i.kind}:${Buffer.from(i.hash).toString('hex')}`));
    expect(items.length).toBeGreaterThan(300);
  });

  it('gives every node before a missing one, then names it; a consumer that stops early leaves no read failing unhandled', async () => {
    const nodes = items.filter((i) => i.kind === 'node');
    const gone = nodes[400]!.hash; // past the first batch of 256: read ahead
    const failing = {
      node: async (h: Uint8Array) => (Buffer.from(h).equals(Buffer.from(gone)) ? undefined : t.chain.trie.node(h)),
      code: (h: Uint8Array) => t.chain.trie.code(h),
    };
    const given: StateItem[] = [];
    await expect(
      (async () => {
        for await (const it of stateItems(failing, root)) given.push(it);
      })(),
    ).rejects.toThrow(new RegExp(`state trie node 0x${Buffer.from(gone).toString('hex')} is missing`));
    expect(given.filter((i) => i.kind === 'node')).toHaveLength(400);
    // Reads that fail once the consumer has stopped (a closed database): nothing unhandled.
    let reads = 0;
    const closing = {
      node: async (h: Uint8Array) => {
        if (++reads > 1) throw new Error('database closed'); // the root is read; what is read ahead fails
        return t.chain.trie.node(h);
      },
      code: (h: Uint8Array) => t.chain.trie.code(h),
    };
    for await (const _ of stateItems(closing, root)) break;
    await new Promise((r) => setTimeout(r, 20));
  });
});

describe("a skip from the caller's own marks (a prune's, a check's): read ahead, each node once", () => {
  const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');
  /** The walk with marks the consumer keeps as it is given each item, as walkStates does. */
  async function marked(pre: { nodes?: Uint8Array[]; codes?: Uint8Array[] } = {}): Promise<StateItem[]> {
    const nodes = new Set((pre.nodes ?? []).map(hex));
    const codes = new Set((pre.codes ?? []).map(hex));
    const marks: MarkedAlready = { marked: (kind, h) => (kind === 'nodes' ? nodes : codes).has(hex(h)) };
    const out: StateItem[] = [];
    for await (const it of stateItems(t.chain.trie, root, marks, 'tree')) {
      out.push(it);
      (it.kind === 'node' ? nodes : codes).add(hex(it.hash));
    }
    return out;
  }

  it('gives the subtree two contracts share once, as the unique walk does, though in tree order', async () => {
    const got = await marked();
    expect(got.map((i) => `${i.kind}:${hex(i.hash)}`).sort()).toEqual(items.map((i) => `${i.kind}:${hex(i.hash)}`).sort());
  });

  it('leaves out what is marked already, with everything below it', async () => {
    // The storage 0xaa.. and 0xbb.. share, and their code, marked before the walk (an earlier state's).
    const state = await openState(t.chain.trie, t.chain.commonAt(0n), root);
    const account = (await state.getAccount(createAddressFromString(`0x${'aa'.repeat(20)}`)))!;
    // Its nodes: those the tree-order walk gives twice (the fixture shares nothing else).
    const seen = new Map<string, number>();
    for await (const it of stateItems(t.chain.trie, root, undefined, 'tree')) if (it.kind === 'node') seen.set(hex(it.hash), (seen.get(hex(it.hash)) ?? 0) + 1);
    const shared = [...seen].filter(([, n]) => n === 2).map(([h]) => h);
    expect(shared).toContain(hex(account.storageRoot));
    expect(shared.length).toBeGreaterThan(1);
    const got = await marked({ nodes: [account.storageRoot], codes: [account.codeHash] });
    const given = new Set(got.map((i) => hex(i.hash)));
    for (const h of shared) expect(given.has(h)).toBe(false);
    expect(given.has(hex(account.codeHash))).toBe(false);
    // Everything else is there: the unique walk's items but the shared storage and code.
    expect(given.size).toBe(items.length - shared.length - 1);
  });
});

describe('marks as the skip, a subtree shared across two batches in a row', () => {
  // A hand-made account trie (the walk reads references, not hashes): R's branch refers to X and Q;
  // Q's refers to X again. R is batch 1, X and Q batch 2; Q's reference to X is found while batch 2
  // is read ahead of its marks, so X would be taken again into batch 3, before the caller marks it.
  const id = (n: number) => new Uint8Array(32).fill(n);
  const leaf = (n: number) => RLP.encode([new Uint8Array([0x20 + n]), RLP.encode([new Uint8Array(), new Uint8Array([n]), KECCAK256_RLP, KECCAK256_NULL])]);
  const branch = (refs: Uint8Array[]) => RLP.encode([...refs, ...Array.from({ length: 16 - refs.length }, () => new Uint8Array()), new Uint8Array()]);
  const db = new Map<string, Uint8Array>([
    [hex(id(1)), branch([id(2), id(3)])], // R -> X, Q
    [hex(id(3)), branch([id(2), id(4)])], // Q -> X, L4
    [hex(id(2)), branch([id(5), id(6)])], // X -> L5, L6
    [hex(id(4)), leaf(4)],
    [hex(id(5)), leaf(5)],
    [hex(id(6)), leaf(6)],
  ]);
  function hex(h: Uint8Array) {
    return Buffer.from(h).toString('hex');
  }
  const reader = {
    node: async (h: Uint8Array) => db.get(hex(h)),
    nodes: async (hs: Uint8Array[]) => hs.map((h) => db.get(hex(h))),
    code: async () => undefined,
  };

  it('gives X and what is below it once to a caller marking as it goes, where the tree order gives them twice', async () => {
    const count = async (marks?: MarkedAlready & { seen: Set<string> }) => {
      const n = new Map<string, number>();
      for await (const it of stateItems(reader, id(1), marks, 'tree')) {
        n.set(hex(it.hash), (n.get(hex(it.hash)) ?? 0) + 1);
        marks?.seen.add(hex(it.hash));
      }
      return n;
    };
    const tree = await count();
    expect(tree.get(hex(id(2)))).toBe(2);
    expect(tree.get(hex(id(5)))).toBe(2);
    const seen = new Set<string>();
    const once = await count({ seen, marked: (_, h) => seen.has(hex(h)) });
    expect([...once.values()].every((c) => c === 1)).toBe(true);
    expect(once.size).toBe(6);
  });
});
