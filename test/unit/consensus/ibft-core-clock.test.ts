import { describe, expect, it } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { MessageType } from '../../../src/consensus/ibft/core/messages.js';
import { signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { GENESIS_MS, IbftNet, MockBackend, hashHex, mockBlock } from '../../helpers/ibft-net.js';
import { privateToAddress } from '@ethereumjs/util';
import { createChainRules } from '../../../src/chain/chain-config.js';
import { silentLogger } from '../../../src/util/log.js';

/**
 * Validators whose clocks disagree (issue #26: one 20 s ahead, one 20 s behind, an NTP failure). The
 * fake clock is the true time; a MockBackend's wall clock is it plus its skew, and it takes and checks
 * timestamps as the chain does (never below the parent's; at most 15 s ahead of its clock).
 */
const backend = (net: IbftNet, i: number) => net.nodes[i]!.backend as MockBackend;
const roundChanges = (net: IbftNet) => net.nodes.flatMap((n) => net.sentBy(n.i)).filter((m) => m.type === MessageType.RoundChange).length;
const proposers = (net: IbftNet, i = 0) => net.committed(i).map((b) => net.nodes.findIndex((n) => n.address === b.header.coinbase.toString()));

describe('IBFT core: clock skew', () => {
  it('a proposer whose clock is 10 s behind proposes a block time after it began the height (not when its clock reaches the parent), and the others take its block', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    // 10 s: within the tolerance, so its clock is used as it is (beyond, PeerClock gives it the peers' time).
    backend(net, 1).skewMs = -10_000;
    net.start();
    await net.advance(4000);
    expect(proposers(net).slice(0, 5)).toEqual([0, 1, 2, 3, 0]);
    const [b1, b2, b3] = net.committed(0);
    // Its clock is behind the parent's timestamp: its block keeps the parent's (a timestamp never goes back).
    expect(b2!.header.timestamp).toBe(b1!.header.timestamp);
    // The next proposer's clock says the block time since that timestamp has passed: it proposes at once.
    expect(b3!.header.timestamp).toBe(b1!.header.timestamp + 1n);
    expect(roundChanges(net)).toBe(0);
  });

  it("a validator whose clock is 10 s behind times its round like the others (monotonic time from the height's start)", async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    backend(net, 3).skewMs = -10_000;
    // Validator 3 hears nothing: only its own timer can move it on.
    net.filter = (_from, to) => to !== 3;
    net.start(1, 2, 3); // validator 0, proposer of height 1, is down
    await net.advance(1999);
    expect(net.nodes[3]!.core.position!.round).toBe(0);
    await net.advance(1);
    expect(net.nodes[3]!.core.position!.round).toBe(1);
  });

  it("a proposal more than 15 s ahead of a validator's clock is held, not refused, and prepared once within 15 s: with a round long enough, the block of a proposer 20 s ahead is committed in round 0", async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 10_000 });
    backend(net, 1).skewMs = 20_000;
    net.start();
    await net.advance(1000);
    expect(net.committed(0)).toHaveLength(1);
    const t1 = net.committed(0)[0]!.header.timestamp;
    // Validator 1's turn: its clock says the block time has long passed; its block is 20 s ahead of the others' clocks.
    await net.advance(4500);
    expect(net.committed(0)).toHaveLength(1);
    await net.advance(600);
    expect(proposers(net)).toEqual([0, 1]);
    expect(net.committed(0)[1]!.header.timestamp - t1).toBe(20n);
    // Validator 2 is next: the parent's timestamp is 15 s ahead of its clock, yet it proposes a block
    // time after it began the height (its block keeps the parent's timestamp).
    await net.advance(1000);
    expect(proposers(net)).toEqual([0, 1, 2]);
    expect(net.committed(0)[2]!.header.timestamp - t1).toBe(20n);
    expect(roundChanges(net)).toBe(0);
  });

  it("with the usual round length the round changes away from the held proposal: the next proposer's block is committed and the chain goes on", async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    backend(net, 1).skewMs = 20_000;
    net.start();
    await net.advance(8000);
    const p = proposers(net);
    expect(p.slice(0, 2)).toEqual([0, 2]); // validator 1's proposal was held past round 0: round 1 is validator 2's
    expect(p.length).toBeGreaterThanOrEqual(4);
    for (const n of net.nodes) expect(net.committed(n.i).map(hashHex)).toEqual(net.committed(0).slice(0, net.committed(n.i).length).map(hashHex));
  });

  it("a proposal that cannot be within 15 s of this node's clock before its round ends is dropped, not held (30 days ahead was re-handled every millisecond), and a held proposal gives way only to one of its round or a later one", async () => {
    // Validator 3 alone, in round 1 (20 s) of height 1; the others are scripted: validator 1, proposer
    // of round 1, 20 s ahead (held 5 s); validator 2, byzantine, proposer of round 2 (a round ahead,
    // with a valid certificate), 30 days ahead; validator 0, byzantine, proposer of round 0 (a round
    // this node left but still keeps), 17 s ahead (held 2 s: within round 1).
    for (const rival of ['round 2, 30 days ahead', 'round 0, 17 s ahead'] as const) {
      const net = new IbftNet(4, { scriptedAnswerRecall: true, baseTimeoutMs: 10_000 });
      net.start(3);
      await net.advance(12_000);
      expect(net.nodes[3]!.core.position).toEqual({ height: 1n, round: 1 });
      const now = BigInt(Math.floor(net.clock.nowMs / 1000));
      const rcs = (round: number) => [0, 1, 2].map((k) => signMessage({ type: MessageType.RoundChange, height: 1n, round }, testKey(k)));
      const pp = (key: number, round: number, ts: bigint) =>
        signMessage(
          {
            type: MessageType.Preprepare,
            height: 1n,
            round,
            block: mockBlock(net.common, testKey(key), net.validators, 1n, new Uint8Array(32), ts, key).serialize(),
            roundChanges: round === 0 ? [] : rcs(round),
          },
          testKey(key),
        );
      const honest = pp(1, 1, now + 20n);
      net.deliver(3, honest);
      await net.settle();
      net.deliver(3, rival === 'round 2, 30 days ahead' ? pp(2, 2, now + 30n * 24n * 3600n) : pp(0, 0, now + 17n));
      await net.advance(6000);
      const prepared = net.sentBy(3).filter((m) => m.type === MessageType.Prepare);
      const hash = bytesToHex(blockHash(mockBlock(net.common, testKey(1), net.validators, 1n, new Uint8Array(32), now + 20n, 1).header));
      expect(
        prepared.map((m) => [m.round, bytesToHex((m as { hash: Uint8Array }).hash)]),
        rival,
      ).toEqual([[1, hash]]);
    }
  });

  it("a node outside the validator set (which starts no round) holds a proposal 20 s ahead within its round's full timeout, not dropping it as late", async () => {
    // Five cores; the set is the first four: the fifth follows the height without starting a round.
    const four = [0, 1, 2, 3].map((i) => privateToAddress(testKey(i)));
    const net = new IbftNet(5, {
      baseTimeoutMs: 30_000,
      backend: (_i, key, clock) => new MockBackend(key, four, createChainRules(testGenesis(4).genesis).commonAt(1n), clock, GENESIS_MS),
    });
    const warnings: string[] = [];
    const logger = { ...silentLogger(), warn: (_f: unknown, msg: string) => void warnings.push(msg) };
    (net.nodes[4]!.core as unknown as { log: unknown }).log = logger;
    net.start(4);
    await net.advance(2000);
    const now = BigInt(Math.floor(net.clock.nowMs / 1000));
    const pp = signMessage(
      {
        type: MessageType.Preprepare,
        height: 1n,
        round: 0,
        block: mockBlock(net.common, testKey(0), four, 1n, new Uint8Array(32), now + 20n, 0).serialize(),
        roundChanges: [],
      },
      testKey(0),
    );
    net.deliver(4, pp);
    await net.settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/proposal from the future held/);
  });

  it('every proposal another validator built for its round is a clock sample, with how long ago it arrived (one kept for the next height counts from its arrival); its own are not', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    // Validator 3 gets everything 1.2 s late but validator 1's messages: its proposal for height 2
    // arrives while validator 3 is still deciding height 1, which keeps it for later.
    const late: { at: number; to: number; bytes: Uint8Array }[] = [];
    net.filter = (from, to, bytes) => {
      if (to !== 3 || from === 1) return true;
      late.push({ at: net.clock.nowMs + 1200, to, bytes });
      return false;
    };
    net.start();
    for (let t = 0; t < 30; t++) {
      await net.advance(100);
      for (const l of late.splice(0)) {
        if (l.at <= net.clock.nowMs) net.deliver(l.to, l.bytes);
        else late.push(l);
      }
    }
    await net.settle();
    expect(proposers(net).slice(0, 2)).toEqual([0, 1]);
    const seen = backend(net, 3).observed.filter((o) => o.height <= 2n);
    expect(seen.map((o) => o.height)).toEqual([1n, 2n]);
    expect(seen[1]!.agoMs).toBeGreaterThanOrEqual(100); // kept while height 1 was being decided, counted from its arrival
    expect(backend(net, 1).observed.some((o) => o.height === 2n)).toBe(false); // its own
  });

  it('the recall guard trusts no clock it has not measured: a validator 10 s behind keeps asking until its offset from the peers is known and 15 s have passed in their time', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    net.link = (from, to) => from !== 0 && to !== 0; // gossip reaches validator 0, recall does not
    const b0 = backend(net, 0);
    b0.skewMs = -10_000;
    b0.measured = false;
    net.start();
    await net.advance(20_000);
    expect(net.committed(1).length).toBeGreaterThan(10);
    expect(net.committed(0).length).toBe(net.committed(1).length); // it follows the commits it hears
    // Its own clock would place its start 10 s early: blocks from 5 s after it would count as proposed 15 s after.
    expect(net.nodes[0]!.core.watching).toBe(true);
    expect(net.nodes[0]!.sent).toEqual([]);
    // Measured: the peers' time says 20 s have passed since its start.
    b0.measured = true;
    await net.advance(3000);
    expect(net.nodes[0]!.core.watching).toBe(false);
    expect(net.sentBy(0).some((m) => m.type === MessageType.Commit)).toBe(true);
  });
});
