import '../util/promise-with-resolvers.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { installYamuxBackpressure } from './yamux-window.js';
import { gossipsub, type GossipSub } from '@chainsafe/libp2p-gossipsub';
import { identify } from '@libp2p/identify';
import { kadDHT } from '@libp2p/kad-dht';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import type { PeerId, PubSub } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { isIP } from 'node:net';
import { UserError, errorMessage } from '../util/errors.js';
import { addressKey } from '../util/net.js';
import { MAX_GOSSIP_BYTES, MAX_IBFT_GOSSIP_BYTES } from './messages.js';
import { GossipIntake, type GossipIntakeLimits, type RpcHandler } from './gossip-intake.js';
import { installNativePeerCrypto } from './native-peer-crypto.js';
import { DHT_DATASTORE_PREFIX, PeerRoutingDatastore } from './peer-routing-datastore.js';
import { gossipScoring } from './scoring.js';

export type Host = Libp2p<{ pubsub: PubSub; identify: unknown }>;

/**
 * Connections libp2p holds beyond --max-peers: room for peers still in the handshake (5 s at most),
 * so that a validator is not refused at the door because the node is full of other peers. The peer
 * manager keeps ready peers within --max-peers itself (validators first) and refuses inbound
 * connections of non-validators past the limit plus this headroom (HostOptions.admitInbound).
 */
export const HANDSHAKE_HEADROOM = 8;

export interface HostOptions {
  /** The data dir's keystore/libp2p.key: a raw secp256k1 key, so the peer ID is the node ID `secrets init` prints. */
  key: Uint8Array;
  host: string;
  port: number;
  maxPeers: number;
  /** Refuse connections to and from these peers (the ban list). */
  isBanned(peer: PeerId): boolean;
  /** Refuse inbound connections from this IP address before any handshake (BanList.isAddressBanned). */
  isAddressBanned?(address: string): boolean;
  /** Whether to take an inbound connection from `peer` (asked once its peer ID is authenticated). Default: yes. */
  admitInbound?(peer: PeerId): boolean;
  /** Whether `peer` proved it holds a current validator's key: gossipsub scores it as one (scoring.ts), and takes its messages first (gossip-intake.ts). */
  isValidator?(peer: string): boolean;
  /** Told of gossip messages dropped unread in front of gossipsub (GossipIntake's onDrop). */
  onGossipDropped?(peer: PeerId, count: number, ownBytes: number): void;
  /** Limits of the queue in front of gossipsub (tests use small ones). */
  gossipIntake?: Partial<GossipIntakeLimits>;
  /**
   * Peer discovery over a Kademlia DHT of this chain's nodes (protocol `/basalt/<genesis>/kad/1.0.0`,
   * so nodes of other chains never share a table): undefined, none (only bootnodes and added peers).
   */
  dht?: { genesisHex: string };
  /** An IP address to announce to peers instead of the listen address (--nat-address), with the listen port. */
  announce?: string;
}

/** A libp2p host: TCP, noise, yamux, identify and gossipsub, identified by the node's libp2p key. */
export async function createHost(opts: HostOptions): Promise<Host> {
  const family = isIP(opts.host);
  if (family === 0) throw new UserError(`--libp2p host "${opts.host}" is not an IP address`);
  if (opts.announce !== undefined && isIP(opts.announce) === 0) throw new UserError(`--nat-address "${opts.announce.slice(0, 60)}" is not an IP address`);
  installNativePeerCrypto();
  installYamuxBackpressure();
  const denied = async (peer: PeerId) => opts.isBanned(peer);
  let pubsub: GossipSub | undefined;
  const scoring = gossipScoring(
    (p) => opts.isValidator?.(p) ?? false,
    () => pubsub?.score,
  );
  const discovery = opts.dht
    ? {
        ping: ping(),
        dht: kadDHT({
          protocol: `/basalt/${opts.dht.genesisHex.slice(2, 18)}/kad/1.0.0`,
          // What it would store for peers (provider and value records) the datastore refuses.
          datastorePrefix: DHT_DATASTORE_PREFIX,
          // Every node answers queries: a private network has no public addresses, so the
          // default (client until a public address is seen) would leave nobody serving.
          clientMode: false,
          // Keep private and loopback addresses: that is where private networks live.
          peerInfoMapper: (peer) => peer,
          // Look for this node's neighbours soon after start, then every 2 minutes: the
          // answers name the chain's other nodes, which the peer manager dials while it has room.
          initialQuerySelfInterval: 1_000,
          querySelfInterval: 120_000,
        }),
      }
    : {};
  let node;
  try {
    node = await createLibp2p({
      datastore: new PeerRoutingDatastore(),
      // Two copies of @libp2p/interface's key types are installed; the key is the same object either way.
      privateKey: privateKeyFromRaw(opts.key) as unknown as NonNullable<Parameters<typeof createLibp2p>[0]>['privateKey'],
      addresses: {
        listen: [`/ip${family}/${opts.host}/tcp/${opts.port}`],
        ...(opts.announce !== undefined ? { announce: [`/ip${isIP(opts.announce)}/${opts.announce}/tcp/${opts.port}`] } : {}),
      },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // libp2p's own pruning (past maxConnections) closes the lowest-tagged peers first, and only
      // connections that carry no protocol stream yet: the peer manager tags validators (peers.ts).
      connectionManager: { maxConnections: opts.maxPeers + HANDSHAKE_HEADROOM, maxIncomingPendingConnections: 10 },
      connectionGater: {
        denyDialPeer: denied,
        denyInboundConnection: async (maConn) => {
          const address = ipOf(maConn.remoteAddr);
          return address !== undefined && (opts.isAddressBanned?.(address) ?? false);
        },
        denyInboundEncryptedConnection: async (peer) => opts.isBanned(peer) || !(opts.admitInbound?.(peer) ?? true),
        denyOutboundEncryptedConnection: denied,
        // Loopback and private addresses are where test and private networks live.
        denyDialMultiaddr: async () => false,
      },
      services: {
        identify: identify(),
        // Typed apart: libp2p's service map cannot express services present only with an option.
        ...(discovery as Record<string, never>),
        pubsub: gossipsub({
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          asyncValidation: true,
          // The RPC handler settles once its messages are handled (gossipsub's stream reader does not
          // wait for it either way): the gossip intake measures what each slice it hands over costs.
          awaitRpcMessageHandler: true,
          maxInboundDataLength: Math.max(MAX_GOSSIP_BYTES, MAX_IBFT_GOSSIP_BYTES) + 1024,
          // Mesh membership is not a peer's worth here (anyone idle gets grafted): tagging mesh peers
          // (100 per topic) would outrank the validator tag in libp2p's pruning.
          tagMeshPeers: false,
          // A copy of a message already validated (the same publisher and sequence number, which is the
          // message ID under StrictSign) is dropped before its signature is verified again: each mesh
          // peer relays each message, and a signature check costs milliseconds. Only validated
          // messages enter this cache, so a forged copy cannot shadow a real one.
          fastMsgIdFn: (msg: { from?: Uint8Array; seqno?: Uint8Array }) =>
            `${Buffer.from(msg.from ?? []).toString('base64')}/${Buffer.from(msg.seqno ?? []).toString('base64')}`,
          ...scoring,
        }),
      },
    });
  } catch (err) {
    const msg = errorMessage(err) ?? '';
    const where = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    if (/EADDRINUSE/.test(msg))
      throw new UserError(`cannot listen for libp2p on ${where}: address in use (another node?); choose another --libp2p port`, { code: 'UNAVAILABLE' });
    if (/EADDRNOTAVAIL|EACCES/.test(msg))
      throw new UserError(`cannot listen for libp2p on ${where}: ${/EACCES/.test(msg) ? 'permission denied' : 'address not available'}`, {
        code: 'UNAVAILABLE',
      });
    throw err;
  }
  pubsub = node.services.pubsub as unknown as GossipSub;
  installGossipIntake(node as unknown as Host, opts);
  return node as unknown as Host;
}

/** The IP address of a TCP multiaddr (undefined for anything else). */
export function ipOf(ma: Multiaddr): string | undefined {
  const [first] = ma.getComponents?.() ?? [];
  if (first === undefined || (first.name !== 'ip4' && first.name !== 'ip6')) return undefined;
  return first.value;
}

/**
 * The key a peer connected from `ma` is counted under by address, where its peer ID alone is not enough
 * (block answers, snapshot streams): its IPv4 address, or its IPv6 address's /64 (util/net addressKey:
 * one IPv6 host is given a whole /64); a multiaddr without an IP address (none here: every connection
 * is TCP) is counted whole.
 */
export function addressKeyOf(ma: Multiaddr): string {
  const ip = ipOf(ma);
  return ip === undefined ? ma.toString() : addressKey(ip);
}

/**
 * Put a GossipIntake in front of gossipsub's RPC handler (`handleReceivedRpc`, an instance method of
 * the pinned @chainsafe/libp2p-gossipsub 14.1.2, which its stream reader calls for every RPC;
 * test/unit/p2p/gossip-intake.test.ts checks that a live host's RPCs go through the intake).
 */
function installGossipIntake(host: Host, opts: HostOptions): void {
  const ps = host.services.pubsub as unknown as { handleReceivedRpc: RpcHandler; gossipIntake?: GossipIntake };
  if (typeof ps.handleReceivedRpc !== 'function')
    throw new Error('gossipsub has no handleReceivedRpc: the intake cannot be installed (was the package upgraded?)');
  const intake = new GossipIntake(ps.handleReceivedRpc.bind(ps), {
    isPriority: (peer) => opts.isValidator?.(peer) ?? false,
    ...(opts.onGossipDropped ? { onDrop: opts.onGossipDropped } : {}),
    ...(opts.gossipIntake ? { limits: opts.gossipIntake } : {}),
  });
  ps.handleReceivedRpc = (from, rpc) => intake.submit(from, rpc);
  ps.gossipIntake = intake;
  host.addEventListener('peer:disconnect', (e) => intake.forget(e.detail));
  host.addEventListener('stop', () => intake.stop());
}

/** The intake in front of a host's gossipsub (tests). */
export function gossipIntakeOf(host: Host): GossipIntake | undefined {
  return (host.services.pubsub as unknown as { gossipIntake?: GossipIntake }).gossipIntake;
}
