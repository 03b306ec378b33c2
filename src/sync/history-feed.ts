import type { PeerId } from '@libp2p/interface';
import type { FeedBlock, HistoryFeed } from '../backup/repository/backfill.js';
import { blockHash } from '../consensus/ibft/hash.js';
import type { Host } from '../p2p/host.js';
import { MAX_BLOCKS_PER_REQUEST, MessageError } from '../p2p/messages.js';
import type { ReadyPeer } from '../p2p/peers.js';
import type { BlockRules } from '../storage/block-store.js';
import { BLOCKS_TIMEOUT_MS, fetchBlocks, fetchReceipts } from './block-protocol.js';

/** A peer that had nothing at a block (its history starts later, or it did not answer) is not asked again for this long. */
const ASIDE_MS = 60_000;
/** With no peer to ask, the feed waits this long for one (a node that just started is still connecting). */
const PEER_WAIT_MS = 30_000;

export interface PeerHistoryOptions {
  /** Each request's time (default BLOCKS_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How long a peer without the blocks is passed over (default ASIDE_MS). */
  asideMs?: number;
  /** How long to wait for a peer to ask before the feed gives up (default PEER_WAIT_MS). */
  peerWaitMs?: number;
}

/**
 * The back-fill's peer source: blocks (`blocks/1`) and their receipts (`receipts/1`) from the ready
 * peers whose head is past the block asked for, one request of each at a time, 64 blocks at most.
 * A peer whose answer cannot be read or breaks the protocol is dropped (punished); one that has
 * nothing there (a node restored at its head holds no history below it, or not yet) or does not
 * answer in time is passed over for a while; one whose block the back-fill refuses (not the
 * chain's header, contents that do not match it) is dropped through FeedBlock.refuse. With no peer
 * left to ask, the feed throws and the back-fill tries again later.
 */
export class PeerHistoryFeed implements HistoryFeed {
  readonly name = 'peers';
  private readonly aside = new Map<string, number>();

  constructor(
    private readonly host: Host,
    private readonly peers: { peers(): ReadyPeer[]; punish(peer: PeerId, reason: string): void },
    private readonly chain: { genesisHash: Uint8Array; rules: BlockRules },
    private readonly opts: PeerHistoryOptions = {},
  ) {}

  async *blocks(from: bigint, to: bigint, signal: AbortSignal): AsyncGenerator<FeedBlock> {
    let next = from;
    while (next <= to && !signal.aborted) {
      const peer = await this.waitForPeer(next, signal);
      if (peer === undefined) {
        if (signal.aborted) return;
        throw new Error(`no peer serves block ${next} (${this.peers.peers().length} connected)`);
      }
      const count = to - next + 1n < BigInt(MAX_BLOCKS_PER_REQUEST) ? Number(to - next + 1n) : MAX_BLOCKS_PER_REQUEST;
      let got: FeedBlock[];
      try {
        got = await this.fetch(peer, next, count, signal);
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

  /** A ready peer whose head is at or past `n`, not passed over: the one with the highest head. */
  private pick(n: bigint): ReadyPeer | undefined {
    const now = Date.now();
    let best: ReadyPeer | undefined;
    for (const p of this.peers.peers()) {
      if (p.head < n || (this.aside.get(p.id.toString()) ?? 0) > now) continue;
      if (best === undefined || p.head > best.head) best = p;
    }
    return best;
  }

  private setAside(peer: ReadyPeer): void {
    if (this.aside.size > 1024) this.aside.clear(); // peers that left; bounded
    this.aside.set(peer.id.toString(), Date.now() + (this.opts.asideMs ?? ASIDE_MS));
  }

  /** Blocks `from`.. and their receipts from `peer`: as many as both answers hold. */
  private async fetch(peer: ReadyPeer, from: bigint, count: number, signal: AbortSignal): Promise<FeedBlock[]> {
    const timeoutMs = this.opts.timeoutMs ?? BLOCKS_TIMEOUT_MS;
    const [blocks, receipts] = await Promise.all([
      fetchBlocks(this.host, peer.id, this.chain.genesisHash, this.chain.rules, from, count, timeoutMs, signal),
      fetchReceipts(this.host, peer.id, this.chain.genesisHash, from, count, timeoutMs, signal),
    ]);
    const refuse = (reason: string) => this.peers.punish(peer.id, `sent history that is not the chain's: ${reason}`);
    return blocks.slice(0, Math.min(blocks.length, receipts.length)).map((block, i) => ({
      number: block.header.number,
      hash: blockHash(block.header),
      block,
      receiptsRlp: receipts[i]!,
      where: `from peer ${peer.id.toString()}`,
      refuse,
    }));
  }
}
