import type { Block } from '@ethereumjs/block';
import type { PeerId } from '@libp2p/interface';
import type { FeedBlock, HistoryFeed } from '../backup/repository/backfill.js';
import { blockHash } from '../consensus/ibft/hash.js';
import type { Host } from '../p2p/host.js';
import { MAX_BLOCKS_PER_REQUEST, MessageError } from '../p2p/messages.js';
import type { ReadyPeer } from '../p2p/peers.js';
import type { BlockRules } from '../storage/block-store.js';
import { BLOCKS_TIMEOUT_MS, fetchHistory } from './block-protocol.js';

/** A peer that had nothing at a block (its history starts later, or it did not answer) is not asked again for this long. */
const ASIDE_MS = 60_000;
/** With no peer to ask, the feed waits this long for one (a node that just started is still connecting). */
const PEER_WAIT_MS = 30_000;
/** A request answered slower than this is slow: its peer is passed over while another can be asked. */
const SLOW_MS = 5_000;

/** Blocks with their receipts from one peer (fetchHistory; tests give another). */
export type HistoryFetch = (
  peer: PeerId,
  from: bigint,
  count: number,
  timeoutMs: number,
  signal: AbortSignal,
) => Promise<{ block: Block; receiptsRlp: Uint8Array }[]>;

export interface PeerHistoryOptions {
  /** Each request's time (default BLOCKS_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How long a peer without the blocks is passed over (default ASIDE_MS). */
  asideMs?: number;
  /** How long to wait for a peer to ask before the feed gives up (default PEER_WAIT_MS). */
  peerWaitMs?: number;
  /** A request answered slower than this sets its peer aside while another peer can be asked (default SLOW_MS). */
  slowMs?: number;
  /** Tests: how a request is made (default fetchHistory over `history/1`). */
  fetch?: HistoryFetch;
}

/**
 * The back-fill's peer source: blocks with their receipts (`history/1`, streams apart from block
 * sync's `blocks/1`) from the ready peers whose head is past the block asked for, 64 blocks a request, the next range asked of the same
 * peer while the back-fill checks the one before.
 * A peer whose answer cannot be read or breaks the protocol is dropped (punished); one that has
 * nothing there (a node restored at its head holds no history below it, or not yet) or does not
 * answer in time is passed over for a while; one whose block the back-fill refuses (not the
 * chain's header, contents that do not match it) is dropped through FeedBlock.refuse. A peer that
 * answers, but slower than `slowMs` a request, is marked slow for a while: its answer is used, and it
 * is asked only while no other peer can be (a peer that then fails is passed over, and the slow one
 * asked again), so one slow peer does not set the pace while a faster one is there and never stalls
 * the back-fill. With no peer left to ask, the feed throws and the back-fill tries again later.
 */
export class PeerHistoryFeed implements HistoryFeed {
  readonly name = 'peers';
  private readonly aside = new Map<string, number>();
  /** Peers that answered slower than slowMs, until when: asked only while no other peer can be. */
  private readonly slow = new Map<string, number>();

  constructor(
    private readonly host: Host,
    private readonly peers: { peers(): ReadyPeer[]; punish(peer: PeerId, reason: string): void },
    private readonly chain: { genesisHash: Uint8Array; rules: BlockRules },
    private readonly opts: PeerHistoryOptions = {},
  ) {}

  async *blocks(from: bigint, to: bigint, signal: AbortSignal): AsyncGenerator<FeedBlock> {
    const countFrom = (n: bigint) => (to - n + 1n < BigInt(MAX_BLOCKS_PER_REQUEST) ? Number(to - n + 1n) : MAX_BLOCKS_PER_REQUEST);
    // The next range is asked of the same peer while the back-fill checks this one: one request ahead.
    let ahead: { peer: ReadyPeer; from: bigint; answer: Promise<Answer> } | undefined;
    let next = from;
    while (next <= to && !signal.aborted) {
      let peer: ReadyPeer | undefined;
      let answer: Promise<Answer>;
      if (ahead?.from === next) {
        ({ peer, answer } = ahead);
      } else {
        peer = await this.waitForPeer(next, signal);
        if (peer === undefined) {
          if (signal.aborted) return;
          throw new Error(`no peer serves block ${next} (${this.peers.peers().length} connected)`);
        }
        answer = this.fetch(peer, next, countFrom(next), signal);
      }
      ahead = undefined;
      let got: FeedBlock[];
      let slow = false;
      try {
        const a = await answer;
        got = a.blocks;
        slow = a.ms > (this.opts.slowMs ?? SLOW_MS);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof MessageError) this.peers.punish(peer.id, `history: ${err.message}`);
        else this.setAside(peer);
        continue;
      }
      if (got.length === 0) {
        this.setAside(peer);
        continue;
      }
      const after = next + BigInt(got.length);
      // Slow: its blocks are used, and it is asked again only while no faster peer can be (pick).
      if (slow) this.markSlow(peer);
      if (after <= to && this.pick(after)?.id.equals(peer.id)) {
        ahead = { peer, from: after, answer: this.fetch(peer, after, countFrom(after), signal) };
        ahead.answer.catch(() => undefined); // awaited on the next turn, or dropped if the back-fill stops reading
      }
      for (const b of got) {
        yield b;
        next++;
      }
    }
  }

  /** A peer to ask for block `n` (pick), waiting up to peerWaitMs for one; undefined if none came (or `signal` aborted). */
  private async waitForPeer(n: bigint, signal: AbortSignal): Promise<ReadyPeer | undefined> {
    const deadline = Date.now() + (this.opts.peerWaitMs ?? PEER_WAIT_MS);
    for (;;) {
      const peer = this.pick(n);
      if (peer !== undefined || signal.aborted || Date.now() >= deadline) return peer;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, 250);
        signal.addEventListener('abort', done);
      });
    }
  }

  /**
   * A ready peer whose head is at or past `n`, not passed over: the one with the highest head among
   * those not marked slow, else among the slow ones (a slow peer is still better than none).
   */
  private pick(n: bigint): ReadyPeer | undefined {
    const now = Date.now();
    let best: ReadyPeer | undefined;
    let bestSlow: ReadyPeer | undefined;
    for (const p of this.peers.peers()) {
      if (p.head < n || (this.aside.get(p.id.toString()) ?? 0) > now) continue;
      if ((this.slow.get(p.id.toString()) ?? 0) > now) {
        if (bestSlow === undefined || p.head > bestSlow.head) bestSlow = p;
      } else if (best === undefined || p.head > best.head) best = p;
    }
    return best ?? bestSlow;
  }

  private markSlow(peer: ReadyPeer): void {
    if (this.slow.size > 1024) this.slow.clear(); // peers that left; bounded
    this.slow.set(peer.id.toString(), Date.now() + (this.opts.asideMs ?? ASIDE_MS));
  }

  private setAside(peer: ReadyPeer): void {
    if (this.aside.size > 1024) this.aside.clear(); // peers that left; bounded
    this.aside.set(peer.id.toString(), Date.now() + (this.opts.asideMs ?? ASIDE_MS));
  }

  /** Blocks `from`.. with their receipts from `peer`, and how long the request took. */
  private async fetch(peer: ReadyPeer, from: bigint, count: number, signal: AbortSignal): Promise<Answer> {
    const began = Date.now();
    const timeoutMs = this.opts.timeoutMs ?? BLOCKS_TIMEOUT_MS;
    const got = this.opts.fetch
      ? await this.opts.fetch(peer.id, from, count, timeoutMs, signal)
      : await fetchHistory(this.host, peer.id, this.chain.genesisHash, this.chain.rules, from, count, timeoutMs, signal);
    const ms = Date.now() - began;
    const refuse = (reason: string) => this.peers.punish(peer.id, `sent history that is not the chain's: ${reason}`);
    const blocks = got.map(({ block, receiptsRlp }) => ({
      number: block.header.number,
      hash: blockHash(block.header),
      block,
      receiptsRlp,
      where: `from peer ${peer.id.toString()}`,
      refuse,
    }));
    return { blocks, ms };
  }
}

/** A request's blocks and its time. */
interface Answer {
  blocks: FeedBlock[];
  ms: number;
}
