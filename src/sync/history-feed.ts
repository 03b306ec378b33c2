import type { Block } from '@ethereumjs/block';
import type { PeerId } from '@libp2p/interface';
import type { FeedBlock, HistoryFeed } from '../backup/repository/backfill.js';
import { IbftExtraError } from '../consensus/ibft/extra.js';
import { blockHash } from '../consensus/ibft/hash.js';
import type { Host } from '../p2p/host.js';
import { MAX_BLOCKS_PER_REQUEST, MessageError } from '../p2p/messages.js';
import type { ReadyPeer } from '../p2p/peers.js';
import type { BlockRules } from '../storage/block-store.js';
import { type AnswerSize, BLOCKS_TIMEOUT_MS, fetchHistory, slowAnswer } from './block-protocol.js';

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
  answered: AnswerSize,
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

/** Requests in flight at once, over all peers: what the feed holds is at most this many answers. */
export const MAX_REQUESTS_IN_FLIGHT = 4;
/** Requests in flight to one peer (its server answers two at a time). */
const PER_PEER = 2;

/**
 * The back-fill's peer source: blocks with their receipts (`history/1`, streams apart from block
 * sync's `blocks/1`) from the ready peers whose head is past the block asked for, 64 blocks a request.
 * Up to MAX_REQUESTS_IN_FLIGHT consecutive ranges are asked at once, each of a peer with fewer than
 * two requests in flight (the least busy, then the highest head), while the back-fill checks the
 * blocks before them: with several peers, several answer at once; alone, one peer is asked one range
 * ahead. Blocks are given in order, each once.
 * A peer whose answer cannot be read or breaks the protocol is dropped (punished), as is one that
 * sends a block whose header is not the chain's (its hash checked before its body is decoded) or whose
 * transactions are more than its header's gas used pays for (fetchHistory); one that has
 * nothing there (a node restored at its head holds no history below it, or not yet) or does not
 * answer in time is passed over for a while, and its range asked of another; the part of a range a
 * peer did not send (it stopped at its size limit or its head) is asked again. One whose block the
 * back-fill refuses (not the chain's header, contents that do not match it) is dropped through
 * FeedBlock.refuse. A peer that answers, but slower than `slowMs` a request, or with a part of the
 * range at a pace at which all of it would take longer than `slowMs` (one block a request just under
 * it), is marked slow for a while: its answer is used, and it is asked only while no other peer can be (a peer that then fails
 * is passed over, and the slow one asked again), so one slow peer does not set the pace while a
 * faster one is there and never stalls the back-fill. With no peer left to ask, the feed throws and
 * the back-fill tries again later.
 */
export class PeerHistoryFeed implements HistoryFeed {
  readonly name = 'peers';
  private readonly aside = new Map<string, number>();
  /** Peers that answered slower than slowMs, until when: asked only while no other peer can be. */
  private readonly slow = new Map<string, number>();

  constructor(
    private readonly host: Host,
    private readonly peers: { peers(): ReadyPeer[]; punish(peer: PeerId, reason: string): void },
    /** `canonicalHash`: the chain's block at a height, whose header the node holds (what each block a peer sends must hash to). */
    private readonly chain: { genesisHash: Uint8Array; rules: BlockRules; canonicalHash(n: bigint): Promise<Uint8Array | undefined> },
    private readonly opts: PeerHistoryOptions = {},
  ) {}

  async *blocks(from: bigint, to: bigint, signal: AbortSignal): AsyncGenerator<FeedBlock> {
    const countFrom = (n: bigint) => (to - n + 1n < BigInt(MAX_BLOCKS_PER_REQUEST) ? Number(to - n + 1n) : MAX_BLOCKS_PER_REQUEST);
    /** The ranges asked (or to ask again), in order from `next`. */
    const ranges: Range[] = [];
    const inFlight = new Map<string, number>();
    let asked = from;
    const ask = (r: Range, peer: ReadyPeer) => {
      const id = peer.id.toString();
      inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
      r.peer = peer;
      r.answer = this.fetch(peer, r.from, r.count, signal).then(
        (a): Outcome => a,
        (err: unknown): Outcome => ({ err }),
      );
      r.settled = false;
      void r.answer.then(() => {
        r.settled = true;
        inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
      });
    };
    // Ranges waiting for a peer first (asked again), then new ones, while a peer can take one.
    const assign = () => {
      for (const r of ranges) {
        if (r.answer !== undefined) continue;
        const peer = this.pick(r.from, inFlight);
        if (peer === undefined) return;
        ask(r, peer);
      }
      while (ranges.length < MAX_REQUESTS_IN_FLIGHT && asked <= to) {
        const peer = this.pick(asked, inFlight);
        if (peer === undefined) return;
        const r: Range = { from: asked, count: countFrom(asked) };
        asked += BigInt(r.count);
        ranges.push(r);
        ask(r, peer);
      }
    };
    let next = from;
    while (next <= to && !signal.aborted) {
      assign();
      const head = ranges[0];
      if (head?.answer === undefined) {
        // No peer for the next range now: wait for a request in flight to end, or for a peer to come.
        const pending = ranges.filter((r) => r.answer !== undefined && !r.settled).map((r) => r.answer!);
        if (pending.length > 0) await Promise.race(pending);
        else if ((await this.waitForPeer(next, signal)) === undefined) {
          if (signal.aborted) return;
          throw new Error(`no peer serves block ${next} (${this.peers.peers().length} connected)`);
        }
        continue;
      }
      const outcome = await head.answer;
      const peer = head.peer!;
      head.answer = undefined;
      if ('err' in outcome) {
        if (signal.aborted) return;
        if (outcome.err instanceof MessageError) this.peers.punish(peer.id, `history: ${outcome.err.message}`);
        else this.setAside(peer);
        continue;
      }
      const got = outcome.blocks;
      if (got.length === 0) {
        this.setAside(peer);
        continue;
      }
      // Slow: its blocks are used, and it is asked again only while no faster peer can be (pick). So is
      // a part of the range at a pace at which a whole answer would take longer (a block a request just
      // under slowMs; a part cut at the answer size limit is a whole answer).
      if (slowAnswer(head.count, got.length, outcome.bytes, outcome.ms, this.opts.slowMs ?? SLOW_MS)) this.markSlow(peer);
      // What it did not send is asked again; the ranges after are asked before these blocks are checked.
      if (got.length < head.count) {
        head.from += BigInt(got.length);
        head.count -= got.length;
      } else ranges.shift();
      assign();
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
   * A ready peer whose head is at or past `n`, not passed over, with fewer than PER_PEER requests in
   * flight (the least busy, then the highest head): among those not marked slow; only when every such
   * peer is slow, among the slow ones (a slow peer is still better than none, but not better than
   * waiting for a faster one's request to end).
   */
  private pick(n: bigint, inFlight: ReadonlyMap<string, number> = new Map()): ReadyPeer | undefined {
    const now = Date.now();
    let anyFast = false;
    let best: ReadyPeer | undefined;
    let bestSlow: ReadyPeer | undefined;
    const busy = (p: ReadyPeer) => inFlight.get(p.id.toString()) ?? 0;
    const better = (p: ReadyPeer, than: ReadyPeer | undefined) => than === undefined || busy(p) < busy(than) || (busy(p) === busy(than) && p.head > than.head);
    for (const p of this.peers.peers()) {
      if (p.head < n || (this.aside.get(p.id.toString()) ?? 0) > now) continue;
      const slow = (this.slow.get(p.id.toString()) ?? 0) > now;
      if (!slow) anyFast = true;
      if (busy(p) >= PER_PEER) continue;
      if (slow) {
        if (better(p, bestSlow)) bestSlow = p;
      } else if (better(p, best)) best = p;
    }
    return anyFast ? best : bestSlow;
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
    const answered: AnswerSize = { bytes: 0 };
    const got = this.opts.fetch
      ? await this.opts.fetch(peer.id, from, count, timeoutMs, signal, answered)
      : await fetchHistory(
          this.host,
          peer.id,
          this.chain.genesisHash,
          this.chain.rules,
          (n) => this.chain.canonicalHash(n),
          from,
          count,
          timeoutMs,
          signal,
          answered,
        );
    const ms = Date.now() - began;
    const refuse = (reason: string) => this.peers.punish(peer.id, `sent history that is not the chain's: ${reason}`);
    const blocks = got.map(({ block, receiptsRlp }) => ({
      number: block.header.number,
      hash: hashOf(block),
      block,
      receiptsRlp,
      where: `from peer ${peer.id.toString()}`,
      refuse,
    }));
    return { blocks, ms, bytes: answered.bytes };
  }
}

/** A peer's block's hash; a MessageError (its peer is punished) where its IBFT extra data does not decode. */
function hashOf(block: Block): Uint8Array {
  try {
    return blockHash(block.header);
  } catch (err) {
    if (!(err instanceof IbftExtraError)) throw err;
    throw new MessageError(`block ${block.header.number} from the peer has malformed IBFT extra data: ${err.message}`);
  }
}

/** A request's blocks, its time and its size. */
interface Answer {
  blocks: FeedBlock[];
  ms: number;
  bytes: number;
}

/** A request's answer, or why it failed. */
type Outcome = Answer | { err: unknown };

/** Blocks from..from+count-1, and the request for them (none: to be asked of a peer). */
interface Range {
  from: bigint;
  count: number;
  peer?: ReadyPeer;
  answer?: Promise<Outcome>;
  /** The answer is in (the peer's request no longer counts as in flight). */
  settled?: boolean;
}
