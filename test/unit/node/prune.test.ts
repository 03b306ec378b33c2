import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesToHex, createAddressFromString } from '@ethereumjs/util';
import { checkStateComplete, stateItems, walkStates } from '../../../src/backup/state-walk.js';
import { checkDataDir } from '../../../src/node/db-check.js';
import { openOfflineChain } from '../../../src/node/offline.js';
import { pruneDataDir } from '../../../src/node/prune.js';
import { openBytesDB } from '../../../src/storage/open-db.js';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, openTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const SENDER = testKey(9);
const BLOCKS = 30;
const recipient = (i: number) => `0x${(0xabc000 + i).toString(16).padStart(40, '0')}` as const;
let t: TestChain;
/** Each recipient's balance after each block, read before the prune. */
const balances = new Map<string, bigint>();

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(SENDER)]);
  for (let i = 0; i < BLOCKS; i++) {
    const tx = createFeeMarket1559Tx(
      { nonce: BigInt(i), to: recipient(i % 7), value: BigInt(i + 1), gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: t.chain.commonAt(t.chain.head.number + 1n) },
    ).sign(SENDER);
    await sealNext(t, [tx]);
  }
  for (let n = 1n; n <= BigInt(BLOCKS); n++) {
    const state = await t.chain.stateAt((await t.chain.blockByNumber(n))!.header);
    for (let i = 0; i < 7; i++) balances.set(`${n}:${i}`, (await state.getAccount(createAddressFromString(recipient(i))))?.balance ?? 0n);
  }
  await t.chain.close();
  for (const db of t.dbs) await db.close();
}, 60_000);

afterAll(() => rmSync(t.dir, { recursive: true, force: true }));

describe('basalt prune (offline)', () => {
  it('keeps the states of the last N blocks whole and deletes the rest; older states are refused in one line', async () => {
    const phases = new Set<string>();
    const r = await pruneDataDir(t.dir, { keep: 10n, onProgress: (p) => phases.add(p.phase) });
    expect(r).toMatchObject({ head: BigInt(BLOCKS), keptFrom: BigInt(BLOCKS - 9), statesKept: 10 });
    expect(r.deleted).toBeGreaterThan(0);
    expect(r.keysScanned).toBe(r.nodesKept + r.codesKept + r.deleted);
    expect([...phases]).toEqual(['mark', 'sweep']);
    // What it says it kept is what trie/ holds now, byte for byte (keys and values: the running node's
    // pruner waits for as much growth before its next prune).
    const trie = await openBytesDB(join(t.dir, 'trie'), 'trie', t.dir);
    let held = 0;
    let entries = 0;
    try {
      for await (const [k, v] of trie.iterator()) {
        held += k.length + v.length;
        entries++;
      }
    } finally {
      await trie.close();
    }
    expect(entries).toBe(r.nodesKept + r.codesKept);
    expect(r.bytesKept).toBe(held);

    const c = await openTestChain(t.genesis, t.dir);
    try {
      for (let n = BigInt(BLOCKS - 9); n <= BigInt(BLOCKS); n++) {
        const header = (await c.chain.blockByNumber(n))!.header;
        expect(await c.chain.hasStateAt(header)).toBe(true);
        await checkStateComplete(c.chain.trie, header.stateRoot);
        const state = await c.chain.stateAt(header);
        for (let i = 0; i < 7; i++) expect((await state.getAccount(createAddressFromString(recipient(i))))?.balance ?? 0n).toBe(balances.get(`${n}:${i}`));
      }
      const older = (await c.chain.blockByNumber(BigInt(BLOCKS - 10)))!.header;
      expect(await c.chain.hasStateAt(older)).toBe(false);
      const rpc = new RpcDispatcher({ methods: ethMethods({ chain: c.chain, txpool: new TxPool(c.chain) }), logger: pino({ level: 'silent' }) });
      const call = async (method: string, params: unknown[]) =>
        JSON.parse(await rpc.handleText(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }))) as { result?: string; error?: { message: string } };
      expect((await call('eth_getBalance', [recipient(0), `0x${(BLOCKS - 10).toString(16)}`])).error?.message).toBe(
        `historical state for block ${BLOCKS - 10} is not available: this node keeps the states from block ${BLOCKS - 9} on (pruned by \`basalt prune\`, or restored at that block)`,
      );
      expect(BigInt((await call('eth_getBalance', [recipient(0), 'latest'])).result!)).toBe(balances.get(`${BLOCKS}:0`));
      // the chain goes on from its head
      await sealNext({ chain: c.chain, keys: t.keys });
      expect(c.chain.head.number).toBe(BigInt(BLOCKS + 1));
    } finally {
      await c.close();
    }
    expect((await checkDataDir(t.dir, { full: true })).problems).toEqual([]);
  });

  it('a second prune finds nothing more to delete than the block sealed since; keeping more than there is deletes no state', async () => {
    // a growth count a stopped node's pruner left: this prune is the one it counted toward, so it goes
    const withGrowth = await openOfflineChain(t.dir);
    await withGrowth.chain.store.writePrunerGrowth(123_456);
    await withGrowth.close();
    const again = await pruneDataDir(t.dir, { keep: 11n });
    const after = await openOfflineChain(t.dir);
    expect(await after.chain.store.takePrunerGrowth()).toBe(0);
    await after.close();
    // the block sealed after the first prune replaced a few nodes of its parent's state: kept, both are in the window
    expect(again.keptFrom).toBe(BigInt(BLOCKS - 9));
    expect(again.deleted).toBe(0);
    const all = await pruneDataDir(t.dir, { keep: 1000n });
    expect(all.keptFrom).toBe(BigInt(BLOCKS - 9)); // never before the oldest state it still holds
    expect(all.deleted).toBe(0);
    await expect(pruneDataDir(t.dir, { keep: 0n })).rejects.toThrow(/at least 1 state/);
  });

  it('db check --full walks every state the pruned node keeps, and names a kept state that lost a node; the pruned ones below are not walked', async () => {
    const ok = await checkDataDir(t.dir, { full: true });
    expect(ok.problems).toEqual([]);
    expect(ok.state).toMatchObject({ from: BigInt(BLOCKS - 9), to: BigInt(BLOCKS + 1), complete: 11 });
    // A node only the state of block BLOCKS-8 reaches (the newer states replaced it), deleted.
    const c = await openTestChain(t.genesis, t.dir);
    let lost: Uint8Array | undefined;
    try {
      const rootOf = async (n: bigint) => (await c.chain.blockByNumber(n))!.header.stateRoot;
      const newer = await walkStates(c.chain.trie, rootOf, BigInt(BLOCKS - 7), BigInt(BLOCKS + 1));
      for await (const item of stateItems(c.chain.trie, await rootOf(BigInt(BLOCKS - 8)))) {
        if (item.kind === 'node' && !newer.nodes.has(item.hash)) lost = item.hash;
      }
    } finally {
      await c.close();
    }
    expect(lost, 'block BLOCKS-8 changed a node the newer states do not share').toBeDefined();
    const trie = await openBytesDB(join(t.dir, 'trie'), 'trie', t.dir);
    await trie.del(lost!);
    await trie.close();
    const damaged = await checkDataDir(t.dir, { full: true });
    // Block BLOCKS-8's state, and the one before if it shares the node: each named.
    expect(damaged.problems[0]).toBe(`the state of block ${BLOCKS - 8} is incomplete: state trie node ${bytesToHex(lost!)} is missing`);
    expect(damaged.problems.slice(1)).toEqual(
      damaged.problems.length === 2 ? [`the state of block ${BLOCKS - 9} is incomplete: state trie node ${bytesToHex(lost!)} is missing`] : [],
    );
    expect(damaged.state).toMatchObject({ from: BigInt(BLOCKS - 9), complete: 11 - damaged.problems.length });
    // Without --full only the head's root is looked at.
    expect((await checkDataDir(t.dir)).problems).toEqual([]);
  });
});

describe('basalt prune: what it keeps unless told, and a damaged window', () => {
  let u: TestChain;
  beforeAll(async () => {
    u = await createTestChain(1, [addressOf(SENDER)]);
    for (let i = 0; i < 30; i++) {
      const tx = createFeeMarket1559Tx(
        { nonce: BigInt(i), to: recipient(i % 7), value: BigInt(i + 1), gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
        { common: u.chain.commonAt(u.chain.head.number + 1n) },
      ).sign(SENDER);
      await sealNext(u, [tx]);
    }
    // a node that ran with --state-history 20
    await u.chain.store.writeStateHistory({ keep: 20n });
    await u.chain.close();
    for (const db of u.dbs) await db.close();
  }, 60_000);
  afterAll(() => rmSync(u.dir, { recursive: true, force: true }));

  it('without --state-history keeps what the data dir keeps (its node ran with 20), not the default 128 or fewer', async () => {
    const r = await pruneDataDir(u.dir, {});
    expect(r).toMatchObject({ head: 30n, keptFrom: 11n, statesKept: 20 });
    const o = await openOfflineChain(u.dir);
    try {
      expect(await o.chain.store.stateHistory()).toEqual({ keep: 20n });
      expect(await o.chain.hasStateAt((await o.chain.blockByNumber(11n))!.header)).toBe(true);
      expect(await o.chain.hasStateAt((await o.chain.blockByNumber(10n))!.header)).toBe(false);
    } finally {
      await o.close();
    }
  });

  it('refuses a StateFrom record above the head as damage and deletes nothing (a walk from it would keep no state)', async () => {
    const o = await openOfflineChain(u.dir);
    await o.chain.store.writeStateFrom(35n);
    await o.close();
    await expect(pruneDataDir(u.dir, { keep: 3n })).rejects.toThrow(
      /StateFrom record \(block 35\) is above its head \(block 30\): it is damaged, nothing pruned/,
    );
    const again = await openOfflineChain(u.dir);
    try {
      for await (const _ of stateItems(again.chain.openReadView().state, again.chain.head.header.stateRoot)) {
        // every node of the head state is still there
      }
      expect(await again.chain.store.stateHistory()).toEqual({ keep: 20n });
    } finally {
      await again.close();
    }
  });
});
