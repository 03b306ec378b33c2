import { EventEmitter } from 'node:events';
import type { PeerId } from '@libp2p/interface';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { bytesToHex } from '@ethereumjs/util';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { BanList } from './bans.js';
import { incompatibility, requestStatus, serveStatus } from './handshake.js';
import type { Host } from './host.js';
import { MessageError, type ChainStatus } from './messages.js';

/** How often the node redials bootnodes and added peers it is not connected to. */
const REDIAL_MS = 5_000;
const DIAL_TIMEOUT_MS = 10_000;
/** Peer IDs already warned about (wrong chain, bans): later repeats log at debug. */
const MAX_WARNED = 1024;
/** Most peers kept for redialling (bootnodes and `peers add`). */
const MAX_STATIC_PEERS = 256;

/** A peer that passed the handshake: same chain ID and genesis. */
export interface ReadyPeer {
  id: PeerId;
  head: bigint;
  headHash: Uint8Array;
  address: string;
  direction: 'inbound' | 'outbound';
  since: number;
}

export interface PeerEvents {
  /** A peer passed the handshake or told us of a new head. */
  head: [ReadyPeer];
}

/** A dialable multiaddr naming its peer (`/ip4/…/tcp/…/p2p/16Uiu2HA…`). */
export function parsePeerAddress(addr: string, what: string): Multiaddr {
  let ma: Multiaddr;
  try {
    ma = multiaddr(addr);
  } catch (err) {
    throw new UserError(`${what} "${addr}" is not a multiaddr: ${(err as Error).message}`);
  }
  if (ma.getPeerId() === null) throw new UserError(`${what} "${addr}" does not name its peer: end it with /p2p/<node ID>`);
  return ma;
}

/**
 * The node's peers: dials bootnodes and added peers (and keeps redialling them), runs the handshake
 * on every new connection, disconnects and bans peers of another chain or that misbehave, and keeps
 * the head each ready peer last told of.
 */
export class PeerManager extends EventEmitter<PeerEvents> {
  private readonly ready = new Map<string, ReadyPeer>();
  private readonly staticPeers = new Map<string, Multiaddr>();
  private readonly warned = new Set<string>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly host: Host,
    private readonly bans: BanList,
    private readonly local: () => ChainStatus,
    private readonly log: Logger,
  ) {
    super();
  }

  async start(bootnodes: Multiaddr[]): Promise<void> {
    await serveStatus(this.host, this.local, (peer, theirs) => this.onStatus(peer, theirs, 'inbound'), (peer, reason) => this.punish(peer, reason));
    this.host.addEventListener('peer:connect', (e) => void this.handshake(e.detail));
    this.host.addEventListener('peer:disconnect', (e) => {
      if (this.ready.delete(e.detail.toString())) this.log.info({ peer: e.detail.toString() }, 'peer disconnected');
    });
    for (const ma of bootnodes) this.keep(ma);
    this.redial();
    this.timer = setInterval(() => this.redial(), REDIAL_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Keep a peer connected (a bootnode or `peers add`); our own address is skipped. Returns false for ourselves. */
  keep(ma: Multiaddr): boolean {
    const id = ma.getPeerId()!;
    if (id === this.host.peerId.toString()) return false;
    this.staticPeers.set(id, ma);
    return true;
  }

  /** `peers add`: keep the peer and dial it now. */
  async add(addr: string): Promise<void> {
    const ma = parsePeerAddress(addr, 'peer address');
    const id = ma.getPeerId()!;
    if (id === this.host.peerId.toString()) throw new UserError(`${addr} is this node`);
    const ban = this.bans.get(id);
    if (ban) throw new UserError(`peer ${id} is banned for now: ${ban.reason}`, { code: 'FAILED_PRECONDITION' });
    if (!this.staticPeers.has(id) && this.staticPeers.size >= MAX_STATIC_PEERS) {
      throw new UserError(`this node already keeps ${MAX_STATIC_PEERS} peers (bootnodes and added); restart it to forget added ones`, { code: 'RESOURCE_EXHAUSTED' });
    }
    this.keep(ma);
    try {
      await this.host.dial(ma, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
    } catch (err) {
      throw new UserError(`cannot connect to ${addr}: ${(err as Error).message}`, { code: 'UNAVAILABLE' });
    }
  }

  private redial(): void {
    if (this.stopped) return;
    const connected = new Set(this.host.getPeers().map(String));
    for (const [id, ma] of this.staticPeers) {
      if (connected.has(id) || this.bans.isBanned(id)) continue;
      this.host.dial(ma, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).catch((err: Error) => this.log.debug({ peer: id, err: err.message }, 'dial failed'));
    }
  }

  private async handshake(peer: PeerId): Promise<void> {
    if (this.stopped) return;
    try {
      const theirs = await requestStatus(this.host, peer, this.local());
      this.onStatus(peer, theirs, 'outbound');
    } catch (err) {
      if (this.bans.isBanned(peer)) return; // refused already (its own handshake showed another chain)
      if (err instanceof MessageError) this.punish(peer, err.message);
      else if (!this.stopped) {
        this.log.debug({ peer: peer.toString(), err: (err as Error).message }, 'handshake failed; disconnecting');
        await this.host.hangUp(peer).catch(() => undefined);
      }
    }
  }

  private onStatus(peer: PeerId, theirs: ChainStatus, direction: 'inbound' | 'outbound'): void {
    if (this.stopped) return;
    const why = incompatibility(this.local(), theirs);
    if (why !== undefined) {
      this.punish(peer, `peer runs ${why}`);
      return;
    }
    const id = peer.toString();
    const conn = this.host.getConnections(peer)[0];
    if (conn === undefined) return; // gone meanwhile
    const known = this.ready.get(id);
    if (known) {
      this.updateHead(peer, theirs.headNumber, theirs.headHash);
      return;
    }
    const p: ReadyPeer = { id: peer, head: theirs.headNumber, headHash: theirs.headHash, address: conn.remoteAddr.toString(), direction, since: Date.now() };
    this.ready.set(id, p);
    this.log.info({ peer: id, address: p.address, head: Number(p.head) }, 'peer connected');
    this.emit('head', p);
  }

  /** A ready peer told of a new head (gossip). Heads only move forward. */
  updateHead(peer: PeerId, number: bigint, hash: Uint8Array): void {
    const p = this.ready.get(peer.toString());
    if (!p || number <= p.head) return;
    p.head = number;
    p.headHash = hash;
    this.emit('head', p);
  }

  /** The peer did not have what it claimed (say, it answered no blocks): forget its claim until it tells again. */
  lowerHead(peer: PeerId, number: bigint): void {
    const p = this.ready.get(peer.toString());
    if (p && number < p.head) p.head = number;
  }

  /** Disconnect and ban a peer that broke the protocol, sent an invalid block or runs another chain. */
  punish(peer: PeerId, reason: string): void {
    const id = peer.toString();
    this.bans.ban(id, reason);
    this.ready.delete(id);
    const first = !this.warned.has(id);
    if (first) {
      this.warned.add(id);
      if (this.warned.size > MAX_WARNED) this.warned.delete(this.warned.values().next().value!);
    }
    this.log[first ? 'warn' : 'debug']({ peer: id, reason }, 'peer refused: disconnected and banned for a while');
    void this.host.hangUp(peer).catch(() => undefined);
  }

  /** Why and until when `peer` is banned, if it is. */
  banned(peer: PeerId | string) {
    return this.bans.get(peer);
  }

  isReady(peer: PeerId | string): boolean {
    return this.ready.has(peer.toString());
  }

  peers(): ReadyPeer[] {
    return [...this.ready.values()];
  }

  get count(): number {
    return this.ready.size;
  }

  hasStaticPeers(): boolean {
    return this.staticPeers.size > 0;
  }

  /** Highest head any ready peer told of. */
  highestHead(): bigint {
    let h = 0n;
    for (const p of this.ready.values()) if (p.head > h) h = p.head;
    return h;
  }

  describe(p: ReadyPeer) {
    return { id: p.id.toString(), address: p.address, direction: p.direction, head: p.head, headHash: bytesToHex(p.headHash) };
  }
}
