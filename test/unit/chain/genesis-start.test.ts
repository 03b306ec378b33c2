import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesToHex, createAddressFromString, hexToBytes } from '@ethereumjs/util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stateItems } from '../../../src/backup/state-walk.js';
import { Chain } from '../../../src/chain/chain.js';
import { createChainRules, type GenesisFile } from '../../../src/chain/chain-config.js';
import { IbftEngine } from '../../../src/consensus/ibft/engine.js';
import * as genesisModule from '../../../src/chain/genesis.js';
import { Genesis } from '../../../src/chain/genesis-source.js';
import { CHAIN_PARAMS_KEY, GENESIS_DIGEST_KEY } from '../../../src/storage/schema.js';
import { openBytesDB, type BytesDB } from '../../../src/storage/open-db.js';
import { BlockStore } from '../../../src/storage/block-store.js';
import { TrieNodeStore } from '../../../src/storage/trie-node-store.js';
import { openTestChain, testGenesis } from '../../helpers/chain-fixture.js';

vi.mock('../../../src/chain/genesis.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../../src/chain/genesis.js')>();
  return { ...m, buildGenesisBlock: vi.fn(m.buildGenesisBlock) };
});
const builds = vi.mocked(genesisModule.buildGenesisBlock);

const CONTRACT = '0x00000000000000000000000000000000000000c0';
const slot = (i: number) => `0x${i.toString(16).padStart(64, '0')}`;

/** A genesis with 300 funded accounts and a contract with code and 200 slots. */
function largeGenesis(): GenesisFile {
  const { genesis } = testGenesis(1);
  for (let i = 1; i <= 300; i++) genesis.genesis.alloc[`0x${i.toString(16).padStart(40, '0')}`] = { balance: `0x${(1000 + i).toString(16)}` };
  const storage: Record<string, string> = {};
  for (let i = 0; i < 200; i++) storage[slot(i)] = slot(i + 7);
  genesis.genesis.alloc[CONTRACT] = { balance: '0x0', nonce: '0x1', code: '0x60006000f3', storage };
  return genesis;
}

async function keyCount(db: BytesDB): Promise<number> {
  let n = 0;
  for await (const _ of db.keys()) n++;
  return n;
}

describe('Chain.open and the genesis state', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'basalt-genesis-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    builds.mockClear();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes exactly the nodes reachable from the genesis root, readable through MerkleStateManager', async () => {
    const g = largeGenesis();
    const t = await openTestChain(g, newDir());
    try {
      const view = t.chain.openReadView();
      const reachable = new Set<string>();
      for await (const item of stateItems(view.state, t.chain.head.header.stateRoot))
        reachable.add(bytesToHex(item.kind === 'code' ? Uint8Array.of(0x63, ...item.hash) : item.hash));
      await view.close();
      const stored = new Set<string>();
      for await (const k of t.dbs[1]!.keys()) stored.add(bytesToHex(k));
      expect(stored).toEqual(reachable);
      const state = await t.chain.stateAt(t.chain.head.header);
      const c = createAddressFromString(CONTRACT);
      expect((await state.getAccount(createAddressFromString(`0x${(5).toString(16).padStart(40, '0')}`)))?.balance).toBe(1005n);
      expect((await state.getAccount(c))?.nonce).toBe(1n);
      expect(bytesToHex(await state.getCode(c))).toBe('0x60006000f3');
      expect(bytesToHex(await state.getStorage(c, hexToBytes(slot(3) as `0x${string}`)))).toBe('0x0a');
    } finally {
      await t.close();
    }
  });

  it('builds the genesis state on the first start only, and still refuses another genesis', async () => {
    const g = largeGenesis();
    const dir = newDir();
    const first = await openTestChain(g, dir);
    const hash = bytesToHex(first.chain.genesisHash);
    const trieKeys = await keyCount(first.dbs[1]!);
    await first.close();
    expect(builds).toHaveBeenCalledTimes(1);

    const second = await openTestChain(g, dir);
    expect(bytesToHex(second.chain.genesisHash)).toBe(hash);
    await second.close();
    expect(builds).toHaveBeenCalledTimes(1); // the digest matched: nothing built

    const other = structuredClone(g);
    other.genesis.alloc[CONTRACT]!.storage![slot(0)] = slot(1);
    await expect(openTestChain(other, dir)).rejects.toThrow(
      new RegExp(`genesis mismatch: the data dir holds a chain with genesis ${hash}, but the genesis file gives 0x[0-9a-f]{64}`),
    );
    expect(builds).toHaveBeenCalledTimes(2); // computed the other hash, to name it

    const again = await openTestChain(g, dir);
    expect(await keyCount(again.dbs[1]!)).toBe(trieKeys); // the refused genesis wrote no node
    await again.close();
    expect(builds).toHaveBeenCalledTimes(2);
  });

  it('opens the same genesis in another order by its hash, then by the new digest', async () => {
    const g = largeGenesis();
    const dir = newDir();
    await (await openTestChain(g, dir)).close();
    const reordered = structuredClone(g);
    reordered.genesis.alloc = Object.fromEntries(Object.entries(g.genesis.alloc).reverse());
    await (await openTestChain(reordered, dir)).close();
    expect(builds).toHaveBeenCalledTimes(2);
    await (await openTestChain(reordered, dir)).close();
    expect(builds).toHaveBeenCalledTimes(2);
  });

  it('opens a data dir of an earlier version (no genesis digest, no ChainParams) and records them', async () => {
    const g = largeGenesis();
    const dir = newDir();
    const first = await openTestChain(g, dir);
    const hash = bytesToHex(first.chain.genesisHash);
    await first.dbs[0]!.batch([
      { type: 'del', key: GENESIS_DIGEST_KEY },
      { type: 'del', key: CHAIN_PARAMS_KEY },
    ]);
    await first.close();
    const old = await openTestChain(g, dir);
    expect(bytesToHex(old.chain.genesisHash)).toBe(hash);
    expect(await old.dbs[0]!.get(GENESIS_DIGEST_KEY)).toBeDefined();
    expect(JSON.parse(new TextDecoder().decode(await old.dbs[0]!.get(CHAIN_PARAMS_KEY)))).toEqual(g.params);
    await old.close();
    expect(builds).toHaveBeenCalledTimes(2);
    await (await openTestChain(g, dir)).close();
    expect(builds).toHaveBeenCalledTimes(2);
  });

  it("a snapshot-syncing node's first start (genesisState 'deferred') writes the block alone; the next open without it, or completeGenesisState, writes the state", async () => {
    const g = largeGenesis();
    const written = await openTestChain(g, newDir());
    const expectedHash = bytesToHex(written.chain.genesisHash);
    const expectedKeys = await keyCount(written.dbs[1]!);
    await written.close();
    const balanceOf5 = async (chain: Chain) =>
      (await (await chain.stateAt(chain.head.header)).getAccount(createAddressFromString(`0x${(5).toString(16).padStart(40, '0')}`)))?.balance;

    const dir = newDir();
    const deferred = await openTestChain(g, dir, { genesisState: 'deferred' });
    expect(bytesToHex(deferred.chain.genesisHash)).toBe(expectedHash);
    expect(await keyCount(deferred.dbs[1]!)).toBe(0);
    expect(bytesToHex((await deferred.chain.store.genesisStatePending())!)).toBe(bytesToHex(deferred.chain.head.header.stateRoot));
    await deferred.close();
    // Opened deferred again (a restart while it restores): still the block alone.
    const again = await openTestChain(g, dir, { genesisState: 'deferred' });
    expect(await keyCount(again.dbs[1]!)).toBe(0);
    await again.close();
    // An offline command on the stored genesis cannot serve a chain without its head state.
    const [blockchainDb, trieDb] = [await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir), await openBytesDB(join(dir, 'trie'), 'trie', dir)];
    await expect(Chain.open({ blockchainDb, trieDb, engine: new IbftEngine() })).rejects.toThrow(
      /^the data dir's first start has not finished: its genesis state is not written yet/,
    );
    await blockchainDb.close();
    await trieDb.close();
    // A start without it (the sync did not happen, the node was restarted without --sync snapshot).
    const full = await openTestChain(g, dir);
    try {
      expect(await keyCount(full.dbs[1]!)).toBe(expectedKeys);
      expect(await full.chain.store.genesisStatePending()).toBeUndefined();
      expect(await balanceOf5(full.chain)).toBe(1005n);
    } finally {
      await full.close();
    }

    // The same from the running node: no peer's snapshot restored, it writes the state before it syncs.
    const other = newDir();
    const node = await openTestChain(g, other, { genesisState: 'deferred' });
    try {
      // Told to stop first (CTRL-C while it would write): its reason thrown, nothing written, still pending.
      const stop = new AbortController();
      stop.abort(new Error('stopping'));
      await expect(node.chain.completeGenesisState(g, { signal: stop.signal })).rejects.toThrow(/^stopping$/);
      expect(await keyCount(node.dbs[1]!)).toBe(0);
      expect(await node.chain.store.genesisStatePending()).toBeDefined();
      await node.chain.completeGenesisState(g);
      expect(await keyCount(node.dbs[1]!)).toBe(expectedKeys);
      expect(await node.chain.store.genesisStatePending()).toBeUndefined();
      expect(await balanceOf5(node.chain)).toBe(1005n);
      await node.chain.completeGenesisState(g); // nothing left to do
    } finally {
      await node.close();
    }
  });

  it('a deferred first start killed before its genesis block, started again with another genesis and no deferral, writes that genesis whole', async () => {
    const g = largeGenesis();
    const dir = newDir();
    // What a kill -9 of a --sync snapshot first start leaves between its meta batch and its block: the meta with a pending root.
    const blockchain = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
    const genesis = await Genesis.of(g);
    await new BlockStore(blockchain, createChainRules(genesis.config)).writeMeta({
      chainConfigJson: JSON.stringify(g),
      paramsJson: JSON.stringify(g.params),
      genesisDigest: genesis.digest,
      genesisStatePending: await genesis.stateRoot(),
    });
    await blockchain.close();

    // The operator corrects the genesis file and starts without --sync snapshot.
    const other = structuredClone(g);
    other.genesis.alloc[CONTRACT]!.storage![slot(0)] = slot(1);
    const t = await openTestChain(other, dir);
    try {
      expect(await t.chain.store.genesisStatePending()).toBeUndefined();
      const state = await t.chain.stateAt(t.chain.head.header);
      expect(bytesToHex(await state.getStorage(createAddressFromString(CONTRACT), hexToBytes(slot(0) as `0x${string}`)))).toBe('0x01');
    } finally {
      await t.close();
    }
    // And it opens again (no stale record naming another root).
    await (await openTestChain(other, dir)).close();
  });

  it('a first start killed after part of the state (no genesis block yet) starts over and completes it', async () => {
    const g = largeGenesis();
    const dir = newDir();
    // What a kill -9 between the state batches and the block batch leaves: some nodes, the meta, no block.
    const blockchain = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
    const trieDb = await openBytesDB(join(dir, 'trie'), 'trie', dir);
    const writer = new TrieNodeStore(trieDb).stateWriter(1); // a batch per node
    let kept = 0;
    const genesis = await Genesis.of(g);
    await genesis.stateRoot({ node: (h, d) => (kept++ < 50 ? writer.node(h, d) : undefined), code: () => undefined });
    await writer.finish();
    await new BlockStore(blockchain, createChainRules(genesis.config)).writeMeta({
      chainConfigJson: JSON.stringify(g),
      paramsJson: JSON.stringify(g.params),
      genesisDigest: genesis.digest,
    });
    await blockchain.close();
    await trieDb.close();

    const t = await openTestChain(g, dir);
    try {
      expect(t.chain.head.number).toBe(0n);
      let nodes = 0;
      const view = t.chain.openReadView();
      for await (const item of stateItems(view.state, t.chain.head.header.stateRoot)) if (item.kind === 'node') nodes++;
      await view.close();
      expect(nodes).toBeGreaterThan(50);
      expect(await keyCount(t.dbs[1]!)).toBe(nodes + 1); // and the one code
    } finally {
      await t.close();
    }
  });
});
