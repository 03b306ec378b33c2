import type { PeerId } from '@libp2p/interface';
import { bytesToHex } from '@ethereumjs/util';
import type { Host } from './host.js';
import { MAX_GOSSIP_BYTES, MessageError, decodeAnnouncement, encodeAnnouncement, type HeadAnnouncement } from './messages.js';

/** Gossip topics, bound to the chain's genesis hash: another chain's nodes never share them. */
export function gossipTopics(genesisHash: Uint8Array): { blocks: string; txs: string } {
  const g = bytesToHex(genesisHash);
  return { blocks: `/basalt/${g}/blocks/1`, txs: `/basalt/${g}/txs/1` };
}

export interface GossipHandlers {
  /** Only messages relayed by peers that passed the handshake are handled. */
  isReady(peer: PeerId): boolean;
  onHead(peer: PeerId, head: HeadAnnouncement): void;
  onTx(peer: PeerId, raw: Uint8Array): void;
  onBadPeer(peer: PeerId, reason: string): void;
}

/** Head announcements and transactions over gossipsub. */
export class Gossip {
  private readonly topics: { blocks: string; txs: string };

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
    pubsub.addEventListener('gossipsub:message' as 'message', this.onMessage as unknown as (e: Event) => void);
  }

  stop(): void {
    const pubsub = this.host.services.pubsub;
    pubsub.removeEventListener('gossipsub:message' as 'message', this.onMessage as unknown as (e: Event) => void);
  }

  private readonly onMessage = (e: CustomEvent<{ propagationSource: PeerId; msg: { topic: string; data: Uint8Array } }>): void => {
    const { propagationSource: peer, msg } = e.detail;
    if (!this.handlers.isReady(peer)) return;
    try {
      if (msg.data.length > MAX_GOSSIP_BYTES) throw new MessageError(`gossip message of ${msg.data.length} bytes, more than ${MAX_GOSSIP_BYTES}`);
      if (msg.topic === this.topics.blocks) this.handlers.onHead(peer, decodeAnnouncement(msg.data));
      else if (msg.topic === this.topics.txs) this.handlers.onTx(peer, msg.data);
    } catch (err) {
      if (err instanceof MessageError) this.handlers.onBadPeer(peer, err.message);
      else throw err;
    }
  };

  announceHead(head: HeadAnnouncement): void {
    this.publish(this.topics.blocks, encodeAnnouncement(head));
  }

  publishTx(raw: Uint8Array): void {
    this.publish(this.topics.txs, raw);
  }

  private publish(topic: string, data: Uint8Array): void {
    this.host.services.pubsub.publish(topic, data).catch(() => undefined); // no peers yet: nothing to do
  }
}
