import { randomBytes } from 'node:crypto';
import { RLP } from '@ethereumjs/rlp';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import type { Chain } from '../../../src/chain/chain.js';
import { keccak256 } from '../../../src/util/keccak.js';
import { multiaddr } from '@multiformats/multiaddr';
import { createHost } from '../../../src/p2p/host.js';
import { gossipTopics } from '../../../src/p2p/gossip.js';
import { serveStatus } from '../../../src/p2p/handshake.js';
import { MAX_GOSSIP_BYTES, MAX_TXS_PER_BATCH, MessageError, decodeTxBatch, encodeTxBatch } from '../../../src/p2p/messages.js';
import { openTestChain } from '../../helpers/chain-fixture.js';
import { SENDER, chainWithBlocks } from '../archive/archive-fixture.js';
import { until, nodesStoppedAfterEach } from './net-fixture.js';

const { cleanup, node } = nodesStoppedAfterEach();

const idOf = (addr: string) => addr.split('/p2p/')[1]!;

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

describe('transaction batches (the gossip message)', () => {
  it('round-trip at their limits: one transaction, the most transactions, the most bytes', () => {
    for (const raws of [
      [new Uint8Array([0x02, 0x01])],
      Array.from({ length: MAX_TXS_PER_BATCH }, (_, i) => new Uint8Array([0x02, i])),
      // Two transactions of the pool's largest size (128 KiB) do not fit; one and most of another do.
      [randomBytes(128 * 1024), randomBytes(MAX_GOSSIP_BYTES - 128 * 1024 - 16)],
    ]) {
      const decoded = decodeTxBatch(encodeTxBatch(raws));
      expect(decoded.map((r) => bytesToHex(r))).toEqual(raws.map((r) => bytesToHex(r)));
    }
  });

  it('a batch its reader would refuse is refused on write', () => {
    expect(() => encodeTxBatch([])).toThrow(MessageError);
    expect(() => encodeTxBatch(Array.from({ length: MAX_TXS_PER_BATCH + 1 }, () => new Uint8Array([1])))).toThrow(/1 to 128/);
    expect(() => encodeTxBatch([randomBytes(MAX_GOSSIP_BYTES)])).toThrow(/more than 262144/);
  });

  it('refuses anything but a list of 1 to MAX_TXS_PER_BATCH strings, reading headers only', () => {
    const bad: [string, Uint8Array][] = [
      ['an empty list', RLP.encode([])],
      ['a string', RLP.encode(new Uint8Array([1, 2, 3]))],
      ['a nested list', RLP.encode([new Uint8Array([1]), [new Uint8Array([2])]])],
      ['too many', RLP.encode(Array.from({ length: MAX_TXS_PER_BATCH + 1 }, () => new Uint8Array([1])))],
      ['trailing bytes', new Uint8Array([...RLP.encode([new Uint8Array([1])]), 0x01])],
      ['truncated', RLP.encode([new Uint8Array(100)]).subarray(0, 50)],
      ['too large', new Uint8Array(MAX_GOSSIP_BYTES + 1)],
      // 100,000 nested lists: a recursive decoder would spend seconds, then overflow its stack.
      ['deep', new Uint8Array(100_000).fill(0xc0)],
    ];
    for (const [what, bytes] of bad) expect(() => decodeTxBatch(bytes), what).toThrow(MessageError);
  });

  it("a node's transactions reach a peer in batches, and a peer of an earlier version (the single-transaction topic only) gets each one", async () => {
    const src = await chainWithBlocks(1); // SENDER's next nonce is 1
    cleanup.push(() => src.close());
    const other = await openTestChain(src.genesis);
    cleanup.push(() => other.close());
    const a = await node(src.chain);
    const b = await node(other.chain, { bootnodes: [a.addr] });
    await until(() => a.net.peerCount() === 1 && b.net.peerCount() === 1, 'connected');
    await until(() => other.chain.head.number === 1n, 'b synced block 1');
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
    const topics = gossipTopics(src.chain.genesisHash);
    const gossiped: string[] = [];
    b.net.host.services.pubsub.addEventListener('message', (e) => gossiped.push(e.detail.topic));
    const first = [1n, 2n, 3n, 4n, 5n].map((n) => transfer(src.chain, n));
    for (const raw of first) a.net.gossip.publishTx(raw); // as the pool hands on what clients send
    await until(() => first.every((r) => b.txpool.has(keccak256(r))), 'b has all five');
    expect(gossiped).toEqual([topics.txBatches]); // one message

    // The earlier version: a bare host that passes the handshake and reads txs/1 alone.
    const old = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
    cleanup.push(() => Promise.resolve(old.stop()));
    const status = () => ({ chainId: src.chain.chainId, genesisHash: src.chain.genesisHash, headNumber: 1n, headHash: src.chain.head.hash });
    await serveStatus(
      old,
      status,
      () => undefined,
      () => undefined,
    );
    const singles: string[] = [];
    old.services.pubsub.subscribe(topics.txs);
    old.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic === topics.txs) singles.push(bytesToHex(e.detail.data));
    });
    await old.dial(multiaddr(a.addr));
    await until(() => a.net.peerCount() === 2, 'the old peer connected');
    await new Promise((r) => setTimeout(r, 1500));
    const next = [6n, 7n, 8n].map((n) => transfer(src.chain, n));
    for (const raw of next) a.net.gossip.publishTx(raw);
    await until(() => singles.length === 3, 'the old peer got three single-transaction messages');
    expect(singles).toEqual(next.map((r) => bytesToHex(r)));
    await until(() => next.every((r) => b.txpool.has(keccak256(r))), 'b has the next three');
    expect(a.net.peerManager.banned(idOf(b.addr))).toBeUndefined();
  }, 30_000);

  it("bounds each gossiped transaction's bytes and RLP items before it is decoded", async () => {
    const src = await chainWithBlocks(1);
    cleanup.push(() => src.close());
    const a = await node(src.chain);
    const validate = (raw: Uint8Array) =>
      (a.net as unknown as { validateTx(peer: unknown, raw: Uint8Array): Promise<string> }).validateTx(a.net.host.peerId, raw).catch((err: unknown) => err);
    // A batch holds one transaction of up to 256 KiB: one over the pool's 128 KiB is refused as the
    // pool refuses it (a fault of the relayer's, counted toward its ban), before it is decoded.
    const items = 200_000;
    const big = new Uint8Array(4 + items).fill(1);
    big.set([2, 0xfa, items >> 16, (items >> 8) & 0xff, items & 0xff]);
    expect(await validate(big)).toBe('invalid'); // was a decode of 200,000 items, then "cannot be decoded"
    // 20,000 lists in each other (60 KB): the decoder recursed 0.5 s before overflowing its stack
    const headers: number[] = [];
    for (let i = 0, inner = 0; i < 20_000; i++) {
      const h = inner < 56 ? [0xc0 + inner] : inner < 256 ? [0xf8, inner] : [0xf9, inner >> 8, inner & 0xff];
      headers.unshift(...h);
      inner += h.length;
    }
    const deep = await validate(Uint8Array.from([2, ...headers]));
    expect(deep).toBeInstanceOf(MessageError);
    expect((deep as Error).message).toBe('gossiped transaction cannot be decoded: lists nested deeper than 4');
    expect(await validate(transfer(src.chain, 1n))).toBe('accepted');
  }, 30_000);

  it('a peer gossiping a malformed batch is banned, and nothing of it reaches the pool', async () => {
    const src = await chainWithBlocks(1);
    cleanup.push(() => src.close());
    const chains = [await openTestChain(src.genesis), await openTestChain(src.genesis)];
    for (const c of chains) cleanup.push(() => c.close());
    const a = await node(src.chain);
    const b = await node(chains[0]!.chain, { bootnodes: [a.addr] });
    const evil = await node(chains[1]!.chain, { bootnodes: [a.addr] });
    await until(() => a.net.peerCount() === 2 && b.net.peerCount() === 1 && evil.net.peerCount() === 1, 'connected');
    await new Promise((r) => setTimeout(r, 1500));
    const good = transfer(src.chain, 1n);
    const nested = RLP.encode([good, [new Uint8Array([1])]]);
    await evil.net.host.services.pubsub.publish(gossipTopics(src.chain.genesisHash).txBatches, nested);
    await until(() => a.net.peerManager.banned(idOf(evil.addr)) !== undefined, 'evil banned');
    expect(a.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/malformed transaction batch/);
    expect([...a.txpool.pending()]).toEqual([]);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
  }, 30_000);
});
