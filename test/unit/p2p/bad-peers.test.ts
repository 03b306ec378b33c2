import { randomBytes } from 'node:crypto';
import nodeNet from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBlockFromBytesArray, createBlockHeaderFromBytesArray } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bigIntToUnpaddedBytes, bytesToHex } from '@ethereumjs/util';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import * as lp from 'it-length-prefixed';
import { blockWithHeader, headerOpts, headerWithExtraData } from '../../../src/chain/block-util.js';
import type { Chain } from '../../../src/chain/chain.js';
import { BANNED_PEERS_PER_ADDRESS, BanList, banKind } from '../../../src/p2p/bans.js';
import { serveStatus } from '../../../src/p2p/handshake.js';
import { createHost, type Host } from '../../../src/p2p/host.js';
import { gossipTopics } from '../../../src/p2p/gossip.js';
import { MAX_BLOCK_BYTES, MessageError, decodeGetBlocks, encodeAnnouncement, encodeGetBlocks, type ChainStatus } from '../../../src/p2p/messages.js';
import { RequestTimeoutError, request } from '../../../src/p2p/streams.js';
import { signRecallRequest } from '../../../src/consensus/ibft/core/recall.js';
import { RECALL_REQUEST, recallGossip } from '../../../src/p2p/ibft-recall.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { MIN_TX_GAS } from '../../../src/backup/block-records.js';
import { decodeIbftExtra, encodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import {
  MAX_BLOCK_ANSWERS,
  MAX_BLOCK_ANSWERS_FOR_OTHERS,
  MAX_BLOCK_ANSWERS_PER_ADDRESS,
  MAX_BLOCK_ANSWERS_PER_PEER,
  blocksProtocol,
  fetchBlocks,
  fetchHistory,
  historyProtocol,
  serveBlocks,
  serveHistory,
} from '../../../src/sync/block-protocol.js';
import { PeerHistoryFeed } from '../../../src/sync/history-feed.js';
import { blockPartSpans } from '../../../src/backup/block-records.js';
import { rlpPrefix } from '../../../src/util/rlp-spans.js';
import { Semaphore } from '../../../src/util/mutex.js';
import { createTestChain, openTestChain, testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { SENDER, chainWithBlocks } from '../archive/archive-fixture.js';
import { until, nodesStoppedAfterEach } from './net-fixture.js';

/** Each whole-block decode by @ethereumjs (createBlockFromRLP): its size, and the event loop turns (`ticks`) counted before it. */
const decodes = vi.hoisted(() => ({ seen: [] as { bytes: number; tick: number }[], ticks: 0 }));
vi.mock('@ethereumjs/block', async (importOriginal) => {
  const orig = await importOriginal<typeof import('@ethereumjs/block')>();
  return {
    ...orig,
    createBlockFromRLP: (...args: Parameters<typeof orig.createBlockFromRLP>) => {
      decodes.seen.push({ bytes: args[0].length, tick: decodes.ticks });
      return orig.createBlockFromRLP(...args);
    },
  };
});

const { cleanup, node } = nodesStoppedAfterEach();

type Answer = (req: { from: bigint; count: number }, stream: { sink: (s: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) => Promise<void> }) => Promise<void>;

/**
 * A bare host that answers the handshake as a peer of `chain` claiming head `head` (hash `headHash`),
 * and serves blocks with `blocks` (and history/1 with `history`, if given).
 */
async function evilPeer(
  chain: Chain,
  head: bigint,
  blocks: Answer,
  headHash: Uint8Array = new Uint8Array(32).fill(7),
  history?: Answer,
): Promise<{ host: Host; addr: string; requests: number }> {
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
  cleanup.push(() => Promise.resolve(host.stop()));
  const status = (): ChainStatus => ({ chainId: chain.chainId, genesisHash: chain.genesisHash, headNumber: head, headHash });
  await serveStatus(
    host,
    status,
    () => undefined,
    () => undefined,
  );
  const out = { host, addr: host.getMultiaddrs()[0]!.toString(), requests: 0 };
  const answer = (protocol: string, serve: Answer) =>
    host.handle(protocol, ({ stream }) => {
      void (async () => {
        for await (const m of lp.decode(stream.source)) {
          out.requests++;
          await serve(decodeGetBlocks(m.subarray()), stream).catch(() => undefined);
          break;
        }
      })();
    });
  await answer(blocksProtocol(chain.genesisHash), blocks);
  if (history) await answer(historyProtocol(chain.genesisHash), history);
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  return [...out, n];
}

const idOf = (addr: string) => addr.split('/p2p/')[1]!;

describe('peers of another chain', () => {
  it('are refused at the handshake, banned on both sides, and never send a block', async () => {
    const src = await chainWithBlocks(5);
    cleanup.push(() => src.close());
    const other = await openTestChain(testGenesis(1, ['0x00000000000000000000000000000000000000aa']).genesis);
    cleanup.push(() => other.close());
    const a = await node(src.chain);
    const b = await node(other.chain, { bootnodes: [a.addr] });
    await until(() => b.net.peerManager.banned(idOf(a.addr)) !== undefined && a.net.peerManager.banned(idOf(b.addr)) !== undefined, 'both sides ban');
    expect(b.net.peerManager.banned(idOf(a.addr))!.reason).toMatch(/another chain/);
    expect(a.net.peerManager.banned(idOf(b.addr))!.reason).toMatch(/another chain/);
    expect(a.net.peerCount()).toBe(0);
    expect(b.net.peerCount()).toBe(0);
    await until(() => a.net.host.getConnections().length === 0, 'disconnected');
    expect(other.chain.head.number).toBe(0n);
    expect(a.net.syncing()).toBe(false);
  }, 30_000);
});

describe('block requests', () => {
  it('are answered within bounds: at most `count` blocks, stopping at the head', async () => {
    const src = await chainWithBlocks(70);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const a = await node(src.chain);
    const b2 = await node(dst.chain, { bootnodes: [a.addr] });
    await b2.net.syncer.stop(); // ask by hand
    await until(() => a.net.peerManager.isReady(idOf(b2.addr)) && b2.net.peerManager.isReady(idOf(a.addr)), 'handshake');
    const peer = peerIdFromString(idOf(a.addr));
    const first = await fetchBlocks(b2.net.host, peer, src.chain.genesisHash, src.chain.rules, 1n, 64);
    expect(first.map((x) => Number(x.header.number))).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    const tail = await fetchBlocks(b2.net.host, peer, src.chain.genesisHash, src.chain.rules, 65n, 64);
    expect(tail.map((x) => Number(x.header.number))).toEqual([65, 66, 67, 68, 69, 70]);
    expect(await fetchBlocks(b2.net.host, peer, src.chain.genesisHash, src.chain.rules, 71n, 1)).toEqual([]);
    await expect(fetchBlocks(b2.net.host, peer, src.chain.genesisHash, src.chain.rules, 1n, 65)).rejects.toThrow(RangeError);
  }, 30_000);

  it('are answered at most N at once over all peers and both protocols (a node-wide cap), the others waiting their turn', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // A server whose store reads slowly, counting the answers being built at once.
    const server = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
    cleanup.push(() => Promise.resolve(server.stop()));
    const building = { now: 0, max: 0 };
    const store = {
      storedBlock: (n: bigint) => src.chain.store.storedBlock(n),
      async *storedBlocks(from: bigint, to: bigint) {
        building.max = Math.max(building.max, ++building.now);
        try {
          await new Promise((r) => setTimeout(r, 150));
          yield* src.chain.store.storedBlocks(from, to);
        } finally {
          building.now--;
        }
      },
    };
    const opts = { isReady: () => true, onBadPeer: () => undefined, answering: new Semaphore(2) };
    await serveBlocks(server, src.chain.genesisHash, { head: src.chain.head, store }, opts);
    await serveHistory(server, src.chain.genesisHash, { head: src.chain.head, store }, opts);
    // Three peers, each with a block request and a history request in flight at once: six answers asked.
    const askers = await Promise.all(
      [0, 1, 2].map(() => createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false })),
    );
    cleanup.push(() => Promise.all(askers.map((h) => h.stop())));
    for (const h of askers) await h.dial(server.getMultiaddrs()[0]!);
    const { genesisHash, rules } = src.chain;
    const answers = await Promise.all(
      askers.flatMap((h) => [
        fetchBlocks(h, server.peerId, genesisHash, rules, 1n, 3),
        fetchHistory(h, server.peerId, genesisHash, rules, (n) => src.chain.canonicalHash(n), 1n, 3),
      ]),
    );
    expect(answers.map((a) => a.length)).toEqual([3, 3, 3, 3, 3, 3]); // every one answered, in turn
    expect(building.max).toBe(2);
  }, 30_000);

  /**
   * A server of `src`'s blocks 1-3 whose blocks from 100 on are 512 KiB each (a 4 MiB answer, far over
   * a stream's first window), counting the answers of those begun; and a way to ask for them and never read.
   */
  async function bigBlockServer(answering: Semaphore, stallMs: number, trusted?: (peer: PeerId) => boolean) {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const server = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 20, isBanned: () => false });
    cleanup.push(() => Promise.resolve(server.stop()));
    const big = { blockRlp: new Uint8Array(512 * 1024).fill(1), receiptsRlp: new Uint8Array([0xc0]) };
    const begun = { big: 0 };
    const store = {
      storedBlock: (n: bigint) => (n >= 100n ? Promise.resolve(big as never) : src.chain.store.storedBlock(n)),
      async *storedBlocks(from: bigint, to: bigint) {
        if (from < 100n) return yield* src.chain.store.storedBlocks(from, to);
        begun.big++;
        for (let n = from; n <= to; n++) yield big as never;
      },
    };
    const chain = { head: { number: 1000n }, store };
    const opts = { isReady: () => true, onBadPeer: () => undefined, answering, stallMs, ...(trusted ? { trusted } : {}) };
    await serveBlocks(server, src.chain.genesisHash, chain, opts);
    await serveHistory(server, src.chain.genesisHash, chain, opts);
    /** A host connected to the server, from local address `from` (all of 127/8 is loopback). */
    const newHost = async (from = '127.0.0.1') => {
      const h = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
      cleanup.push(() => Promise.resolve(h.stop()));
      // @libp2p/tcp dials with net.connect (as test/helpers/p2p-peers.mjs dialFrom); libp2p takes at
      // most 5 inbound connections a second from one address.
      const connect = nodeNet.connect;
      const fromAddress = (options: object, ...rest: unknown[]) =>
        (connect as (...a: unknown[]) => nodeNet.Socket)({ localAddress: from, ...options }, ...rest);
      nodeNet.connect = fromAddress as typeof connect;
      try {
        await new Promise((r) => setTimeout(r, 250));
        await h.dial(server.getMultiaddrs()[0]!);
      } finally {
        nodeNet.connect = connect;
      }
      return h;
    };
    /** Ask for blocks 100-163 over `protocol` and never read the answer. */
    const askAndNeverRead = async (h: Host, protocol: string) => {
      const stream = await h.dialProtocol(server.peerId, protocol);
      await stream.sink(lp.encode([encodeGetBlocks({ from: 100n, count: 64 })]));
    };
    return { src, server, begun, newHost, askAndNeverRead };
  }

  it('a peer holds at most two of the node-wide answer places: four peers asking big answers and never reading do not block an honest asker', async () => {
    const { src, server, begun, newHost, askAndNeverRead } = await bigBlockServer(new Semaphore(MAX_BLOCK_ANSWERS, MAX_BLOCK_ANSWERS_PER_PEER), 60_000);
    const { genesisHash, rules } = src.chain;
    // Four peers, each with its two block and two history requests: 16 answers asked, none read.
    for (let i = 0; i < 4; i++) {
      const h = await newHost();
      for (const protocol of [blocksProtocol(genesisHash), historyProtocol(genesisHash)]) {
        await askAndNeverRead(h, protocol);
        await askAndNeverRead(h, protocol);
      }
    }
    await until(() => begun.big >= 4 * MAX_BLOCK_ANSWERS_PER_PEER, 'the hostile answers begun');
    await new Promise((r) => setTimeout(r, 300)); // time for any more of them to take a place
    expect(begun.big).toBe(4 * MAX_BLOCK_ANSWERS_PER_PEER);
    const honest = await newHost();
    const blocks = await fetchBlocks(honest, server.peerId, genesisHash, rules, 1n, 3, 3_000);
    expect(blocks.map((b) => Number(b.header.number))).toEqual([1, 2, 3]);
  }, 30_000);

  it('peers of one address hold at most four answer places, and all but validators and kept peers twelve: eight identities asking and never reading leave honest askers their places', async () => {
    let trustedId = '';
    const answering = new Semaphore(MAX_BLOCK_ANSWERS, MAX_BLOCK_ANSWERS_PER_PEER, {
      perGroup: MAX_BLOCK_ANSWERS_PER_ADDRESS,
      grouped: MAX_BLOCK_ANSWERS_FOR_OTHERS,
    });
    const { src, server, begun, newHost, askAndNeverRead } = await bigBlockServer(answering, 60_000, (p) => p.toString() === trustedId);
    const { genesisHash, rules } = src.chain;
    /** `n` identities from `from`, each with its two block and two history requests, none read. */
    const hostile = async (from: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const h = await newHost(from);
        for (const protocol of [blocksProtocol(genesisHash), historyProtocol(genesisHash)]) {
          await askAndNeverRead(h, protocol);
          await askAndNeverRead(h, protocol);
        }
      }
    };
    // Eight identities of one address: counted by peer alone, they held all sixteen places.
    await hostile('127.0.0.2', 8);
    await until(() => begun.big >= MAX_BLOCK_ANSWERS_PER_ADDRESS, 'the hostile answers begun');
    await new Promise((r) => setTimeout(r, 300)); // time for any more of them to take a place
    expect(begun.big).toBe(MAX_BLOCK_ANSWERS_PER_ADDRESS);
    const honest = await newHost('127.0.0.1');
    expect((await fetchBlocks(honest, server.peerId, genesisHash, rules, 1n, 3, 3_000)).map((b) => Number(b.header.number))).toEqual([1, 2, 3]);
    // Two more addresses: peers neither validators nor kept hold twelve places, the other four are kept.
    await hostile('127.0.0.3', 2);
    await hostile('127.0.0.4', 2);
    await until(() => begun.big >= MAX_BLOCK_ANSWERS_FOR_OTHERS, 'the hostile answers begun');
    await new Promise((r) => setTimeout(r, 300));
    expect(begun.big).toBe(MAX_BLOCK_ANSWERS_FOR_OTHERS);
    await expect(fetchBlocks(honest, server.peerId, genesisHash, rules, 1n, 3, 1_000)).rejects.toThrow(RequestTimeoutError);
    const validator = await newHost('127.0.0.2'); // even from a hostile address
    trustedId = validator.peerId.toString();
    expect((await fetchBlocks(validator, server.peerId, genesisHash, rules, 1n, 3, 3_000)).map((b) => Number(b.header.number))).toEqual([1, 2, 3]);
  }, 30_000);

  it('an answer its asker takes none of is abandoned after a stall, its place given back well within the timeout', async () => {
    // Two places, both a peer's share: a peer asking twice and never reading holds them all.
    const { src, server, begun, newHost, askAndNeverRead } = await bigBlockServer(new Semaphore(2, 2), 500);
    const { genesisHash, rules } = src.chain;
    const hostile = await newHost();
    await askAndNeverRead(hostile, blocksProtocol(genesisHash));
    await askAndNeverRead(hostile, blocksProtocol(genesisHash));
    await until(() => begun.big === 2, 'the hostile answers begun');
    // The server's timeout is 10 s: an honest asker giving up after 4 s is served only if the stalled answers are abandoned first.
    const honest = await newHost();
    const blocks = await fetchBlocks(honest, server.peerId, genesisHash, rules, 1n, 3, 4_000);
    expect(blocks.map((b) => Number(b.header.number))).toEqual([1, 2, 3]);
  }, 30_000);

  it('asking for more than 64 blocks gets the asker banned', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const a = await node(src.chain);
    const b = await node(dst.chain, { bootnodes: [a.addr] });
    await until(() => a.net.peerManager.isReady(idOf(b.addr)), 'handshake');
    // b syncs from a (and checks a's head) first: its own requests would take a's two request slots.
    await until(async () => dst.chain.head.number === 3n, 'synced');
    await b.net.syncer.idle();
    const peer = peerIdFromString(idOf(a.addr));
    const tooMany = (await import('@ethereumjs/rlp')).RLP.encode([bigIntToUnpaddedBytes(1n), bigIntToUnpaddedBytes(65n)]);
    await request(b.net.host, peer, blocksProtocol(src.chain.genesisHash), tooMany, {
      timeoutMs: 5000,
      maxMessageBytes: MAX_BLOCK_BYTES,
      maxMessages: 64,
      maxTotalBytes: MAX_BLOCK_BYTES,
    }).catch(() => undefined);
    await until(() => a.net.peerManager.banned(idOf(b.addr)) !== undefined, 'asker banned');
    expect(a.net.peerManager.banned(idOf(b.addr))!.reason).toMatch(/count 65/);
  }, 30_000);
});

describe('bad peers during sync', () => {
  it('a peer sending an invalid block is banned and nothing is written', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const block1 = (await src.chain.blockByNumber(1n))!;
    const raw = block1.raw();
    const header = [...(raw[0] as Uint8Array[])];
    header[11] = bigIntToUnpaddedBytes(block1.header.timestamp + 1n); // the seals no longer match
    const forged = createBlockFromBytesArray([header, raw[1], raw[2]] as never, headerOpts(src.chain.commonAt(0n))).serialize();
    // It claims head 1, the block sync asks for first (a higher claim is checked first, by its seals).
    const evil = await evilPeer(src.chain, 1n, async (_req, stream) => stream.sink(lp.encode([forged])));
    const victim = await node(dst.chain, { bootnodes: [evil.addr] });
    await until(() => victim.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(victim.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/invalid block/);
    expect(dst.chain.head.number).toBe(0n);
    expect(await dst.chain.canonicalHash(1n)).toBeUndefined();
    expect(bytesToHex(forged)).not.toBe(bytesToHex(block1.serialize()));
  }, 30_000);

  it('a peer sending a block whose IBFT extra data does not decode is banned and nothing is written', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const b1 = (await src.chain.blockByNumber(1n))!;
    const common = src.chain.commonAt(0n);
    const garbled = blockWithHeader(b1, headerWithExtraData(b1.header, new Uint8Array(10), common), common).serialize();
    // It claims a high head and never answers for it (the proof of the claim waits), so block sync asks it for block 1 on.
    const evil = await evilPeer(src.chain, 1000n, (req, stream) => (req.from === 1000n ? new Promise(() => undefined) : stream.sink(lp.encode([garbled]))));
    const victim = await node(dst.chain, { bootnodes: [evil.addr] });
    await until(() => victim.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned', 10_000);
    expect(victim.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/invalid block: block 1 is invalid: extraData is 10 bytes/);
    expect(dst.chain.head.number).toBe(0n);
  }, 30_000);

  it('a peer sending a block of millions of one-byte items is banned for it before they are decoded', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    // Block 1's header, and a transaction list of 3 million one-byte items (3 MB, within the message
    // limit): @ethereumjs's decode would make an array for each; the bounds walk refuses it unread.
    const header = RLP.encode((await src.chain.blockByNumber(1n))!.raw()[0] as never);
    const n = 3_000_000;
    const txs = Uint8Array.from([0xfa, n >> 16, (n >> 8) & 0xff, n & 0xff, ...new Uint8Array(n).fill(1)]);
    const payload = Uint8Array.from([...header, ...txs, 0xc0]);
    const bomb = Uint8Array.from([0xfa, payload.length >> 16, (payload.length >> 8) & 0xff, payload.length & 0xff, ...payload]);
    const evil = await evilPeer(src.chain, 1n, async (_req, stream) => stream.sink(lp.encode([bomb])));
    const victim = await node(dst.chain, { bootnodes: [evil.addr] });
    await until(() => victim.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(victim.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/block 1 from the peer cannot be decoded: too many items/);
    expect(dst.chain.head.number).toBe(0n);
  }, 30_000);

  it('a peer announcing an oversized message is banned from its length prefix', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    // A length prefix of MAX_BLOCK_BYTES + 1 and a few bytes: refused before the bytes arrive.
    const evil = await evilPeer(src.chain, 2n, async (_req, stream) => stream.sink([new Uint8Array([...varint(MAX_BLOCK_BYTES + 1), 1, 2, 3, 4])]));
    const victim = await node(dst.chain, { bootnodes: [evil.addr] });
    await until(() => victim.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(victim.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/length|large|max/i);
    expect(dst.chain.head.number).toBe(0n);
  }, 30_000);

  it('a stalled peer is set aside and the blocks come from the next one', async () => {
    const src = await chainWithBlocks(20);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const good = await node(src.chain);
    // Claims a higher head, so it is asked first, then never answers.
    const evil = await evilPeer(src.chain, 1000n, () => new Promise(() => undefined));
    const victim = await node(dst.chain, { bootnodes: [evil.addr], sync: { timeoutMs: 500 } });
    await until(() => evil.requests > 0, 'asked the stalling peer');
    await victim.net.add(good.addr);
    await until(() => dst.chain.head.number === 20n, 'synced from the good peer');
    expect(evil.requests).toBeGreaterThan(0);
    expect(victim.net.peerManager.banned(idOf(evil.addr))).toBeUndefined(); // stalling is not banned
    expect(bytesToHex(dst.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
  }, 30_000);

  it('a peer sending one block a request in most of the timeout is set aside once another has proven the blocks; alone, it is still asked', async () => {
    const src = await chainWithBlocks(40);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    // Proves its head (40) at once; asked for a batch, sends its first block after 900 ms (of 1,500).
    const drip = await evilPeer(
      src.chain,
      40n,
      async ({ from, count }, stream) => {
        if (count > 1 || from < 40n) await new Promise((r) => setTimeout(r, 900));
        await stream.sink(lp.encode([(await src.chain.blockByNumber(from))!.serialize()]));
      },
      blockHash(src.chain.head.header),
    );
    const victim = await node(dst.chain, { bootnodes: [drip.addr], sync: { timeoutMs: 1_500 } });
    await until(() => dst.chain.head.number >= 2n, 'blocks from the slow peer while it is the only one', 10_000);
    const good = await node(src.chain);
    await victim.net.add(good.addr);
    await until(() => dst.chain.head.number === 40n, 'synced from the good peer', 8_000);
    expect(victim.net.peerManager.banned(idOf(drip.addr))).toBeUndefined(); // slow is not banned
    expect(bytesToHex(dst.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
  }, 30_000);

  it('a stalled peer that is the only one ahead is asked again within seconds, not after the 30 s it is set aside for', async () => {
    const src = await chainWithBlocks(20);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    // Proves its head (20) at once; its first batch request goes unanswered (a blip), later ones are served.
    let batches = 0;
    const blip = await evilPeer(
      src.chain,
      20n,
      async ({ from, count }, stream) => {
        if (!(from === 20n && count === 1) && batches++ === 0) return new Promise(() => undefined);
        const blocks = [];
        for (let n = from; n < from + BigInt(count) && n <= 20n; n++) blocks.push((await src.chain.blockByNumber(n))!.serialize());
        await stream.sink(lp.encode(blocks));
      },
      blockHash(src.chain.head.header),
    );
    await node(dst.chain, { bootnodes: [blip.addr], sync: { timeoutMs: 500 } });
    await until(() => batches > 0, 'asked for a batch');
    // It keeps announcing its head, as a live peer announces each block (the timeout forgot its claim).
    const topic = gossipTopics(src.chain.genesisHash).blocks;
    const head = { number: 20n, hash: blockHash(src.chain.head.header) };
    const announcing = setInterval(() => void blip.host.services.pubsub.publish(topic, encodeAnnouncement(head)).catch(() => undefined), 500);
    cleanup.push(async () => clearInterval(announcing));
    await until(() => dst.chain.head.number === 20n, 'synced from the only peer once asked again', 15_000);
    clearInterval(announcing);
    expect(batches).toBeGreaterThan(1);
    expect(bytesToHex(dst.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
  }, 30_000);

  it('a peer that keeps claiming blocks it does not serve is banned', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const evil = await evilPeer(src.chain, 1000n, async (_req, stream) => stream.sink([]));
    const victim = await node(dst.chain, { bootnodes: [evil.addr] });
    const topic = gossipTopics(src.chain.genesisHash).blocks;
    for (let n = 1001n; victim.net.peerManager.banned(idOf(evil.addr)) === undefined; n++) {
      await evil.host.services.pubsub.publish(topic, encodeAnnouncement({ number: n, hash: new Uint8Array(32).fill(1) })).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      if (n > 1100n) throw new Error('not banned');
    }
    expect(evil.requests).toBeGreaterThanOrEqual(3);
    expect(victim.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/claims blocks it does not serve/);
    expect(dst.chain.head.number).toBe(0n);
  }, 30_000);

  it('a peer answering the handshake with garbage is banned', async () => {
    const dst = await createTestChain(4);
    cleanup.push(() => dst.close());
    const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
    cleanup.push(() => Promise.resolve(host.stop()));
    await host.handle('/basalt/status/1', ({ stream }) => void stream.sink(lp.encode([new Uint8Array([0xff, 0x01, 0x02])])));
    const addr = host.getMultiaddrs()[0]!.toString();
    const victim = await node(dst.chain, { bootnodes: [addr] });
    await until(() => victim.net.peerManager.banned(idOf(addr)) !== undefined, 'banned');
    expect(victim.net.peerManager.banned(idOf(addr))!.reason).toMatch(/status/);
  }, 30_000);
});

describe('peers answering with blocks of thousands of tiny transactions (a body costs ~70 µs and ~1 KB a transaction to decode)', () => {
  /** Minimal legacy transactions (nine empty fields, 10 bytes, 10 items each): a block of them is within the 100,000 items allowed. */
  const TINY_TXS = 9_980;
  const tinyTxs = RLP.encode(Array.from({ length: TINY_TXS }, () => Array.from({ length: 9 }, () => new Uint8Array(0))));
  /** Forged blocks are the ones this large (every block of the source chain is a few hundred bytes). */
  const forgedDecodes = () => decodes.seen.filter((d) => d.bytes > tinyTxs.length).length;
  let src: Awaited<ReturnType<typeof chainWithBlocks>>;
  beforeAll(async () => {
    src = await chainWithBlocks(64);
  }, 60_000);
  afterAll(() => src?.close());

  /** Block `n` of the source chain with `tinyTxs` for transactions; its header changed by `change` if given (the seals no longer match). */
  async function forged(n: bigint, change?: (fields: Uint8Array[]) => void): Promise<Uint8Array> {
    const { blockRlp } = await src.chain.store.storedBlock(n);
    const span = blockPartSpans(blockRlp).header;
    let headerRlp = blockRlp.subarray(span.at, span.end);
    if (change) {
      const fields = RLP.decode(headerRlp) as Uint8Array[];
      change(fields);
      headerRlp = RLP.encode(fields);
    }
    return Uint8Array.from([...rlpPrefix(headerRlp.length + tinyTxs.length + 1, true), ...headerRlp, ...tinyTxs, 0xc0]);
  }
  /** Blocks 1-64 so forged. */
  const forged64 = (change?: (fields: Uint8Array[]) => void) => Promise.all(Array.from({ length: 64 }, (_, i) => forged(BigInt(i + 1), change)));
  /** Headers that claim the gas of every transaction: gasLimit and gasUsed (fields 9 and 10) of TINY_TXS × 21,000. */
  const claimingGas = (fields: Uint8Array[]) => {
    fields[9] = fields[10] = bigIntToUnpaddedBytes(BigInt(TINY_TXS) * MIN_TX_GAS);
  };
  /** Answers with `blocks` from the one asked for on (RLP.encode([block, receipts]) each, for history/1). */
  const answering =
    (blocks: Uint8Array[], history = false): Answer =>
    (req, stream) =>
      stream.sink(lp.encode(blocks.slice(Number(req.from) - 1, Number(req.from) - 1 + req.count).map((b) => (history ? RLP.encode([b, RLP.encode([])]) : b))));
  const never: Answer = () => new Promise(() => undefined);

  /** A node of `src`'s genesis that does not sync, connected to `evil`; and a back-fill feed of its peers checking against `src`'s headers. */
  async function backfilling(evil: { addr: string }) {
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const me = await node(dst.chain, { bootnodes: [evil.addr], blockSync: false });
    await until(() => me.net.peerManager.isReady(idOf(evil.addr)), 'handshake');
    const chain = { genesisHash: src.chain.genesisHash, rules: src.chain.rules, canonicalHash: (n: bigint) => src.chain.canonicalHash(n) };
    const feed = new PeerHistoryFeed(me.net.host, me.net.peerManager, chain, { peerWaitMs: 0 });
    const read = async () => {
      const got: bigint[] = [];
      for await (const b of feed.blocks(1n, 64n, new AbortController().signal)) got.push(b.number);
      return got;
    };
    return { me, read };
  }

  it("back-fill: 64 blocks with the chain's headers and ~10,000 transactions each (more than their gas used pays for): banned from the headers, no body decoded", async () => {
    const evil = await evilPeer(src.chain, 64n, never, undefined, answering(await forged64(), true));
    const { me, read } = await backfilling(evil);
    decodes.seen.length = 0;
    await expect(read()).rejects.toThrow(/^no peer serves block 1/);
    expect(me.net.peerManager.banned(idOf(evil.addr))!.reason).toBe(
      'history: block with its receipts 1 from the peer lists more transactions than its gas used (0) pays for (0 at most)',
    );
    expect(forgedDecodes()).toBe(0);
  }, 60_000);

  it("back-fill: 64 blocks whose headers claim the gas of ~10,000 transactions each: not the chain's headers, banned before any body is decoded", async () => {
    const evil = await evilPeer(src.chain, 64n, never, undefined, answering(await forged64(claimingGas), true));
    const { me, read } = await backfilling(evil);
    decodes.seen.length = 0;
    await expect(read()).rejects.toThrow(/^no peer serves block 1/);
    expect(me.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/^history: block 1 from the peer is 0x[0-9a-f]{64}, not the chain's 0x[0-9a-f]{64}$/);
    expect(forgedDecodes()).toBe(0);
  }, 60_000);

  it('block sync: an answer of 64 blocks with ~10,000 transactions each, more than their gas used pays for, is refused from the headers', async () => {
    const evil = await evilPeer(src.chain, 64n, answering(await forged64()));
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const me = await node(dst.chain, { bootnodes: [evil.addr], blockSync: false });
    await until(() => me.net.peerManager.isReady(idOf(evil.addr)), 'handshake');
    decodes.seen.length = 0;
    await expect(fetchBlocks(me.net.host, peerIdFromString(idOf(evil.addr)), src.chain.genesisHash, src.chain.rules, 1n, 64)).rejects.toThrow(
      new MessageError('block 1 from the peer lists more transactions than its gas used (0) pays for (0 at most)'),
    );
    expect(forgedDecodes()).toBe(0);
  }, 60_000);

  it('block sync: of 64 such blocks whose headers claim the gas, only the first body is decoded: its seals fail at import and the peer is banned', async () => {
    const blocks = await forged64(claimingGas);
    // It claims head 64 and never serves it (the proof waits), so block sync asks it for block 1 on.
    const evil = await evilPeer(src.chain, 64n, (req, stream) => (req.from === 64n && req.count === 1 ? never(req, stream) : answering(blocks)(req, stream)));
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    // Taken by hand: 64 headers checked, no body decoded yet.
    const asker = await node(dst.chain, { bootnodes: [evil.addr], blockSync: false });
    await until(() => asker.net.peerManager.isReady(idOf(evil.addr)), 'handshake');
    decodes.seen.length = 0;
    const got = await fetchBlocks(asker.net.host, peerIdFromString(idOf(evil.addr)), src.chain.genesisHash, src.chain.rules, 1n, 64);
    expect(got.map((b) => Number(b.header.number))).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    expect(forgedDecodes()).toBe(0);
    await asker.net.stop();
    // Synced: block 1's body is decoded for its import, which fails on its seals; the other 63 never are.
    const victim = await node(dst.chain, { bootnodes: [evil.addr] });
    await until(() => victim.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned', 20_000);
    expect(victim.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/^sent an invalid block: block 1 is invalid/);
    expect(forgedDecodes()).toBe(1);
    expect(dst.chain.head.number).toBe(0n);
  }, 60_000);

  it('head proof: a claimed head whose header claims the gas of ~10,000 transactions, without seals, is banned before its body is decoded', async () => {
    const proof = await forged(64n, (fields) => {
      claimingGas(fields);
      fields[12] = encodeIbftExtra({ ...decodeIbftExtra(fields[12]!), committedSeals: [] });
    });
    // It announces that very block as its head (the hash check passes); it serves nothing else.
    const span = blockPartSpans(proof).header;
    const header = createBlockHeaderFromBytesArray(RLP.decode(proof.subarray(span.at, span.end)) as Uint8Array[], headerOpts(src.chain.commonAt(64n)));
    const evil = await evilPeer(
      src.chain,
      64n,
      (req, stream) => (req.from === 64n && req.count === 1 ? stream.sink(lp.encode([proof])) : never(req, stream)),
      blockHash(header),
    );
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    decodes.seen.length = 0;
    const victim = await node(dst.chain, { bootnodes: [evil.addr] });
    await until(() => victim.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(victim.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(
      /^claimed head 64 is not sealed by a quorum of the validator set: block 64 is invalid: 0 committed seals/,
    );
    expect(forgedDecodes()).toBe(0);
  }, 30_000);

  it("an honest back-fill answer's bodies are decoded one at a time, the event loop let run between two", async () => {
    const server = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
    cleanup.push(() => Promise.resolve(server.stop()));
    await serveHistory(
      server,
      src.chain.genesisHash,
      { head: src.chain.head, store: src.chain.store },
      {
        isReady: () => true,
        onBadPeer: () => undefined,
        answering: new Semaphore(2),
      },
    );
    const asker = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
    cleanup.push(() => Promise.resolve(asker.stop()));
    await asker.dial(server.getMultiaddrs()[0]!);
    let ticking = true;
    const tick = () => {
      decodes.ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    decodes.seen.length = 0;
    const got = await fetchHistory(asker, server.peerId, src.chain.genesisHash, src.chain.rules, (n) => src.chain.canonicalHash(n), 1n, 16).finally(() => {
      ticking = false;
    });
    expect(got.map((b) => Number(b.block.header.number))).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    const ticks = decodes.seen.map((d) => d.tick);
    expect(ticks).toHaveLength(16);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]).toBeGreaterThan(ticks[i - 1]!);
  }, 30_000);
});

describe('gossip', () => {
  it('a peer gossiping an undecodable transaction is banned, and honest nodes do not relay it', async () => {
    const src = await chainWithBlocks(1);
    cleanup.push(() => src.close());
    const chains = [await openTestChain(src.genesis), await openTestChain(src.genesis)];
    for (const c of chains) cleanup.push(() => c.close());
    const a = await node(src.chain);
    const b = await node(chains[0]!.chain, { bootnodes: [a.addr] });
    const evil = await node(chains[1]!.chain, { bootnodes: [a.addr] });
    await until(() => a.net.peerCount() === 2 && b.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected');
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
    evil.net.gossip.publishTx(new Uint8Array([0x02, 0xc1, 0x80]));
    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/cannot be decoded/);
    await new Promise((r) => setTimeout(r, 500));
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(b.net.peerManager.isReady(idOf(a.addr))).toBe(true);
  }, 30_000);
  it('a peer relaying recall requests signed outside the validator set is banned past the IBFT bound', async () => {
    const src = await chainWithBlocks(1);
    cleanup.push(() => src.close());
    const other = await openTestChain(src.genesis);
    cleanup.push(() => other.close());
    const a = await node(src.chain);
    const evil = await node(other.chain, { bootnodes: [a.addr] });
    await until(() => a.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected');
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
    for (let i = 0; i < 20 && a.net.peerManager.banned(idOf(evil.addr)) === undefined; i++) {
      const req = signRecallRequest(src.chain.head.number + 1n, new Uint8Array(32).fill(i + 1), testKey(77)); // not a validator
      evil.net.gossip.publishRecall(recallGossip(RECALL_REQUEST, req));
      await new Promise((r) => setTimeout(r, 50));
    }
    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/recall messages signed by keys outside the validator set/);
  }, 30_000);

  it("a head announcement travels one hop: a node's peers take it, and do not relay it to nodes that cannot ask its publisher for blocks", async () => {
    const src = await chainWithBlocks(1);
    cleanup.push(() => src.close());
    const chains = [await openTestChain(src.genesis), await openTestChain(src.genesis), await openTestChain(src.genesis)];
    for (const c of chains) cleanup.push(() => c.close());
    // a line: x - a - b - c (no discovery: nobody meets x but a)
    const a = await node(src.chain, { discovery: false });
    const x = await node(chains[0]!.chain, { bootnodes: [a.addr], discovery: false });
    const b = await node(chains[1]!.chain, { bootnodes: [a.addr], discovery: false });
    const c = await node(chains[2]!.chain, { bootnodes: [b.addr], discovery: false });
    await until(() => a.net.peerCount() === 2 && b.net.peerCount() === 2 && c.net.peerCount() === 1 && x.net.peerCount() === 1, 'connected in a line');
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
    const seen = (n: typeof a) => {
      const from: string[] = [];
      n.net.host.services.pubsub.addEventListener(
        'gossipsub:message' as 'message',
        ((e: CustomEvent<{ msg: { topic: string; from?: { toString(): string } } }>) => {
          if (e.detail.msg.topic.includes('/blocks/') || e.detail.msg.topic.endsWith('/blocks')) from.push(String(e.detail.msg.from));
        }) as unknown as (e: Event) => void,
      );
      return from;
    };
    const atB = seen(b);
    const atC = seen(c);
    for (let i = 0; i < 5; i++) x.net.gossip.announceHead({ number: 100n + BigInt(i), hash: new Uint8Array(32).fill(i + 1) });
    await until(() => atB.filter((f) => f === idOf(x.addr)).length >= 5, "b got x's announcements through a");
    await new Promise((r) => setTimeout(r, 1500));
    expect(atC.filter((f) => f === idOf(x.addr))).toEqual([]); // b did not relay them
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
  }, 30_000);

  it("a peer gossiping transactions that can never execute is banned (past 50 of them); an honest relayer's transaction still gets through", async () => {
    const src = await chainWithBlocks(1); // SENDER's nonce 0 is mined: its next is 1
    cleanup.push(() => src.close());
    const chains = [await openTestChain(src.genesis), await openTestChain(src.genesis)];
    for (const c of chains) cleanup.push(() => c.close());
    const a = await node(src.chain);
    const honest = await node(chains[0]!.chain, { bootnodes: [a.addr] });
    const evil = await node(chains[1]!.chain, { bootnodes: [a.addr] });
    await until(() => a.net.peerCount() === 2 && honest.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected');
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
    const junk = () =>
      createFeeMarket1559Tx(
        {
          nonce: 0n,
          to: '0x000000000000000000000000000000000000beef',
          value: 1n,
          gasLimit: 21_000n,
          maxFeePerGas: 10n ** 10n,
          maxPriorityFeePerGas: 1n,
          chainId: 100n,
        },
        { common: src.chain.commonAt(0n) },
      )
        .sign(randomBytes(32))
        .serialize();
    for (let i = 0; i < 150; i++) evil.net.gossip.publishTx(junk()); // senders that hold nothing
    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned', 20_000);
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/transactions per minute that can never execute/);
    expect([...a.txpool.pending()]).toEqual([]);
    const good = createFeeMarket1559Tx(
      {
        nonce: 1n,
        to: '0x000000000000000000000000000000000000beef',
        value: 1n,
        gasLimit: 21_000n,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
      },
      { common: src.chain.commonAt(0n) },
    ).sign(SENDER);
    await until(() => chains[0]!.chain.head.number === 1n, 'the honest node synced block 1');
    await honest.txpool.add(good);
    await until(() => a.txpool.has(good.hash()), 'the honest transaction relayed');
    expect(a.net.peerManager.banned(idOf(honest.addr))).toBeUndefined();
  }, 30_000);
});

describe('an address whose peers keep being banned', () => {
  it('is refused before any handshake once five of its peers are banned; this node still dials out to it', async () => {
    const src = await createTestChain(4);
    cleanup.push(() => src.close());
    const other = await openTestChain(testGenesis(1, ['0x00000000000000000000000000000000000000aa']).genesis);
    cleanup.push(() => other.close());
    const victim = await node(src.chain);
    // Peers of another chain dial in from 127.0.0.1, one identity after another, and are banned.
    expect(BANNED_PEERS_PER_ADDRESS).toBe(5);
    for (let i = 0; i < BANNED_PEERS_PER_ADDRESS; i++) {
      const b = await node(other.chain, { bootnodes: [victim.addr] });
      await until(() => victim.net.peerManager.banned(idOf(b.addr)) !== undefined, `stranger ${i} banned`);
      await b.net.stop();
    }
    // A peer of the right chain from that address is now refused at the door: it never becomes a peer.
    const replica = await openTestChain(src.genesis);
    cleanup.push(() => replica.close());
    const late = await node(replica.chain, { bootnodes: [victim.addr] });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(victim.net.peerCount()).toBe(0);
    expect(victim.net.peerManager.banned(idOf(late.addr))).toBeUndefined(); // refused, not banned
    // This node's own dial to that address goes through (a validator behind it is still reached).
    await victim.net.add(late.addr);
    await until(() => victim.net.peerCount() === 1 && late.net.peerCount() === 1, 'dialled out');
  }, 60_000);
});

describe('BanList', () => {
  it('refuses an address while five of its peers are banned, and lets it in when those bans end', () => {
    let now = 0;
    const kinds: string[] = [];
    const bans = new BanList(
      () => now,
      (r) => kinds.push(banKind(r)),
    );
    for (let i = 0; i < 4; i++) bans.ban(`p${i}`, 'sent garbage', 1_000, '10.0.0.1');
    expect(bans.isAddressBanned('10.0.0.1')).toBe(false);
    bans.ban('p3', 'again', 1_000, '10.0.0.1'); // the same peer again: still four
    expect(bans.isAddressBanned('10.0.0.1')).toBe(false);
    bans.ban('q', 'sent garbage', 1_000, '10.0.0.2');
    expect(bans.isAddressBanned('10.0.0.1')).toBe(false);
    now = 500;
    bans.ban('p4', 'sent garbage', 1_000, '10.0.0.1');
    expect(bans.isAddressBanned('10.0.0.1')).toBe(true);
    expect(bans.isAddressBanned('10.0.0.2')).toBe(false);
    expect(kinds.filter((k) => k === 'address')).toHaveLength(1);
    now = 1_001; // the first four bans ended
    expect(bans.isAddressBanned('10.0.0.1')).toBe(false);
  });

  it('bans expire', () => {
    let now = 1000;
    const bans = new BanList(() => now);
    expect(bans.ban('peer', 'bad', 500)).toBe(true);
    expect(bans.ban('peer', 'bad again', 500)).toBe(false);
    expect(bans.get('peer')!.reason).toBe('bad'); // the first reason is kept
    expect(bans.isBanned('peer')).toBe(true);
    now += 501;
    expect(bans.isBanned('peer')).toBe(false);
  });
});
