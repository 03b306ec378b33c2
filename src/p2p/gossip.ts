import type { PeerId } from '@libp2p/interface';
import { bytesToHex } from '@ethereumjs/util';
import type { Host } from './host.js';
import {
  MAX_GOSSIP_BYTES,
  MAX_IBFT_GOSSIP_BYTES,
  MAX_TXS_PER_BATCH,
  MessageError,
  decodeAnnouncement,
  decodeTxBatch,
  encodeAnnouncement,
  encodeTxBatch,
  type HeadAnnouncement,
} from './messages.js';

export interface GossipTopics {
  blocks: string;
  /** One transaction a message: what nodes before batches publish (still read, and written for them). */
  txs: string;
  /** Transactions in batches (`encodeTxBatch`). */
  txBatches: string;
  ibft: string;
  recall: string;
}

/** Gossip topics, bound to the chain's genesis hash: another chain's nodes never share them. */
export function gossipTopics(genesisHash: Uint8Array): GossipTopics {
  const g = bytesToHex(genesisHash);
  return {
    blocks: `/basalt/${g}/blocks/1`,
    txs: `/basalt/${g}/txs/1`,
    txBatches: `/basalt/${g}/txs/2`,
    ibft: `/basalt/${g}/ibft/1`,
    recall: `/basalt/${g}/ibft-recall/1`,
  };
}

/** How long a transaction to publish waits for others to share its message. */
export const TX_BATCH_DELAY_MS = 50;
/** A batch is sent once this many bytes wait (a batch of one transaction of the largest size still fits a message). */
const TX_BATCH_BYTES = 64 * 1024;

/** What became of a gossip message: forwarded (accept), dropped (ignore), or dropped with a penalty (reject). */
export type GossipVerdict = 'accept' | 'ignore' | 'reject';

export interface GossipHandlers {
  /** Only messages relayed by peers that passed the handshake are handled. */
  isReady(peer: PeerId): boolean;
  /** `origin` announced its own head (a relayer may not hold that block yet: it is not credited). */
  onHead(origin: PeerId, head: HeadAnnouncement): void;
  /**
   * 'accept' when the pool took it; 'ignore' when it refused it (already known, nonce, funds);
   * 'reject' when it is invalid. A batch is forwarded whole only when the pool took all of it (see
   * `receiveTxBatch`); otherwise what the pool took, the node publishes itself.
   */
  onTx(peer: PeerId, raw: Uint8Array): Promise<GossipVerdict>;
  /**
   * An IBFT message: 'accept' (relay it) only when it decodes and is signed by a validator of a
   * height being decided; 'ignore' for one that is merely stale; a MessageError for one nobody honest
   * would relay. Without a handler (not a validator) the topic is relayed by nobody: 'ignore'.
   */
  onConsensus?(peer: PeerId, data: Uint8Array): GossipVerdict;
  /** An IBFT recall request or answer (p2p/ibft-recall.ts): relayed by every node that checked it. */
  onRecall?(peer: PeerId, data: Uint8Array): GossipVerdict;
  onBadPeer(peer: PeerId, reason: string): void;
}

interface GossipMessageEvent {
  propagationSource: PeerId;
  msgId: string;
  msg: { topic: string; data: Uint8Array; from?: PeerId };
}

/**
 * Head announcements and transactions over gossipsub, with validation before forwarding
 * (`asyncValidation`): a node relays only what it checked, so the peer a bad message came from is
 * the one that made it, and is banned. Transactions are never forwarded in a peer's message: each node
 * publishes the ones its pool took, in messages of its own.
 */
export class Gossip {
  private readonly topics: GossipTopics;
  /** Transactions waiting to be published in one batch, and their bytes. */
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private batchTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: Host,
    genesisHash: Uint8Array,
    private readonly handlers: GossipHandlers,
  ) {
    this.topics = gossipTopics(genesisHash);
  }

  start(): void {
    const pubsub = this.host.services.pubsub;
    pubsub.subscribe(this.topics.blocks);
    pubsub.subscribe(this.topics.txs);
    pubsub.subscribe(this.topics.txBatches);
    pubsub.subscribe(this.topics.ibft);
    pubsub.subscribe(this.topics.recall);
    pubsub.addEventListener('gossipsub:message' as 'message', this.onMessage as unknown as (e: Event) => void);
  }

  stop(): void {
    const pubsub = this.host.services.pubsub;
    pubsub.removeEventListener('gossipsub:message' as 'message', this.onMessage as unknown as (e: Event) => void);
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.batch = [];
    this.batchBytes = 0;
  }

  private readonly onMessage = (e: CustomEvent<GossipMessageEvent>): void => {
    const { propagationSource: peer, msgId } = e.detail;
    void this.verdict(e.detail).then((v) => {
      const pubsub = this.host.services.pubsub as unknown as { reportMessageValidationResult?(id: string, from: string, v: string): void };
      pubsub.reportMessageValidationResult?.(msgId, peer.toString(), v);
    });
  };

  private async verdict({ propagationSource: peer, msg }: GossipMessageEvent): Promise<GossipVerdict> {
    if (!this.handlers.isReady(peer)) return 'ignore';
    try {
      if (msg.topic === this.topics.recall) return this.handlers.onRecall?.(peer, msg.data) ?? 'ignore';
      if (msg.topic === this.topics.ibft) {
        if (msg.data.length > MAX_IBFT_GOSSIP_BYTES) throw new MessageError(`IBFT message of ${msg.data.length} bytes, more than ${MAX_IBFT_GOSSIP_BYTES}`);
        return this.handlers.onConsensus?.(peer, msg.data) ?? 'ignore';
      }
      if (msg.data.length > MAX_GOSSIP_BYTES) throw new MessageError(`gossip message of ${msg.data.length} bytes, more than ${MAX_GOSSIP_BYTES}`);
      if (msg.topic === this.topics.blocks) {
        const head = decodeAnnouncement(msg.data);
        // A head is of use only from a peer this node can ask for blocks: one whose publisher is not a
        // ready peer here is not taken and not relayed (relayed, any peer could make every node check a
        // flood of announcements signed by fresh keys; an announcement travels one hop, from its node to
        // that node's peers).
        if (msg.from === undefined || !this.handlers.isReady(msg.from)) return 'ignore';
        this.handlers.onHead(msg.from, head);
        return 'accept';
      }
      if (msg.topic === this.topics.txBatches) return await this.receiveTxBatch(peer, msg.data);
      if (msg.topic === this.topics.txs) return await this.handlers.onTx(peer, msg.data); // one transaction: forwarded when taken
      return 'ignore';
    } catch (err) {
      if (!(err instanceof MessageError)) return 'ignore';
      this.handlers.onBadPeer(peer, err.message);
      return 'reject';
    }
  }

  announceHead(head: HeadAnnouncement): void {
    this.publish(this.topics.blocks, encodeAnnouncement(head));
  }

  publishConsensus(msg: Uint8Array): void {
    this.publish(this.topics.ibft, msg);
  }

  publishRecall(msg: Uint8Array): void {
    this.publish(this.topics.recall, msg);
  }

  /**
   * A batch is forwarded as it is only when its every transaction went into the pool: the node checked
   * all of it, and one message is verified once by each node, where a node republishing what it took
   * would cost every neighbour a signature a batch. Otherwise it is rejected (counted against the peer)
   * when any transaction is invalid or does not decode, ignored otherwise, and the ones the pool took go
   * out in this node's own batch (`publishTx`): a batch forwarded whole whenever any one transaction was
   * taken carried whatever else its sender put in it, and one valid transaction ahead of 127 that cannot
   * execute got every honest node on its path banned by the next one. The pool's 'added' event does not
   * publish what came by gossip (`onTx`'s `taken` is how the node publishes it, here). Each transaction
   * passes the intake's per-peer rate and queue as a single one does.
   */
  private async receiveTxBatch(peer: PeerId, data: Uint8Array): Promise<GossipVerdict> {
    const raws = decodeTxBatch(data);
    const verdicts = await Promise.all(raws.map((raw) => this.handlers.onTx(peer, raw)));
    if (verdicts.length > 0 && verdicts.every((v) => v === 'accept')) return 'accept';
    for (const [i, v] of verdicts.entries()) if (v === 'accept') this.publishTx(raws[i]!);
    return verdicts.includes('reject') ? 'reject' : 'ignore';
  }

  /**
   * Publish a transaction this node's pool took, from a client or from a peer's gossip (which is not
   * forwarded: `receiveTxBatch`); one the pool already held is not taken again, so none goes back and forth.
   * Transactions published within TX_BATCH_DELAY_MS of each other share one message: gossipsub signs
   * each message, and each node that first sees one parses its publisher's key in JavaScript (~2 ms
   * with four validators on two cores) and verifies its signature. A peer that reads only the
   * single-transaction topic (an earlier version) gets each one as before.
   */
  publishTx(raw: Uint8Array): void {
    const pubsub = this.host.services.pubsub;
    const batchReaders = pubsub.getSubscribers(this.topics.txBatches);
    const singleReaders = pubsub.getSubscribers(this.topics.txs);
    if (singleReaders.length > 0) {
      const reads = new Set(batchReaders.map((p) => p.toString()));
      if (singleReaders.some((p) => !reads.has(p.toString()))) this.publish(this.topics.txs, raw);
    }
    // Nobody to send it to (a node alone): gossipsub would still sign and encode the message.
    if (batchReaders.length === 0) return;
    if (this.batch.length > 0 && this.batchBytes + raw.length > TX_BATCH_BYTES) this.flushTxBatch();
    this.batch.push(raw);
    this.batchBytes += raw.length;
    if (this.batch.length >= MAX_TXS_PER_BATCH || this.batchBytes >= TX_BATCH_BYTES) this.flushTxBatch();
    else this.batchTimer ??= setTimeout(() => this.flushTxBatch(), TX_BATCH_DELAY_MS);
  }

  private flushTxBatch(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    const raws = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    if (raws.length === 0) return;
    try {
      this.publish(this.topics.txBatches, encodeTxBatch(raws));
    } catch {
      // Over a bound (a transaction larger than the pool takes): not gossiped, as before batches.
    }
  }

  private publish(topic: string, data: Uint8Array): void {
    this.host.services.pubsub.publish(topic, data).catch(() => undefined); // no peers yet: nothing to do
  }
}
