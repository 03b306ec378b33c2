import type { PeerId } from '@libp2p/interface';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadyPeer } from '../../../src/p2p/peers.js';
import type { Host } from '../../../src/p2p/host.js';
import { MessageError, SOFT_RESPONSE_BYTES } from '../../../src/p2p/messages.js';
import { type HistoryFetch, MAX_REQUESTS_IN_FLIGHT, PeerHistoryFeed } from '../../../src/sync/history-feed.js';
import { blockWithHeader, headerWithExtraData } from '../../../src/chain/block-util.js';
import { createTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';

/** The peer source of the back-fill, with requests answered from a local chain: which peer is asked for what. */
let t: TestChain;
beforeAll(async () => {
  t = await createTestChain(1);
  for (let i = 0; i < 260; i++) await sealNext(t);
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

  it('a peer sending one block a request just under slowMs is slow too (at its pace a range would take longer): passed over for a faster one', async () => {
    const asked: string[] = [];
    const drip = fetcher(new Set(['drip']), 250, asked);
    const fetch: HistoryFetch = (id, from, count, timeoutMs, signal, answered) =>
      drip(id, from, id.toString() === 'drip' ? 1 : count, timeoutMs, signal, answered);
    const peers = [peer('drip', 1_000_000n), peer('fast', 250n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish }, t.chain, { slowMs: 300, fetch });
    expect(await read(feed, 1n, 250n)).toEqual(Array.from({ length: 250 }, (_, i) => BigInt(i + 1)));
    // Its first two requests (it has the highest head), and none once the first answer came.
    expect(asked.filter((a) => a.startsWith('drip@'))).toEqual(['drip@1', 'drip@129']);
  });

  it('a peer whose answers are parts cut at the answer size limit (large blocks) is judged by its pace in bytes, not as one sending a block a request', async () => {
    const asked: string[] = [];
    const big = fetcher(new Set(['big']), 250, asked);
    // Each answer one block, as with blocks of 4 MiB: a whole answer by size, in 250 ms of the 300 allowed.
    const fetch: HistoryFetch = async (id, from, count, timeoutMs, signal, answered) => {
      if (id.toString() !== 'big') return big(id, from, count, timeoutMs, signal, answered);
      const out = await big(id, from, 1, timeoutMs, signal, answered);
      answered.bytes = SOFT_RESPONSE_BYTES;
      return out;
    };
    const peers = [peer('big', 1_000_000n), peer('fast', 250n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish }, t.chain, { slowMs: 300, fetch });
    expect(await read(feed, 1n, 250n)).toEqual(Array.from({ length: 250 }, (_, i) => BigInt(i + 1)));
    // Not slow: asked again after its first answers, not only its first two requests.
    expect(asked.filter((a) => a.startsWith('big@')).length).toBeGreaterThan(2);
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

  it('two fast peers: both asked at once, the least busy first, then the highest head', async () => {
    const asked: string[] = [];
    const peers = [peer('a', 200n), peer('b', 150n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish }, t.chain, { slowMs: 5_000, fetch: fetcher(new Set(), 0, asked) });
    expect(await read(feed, 1n, 130n)).toEqual(Array.from({ length: 130 }, (_, i) => BigInt(i + 1)));
    expect(asked).toEqual(['a@1', 'b@65', 'a@129']);
  });
});

describe('the back-fill asking several peers at once', () => {
  const host = {} as Host;
  const all = (n: number) => Array.from({ length: n }, (_, i) => BigInt(i + 1));

  /** Answers after `delayMs`, recording how many requests are in flight, in all and to each peer. */
  function concurrent(
    delayMs: number,
    seen: { max: number; maxPerPeer: number },
    behave: (id: string, from: bigint, count: number) => number | Error = (_, __, c) => c,
  ) {
    let now = 0;
    const per = new Map<string, number>();
    return async (id: PeerId, from: bigint, count: number) => {
      const name = id.toString();
      now++;
      per.set(name, (per.get(name) ?? 0) + 1);
      seen.max = Math.max(seen.max, now);
      seen.maxPerPeer = Math.max(seen.maxPerPeer, per.get(name)!);
      try {
        await new Promise((r) => setTimeout(r, delayMs));
        const give = behave(name, from, count);
        if (give instanceof Error) throw give;
        const out = [];
        for (let n = from; n < from + BigInt(give); n++) {
          out.push({ block: (await t.chain.blockByNumber(n))!, receiptsRlp: (await t.chain.store.storedBlock(n)).receiptsRlp });
        }
        return out;
      } finally {
        now--;
        per.set(name, per.get(name)! - 1);
      }
    };
  }

  it(`asks up to ${MAX_REQUESTS_IN_FLIGHT} ranges at once over three peers, never more than two of one peer, and gives every block once, in order`, async () => {
    const seen = { max: 0, maxPerPeer: 0 };
    const peers = [peer('a', 300n), peer('b', 300n), peer('c', 300n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish: () => undefined }, t.chain, { fetch: concurrent(30, seen) });
    expect(await read(feed, 1n, 260n)).toEqual(all(260)); // five ranges
    expect(seen.max).toBe(MAX_REQUESTS_IN_FLIGHT);
    expect(seen.maxPerPeer).toBeLessThanOrEqual(2);
  });

  it('alone, one peer has two requests in flight (one range ahead), never more', async () => {
    const seen = { max: 0, maxPerPeer: 0 };
    const feed = new PeerHistoryFeed(host, { peers: () => [peer('a', 200n)], punish: () => undefined }, t.chain, { fetch: concurrent(20, seen) });
    expect(await read(feed, 1n, 130n)).toEqual(all(130));
    expect(seen.max).toBe(2);
  });

  it('the part of a range a peer did not send (its size limit) is asked again: every block once, in order', async () => {
    const seen = { max: 0, maxPerPeer: 0 };
    const asked: string[] = [];
    const peers = [peer('a', 200n), peer('b', 200n)];
    const feed = new PeerHistoryFeed(host, { peers: () => peers, punish: () => undefined }, t.chain, {
      fetch: concurrent(5, seen, (id, from, count) => {
        asked.push(`${id}@${from}+${count}`);
        return Math.min(count, 10);
      }),
    });
    expect(await read(feed, 1n, 130n)).toEqual(all(130));
    expect(asked).toContain('a@11+54'); // the rest of the first range
  });

  it('a range whose peer fails is asked of another, and the failing peer is passed over; one that breaks the protocol is punished', async () => {
    const seen = { max: 0, maxPerPeer: 0 };
    const asked: string[] = [];
    const punished: string[] = [];
    const peers = [peer('good', 200n), peer('down', 200n), peer('liar', 200n)];
    const feed = new PeerHistoryFeed(
      host,
      { peers: () => peers.filter((p) => !punished.includes(p.id.toString())), punish: (id) => punished.push(id.toString()) },
      t.chain,
      {
        fetch: concurrent(5, seen, (id, from, count) => {
          asked.push(`${id}@${from}`);
          if (id === 'down') return new Error('timed out');
          if (id === 'liar') return new MessageError('not a [block, receipts] pair');
          return count;
        }),
      },
    );
    expect(await read(feed, 1n, 130n)).toEqual(all(130));
    expect(punished).toEqual(['liar']);
    // Each failed range was asked again of the good peer; the peer that timed out was not asked twice.
    expect(asked.filter((a) => a.startsWith('down@'))).toHaveLength(1);
    for (const a of asked.filter((x) => !x.startsWith('good@'))) expect(asked).toContain(`good@${a.split('@')[1]}`);
  });

  it('a peer sending a block whose IBFT extra data does not decode is punished, and its range asked of another', async () => {
    const asked: string[] = [];
    const punished: string[] = [];
    const peers = [peer('garbler', 300n), peer('good', 200n)];
    const common = t.chain.commonAt(0n);
    const fetch: HistoryFetch = async (id, from, count) => {
      asked.push(`${id.toString()}@${from}`);
      const out = [];
      for (let n = from; n < from + BigInt(count); n++) {
        const b = (await t.chain.blockByNumber(n))!;
        const block = id.toString() === 'garbler' ? blockWithHeader(b, headerWithExtraData(b.header, new Uint8Array(10), common), common) : b;
        out.push({ block, receiptsRlp: (await t.chain.store.storedBlock(n)).receiptsRlp });
      }
      return out;
    };
    const feed = new PeerHistoryFeed(
      host,
      {
        peers: () => peers.filter((p) => !punished.some((x) => x.startsWith(`${p.id.toString()}:`))),
        punish: (id, reason) => punished.push(`${id.toString()}: ${reason}`),
      },
      t.chain,
      { fetch },
    );
    expect(await read(feed, 1n, 130n)).toEqual(all(130));
    // Both of its ranges in flight (1 and 129) fail so; the good peer gave every block.
    expect(punished[0]).toMatch(/^garbler: history: block 1 from the peer has malformed IBFT extra data/);
    expect(punished.every((x) => x.startsWith('garbler: history: block '))).toBe(true);
    expect(asked).toContain('good@1');
  });

  it('with no peer that has the blocks, it gives up after peerWaitMs with one line', async () => {
    const feed = new PeerHistoryFeed(host, { peers: () => [peer('short', 10n)], punish: () => undefined }, t.chain, {
      peerWaitMs: 300,
      fetch: concurrent(0, { max: 0, maxPerPeer: 0 }),
    });
    await expect(read(feed, 20n, 40n)).rejects.toThrow('no peer serves block 20 (1 connected)');
  });
});
