import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PeerId } from '@libp2p/interface';
import { GossipIntake, type GossipRpc } from '../../../src/p2p/gossip-intake.js';
import { createHost, gossipIntakeOf } from '../../../src/p2p/host.js';
import { until } from './net-fixture.js';

const peer = (name: string) => ({ toString: () => name }) as unknown as PeerId;
const turn = () => new Promise((r) => setImmediate(r));
const sizeOfData = (m: unknown) => (m as { data: Uint8Array }).data.length;

function recorder() {
  const calls: { peer: string; messages: unknown[]; control: boolean }[] = [];
  const handle = async (from: PeerId, rpc: GossipRpc) => {
    calls.push({ peer: from.toString(), messages: rpc.messages, control: (rpc.subscriptions?.length ?? 0) > 0 || rpc.control != null });
  };
  return { calls, handle };
}

describe('GossipIntake: validators first, everyone else in turns', () => {
  it("hands a validator's RPC over at once, queues others' messages, and takes them round-robin within a turn's budget", async () => {
    const { calls, handle } = recorder();
    const intake = new GossipIntake(handle, { isPriority: (p) => p === 'v', limits: { perPeerQueue: 100, perPeerSlice: 2, turnBudget: 3 } });
    await intake.submit(peer('flood'), { messages: [1, 2, 3, 4, 5] });
    await intake.submit(peer('other'), { messages: ['a', 'b'] });
    await intake.submit(peer('v'), { messages: ['vote'] });
    // Nothing of the queued peers yet: the validator's vote went first.
    expect(calls).toEqual([{ peer: 'v', messages: ['vote'], control: false }]);
    expect(intake.waiting('flood')).toBe(5);
    await turn();
    // Turn 1: 2 of flood, 1 of other (budget 3).
    expect(calls.slice(1).map((c) => [c.peer, c.messages])).toEqual([
      ['flood', [1, 2]],
      ['other', ['a']],
    ]);
    await turn();
    // Both were served in turn 1, so both went to the back in that order.
    expect(calls.slice(3).map((c) => [c.peer, c.messages])).toEqual([
      ['flood', [3, 4]],
      ['other', ['b']],
    ]);
    await turn();
    expect(calls.slice(5).map((c) => [c.peer, c.messages])).toEqual([['flood', [5]]]);
    // A peer the budget did not reach goes first next turn.
    for (const p of ['p1', 'p2', 'p3']) await intake.submit(peer(p), { messages: [p, p] });
    await turn();
    expect(calls.slice(6).map((c) => c.peer)).toEqual(['p1', 'p2']);
    await turn();
    expect(calls.slice(8).map((c) => [c.peer, c.messages.length])).toEqual([
      ['p3', 2],
      ['p2', 1],
    ]);
    expect(intake.waiting('flood')).toBe(0);
  });

  it("drops what does not fit a peer's queue, unread, and passes the control part of an RPC at once", async () => {
    const { calls, handle } = recorder();
    const dropped: number[] = [];
    const intake = new GossipIntake(handle, {
      isPriority: () => false,
      onDrop: (_p, n) => dropped.push(n),
      limits: { perPeerQueue: 4, perPeerSlice: 10, turnBudget: 10 },
    });
    await intake.submit(peer('x'), { subscriptions: [{ topic: 't', subscribe: true }], messages: [1, 2, 3], control: { graft: [] } });
    expect(calls).toEqual([{ peer: 'x', messages: [], control: true }]);
    await intake.submit(peer('x'), { messages: [4, 5, 6] });
    expect(dropped).toEqual([2]);
    intake.forget('y'); // unknown: nothing happens
    await turn();
    expect(calls[1]).toEqual({ peer: 'x', messages: [1, 2, 3, 4], control: false });
    await intake.submit(peer('x'), { messages: [7] });
    intake.forget(peer('x'));
    await turn();
    expect(calls).toHaveLength(2);
  });

  it("bounds what waits in bytes, per peer and in all, and hands over a turn's bytes (at least one message) per turn", async () => {
    const { calls, handle } = recorder();
    const dropped: [string, number, number][] = [];
    const intake = new GossipIntake(handle, {
      isPriority: () => false,
      onDrop: (p, n, own) => dropped.push([p.toString(), n, own]),
      limits: { perPeerQueueBytes: 10, totalQueueBytes: 15, turnBytes: 4, perPeerSlice: 10, turnBudget: 10 },
    });
    const m = (n: number) => ({ data: new Uint8Array(n) });
    await intake.submit(peer('a'), { messages: [m(6), m(3), m(3)] }); // 6 + 3 fit; the last 3 would make 12 > 10
    expect(dropped).toEqual([['a', 1, 3]]); // its own queue was full: its fault
    await intake.submit(peer('b'), { messages: [m(5), m(1)] }); // 9 + 5 = 14, then 15: both fit in all; no more
    await intake.submit(peer('c'), { messages: [m(1)] });
    expect(dropped).toEqual([
      ['a', 1, 3],
      ['c', 1, 0], // all queues together were full: not c's fault
    ]);
    expect(intake.bytesWaiting).toBe(15);
    await turn(); // a's 6 alone (over 4, but the first of the turn)
    expect(calls.map((c) => c.messages.length)).toEqual([1]);
    await turn(); // b's 5 alone
    await turn(); // a's 3, then b's 1
    expect(calls.map((c) => [c.peer, c.messages.map(sizeOfData)])).toEqual([
      ['a', [6]],
      ['b', [5]],
      ['a', [3]],
      ['b', [1]],
    ]);
    expect(intake.bytesWaiting).toBe(0);
  });

  it('ends a turn once its time is spent, measured until gossipsub is done with each slice', async () => {
    const handed: unknown[] = [];
    // Each message costs 6 ms of work after the handler's first await (as gossipsub's checks do).
    const handle = async (_from: PeerId, rpc: GossipRpc) => {
      await Promise.resolve();
      for (const m of rpc.messages) {
        const until = performance.now() + 6;
        while (performance.now() < until);
        handed.push(m);
      }
    };
    const intake = new GossipIntake(handle, { isPriority: () => false, limits: { perPeerSlice: 1, turnBudget: 100, turnMs: 10 } });
    const peers = ['p0', 'p1', 'p2', 'p3', 'p4'];
    for (const p of peers) await intake.submit(peer(p), { messages: [`${p}a`, `${p}b`, `${p}c`, `${p}d`] });
    await turn();
    // 6 ms, then 12 ms: no third slice (counting only what the handler does before it returns, or a
    // slice a peer a turn, all five went in one turn).
    expect(handed.length).toBeGreaterThanOrEqual(1);
    expect(handed.length).toBeLessThanOrEqual(2);
    for (let i = 0; i < 40 && handed.length < 20; i++) await turn();
    expect(handed).toHaveLength(20);
    expect(handed.slice(0, 5)).toEqual(['p0a', 'p1a', 'p2a', 'p3a', 'p4a']); // round-robin across turns
  });

  it('moves on from a slice gossipsub never finishes', async () => {
    const handed: unknown[] = [];
    const handle = (_from: PeerId, rpc: GossipRpc) => {
      handed.push(...rpc.messages);
      return new Promise<void>(() => undefined);
    };
    const intake = new GossipIntake(handle, { isPriority: () => false, limits: { perPeerSlice: 1, sliceWaitMs: 20 } });
    await intake.submit(peer('x'), { messages: [1, 2, 3] });
    await until(() => handed.length === 3, 'the three messages', 2_000);
    expect(intake.waiting('x')).toBe(0);
  });

  it("sits in front of a live host's gossipsub: a stranger's messages reach the topic through it", async () => {
    const opts = { host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false };
    const a = await createHost({ ...opts, key: randomBytes(32) });
    const b = await createHost({ ...opts, key: randomBytes(32), gossipIntake: { perPeerQueue: 3 } });
    try {
      const intake = gossipIntakeOf(b)!;
      expect(intake).toBeInstanceOf(GossipIntake);
      const got: number[] = [];
      b.services.pubsub.subscribe('t');
      b.services.pubsub.addEventListener('message', (e) => got.push(e.detail.data[0]!));
      a.services.pubsub.subscribe('t');
      await a.dial(b.getMultiaddrs()[0]!);
      await until(() => a.services.pubsub.getSubscribers('t').length > 0, 'b subscribed, as a sees it');
      const submitted = intake.submit.bind(intake);
      let seen = 0;
      intake.submit = (from, rpc) => {
        seen += rpc.messages.length;
        return submitted(from, rpc);
      };
      for (let i = 0; i < 3; i++) await a.services.pubsub.publish('t', Uint8Array.of(i));
      await until(() => got.length === 3, 'the messages delivered');
      expect(seen).toBe(3);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
