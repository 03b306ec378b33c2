import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { decodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { blockHash, committedSealHash } from '../../../src/consensus/ibft/hash.js';
import { MessageType, type Body } from '../../../src/consensus/ibft/core/messages.js';
import { recoverAddress } from '../../../src/util/secp256k1.js';
import { nextProposer } from '../../../src/consensus/ibft/validators.js';
import { IbftNet, hashHex } from '../../helpers/ibft-net.js';

/** Every node that committed height h committed the same block; returns the hashes per height. */
function agreedChain(net: IbftNet, nodes = net.nodes.map((n) => n.i)): string[] {
  const chains = nodes.map((i) => net.committed(i).map(hashHex));
  const longest = Math.max(...chains.map((c) => c.length));
  const out: string[] = [];
  for (let h = 0; h < longest; h++) {
    const values = new Set(chains.map((c) => c[h]).filter((x) => x !== undefined));
    expect(values.size, `height ${h + 1}: one value`).toBe(1);
    out.push([...values][0]!);
  }
  return out;
}

/** Four validators that decide two heights while every message to validator 3 is held back (returned, in order). */
async function thirdHeldBack(): Promise<{ net: IbftNet; held: Uint8Array[] }> {
  const net = new IbftNet(4);
  const held: Uint8Array[] = [];
  net.filter = (_from, to, bytes) => {
    if (to !== 3) return true;
    held.push(bytes);
    return false;
  };
  net.start();
  await net.advance(2000);
  return { net, held };
}

describe('IBFT core: normal operation', () => {
  it('4 validators reach consensus on consecutive heights with equal blocks, each with a quorum of valid committed seals', async () => {
    const net = new IbftNet(4);
    net.start();
    await net.advance(3000);
    for (const n of net.nodes) expect(net.committed(n.i).length).toBeGreaterThanOrEqual(3);
    const chain = agreedChain(net);
    expect(chain.length).toBeGreaterThanOrEqual(3);
    const blocks = net.committed(0);
    for (const [h, b] of blocks.entries()) {
      expect(b.header.number).toBe(BigInt(h + 1));
      if (h > 0) expect(equalsBytes(b.header.parentHash, blockHash(blocks[h - 1]!.header))).toBe(true);
      const extra = decodeIbftExtra(b.header.extraData);
      const signers = new Set(extra.committedSeals.map((s) => bytesToHex(recoverAddress(committedSealHash(blockHash(b.header)), s))));
      expect(signers.size).toBeGreaterThanOrEqual(3);
      for (const s of signers) expect(net.nodes.map((n) => n.address)).toContain(s);
    }
  });

  it("rotates the proposer round robin by height (after the last block's proposer)", async () => {
    const net = new IbftNet(4);
    net.start();
    await net.advance(5000);
    const proposers = net
      .committed(1)
      .slice(0, 5)
      .map((b) => b.header.coinbase.toString());
    expect(proposers).toEqual([0, 1, 2, 3, 0].map((i) => net.nodes[i]!.address));
  });

  it("a validator that falls a height behind catches up from the next height's messages it kept", async () => {
    const { net, held } = await thirdHeldBack();
    expect(net.committed(0).length).toBe(2);
    expect(net.committed(3).length).toBe(0);
    // everything arrives at once: height 2's messages come while validator 3 is still deciding height 1
    for (const bytes of held) net.deliver(3, bytes);
    await net.settle();
    expect(net.committed(3).map(hashHex)).toEqual(net.committed(0).map(hashHex));
  });

  it("copies of a validator's next-height message replayed at a node a height behind take none of that validator's places", async () => {
    const { net, held } = await thirdHeldBack();
    expect(net.committed(0).length).toBe(2);
    // before anything else, 70 copies of each validator's first message for height 2 (a replayer's
    // work: gossip lets a copy through again after a second), more than the 64 places a validator has
    const firsts = new Map<string, Uint8Array>();
    for (const bytes of held) {
      const m = openMessage(bytes);
      if (m.body.height === 2n && !firsts.has(bytesToHex(m.sender))) firsts.set(bytesToHex(m.sender), bytes);
    }
    expect(firsts.size).toBe(3);
    for (const bytes of firsts.values()) for (let k = 0; k < 70; k++) net.deliver(3, bytes);
    for (const bytes of held) net.deliver(3, bytes);
    await net.settle();
    expect(net.committed(3).map(hashHex)).toEqual(net.committed(0).map(hashHex));
  });

  it("the next height's messages kept from a validator are bounded in bytes (5 MiB), one proposal a round, rounds up to 32: a byzantine validator's 1 MiB proposals for every round take no more", async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true });
    net.start(1);
    await net.advance(10);
    const core = net.nodes[1]!.core;
    const pp = (key: number, round: number, block: Uint8Array) =>
      signMessage({ type: MessageType.Preprepare, height: 2n, round, block, roundChanges: [] }, testKey(key));
    // Validator 3 signs a proposal of 1 MiB of random bytes for each of 20 rounds of height 2.
    for (let r = 0; r < 20; r++) {
      net.deliver(1, pp(3, r, randomBytes(1024 * 1024)));
      await net.settle();
    }
    const flood = core.keptForNextHeight;
    expect(flood.messages).toBe(4);
    expect(flood.bytes).toBeLessThanOrEqual(MAX_FUTURE_BYTES_PER_VALIDATOR);
    // Validator 2: two proposals for round 0 (one kept), a PREPARE for round 32 (kept) and one for 33 (not).
    net.deliver(1, pp(2, 0, Uint8Array.of(1)));
    net.deliver(1, pp(2, 0, Uint8Array.of(2)));
    for (const round of [32, 33]) net.deliver(1, signMessage({ type: MessageType.Prepare, height: 2n, round, hash: new Uint8Array(32) }, testKey(2)));
    await net.settle();
    expect(core.keptForNextHeight.messages).toBe(flood.messages + 2);
  });

  it('N=1: a one-validator set runs the same protocol alone', async () => {
    const net = new IbftNet(1);
    net.start();
    await net.advance(3000);
    expect(net.committed(0).length).toBeGreaterThanOrEqual(3);
    expect(net.nodes[0]!.core.position!.round).toBe(0);
    const extra = decodeIbftExtra(net.committed(0)[0]!.header.extraData);
    expect(extra.committedSeals.length).toBe(1);
  });

  it('honours the block time: the proposer waits until parent.timestamp + blockTime', async () => {
    const net = new IbftNet(4, { blockTimeMs: 2000 });
    net.start();
    await net.advance(1999);
    expect(net.committed(0).length).toBe(0);
    await net.advance(1);
    expect(net.committed(0).length).toBe(1);
    const t1 = net.committed(0)[0]!.header.timestamp;
    await net.advance(1999);
    expect(net.committed(0).length).toBe(1);
    await net.advance(1);
    expect(net.committed(0).length).toBe(2);
    expect(net.committed(0)[1]!.header.timestamp).toBe(t1 + 2n);
  });
});

describe('IBFT core: round changes', () => {
  it("with the proposer silent, the next round's proposer takes over within the exponential timeout", async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    net.start(1, 2, 3); // validator 0, proposer of height 1 round 0, is down
    // round 0 lasts from when its proposal is due (block time, 1 s) for the base timeout (1 s)
    await net.advance(1999);
    expect(net.committed(1).length).toBe(0);
    expect(net.nodes[1]!.core.position!.round).toBe(0);
    await net.advance(1);
    // round 1: validator 1 proposes, and it is committed before round 1's 2 s timeout
    expect(net.committed(1).length).toBe(1);
    const b = net.committed(1)[0]!;
    expect(b.header.coinbase.toString()).toBe(net.nodes[1]!.address);
    agreedChain(net, [1, 2, 3]);
    // height 2 starts after validator 1's block: round 0 is validator 2's
    await net.advance(1000);
    expect(net.committed(1)[1]!.header.coinbase.toString()).toBe(net.nodes[2]!.address);
  });

  it('round timeouts double each round (capped)', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 4000, blockTimeMs: 0 });
    net.start(0, 1); // no quorum: rounds keep timing out
    const rounds: number[] = [];
    for (let t = 0; t < 16; t++) {
      await net.advance(1000);
      rounds.push(net.nodes[0]!.core.position!.round);
    }
    // round 0 ends at 1 s, round 1 at 3 s, round 2 at 7 s, rounds 3+ last 4 s (the cap)
    expect(rounds).toEqual([1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5]);
  });

  it('a value prepared by a quorum survives a round change (the next proposer must re-propose it)', async () => {
    const net = new IbftNet(4);
    // Height 1, round 0: validator 0 proposes A. PREPAREs reach only validator 2, so only it prepares
    // A (and commits, but all COMMITs are lost). Then validator 0 fails.
    net.filter = (_from, to, bytes) => {
      const t = bytes && typeOf(bytes);
      if (t === MessageType.Commit) return false;
      if (t === MessageType.Prepare) return to === 2;
      return true;
    };
    net.start();
    await net.advance(1000);
    const a = proposalOf(net, 0, 0);
    expect(net.committed(2).length).toBe(0);
    expect(bytesToHex(net.nodes[2]!.store.load()!.prepared!.hash)).toBe(a); // only validator 2 saw A prepared
    expect(net.nodes[1]!.store.load()!.prepared).toBeUndefined();
    await net.crash(0);
    net.filter = () => true;
    await net.advance(1000);
    // round 1's proposer (validator 1) never prepared A itself, yet must propose A from validator 2's certificate
    expect(proposalOf(net, 1, 1)).toBe(a);
    for (const i of [1, 2, 3]) expect(net.committed(i).map(hashHex)[0]).toBe(a);
    expect(net.committed(1)[0]!.header.coinbase.toString()).toBe(net.nodes[0]!.address);
  });

  it('a height stuck on a prepared value holds a few rounds and one copy of its block, however many rounds pass or a validator fills ahead', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 1000 });
    // Round 0: all four prepare A and every COMMIT is lost; then the network splits 2/2. Validators 0
    // and 1, locked on A, ask for each next round with A attached, and no quorum forms.
    let split = false;
    net.filter = (from, to, bytes) => typeOf(bytes) !== MessageType.Commit && (!split || from < 2 === to < 2);
    net.start();
    await net.advance(1000);
    const a = proposalOf(net, 0, 0)!;
    for (const n of net.nodes) expect(bytesToHex(n.store.load()!.prepared!.hash)).toBe(a);
    split = true;
    await net.advance(100_000);
    const core = net.nodes[0]!.core;
    const round = core.position!.round;
    expect(round).toBeGreaterThanOrEqual(95);
    // Before: every round's ROUND-CHANGEs kept, each with a decoded copy of A (~200 blocks).
    expect(core.retained!.rounds).toBeLessThanOrEqual(ROUNDS_KEPT_BEHIND + 2);
    expect(core.retained!.blocks).toBe(1);
    // Validator 1 turned byzantine: its ROUND-CHANGE with A for every round it may send ahead.
    const rc = net.nodes[1]!.sent.map((b) => openMessage(b)).findLast((m) => m.body.type === MessageType.RoundChange)!;
    for (let r = round + 1; r <= round + MAX_ROUNDS_AHEAD; r++) net.deliver(0, signMessage({ ...rc.body, round: r } as Body, net.keys[1]!, rc.attachment));
    await net.settle();
    expect(core.position!.round).toBe(round); // one validator cannot move the round
    expect(core.retained!.rounds).toBeLessThanOrEqual(ROUNDS_KEPT_BEHIND + 2 + MAX_ROUNDS_AHEAD);
    expect(core.retained!.blocks).toBe(1);
    // Safety and liveness kept: once the split heals, A is decided.
    net.filter = () => true;
    await net.advance(5_000);
    for (const n of net.nodes) expect(net.committed(n.i).map(hashHex)[0], `node ${n.i}`).toBe(a);
  });

  it('validators back after the others waited out more rounds than are kept ahead (32) catch up with them', async () => {
    // Rounds at the longest timeout tick at one pace everywhere: without following the others this far
    // ahead, the two validators back would stay 40 rounds behind, and the height halted, for good.
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 1000 });
    net.start(0, 1);
    await net.advance(40_000);
    expect(net.nodes[0]!.core.position!.round).toBeGreaterThan(MAX_ROUNDS_AHEAD + 2);
    net.start(2, 3);
    await net.advance(5_000);
    agreedChain(net);
    for (const n of net.nodes) expect(net.committed(n.i).length, `node ${n.i}`).toBeGreaterThanOrEqual(1);
  });

  it('with 2 of 4 validators down nothing is committed, and no fork when they return', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 4000 });
    net.start(0, 1);
    await net.advance(30_000);
    expect(net.committed(0).length + net.committed(1).length).toBe(0);
    net.start(2, 3);
    await net.advance(30_000);
    const chain = agreedChain(net);
    expect(chain.length).toBeGreaterThanOrEqual(1);
    for (const n of net.nodes) expect(net.committed(n.i).length).toBeGreaterThanOrEqual(1);
  });

  it('a validator that missed heights follows the blocks it gets by sync to the next height, and takes part again', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    net.filter = (_from, to) => to !== 3; // validator 3 hears nothing
    net.start();
    await net.advance(3_000);
    expect(net.committed(0).length).toBeGreaterThanOrEqual(2);
    expect(net.nodes[3]!.core.position?.height).toBe(1n);
    // Block sync imports what it missed; the head moves under the core.
    const missed = net.committed(0).slice();
    for (const b of missed) await net.nodes[3]!.backend.onCommit(b);
    net.nodes[3]!.core.headChanged();
    await net.settle();
    expect(net.nodes[3]!.core.position?.height).toBe(BigInt(missed.length) + 1n);
    net.filter = () => true;
    await net.advance(4_000);
    const own = net.committed(3).slice(missed.length);
    expect(own.length).toBeGreaterThanOrEqual(1);
    for (const b of own) expect(hashHex(b)).toBe(hashHex(net.committed(0)[Number(b.header.number) - 1]!));
  });

  it('a validator that comes back in the middle of a long round catches up with it: ROUND-CHANGEs are sent again every base timeout', async () => {
    // Rounds 0..3 end at 2, 4, 8 and 16 s; round 4 (proposed by validator 0) lasts until 32 s.
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 64_000 });
    expect(bytesToHex(nextProposer(net.validators, undefined, 4))).toBe(net.nodes[0]!.address);
    net.start(0, 1);
    await net.advance(20_000);
    expect(net.nodes[0]!.core.position).toEqual({ height: 1n, round: 4 });
    net.start(2);
    // Without the re-sent ROUND-CHANGEs validator 2 would hear of round 4 only when it ends, at 32 s.
    await net.advance(3_000);
    for (const i of [0, 1, 2]) expect(net.committed(i).length).toBeGreaterThanOrEqual(1);
    expect(new Set([0, 1, 2].map((i) => hashHex(net.committed(i)[0]!))).size).toBe(1);
  });
});

function typeOf(bytes: Uint8Array): number {
  return openBody(bytes).type;
}

import { openMessage, signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { MAX_FUTURE_BYTES_PER_VALIDATOR, MAX_ROUNDS_AHEAD } from '../../../src/consensus/ibft/core/core.js';
import { randomBytes } from 'node:crypto';
import { testKey } from '../../helpers/chain-fixture.js';
import { ROUNDS_KEPT_BEHIND } from '../../../src/consensus/ibft/core/state.js';
import { createBlockFromRLP } from '@ethereumjs/block';
import { headerOpts } from '../../../src/chain/block-util.js';

function openBody(bytes: Uint8Array) {
  return openMessage(bytes).body;
}

/** The hash of the block validator `i` proposed at `round` (of the first height it proposed at). */
function proposalOf(net: IbftNet, i: number, round: number): string | undefined {
  for (const b of net.sentBy(i)) {
    if (b.type === MessageType.Preprepare && b.round === round) return hashHex(createBlockFromRLP(b.block, headerOpts(net.common)));
  }
  return undefined;
}

describe('IBFT core: a round survives messages lost when a partition heals', () => {
  it('a proposal that reached only part of the network (gossip had not added the new link yet) is sent again and decided within the round', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 64_000 });
    const side = (i: number) => (i < 2 ? 0 : 1);
    let healed = false;
    const dropped = new Set<string>();
    net.filter = (from, to, bytes) => {
      if (!healed) return side(from) === side(to);
      // Right after the heal, the first copy of each proposal to the other side is lost.
      if (openBody(bytes).type === MessageType.Preprepare && side(from) !== side(to)) {
        const key = `${bytesToHex(bytes.subarray(0, 64))}>${to}`;
        if (!dropped.has(key)) {
          dropped.add(key);
          return false;
        }
      }
      return true;
    };
    net.link = (from, to) => healed || side(from) === side(to);
    net.start();
    await net.advance(12_000); // split 2/2: rounds 0..3 time out, nothing is decided
    expect(net.committed(0)).toHaveLength(0);
    const round = net.nodes[0]!.core.position!.round;
    expect(round).toBeGreaterThanOrEqual(3);
    healed = true;
    await net.advance(2500); // the round in progress lasts several more seconds
    expect(dropped.size).toBeGreaterThan(0);
    for (const n of net.nodes) expect(net.committed(n.i).length, `node ${n.i}`).toBe(1);
    expect(new Set(net.nodes.map((n) => hashHex(net.committed(n.i)[0]!))).size).toBe(1);
  });
});
