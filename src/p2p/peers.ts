import { EventEmitter } from 'node:events';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { bytesToHex } from '@ethereumjs/util';
import { UserError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { BANNED_PEERS_PER_ADDRESS, type BanList } from './bans.js';
import { incompatibility, requestStatus, serveStatus } from './handshake.js';
import { HANDSHAKE_HEADROOM, ipOf, type Host } from './host.js';
import { MessageError, type ChainStatus } from './messages.js';
import { ValidatorProofs } from './validator-proof.js';
import { event } from '../util/events.js';

/** How often the node redials bootnodes and added peers it is not connected to. */
const REDIAL_MS = 5_000;
/**
 * How often it redials validators it is not connected to. A validator's absence stalls or halts
 * consensus (a quorum needs all but f of them), so it is looked for every second; a refused dial to
 * a stopped node costs a SYN.
 */
const VALIDATOR_REDIAL_MS = 1_000;
/**
 * The peer store tag of a proven validator, at the highest value a tag may have: libp2p prunes the
 * lowest-valued connections first past maxConnections (host.ts), and no other tag is set.
 */
const VALIDATOR_TAG = 'basalt-validator';
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

export interface PeerManagerOptions {
  /** --max-peers: ready peers kept at once, of which one slot is kept for each other validator. */
  maxPeers: number;
  /** The current validator set as lowercase 0x hex addresses (the caller memoises it per head). */
  validators(): ReadonlySet<string>;
  /** This node's own validator address (lowercase hex), if it has one: no slot is kept for it. */
  self?: string;
  /**
   * --max-inbound-peers / --max-outbound-peers: ready peers other than validators, bootnodes and added
   * peers that dialled this node, and that it dialled (discovered ones), each within --max-peers.
   */
  maxInbound: number;
  maxOutbound: number;
}

/** A peer that proved it holds a validator's key, and where to find it again. */
interface KnownValidator {
  id: PeerId;
  /** Where we dialled it, if we did (an inbound connection's address is an ephemeral port). */
  dialled?: Multiaddr;
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
    throw new UserError(`${what} "${addr}" is not a multiaddr: ${errorMessage(err)}`);
  }
  if (ma.getPeerId() === null) throw new UserError(`${what} "${addr}" does not name its peer: end it with /p2p/<node ID>`);
  return ma;
}

/**
 * The node's peers: dials bootnodes and added peers (and keeps redialling them), runs the handshake
 * on every new connection, disconnects and bans peers of another chain or that misbehave, and keeps
 * the head each ready peer last told of.
 *
 * Validators: a peer whose status carries a valid proof (validator-proof.ts) for an address of the
 * current validator set is a validator. It always has a slot (--max-peers minus one per other
 * validator is what other peers may fill; a validator is never disconnected to make room), gossipsub
 * scores it as one (scoring.ts), its peer store tag ranks it above every other peer in libp2p's
 * pruning, and once it drops it is redialled every second at its last known address.
 */
export class PeerManager extends EventEmitter<PeerEvents> {
  private readonly ready = new Map<string, ReadyPeer>();
  /** Peers that proved this node's own validator key, each warned of once (a status is exchanged again at each head). */
  private readonly sameKeyWarned = new Set<string>();
  private readonly staticPeers = new Map<string, Multiaddr>();
  private readonly warned = new Set<string>();
  /** By validator address: the last peer that proved it (one peer per address: a restarted validator with a new libp2p key replaces its old one). */
  private readonly knownValidators = new Map<string, KnownValidator>();
  /** By peer ID: the validator address it proved (the reverse of knownValidators). */
  private readonly validatorOf = new Map<string, string>();
  /** The validator address each ready peer proved in its status, in the set or not (a candidate of a vote). */
  private readonly provenOf = new Map<string, string>();
  /** Peers being dialled by the redial loop (a dial to a black-holed address takes DIAL_TIMEOUT_MS). */
  private readonly dialling = new Set<string>();
  private readonly proofs: ValidatorProofs;
  private readonly opts: PeerManagerOptions;
  private timer?: NodeJS.Timeout;
  private ticks = 0;
  private stopped = false;

  constructor(
    private readonly host: Host,
    private readonly bans: BanList,
    private readonly local: () => ChainStatus,
    private readonly log: Logger,
    opts: Partial<PeerManagerOptions> = {},
  ) {
    super();
    this.proofs = new ValidatorProofs(local().genesisHash);
    this.opts = {
      maxPeers: opts.maxPeers ?? Infinity,
      maxInbound: opts.maxInbound ?? Infinity,
      maxOutbound: opts.maxOutbound ?? Infinity,
      validators: opts.validators ?? (() => new Set()),
      ...(opts.self !== undefined ? { self: opts.self } : {}),
    };
  }

  async start(bootnodes: Multiaddr[]): Promise<void> {
    await serveStatus(
      this.host,
      this.local,
      (peer, theirs) => this.onStatus(peer, theirs),
      (peer, reason) => this.punish(peer, reason),
    );
    this.host.addEventListener('peer:connect', (e) => void this.handshake(e.detail));
    this.host.addEventListener('peer:disconnect', (e) => {
      this.provenOf.delete(e.detail.toString());
      if (this.ready.delete(e.detail.toString())) this.log.info({ peer: e.detail.toString() }, 'peer disconnected');
    });
    // Peers the DHT names (the host's dht option): dialled while there is room for them.
    this.host.addEventListener('peer:discovery', (e) => this.discovered(e.detail.id));
    for (const ma of bootnodes) this.keep(ma);
    this.redial();
    this.timer = setInterval(() => {
      this.redialValidators();
      if (++this.ticks % (REDIAL_MS / VALIDATOR_REDIAL_MS) === 0) this.redial();
    }, VALIDATOR_REDIAL_MS);
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
      throw new UserError(`this node already keeps ${MAX_STATIC_PEERS} peers (bootnodes and added); restart it to forget added ones`, {
        code: 'RESOURCE_EXHAUSTED',
      });
    }
    this.keep(ma);
    try {
      await this.host.dial(ma, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
    } catch (err) {
      throw new UserError(`cannot connect to ${addr}: ${errorMessage(err)}`, { code: 'UNAVAILABLE' });
    }
  }

  /**
   * `peers remove`: stop keeping the peer (a bootnode or an added one) and hang up on it. A validator of
   * the set is refused (FAILED_PRECONDITION): the validator redial keeps it connected for consensus;
   * a vote removes it from the set. NOT_FOUND when the node neither keeps nor is connected to it.
   */
  async remove(peer: string): Promise<{ wasConnected: boolean }> {
    const id = peer.includes('/') ? parsePeerAddress(peer, 'peer').getPeerId()! : peerIdOrThrow(peer);
    if (this.isValidator(id)) {
      throw new UserError(
        `peer ${id} is a validator of the current set: it is redialled to keep consensus; vote it out (basalt ibft propose --vote drop) to let it go`,
        { code: 'FAILED_PRECONDITION' },
      );
    }
    const kept = this.staticPeers.delete(id);
    const connected = this.connectedPeers().has(id);
    if (!kept && !connected) throw new UserError(`this node neither keeps nor is connected to peer ${id}`, { code: 'NOT_FOUND' });
    if (connected) await this.host.hangUp(peerIdFromString(id)).catch(() => undefined);
    return { wasConnected: connected };
  }

  private redial(): void {
    if (this.stopped) return;
    const connected = this.connectedPeers();
    for (const [id, ma] of this.staticPeers) {
      if (connected.has(id) || this.bans.isBanned(id)) continue;
      this.dial(id, ma);
    }
  }

  /**
   * A peer discovery named (the DHT's answers): dial it if it is new, not banned, and ready peers and
   * dials in progress leave a slot for it. Its handshake decides whether it stays (same chain, room).
   */
  private discovered(peer: PeerId): void {
    if (this.stopped) return;
    const id = peer.toString();
    if (id === this.host.peerId.toString() || this.bans.isBanned(id) || this.connectedPeers().has(id)) return;
    if (this.readyNonValidators() + this.dialling.size >= this.nonValidatorSlots()) return;
    if (this.readyOthers('outbound') + this.dialling.size >= this.opts.maxOutbound) return;
    this.log.debug({ peer: id }, 'dialling a discovered peer');
    this.dial(id, peer);
  }

  /** Dial every known validator of the current set that is not connected; forget those that left the set. */
  private redialValidators(): void {
    if (this.stopped) return;
    const set = this.opts.validators();
    const connected = this.connectedPeers();
    for (const [address, v] of this.knownValidators) {
      const id = v.id.toString();
      if (!set.has(address)) {
        this.forgetValidator(address);
        continue;
      }
      if (connected.has(id) || this.bans.isBanned(id)) continue;
      // By peer ID: libp2p dials the addresses identify learnt (its listen addresses), then the one we dialled.
      this.dial(id, v.id, v.dialled);
    }
  }

  private dial(id: string, target: PeerId | Multiaddr, fallback?: Multiaddr): void {
    if (this.dialling.has(id)) return;
    this.dialling.add(id);
    const signal = AbortSignal.timeout(DIAL_TIMEOUT_MS);
    this.host
      .dial(target, { signal })
      .catch((err: Error) => {
        if (fallback === undefined || signal.aborted) throw err;
        return this.host.dial(fallback, { signal });
      })
      .catch((err: Error) => this.log.debug({ peer: id, err: err.message }, 'dial failed'))
      .finally(() => this.dialling.delete(id));
  }

  /** Whether `peer` proved it holds the key of a validator of the current set (other than ours). */
  isValidator(peer: PeerId | string): boolean {
    const address = this.validatorOf.get(peer.toString());
    return address !== undefined && this.opts.validators().has(address);
  }

  /**
   * Whether `peer` is a validator of the current set, a bootnode or an added peer: the peers this node's
   * chain or operator names. Answers to the others are also counted by their IP address.
   */
  isValidatorOrKept(peer: PeerId | string): boolean {
    return this.isValidator(peer) || this.staticPeers.has(peer.toString());
  }

  /** Ready peers that are not validators may fill --max-peers less one slot per other validator. */
  private nonValidatorSlots(): number {
    const set = this.opts.validators();
    const reserved = set.size - (this.opts.self !== undefined && set.has(this.opts.self) ? 1 : 0);
    return Math.max(0, this.opts.maxPeers - reserved);
  }

  /**
   * Whether to take an inbound connection from `peer`, asked by the connection gater once its peer
   * ID is authenticated: a known validator always; another peer while the connected non-validators
   * (ready or in the handshake) leave room: their slots plus HANDSHAKE_HEADROOM for handshakes, which
   * is where a validator this node has not met yet gets in.
   */
  admitInbound(peer: PeerId): boolean {
    if (this.isValidator(peer)) return true;
    if (this.readyOthers('inbound') >= this.opts.maxInbound + HANDSHAKE_HEADROOM) return false;
    let others = 0;
    for (const id of this.connectedPeers()) if (!this.isValidator(id)) others++;
    return others < this.nonValidatorSlots() + HANDSHAKE_HEADROOM;
  }

  /**
   * The IDs of connected peers, as strings. Not `host.getPeers()`: that rebuilds a PeerId from each
   * ID string, decoding its secp256k1 key in pure JS (~1.4 ms a peer), which with 50 peers connected
   * held the event loop 70 ms at every connection and every redial tick (issue #26).
   */
  private connectedPeers(): Set<string> {
    const out = new Set<string>();
    for (const c of this.host.getConnections()) out.add(c.remotePeer.toString());
    return out;
  }

  private rememberValidator(peer: PeerId, address: string, direction: 'inbound' | 'outbound', remoteAddr: Multiaddr): void {
    const id = peer.toString();
    const prev = this.knownValidators.get(address);
    if (prev !== undefined && !prev.id.equals(peer)) this.forgetValidator(address);
    const dialled = direction === 'outbound' ? remoteAddr : prev?.dialled;
    this.knownValidators.set(address, { id: peer, ...(dialled !== undefined ? { dialled } : {}) });
    if (this.validatorOf.get(id) === address) return;
    this.validatorOf.set(id, address);
    this.host.peerStore.merge(peer, { tags: { [VALIDATOR_TAG]: { value: 100 } } }).catch(() => undefined);
  }

  private forgetValidator(address: string): void {
    const v = this.knownValidators.get(address);
    if (v === undefined) return;
    this.knownValidators.delete(address);
    this.validatorOf.delete(v.id.toString());
    this.host.peerStore.merge(v.id, { tags: { [VALIDATOR_TAG]: undefined } }).catch(() => undefined);
  }

  private async handshake(peer: PeerId): Promise<void> {
    if (this.stopped) return;
    try {
      const theirs = await requestStatus(this.host, peer, this.local());
      this.onStatus(peer, theirs);
    } catch (err) {
      if (this.bans.isBanned(peer)) return; // refused already (its own handshake showed another chain)
      if (err instanceof MessageError) this.punish(peer, err.message);
      else if (!this.stopped) {
        this.log.debug({ peer: peer.toString(), err: errorMessage(err) }, 'handshake failed; disconnecting');
        await this.host.hangUp(peer).catch(() => undefined);
      }
    }
  }

  /**
   * A peer's status, from either exchange (its answer to ours, or its request to us). The peer's
   * direction is its connection's: which side dialled, not which exchange ended first (a peer that
   * dialled in and answered ours but never asked was taken for one this node dialled, so
   * --max-inbound-peers held back no such peer).
   */
  private onStatus(peer: PeerId, theirs: ChainStatus): void {
    if (this.stopped) return;
    const why = incompatibility(this.local(), theirs);
    if (why !== undefined) {
      this.punish(peer, `peer runs ${why}`);
      return;
    }
    const id = peer.toString();
    let proven: string | undefined;
    if (theirs.validatorProof !== undefined) {
      try {
        proven = bytesToHex(this.proofs.verify(id, peer.toMultihash().bytes, theirs.validatorProof));
      } catch (err) {
        if (!(err instanceof MessageError)) throw err;
        this.punish(peer, err.message); // forged, or made for another peer or chain
        return;
      }
    }
    const conn = this.host.getConnections(peer)[0];
    if (conn === undefined) return; // gone meanwhile
    const direction = conn.direction;
    if (proven !== undefined && proven === this.opts.self && !this.sameKeyWarned.has(id)) {
      if (this.sameKeyWarned.size >= 64) this.sameKeyWarned.clear();
      this.sameKeyWarned.add(id);
      // A peer holding this node's own validator key: a second instance of this validator (a key
      // backup started while its original runs). Its consensus messages stop this validator's signing
      // (the core); this names the peer, so the operator can find the other machine.
      this.log.error(
        event('peer.same-validator-key', { peer: id, address: conn.remoteAddr.toString() }),
        "a peer proved it holds this node's validator key: two nodes running one validator key sign two values at one height; stop one of them",
      );
    }
    if (proven !== undefined && proven !== this.opts.self && this.opts.validators().has(proven)) {
      this.rememberValidator(peer, proven, direction, conn.remoteAddr);
    }
    const known = this.ready.get(id);
    if (known) {
      this.updateHead(peer, theirs.headNumber, theirs.headHash);
      return;
    }
    const validator = this.isValidator(peer);
    if (!validator && !this.staticPeers.has(id) && this.readyOthers(direction) >= (direction === 'inbound' ? this.opts.maxInbound : this.opts.maxOutbound)) {
      this.log.debug({ peer: id, direction }, `peer refused: --max-${direction}-peers reached`);
      void this.host.hangUp(peer).catch(() => undefined);
      return;
    }
    if (!validator && !this.staticPeers.has(id) && this.readyNonValidators() >= this.nonValidatorSlots()) {
      // Full: the slots left are kept for validators. Not a ban: it may come back when there is room.
      this.log.debug({ peer: id, maxPeers: this.opts.maxPeers }, 'peer refused: no free slot (the rest are kept for validators)');
      void this.host.hangUp(peer).catch(() => undefined);
      return;
    }
    const p: ReadyPeer = { id: peer, head: theirs.headNumber, headHash: theirs.headHash, address: conn.remoteAddr.toString(), direction, since: Date.now() };
    this.ready.set(id, p);
    if (proven !== undefined) this.provenOf.set(id, proven);
    this.log.info(
      event('peer.connected', { peer: id, address: p.address, head: Number(p.head), ...(validator ? { validator: this.validatorOf.get(id) } : {}) }),
      'peer connected',
    );
    this.emit('head', p);
  }

  /** A ready peer that proved it holds validator key `address` (lowercase 0x hex), in the set or not. */
  peerProving(address: string): ReadyPeer | undefined {
    for (const [id, a] of this.provenOf) if (a === address) return this.ready.get(id);
    return undefined;
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
    const conn = this.host.getConnections(peer)[0];
    const address = conn === undefined ? undefined : ipOf(conn.remoteAddr);
    const addressWasBanned = address !== undefined && this.bans.isAddressBanned(address);
    this.bans.ban(id, reason, undefined, address);
    if (address !== undefined && !addressWasBanned && this.bans.isAddressBanned(address)) {
      this.log.warn(
        { address },
        `address refused: ${BANNED_PEERS_PER_ADDRESS} peers from it were banned; new connections from it are refused while their bans last`,
      );
    }
    this.ready.delete(id);
    this.provenOf.delete(id);
    const first = !this.warned.has(id);
    if (first) {
      this.warned.add(id);
      if (this.warned.size > MAX_WARNED) this.warned.delete(this.warned.values().next().value!);
    }
    this.log[first ? 'warn' : 'debug'](event('peer.banned', { peer: id, reason }), 'peer refused: disconnected and banned for a while');
    void this.host.hangUp(peer).catch(() => undefined);
  }

  /** Why and until when `peer` is banned, if it is. */
  banned(peer: PeerId | string) {
    return this.bans.get(peer);
  }

  isReady(peer: PeerId | string): boolean {
    return this.ready.has(peer.toString());
  }

  /** The ready peer `peer`, if it is one (its claimed head). */
  peer(peer: PeerId | string): ReadyPeer | undefined {
    return this.ready.get(peer.toString());
  }

  peers(): ReadyPeer[] {
    return [...this.ready.values()];
  }

  get count(): number {
    return this.ready.size;
  }

  /** Ready peers of one direction that are neither validators nor kept (bootnodes, added). */
  private readyOthers(direction: 'inbound' | 'outbound'): number {
    let n = 0;
    for (const [id, p] of this.ready) if (p.direction === direction && !this.isValidator(id) && !this.staticPeers.has(id)) n++;
    return n;
  }

  private readyNonValidators(): number {
    let n = 0;
    for (const id of this.ready.keys()) if (!this.isValidator(id)) n++;
    return n;
  }

  hasStaticPeers(): boolean {
    return this.staticPeers.size > 0;
  }

  /** How many bootnodes and added peers are not ready peers now (not connected, banned, or still in the handshake). */
  staticPeersMissing(): number {
    let n = 0;
    for (const id of this.staticPeers.keys()) if (!this.ready.has(id)) n++;
    return n;
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

/** A node ID as a string, or a one-line INVALID_ARGUMENT. */
function peerIdOrThrow(text: string): string {
  try {
    return peerIdFromString(text).toString();
  } catch {
    throw new UserError(`"${text.slice(0, 80)}" is not a node ID (16Uiu2HA…) or /ip4/…/tcp/…/p2p/<node ID>`);
  }
}
