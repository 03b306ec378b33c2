import { describe, expect, it } from 'vitest';
import { PeerClock } from '../../../src/chain/peer-clock.js';
import { createTestChain, openTestChain, sealNext } from '../../helpers/chain-fixture.js';
import { until, nodesStoppedAfterEach } from './net-fixture.js';

/**
 * Blocks whose timestamps are ahead of this node's clock, by block sync (issue #26): a node whose
 * clock was 20 s behind banned its honest peers for "an invalid block: timestamp … is in the future".
 */

const { cleanup, node } = nodesStoppedAfterEach();

const nowS = () => BigInt(Math.floor(Date.now() / 1000));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const idOf = (addr: string) => addr.split('/p2p/')[1]!;

describe('a block from the future, by block sync', () => {
  it("is held, not refused: the peer that served it is not banned, and it is imported once within 15 s of this node's clock", async () => {
    const src = await createTestChain(4, [], { now: () => Date.now() + 60_000 });
    cleanup.push(() => src.close());
    await sealNext(src, [], nowS() + 30n - src.chain.head.header.timestamp);
    const shift = { ms: 0 };
    const dst = await openTestChain(src.genesis, undefined, { now: () => Date.now() + shift.ms });
    cleanup.push(() => dst.close());
    const a = await node(src.chain);
    const b = await node(dst.chain, { bootnodes: [a.addr] });
    await until(() => b.net.peerCount() === 1, 'connected');
    await sleep(2500); // tried, held, tried again
    expect(dst.chain.head.number).toBe(0n);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(b.net.peerCount()).toBe(1);
    shift.ms = 20_000; // this node's clock is put right (or corrected by its PeerClock)
    await until(() => dst.chain.head.number === 1n, 'imported once within the allowance', 5_000);
  }, 30_000);

  it('a node whose clock is 17 s behind its peers measures it from the blocks they announce, then imports them as they come', async () => {
    const src = await createTestChain(4);
    cleanup.push(() => src.close());
    const clock = new PeerClock({ wall: () => Date.now() - 17_000 });
    const dst = await openTestChain(src.genesis, undefined, { now: () => clock.now() });
    cleanup.push(() => dst.close());
    const a = await node(src.chain);
    const b = await node(dst.chain, { bootnodes: [a.addr], clock });
    await until(() => b.net.peerCount() === 1 && a.net.peerCount() === 1, 'connected');
    await sleep(500); // gossip meshes
    // The network seals a block a second on the true clock: each is 17 s ahead of this node's.
    for (let i = 0; i < 7 && !clock.skewed; i++) {
      await sealNext(src, [], nowS() > src.chain.head.header.timestamp ? nowS() - src.chain.head.header.timestamp : 1n);
      await sleep(1000);
    }
    expect(clock.skewed).toBe(true);
    expect(clock.offsetMs).toBeLessThan(-16_000);
    expect(clock.offsetMs).toBeGreaterThan(-18_500);
    await sealNext(src, [], 1n);
    await until(() => dst.chain.head.number === src.chain.head.number, 'caught up', 5_000);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
  }, 30_000);
});
