// Peers that join a Basalt network from outside it, for e2e tests and benchmarks (idle-peers.mjs,
// hostile-peer.mjs): libp2p hosts built from the project's own p2p modules (dist/) that pass the
// status handshake with the chain's genesis and subscribe to its gossip topics.
//
// A Peer is one participant seen from the network, as a succession of identities (libp2p keys): it
// keeps every target connected, each from one identity. With rotate 'on-ban', a target that drops an
// identity and then refuses it (a ban, or any refusal) is dialled again from a fresh identity, as an
// attacker whose identities cost nothing would; with rotateEveryMs every target moves to a fresh
// identity that often. Dials to one target are paced for all peers of a process together: at most 4
// new dials a second, under libp2p's limit of 5 inbound connections a second from one address.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { hexToBytes } from '@ethereumjs/util';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { createHost } from '../../dist/p2p/host.js';
import { gossipTopics } from '../../dist/p2p/gossip.js';
import { serveStatus } from '../../dist/p2p/handshake.js';

/**
 * Make every TCP connection this process opens from now on leave from `address` (say 127.0.0.23: all
 * of 127/8 is loopback), so the targets see the peers on an address of their own rather than the one
 * the validators share. gossipsub counts peers per address (P6, scoring.ts) and keeps the count of a
 * peer that left for an hour: one hostile peer after another from the validators' address would
 * otherwise be graylisted on arrival (nothing it sends is even looked at), which is not the attack
 * under test. @libp2p/tcp dials with net.connect.
 */
export function dialFrom(address) {
  if (net.isIP(address) === 0) throw new Error(`--from ${address} is not an IP address`);
  const connect = net.connect;
  net.connect = (options, ...rest) =>
    connect.call(net, typeof options === 'object' && options !== null ? { localAddress: address, ...options } : options, ...rest);
}

/** Print one JSON line on stdout. */
export const out = (o) => process.stdout.write(`${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const DIAL_SPACING_MS = 250;
const DIAL_TIMEOUT_MS = 10_000;
/** How often a connected target is checked (and a failed dial retried). */
const DIAL_DELAY_IDLE_MS = 250;
/** A connection closed this soon after it opened was refused at the door (the gater runs after the encryption handshake). */
const REFUSED_WITHIN_MS = 1_500;

/** The network to join: chain, topics and the multiaddrs to dial, with one dial pacer per target. */
export class Network {
  constructor(chainId, genesisHex, targets) {
    this.chainId = BigInt(chainId);
    this.genesisHash = hexToBytes(genesisHex);
    this.topics = gossipTopics(this.genesisHash);
    this.addrs = targets.map((t) => multiaddr(t));
    this.ids = this.addrs.map((a) => peerIdFromString(a.getPeerId()));
    this.nextDial = this.addrs.map(() => 0);
    /** Highest head heard of (handshakes, head announcements, or raised by the caller). */
    this.head = 0n;
  }

  /** Our status in the handshake: the genesis, and a head (default: the genesis). */
  status(head = 0n, headHash = this.genesisHash) {
    return { chainId: this.chainId, genesisHash: this.genesisHash, headNumber: head, headHash };
  }

  /** Wait for the next dial slot towards target k. */
  async pace(k) {
    const now = Date.now();
    const at = Math.max(now, this.nextDial[k]);
    this.nextDial[k] = at + DIAL_SPACING_MS;
    if (at > now) await sleep(at - now);
  }

  /** Index of the target with this peer ID, or -1. */
  target(peer) {
    const s = peer.toString();
    return this.ids.findIndex((id) => id.toString() === s);
  }

  noteHead(n) {
    if (n > this.head) this.head = n;
  }
}

/**
 * One identity: a host on a fresh key that answers handshakes (status() gives what it claims),
 * subscribed to every gossip topic. `onGossip(topic, data, from)`: every gossip message it is sent,
 * which it then reports 'ignore' (it relays nothing); without it, messages are not even looked at.
 * `setup(host)` adds protocol handlers. `ready` holds the targets that ran the handshake with it.
 */
export async function createIdentity(net, { status = () => net.status(), onGossip, setup } = {}) {
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 50, isBanned: () => false });
  const ident = { host, id: host.peerId.toString(), ready: new Set(), everConnected: new Set(), refusedBy: new Set(), stopped: false };
  await serveStatus(
    host,
    status,
    (peer, theirs) => {
      const k = net.target(peer);
      if (k < 0) return;
      net.noteHead(theirs.headNumber);
      ident.ready.add(k);
    },
    () => undefined,
  );
  host.addEventListener('peer:disconnect', (e) => {
    const k = net.target(e.detail);
    if (k >= 0) ident.ready.delete(k);
  });
  for (const t of Object.values(net.topics)) host.services.pubsub.subscribe(t);
  if (onGossip) {
    const pubsub = host.services.pubsub;
    pubsub.addEventListener('gossipsub:message', (e) => {
      const { propagationSource, msgId, msg } = e.detail;
      try {
        onGossip(msg.topic, msg.data, msg.from);
      } finally {
        pubsub.reportMessageValidationResult?.(msgId, propagationSource.toString(), 'ignore');
      }
    });
  }
  await setup?.(host);
  return ident;
}

export function connectedTo(ident, net, k) {
  return !ident.stopped && ident.host.getConnections(net.ids[k]).length > 0;
}

/**
 * One peer of the network (see the top of this file). `events` gets {identity}, {disconnected},
 * {refused} objects to print; `make()` creates an identity (createIdentity with the caller's options).
 */
export class Peer {
  constructor(net, make, { rotate = 'never', rotateEveryMs, events = () => undefined } = {}) {
    this.net = net;
    this.make = make;
    this.rotate = rotate;
    this.rotateEveryMs = rotateEveryMs;
    this.events = events;
    /** Identities alive, newest last. */
    this.identities = [];
    /** The identity each target is dialled from. */
    this.assigned = [];
    this.stopped = false;
    this.dialling = new Set();
  }

  async start() {
    const first = await this.fresh();
    this.assigned = this.net.addrs.map(() => first);
    this.net.addrs.forEach((_, k) => void this.keepConnected(k));
    if (this.rotateEveryMs) {
      this.rotateTimer = setInterval(() => void this.rotateAll(), this.rotateEveryMs);
    }
  }

  async fresh() {
    const ident = await this.make();
    this.identities.push(ident);
    this.events({ identity: ident.id });
    const onConnect = (e) => {
      const k = this.net.target(e.detail);
      if (k >= 0) {
        ident.everConnected.add(k);
        ident.connectedAt ??= new Map();
        ident.connectedAt.set(k, Date.now());
      }
    };
    const onDisconnect = (e) => {
      const k = this.net.target(e.detail);
      if (k < 0 || ident.stopped) return;
      this.events({ disconnected: this.net.ids[k].toString(), peer: ident.id });
      // Hung up on at once: refused at the door (the gater), as a banned peer is.
      const at = ident.connectedAt?.get(k);
      if (at !== undefined && Date.now() - at < REFUSED_WITHIN_MS && this.assigned[k] === ident) void this.refused(ident, k, 'closed at once');
    };
    ident.host.addEventListener('peer:connect', onConnect);
    ident.host.addEventListener('peer:disconnect', onDisconnect);
    return ident;
  }

  /** `ident` was refused by target k: with rotate 'on-ban', k is dialled from another identity from now on. */
  async refused(ident, k, error) {
    if (ident.refusedBy.has(k)) return;
    ident.refusedBy.add(k);
    this.events({ refused: this.net.ids[k].toString(), peer: ident.id, error });
    if (this.rotate !== 'on-ban' || this.stopped || this.assigned[k] !== ident) return;
    // Targets that refuse at about the same time share the next identity.
    await this.making;
    const newest = this.identities.at(-1);
    let next = newest;
    if (!newest || newest === ident || newest.refusedBy.has(k) || newest.stopped) {
      this.making = this.fresh();
      next = await this.making;
    }
    if (this.stopped) return;
    this.assigned[k] = next;
    this.retire();
  }

  /** Every target moves to a fresh identity; the old ones are stopped. */
  async rotateAll() {
    if (this.stopped) return;
    const next = await this.fresh();
    this.assigned = this.assigned.map(() => next);
    this.retire();
  }

  /** Stop identities no target is assigned to. */
  retire() {
    const used = new Set(this.assigned);
    for (const ident of this.identities.filter((i) => !used.has(i))) {
      ident.stopped = true;
      void Promise.resolve(ident.host.stop()).catch(() => undefined);
    }
    this.identities = this.identities.filter((i) => used.has(i));
  }

  async keepConnected(k) {
    while (!this.stopped) {
      const ident = this.assigned[k];
      if (connectedTo(ident, this.net, k) || ident.stopped) {
        await sleep(DIAL_DELAY_IDLE_MS);
        continue;
      }
      await this.net.pace(k);
      if (this.stopped || this.assigned[k] !== ident || ident.stopped) continue;
      try {
        await ident.host.dial(this.net.addrs[k], { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
      } catch (err) {
        // Dropped before, now refused: banned (or refused for another reason; either way someone else dials next).
        if (ident.everConnected.has(k) && !this.stopped) await this.refused(ident, k, err.message ?? String(err));
        await sleep(DIAL_DELAY_IDLE_MS);
      }
    }
  }

  /** Identities that hold a connection to a target that ran the handshake with them. */
  readyIdentities() {
    return this.identities.filter((i) => !i.stopped && i.ready.size > 0);
  }

  /** Targets connected (from their assigned identity), and of those, how many ran the handshake. */
  counts() {
    let connected = 0;
    let ready = 0;
    this.assigned.forEach((ident, k) => {
      if (!connectedTo(ident, this.net, k)) return;
      connected++;
      if (ident.ready.has(k)) ready++;
    });
    return { connected, ready };
  }

  async stop() {
    this.stopped = true;
    clearInterval(this.rotateTimer);
    await Promise.all(this.identities.map((i) => Promise.resolve(i.host.stop()).catch(() => undefined)));
  }
}

/** Print {"connected": n, "ready": r, "of": m} whenever the totals over `peers` change; returns a stop function. */
export function reportConnections(peers, net, every = 500) {
  let last = '';
  const timer = setInterval(() => {
    let connected = 0;
    let ready = 0;
    for (const p of peers) {
      const c = p.counts();
      connected += c.connected;
      ready += c.ready;
    }
    const line = { connected, ready, of: peers.length * net.addrs.length };
    const key = JSON.stringify(line);
    if (key !== last) out({ t: Date.now(), ...line });
    last = key;
  }, every);
  return () => clearInterval(timer);
}

/** Stop `peers` and exit on SIGTERM or SIGINT. */
export function stopOnSignal(peers, before = () => undefined) {
  const stop = async () => {
    before();
    await Promise.all(peers.map((p) => p.stop()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
