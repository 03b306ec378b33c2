import type { PeerId } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadyPeer } from '../../../src/p2p/peers.js';
import type { Host } from '../../../src/p2p/host.js';
import { type HistoryFetch, PeerHistoryFeed } from '../../../src/sync/history-feed.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';

/** The peer source of the back-fill, with requests answered from a local chain: which peer is asked for what. */
let t: TestChain;
beforeAll(async () => {
  t = await createTestChain(1);
  for (let i = 0; i < 130; i++) await sealNext(t);
});
afterAll(() => t?.close());

const peerId = (name: string) => ({ toString: () => name, equals: (o: { toString(): string }) => o.toString() === name }) as unknown as PeerId;
const peer = (name: string, head: bigint): ReadyPeer => ({
  id: peerId(name),
  head,
  headHash: new Uint8Array(32),
  address: '',
  direction: 'outbound',
  since: 0,
});

/** Answers from the test chain; `slow` peers take `delayMs` a request. Records each request as `peer@from`. */
function fetcher(slow: Set<string>, delayMs: number, asked: string[]): HistoryFetch {
  return async (id, from, count) => {
    asked.push(`${id.toString()}@${from}`);
    if (id.toString() === 'empty') return []; // a peer restored at its head: no history to give
    if (slow.has(id.toString())) await new Promise((r) => setTimeout(r, delayMs));
    const out = [];
    for (let n = from; n < from + BigInt(count); n++) {
      const block = (await t.chain.blockByNumber(n))!;
      out.push({ block, receiptsRlp: (await t.chain.store.storedBlock(n)).receiptsRlp });
    }
    return out;
  };
}

async function read(feed: PeerHistoryFeed, from: bigint, to: bigint): Promise<bigint[]> {
  const got: bigint[] = [];
  for await (const b of feed.blocks(from, to, new AbortController().signal)) got.push(b.number);
  return got;
}

describe('the back-fill asking peers: a slow peer does not set the pace', () => {
  const host = {} as Host;
  const punish = () => undefined;

  it('a peer slower than slowMs a request is passed over for a faster one (its blocks used), and every block comes in order', async () => {
    const asked: string[] = [];
    const peers = [peer('slow', 200n), peer('fast', 150n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish }, t.chain, { slowMs: 50, fetch: fetcher(new Set(['slow']), 150, asked) });
    expect(await read(feed, 1n, 128n)).toEqual(Array.from({ length: 128 }, (_, i) => BigInt(i + 1)));
    // The slow one has the highest head: asked first; then the fast one, and it is asked ahead.
    expect(asked).toEqual(['slow@1', 'fast@65']);
  });

  it('a slow peer is asked again when the faster one turns out to have nothing: the back-fill never stalls on the rule', async () => {
    const asked: string[] = [];
    const peers = [peer('slow', 200n), peer('empty', 150n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish }, t.chain, {
      slowMs: 50,
      peerWaitMs: 0,
      fetch: fetcher(new Set(['slow']), 100, asked),
    });
    expect(await read(feed, 1n, 128n)).toHaveLength(128);
    expect(asked).toEqual(['slow@1', 'empty@65', 'slow@65']);
  });

  it('alone, a slow peer is still asked (one request ahead), so the back-fill goes on at its pace', async () => {
    const asked: string[] = [];
    const feed = new PeerHistoryFeed(host, { peers: () => [peer('slow', 200n)], punish }, t.chain, {
      slowMs: 50,
      fetch: fetcher(new Set(['slow']), 100, asked),
    });
    expect(await read(feed, 1n, 128n)).toHaveLength(128);
    expect(asked).toEqual(['slow@1', 'slow@65']);
  });

  it('two fast peers: the one with the highest head serves, asked one request ahead', async () => {
    const asked: string[] = [];
    const peers = [peer('a', 200n), peer('b', 150n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish }, t.chain, { slowMs: 5_000, fetch: fetcher(new Set(), 0, asked) });
    expect(await read(feed, 1n, 130n)).toHaveLength(130);
    expect(asked).toEqual(['a@1', 'a@65', 'a@129']);
  });
});
