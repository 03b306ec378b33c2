import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import { MessageType } from '../../../src/consensus/ibft/core/messages.js';
import { signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { gossipTopics } from '../../../src/p2p/gossip.js';
import { gossipIntakeOf } from '../../../src/p2p/host.js';
import { createTestChain, openTestChain, sealNext, testKey } from '../../helpers/chain-fixture.js';
import { FAR_HEIGHTS, MAX_NON_VALIDATOR_IBFT_PER_MINUTE, MAX_STALE_IBFT_PER_MINUTE, NON_VALIDATOR_IBFT_UNIT_BYTES } from '../../../src/node/network.js';
import { signRecallRequest } from '../../../src/consensus/ibft/core/recall.js';
import { randomBytes } from 'node:crypto';
import { startNode, until, type TestNode } from './net-fixture.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
});

const idOf = (addr: string) => addr.split('/p2p/')[1]!;
const prepare = (key: Uint8Array, height: bigint, round = 0) =>
  signMessage({ type: MessageType.Prepare, height, round, hash: new Uint8Array(32).fill(round + 1) }, key);

describe('IBFT gossip (/basalt/<genesis>/ibft/1)', () => {
  it('relays only decodable messages signed by a validator of the next heights; bans the maker of garbage, never an honest relayer', async () => {
    const t = await createTestChain(4);
    cleanup.push(() => t.close());
    const others = [await openTestChain(t.genesis), await openTestChain(t.genesis)];
    for (const c of others) cleanup.push(() => c.close());
    const start = async (chain: typeof t.chain, bootnodes: string[] = []) => {
      const n = await startNode(chain, { bootnodes });
      cleanup.push(() => n.net.stop());
      return n;
    };
    const a = await start(t.chain);
    const b = await start(others[0]!.chain, [a.addr]); // hears evil only through a
    const evil = await start(others[1]!.chain, [a.addr]);
    const got = new Map<TestNode, string[]>([
      [a, []],
      [b, []],
    ]);
    for (const [n, list] of got) n.net.setConsensusSink((m) => list.push(bytesToHex(m)));
    expect(gossipTopics(t.chain.genesisHash).ibft).toBe(`/basalt/${bytesToHex(t.chain.genesisHash)}/ibft/1`);
    await until(() => a.net.peerCount() === 2 && b.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected');
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)

    // A validator's message for the next height reaches a, and b through a.
    const good = prepare(testKey(2), 1n);
    evil.net.publishConsensus(good);
    await until(() => got.get(b)!.includes(bytesToHex(good)), 'relayed to b');
    expect(got.get(a)).toEqual([bytesToHex(good)]);

    // Signed by a non-validator, or for a height long past or far ahead: neither delivered nor relayed, nobody banned.
    const outsider = prepare(testKey(9), 1n, 1);
    const stale = prepare(testKey(1), 0n, 2);
    const ahead = prepare(testKey(1), 50n, 3);
    for (const m of [outsider, stale, ahead]) evil.net.publishConsensus(m);
    const marker = prepare(testKey(3), 2n, 4); // after them: once it arrives, they were handled
    evil.net.publishConsensus(marker);
    await until(() => got.get(b)!.includes(bytesToHex(marker)), 'marker relayed');
    for (const n of [a, b]) expect(got.get(n)).toEqual([bytesToHex(good), bytesToHex(marker)]);
    expect(a.net.peerManager.banned(idOf(evil.addr))).toBeUndefined();

    // Garbage: its maker is banned; b, which never got it from a, does not ban a.
    evil.net.publishConsensus(new Uint8Array([0xc3, 0x80, 0x80, 0x80]));
    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/IBFT message cannot be decoded/);
    await new Promise((r) => setTimeout(r, 500));
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(got.get(b)).toEqual([bytesToHex(good), bytesToHex(marker)]);
  }, 30_000);

  it('bans a peer sending large proposals signed outside the set at the third, and one replaying decided heights past the limit', async () => {
    const t = await createTestChain(4);
    cleanup.push(() => t.close());
    const other = await openTestChain(t.genesis);
    cleanup.push(() => other.close());
    const a = await startNode(t.chain);
    cleanup.push(() => a.net.stop());
    const connect = async () => {
      const evil = await startNode(other.chain, { bootnodes: [a.addr] });
      cleanup.push(() => evil.net.stop());
      await until(() => a.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected');
      await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
      return evil;
    };
    const accepted: string[] = [];
    a.net.setConsensusSink((m) => accepted.push(bytesToHex(m)));
    // In batches the queue in front of gossipsub takes whole (it drops what does not fit: 512 a peer).
    const intake = gossipIntakeOf(a.net.host)!;
    const sendInBatches = async (from: TestNode, msgs: Uint8Array[]) => {
      for (let i = 0; i < msgs.length; i++) {
        from.net.publishConsensus(msgs[i]!);
        if (i % 100 === 99) {
          await new Promise((r) => setTimeout(r, 200));
          await until(() => intake.waiting(idOf(from.addr)) === 0, 'a batch taken');
        }
      }
    };

    // 3.5 MiB PREPREPAREs from a stranger weigh 4 each against a limit of 10: two pass unpunished, the third bans.
    expect(MAX_NON_VALIDATOR_IBFT_PER_MINUTE).toBe(10);
    const big = (round: number) =>
      signMessage(
        { type: MessageType.Preprepare, height: 1n, round, block: new Uint8Array(3.5 * NON_VALIDATOR_IBFT_UNIT_BYTES).fill(round), roundChanges: [] },
        testKey(9),
      );
    let evil = await connect();
    evil.net.publishConsensus(big(0));
    evil.net.publishConsensus(big(1));
    const marker = prepare(testKey(1), 1n, 7);
    evil.net.publishConsensus(marker);
    await until(() => accepted.includes(bytesToHex(marker)), 'marker after two large ones');
    expect(a.net.peerManager.banned(idOf(evil.addr))).toBeUndefined();
    evil.net.publishConsensus(big(2));
    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'banned at the third');
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/outside the validator set/);
    await evil.net.stop();

    // Messages for a height before the last decided one (0, with block 1 decided): past
    // MAX_STALE_IBFT_PER_MINUTE, banned. Those for the height just decided are not counted.
    await sealNext(t);
    expect(t.chain.head.number).toBe(1n);
    evil = await connect();
    await sendInBatches(
      evil,
      Array.from({ length: MAX_STALE_IBFT_PER_MINUTE + 50 }, (_, i) => prepare(testKey(1), 1n, 5000 + i)),
    );
    const marker1 = prepare(testKey(2), 2n, 9);
    evil.net.publishConsensus(marker1);
    await until(() => accepted.includes(bytesToHex(marker1)) || a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'marker after the just-decided ones');
    expect(a.net.peerManager.banned(idOf(evil.addr))).toBeUndefined();
    await sendInBatches(
      evil,
      Array.from({ length: MAX_STALE_IBFT_PER_MINUTE - 1 }, (_, i) => prepare(testKey(1), 0n, i)),
    );
    const marker2 = prepare(testKey(2), 2n, 8);
    evil.net.publishConsensus(marker2);
    await until(() => accepted.includes(bytesToHex(marker2)), 'marker after the stale ones');
    expect(a.net.peerManager.banned(idOf(evil.addr))).toBeUndefined();
    for (let i = 0; i < 5; i++) evil.net.publishConsensus(prepare(testKey(1), 0n, 1000 + i));
    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'banned for stale messages');
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/decided heights/);
  }, 60_000);

  it('counts IBFT and recall messages for heights far outside the window against their relayer as stale ones; a few heights ahead, never', async () => {
    const t = await createTestChain(4);
    cleanup.push(() => t.close());
    const other = await openTestChain(t.genesis);
    cleanup.push(() => other.close());
    const a = await startNode(t.chain);
    cleanup.push(() => a.net.stop());
    const connect = async () => {
      const evil = await startNode(other.chain, { bootnodes: [a.addr] });
      cleanup.push(() => evil.net.stop());
      await until(() => a.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected');
      await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
      return evil;
    };
    const accepted: string[] = [];
    a.net.setConsensusSink((m) => accepted.push(bytesToHex(m)));
    const intake = gossipIntakeOf(a.net.host)!;
    const inBatches = async (from: TestNode, send: (i: number) => void, n: number) => {
      for (let i = 0; i < n; i++) {
        send(i);
        if (i % 100 === 99) {
          await new Promise((r) => setTimeout(r, 200));
          await until(() => intake.waiting(idOf(from.addr)) === 0, 'a batch taken');
        }
      }
    };
    const banned = (n: TestNode) => a.net.peerManager.banned(idOf(n.addr));

    // Head 0: heights 1 and 2 are taken. Height 3 is a little ahead (a validator a block or two
    // further on relays it): past the limit, nobody banned.
    let evil = await connect();
    const ahead = (height: bigint, n: number) => inBatches(evil, (i) => evil.net.publishConsensus(prepare(testKey(1), height, i)), n);
    await ahead(3n, MAX_STALE_IBFT_PER_MINUTE + 50);
    const marker = prepare(testKey(2), 1n, 9_999);
    evil.net.publishConsensus(marker);
    await until(() => accepted.includes(bytesToHex(marker)) || banned(evil) !== undefined, 'marker after the near ones');
    expect(banned(evil)).toBeUndefined();
    // FAR_HEIGHTS past the window (of this node and of the peer, both at block 0): banned past the limit.
    await ahead(2n + FAR_HEIGHTS + 1n, MAX_STALE_IBFT_PER_MINUTE + 5);
    await until(() => banned(evil) !== undefined, 'banned for far-future messages');
    expect(banned(evil)!.reason).toMatch(/IBFT messages for heights far ahead of this node's and its own \(more than 600 in a minute\)/);
    await evil.net.stop();

    // Recall requests the same (a validator's, read no further than their height).
    evil = await connect();
    await inBatches(evil, () => evil.net.recall(signRecallRequest(1_000_000n, randomBytes(32), testKey(1)), () => undefined), MAX_STALE_IBFT_PER_MINUTE + 5);
    await until(() => banned(evil) !== undefined, 'banned for far recall messages');
    expect(banned(evil)!.reason).toMatch(/IBFT recall messages for heights far from this node's/);
  }, 60_000);
});
