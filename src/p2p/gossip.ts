import type { PeerId } from '@libp2p/interface';
import { bytesToHex } from '@ethereumjs/util';
import type { Host } from './host.js';
import { MAX_GOSSIP_BYTES, MAX_IBFT_GOSSIP_BYTES, MessageError, decodeAnnouncement, encodeAnnouncement, type HeadAnnouncement } from './messages.js';

/** Gossip topics, bound to the chain's genesis hash: another chain's nodes never share them. */
export function gossipTopics(genesisHash: Uint8Array): { blocks: string; txs: string; ibft: string; recall: string } {
  const g = bytesToHex(genesisHash);
  return { blocks: `/basalt/${g}/blocks/1`, txs: `/basalt/${g}/txs/1`, ibft: `/basalt/${g}/ibft/1`, recall: `/basalt/${g}/ibft-recall/1` };
}

/** What became of a gossip message: forwarded (accept), dropped (ignore), or dropped with a penalty (reject). */
export type GossipVerdict = 'accept' | 'ignore' | 'reject';

export interface GossipHandlers {
  /** Only messages relayed by peers that passed the handshake are handled. */
  isReady(peer: PeerId): boolean;
  /** `origin` announced its own head (a relayer may not hold that block yet: it is not credited). */
  onHead(origin: PeerId, head: HeadAnnouncement): void;
  /** 'accept' when the pool took it; 'ignore' when it refused it (already known, nonce, funds). */
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
 * the one that made it, and is banned.
 */
export class Gossip {
  private readonly topics: { blocks: string; txs: string; ibft: string; recall: string };

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
    pubsub.subscribe(this.topics.ibft);
    pubsub.subscribe(this.topics.recall);
    pubsub.addEventListener('gossipsub:message' as 'message', this.onMessage as unknown as (e: Event) => void);
  }

  stop(): void {
    const pubsub = this.host.services.pubsub;
    pubsub.removeEventListener('gossipsub:message' as 'message', this.onMessage as unknown as (e: Event) => void);
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
        if (msg.from !== undefined && this.handlers.isReady(msg.from)) this.handlers.onHead(msg.from, head);
        return 'accept';
      }
      if (msg.topic === this.topics.txs) return await this.handlers.onTx(peer, msg.data);
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

  publishTx(raw: Uint8Array): void {
    // Nobody to send it to (a node alone): gossipsub would still sign and encode the message (a
    // secp256k1 signature and key parse in JS per transaction) before dropping it.
    if (this.host.services.pubsub.getSubscribers(this.topics.txs).length === 0) return;
    this.publish(this.topics.txs, raw);
  }

  private publish(topic: string, data: Uint8Array): void {
    this.host.services.pubsub.publish(topic, data).catch(() => undefined); // no peers yet: nothing to do
  }
}
