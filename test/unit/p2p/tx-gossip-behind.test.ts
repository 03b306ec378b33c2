import { rmSync } from 'node:fs';
import { createEOACode7702Tx, createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx';
import { createAddressFromPrivateKey, eoaCode7702SignAuthorization } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Chain } from '../../../src/chain/chain.js';
import type { P2pMetrics } from '../../../src/node/network.js';
import type { TxPool } from '../../../src/txpool/txpool.js';
import { addressOf, openTestChain, sealNext, testGenesis, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { SENDER, chainWithBlocks } from '../archive/archive-fixture.js';
import { countTxMessages, type TestNode, until, nodesStoppedAfterEach } from './net-fixture.js';

/**
 * A node judges gossiped transactions against its own head. Behind the chain (syncing, held, restoring
 * a snapshot, before a fork its peers have reached) transactions valid at the head looked like faults,
 * and it banned the honest peers relaying them: the very peers it syncs from.
 */

const { cleanup, node } = nodesStoppedAfterEach();
const idOf = (addr: string) => addr.split('/p2p/')[1]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TO = '0x000000000000000000000000000000000000beef';

/** What a node refused and banned, by reason. */
function recorder(): P2pMetrics & { rejectedReasons: string[]; bans: string[] } {
  const r = { rejectedReasons: [] as string[], bans: [] as string[] };
  return { ...r, rejected: (reason) => void r.rejectedReasons.push(reason), banned: (reason) => void r.bans.push(reason) };
}

/** Count the transactions `pool` is asked to take (validated at all). */
function countAdds(pool: TxPool): { n: number } {
  const count = { n: 0 };
  const add = pool.add.bind(pool);
  pool.add = (tx: TypedTransaction) => {
    count.n++;
    return add(tx);
  };
  return count;
}

const transfer = (chain: Chain, nonce: bigint, key = SENDER) =>
  createFeeMarket1559Tx(
    { nonce, to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
    { common: chain.commonAt(0n) },
  ).sign(key);

describe('a node behind the chain bans no honest peer for transaction gossip', () => {
  let src: TestChain;
  beforeAll(async () => {
    src = await chainWithBlocks(80); // SENDER's next nonce is 79: more than 64 ahead of the genesis state
  }, 60_000);
  afterAll(async () => {
    await src?.close();
  });

  /** `count` transfers from SENDER, valid at the head, sent by a client of `a`. */
  async function clientSends(a: TestNode, count: number): Promise<void> {
    const base = await a.txpool.pendingNonce(createAddressFromPrivateKey(SENDER));
    for (let i = 0n; i < BigInt(count); i++) await a.txpool.add(transfer(src.chain, base + i));
  }

  it('syncing (its head held: writes paused), it drops relayed transactions unread: 60 far ahead of its state get no peer banned', async () => {
    const behind = await openTestChain(src.genesis);
    cleanup.push(async () => (await behind.close(), rmSync(behind.dir, { recursive: true, force: true })));
    behind.chain.pauseWrites('disk almost full (test)');
    const metrics = recorder();
    const a = await node(src.chain, { discovery: false });
    const b = await node(behind.chain, { bootnodes: [a.addr], discovery: false, metrics });
    await until(() => a.net.peerCount() === 1 && b.net.peerCount() === 1, 'connected');
    await until(() => b.net.syncing() !== false, "b proved a's head: it is syncing");
    await sleep(1500); // gossipsub meshes on its heartbeat (1 s)
    const adds = countAdds(b.txpool);
    const messages = countTxMessages(b);
    await clientSends(a, 60);
    await until(() => messages.n > 0, 'b got the transactions');
    await sleep(1500); // what b would still judge
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(metrics.bans).toEqual([]);
    expect(b.net.peerCount()).toBe(1);
    expect(adds.n).toBe(0); // not validated while syncing
    expect(metrics.rejectedReasons).toEqual([]);
    expect(behind.chain.head.number).toBe(0n);
  }, 60_000);

  it('held behind with block sync off, it validates what a peer ahead relays but counts what cannot execute in its stale state as no fault', async () => {
    const behind = await openTestChain(src.genesis);
    cleanup.push(async () => (await behind.close(), rmSync(behind.dir, { recursive: true, force: true })));
    const metrics = recorder();
    const a = await node(src.chain, { discovery: false });
    const b = await node(behind.chain, { bootnodes: [a.addr], discovery: false, blockSync: false, metrics });
    await until(() => a.net.peerCount() === 1 && b.net.peerCount() === 1, 'connected');
    await sleep(1500); // gossipsub meshes on its heartbeat (1 s)
    const adds = countAdds(b.txpool);
    await clientSends(a, 60);
    await until(() => adds.n >= 60 || b.net.peerManager.banned(idOf(a.addr)) !== undefined, 'b validated the 60 transactions');
    await sleep(1000);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(metrics.bans).toEqual([]);
    expect(metrics.rejectedReasons).not.toContain('tx-unexecutable');
    expect(b.net.peerCount()).toBe(1);
    expect(b.txpool.size).toBe(0); // nonce too high here: refused, not taken
  }, 60_000);
});

describe('transaction gossip across a scheduled fork (prague at block 3)', () => {
  const KEY = testKey(20); // premined

  async function forkChain(): Promise<TestChain> {
    const { genesis, keys } = testGenesis(1, [addressOf(KEY)]);
    genesis.params.forks = { ...genesis.params.forks, cancun: 3, prague: 3 };
    const opened = await openTestChain(genesis);
    const t = { ...opened, keys, genesis, close: async () => (await opened.close(), rmSync(opened.dir, { recursive: true, force: true })) };
    cleanup.push(() => t.close());
    return t;
  }

  const setCode = (chain: Chain, nonce: bigint) =>
    createEOACode7702Tx(
      {
        nonce,
        to: TO,
        gasLimit: 100_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
        authorizationList: [eoaCode7702SignAuthorization({ chainId: '0x64', address: TO, nonce: '0x0' }, testKey(21))],
      },
      { common: chain.commonAt(3n) },
    ).sign(KEY);

  it('a set-code (type 4) transaction relayed to a node whose next block is before prague is refused without a ban, and taken once the fork is next', async () => {
    const src = await forkChain();
    const dst = await openTestChain(src.genesis);
    cleanup.push(async () => (await dst.close(), rmSync(dst.dir, { recursive: true, force: true })));
    await sealNext(src); // block 1: the next block (2) is before the fork
    const metrics = recorder();
    const a = await node(src.chain, { discovery: false });
    const b = await node(dst.chain, { bootnodes: [a.addr], discovery: false, metrics });
    await until(() => a.net.peerCount() === 1 && b.net.peerCount() === 1 && dst.chain.head.number === 1n, 'connected, b at block 1');
    await sleep(1500); // gossipsub meshes on its heartbeat (1 s)
    const tx = setCode(src.chain, 0n);
    const adds = countAdds(b.txpool);
    a.net.gossip.publishTx(tx.serialize()); // a peer that relays it a block early
    await until(() => adds.n === 1 || b.net.peerManager.banned(idOf(a.addr)) !== undefined, 'b validated it');
    await sleep(500);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(metrics.bans).toEqual([]);
    expect(b.txpool.has(tx.hash())).toBe(false); // not before the fork
    await expect(b.txpool.add(tx)).rejects.toThrow(/need the prague fork/);

    await sealNext(src); // block 2: the next block (3) is prague's first
    await until(() => dst.chain.head.number === 2n, 'b at block 2');
    a.net.gossip.publishTx(tx.serialize());
    await until(() => b.txpool.has(tx.hash()), 'b took it once the fork is next');
    expect(metrics.bans).toEqual([]);
    expect(b.net.peerCount()).toBe(1);
  }, 60_000);

  it('a node restoring a snapshot (its pool closed, at genesis) drops transaction gossip unread: the peers serving it, past the fork, are not banned', async () => {
    const src = await forkChain();
    const dst = await openTestChain(src.genesis);
    cleanup.push(async () => (await dst.close(), rmSync(dst.dir, { recursive: true, force: true })));
    for (let i = 0; i < 3; i++) await sealNext(src); // at block 3: prague
    const metrics = recorder();
    const a = await node(src.chain, { discovery: false });
    const b = await node(dst.chain, { bootnodes: [a.addr], discovery: false, blockSync: false, metrics });
    b.txpool.close('the node is restoring from a peer snapshot (test)');
    await until(() => a.net.peerCount() === 1 && b.net.peerCount() === 1, 'connected');
    await sleep(1500); // gossipsub meshes on its heartbeat (1 s)
    const adds = countAdds(b.txpool);
    const messages = countTxMessages(b);
    await a.txpool.add(setCode(src.chain, 0n)); // a client of a sends a set-code transaction, and transfers
    for (let n = 1n; n <= 3n; n++) await a.txpool.add(transfer(src.chain, n, KEY));
    await until(() => messages.n > 0, 'b got the transactions');
    await sleep(1000);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(metrics.bans).toEqual([]);
    expect(metrics.rejectedReasons).toEqual([]);
    expect(adds.n).toBe(0); // not even decoded
    expect(b.net.peerCount()).toBe(1);
  }, 60_000);
});
