import { randomBytes } from 'node:crypto';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { describe, expect, it } from 'vitest';
import type { Chain } from '../../../src/chain/chain.js';
import type { P2pMetrics } from '../../../src/node/network.js';
import { gossipTopics } from '../../../src/p2p/gossip.js';
import { encodeTxBatch } from '../../../src/p2p/messages.js';
import { keccak256 } from '../../../src/util/keccak.js';
import { openTestChain } from '../../helpers/chain-fixture.js';
import { SENDER, chainWithBlocks } from '../archive/archive-fixture.js';
import { until, nodesStoppedAfterEach } from './net-fixture.js';

const { cleanup, node } = nodesStoppedAfterEach();
const idOf = (addr: string) => addr.split('/p2p/')[1]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function transfer(chain: Chain, nonce: bigint, key: Uint8Array = SENDER): Uint8Array {
  return createFeeMarket1559Tx(
    {
      nonce,
      to: '0x000000000000000000000000000000000000beef',
      value: 1n,
      gasLimit: 21_000n,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
      chainId: 100n,
    },
    { common: chain.commonAt(0n) },
  )
    .sign(key)
    .serialize();
}

/** What a node refused and banned, by reason. */
function recorder(): P2pMetrics & { rejectedReasons: string[]; bans: string[] } {
  const r = { rejectedReasons: [] as string[], bans: [] as string[] };
  return { ...r, rejected: (reason) => void r.rejectedReasons.push(reason), banned: (reason) => void r.bans.push(reason) };
}

describe('transaction relay', () => {
  it('a mixed batch (one valid transaction, 127 that cannot execute) gets its sender banned, and no honest relayer on its path: only the valid one travels on', async () => {
    const src = await chainWithBlocks(1); // SENDER's next nonce is 1
    cleanup.push(() => src.close());
    const chains = [await openTestChain(src.genesis), await openTestChain(src.genesis), await openTestChain(src.genesis)];
    for (const c of chains) cleanup.push(() => c.close());
    // A line: evil - a - b - c (no discovery: each meets only its neighbours).
    const atB = recorder();
    const atC = recorder();
    const a = await node(src.chain, { discovery: false });
    const b = await node(chains[0]!.chain, { bootnodes: [a.addr], discovery: false, metrics: atB });
    const c = await node(chains[1]!.chain, { bootnodes: [b.addr], discovery: false, metrics: atC });
    const evil = await node(chains[2]!.chain, { bootnodes: [a.addr], discovery: false });
    await until(() => a.net.peerCount() === 2 && b.net.peerCount() === 2 && c.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected in a line');
    await until(() => chains.every((t) => t.chain.head.number === 1n), 'all at block 1');
    await sleep(1500); // gossipsub meshes on its heartbeat (1 s)
    const topics = gossipTopics(src.chain.genesisHash);
    let batchesAtB = 0;
    b.net.host.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic === topics.txBatches) batchesAtB++;
    });

    const good = transfer(src.chain, 1n);
    const junk = Array.from({ length: 127 }, () => transfer(src.chain, 0n, randomBytes(32))); // senders that hold nothing
    await evil.net.host.services.pubsub.publish(topics.txBatches, encodeTxBatch([good, ...junk]));

    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'a bans the sender of the batch', 20_000);
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/transactions per minute that can never execute/);
    await until(() => c.txpool.has(keccak256(good)), 'the valid transaction reached c through a and b', 20_000);
    await sleep(1500); // what b and c would still judge
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(c.net.peerManager.banned(idOf(b.addr))).toBeUndefined();
    expect(atB.bans).toEqual([]);
    expect(atC.bans).toEqual([]);
    // Nothing of the junk went past a.
    expect(atB.rejectedReasons).toEqual([]);
    expect(atC.rejectedReasons).toEqual([]);
    expect(b.net.peerCount()).toBe(2);
    expect(c.net.peerCount()).toBe(1);
    // a published the valid one in a batch of its own; b took all of it and forwarded that batch whole to
    // c (no batch of b's own): b validated one batch, and none came back again.
    expect(batchesAtB).toBe(1);
  }, 60_000);
});
