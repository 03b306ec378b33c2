import type { PeerId } from '@libp2p/interface';

/** How long a misbehaving peer stays banned by default. */
export const DEFAULT_BAN_MS = 10 * 60_000;
/** Most bans remembered; past it the oldest is forgotten (a flood of fresh peer IDs cannot grow memory). */
const MAX_BANS = 4096;
/**
 * Peers banned from one IP address after which the address itself is refused: new inbound connections
 * from it are turned away, before any handshake, while that many of their bans last. A peer identity
 * costs nothing, so a peer banned for a flood comes back under a new one at once and floods again until
 * banned again; an address costs something. Honest peers behind one NAT are refused only when five of
 * them misbehave within a ban's length; this node's own dials to that address are not affected, so a
 * validator there is still reached (the peer manager redials validators).
 */
export const BANNED_PEERS_PER_ADDRESS = 5;

export interface Ban {
  reason: string;
  until: number;
}

/**
 * Peers that sent invalid blocks, malformed or oversized messages, or belong to another chain: the
 * host refuses connections to and from them until the ban expires (the connection gater asks here).
 */
export class BanList {
  private readonly bans = new Map<string, Ban>();
  /** Per IP address: the peers banned from it and until when. */
  private readonly byAddress = new Map<string, Map<string, number>>();

  constructor(
    private readonly now: () => number = Date.now,
    /** Told of every new ban (not of extensions), with its reason: the ban metric. */
    private readonly onBan?: (reason: string) => void,
  ) {}

  /**
   * Ban `peer` (or extend its ban); returns true when it was not banned already. `address`: the IP
   * address it was connected from, counted towards banning the address (BANNED_PEERS_PER_ADDRESS).
   */
  ban(peer: PeerId | string, reason: string, ms = DEFAULT_BAN_MS, address?: string): boolean {
    const id = peer.toString();
    const current = this.get(id);
    if (current === undefined) this.onBan?.(reason);
    this.bans.delete(id);
    // A banned peer's later offences (its streams failing as it is hung up on) extend the ban but keep the first reason.
    const until = this.now() + ms;
    this.bans.set(id, { reason: current?.reason ?? reason, until });
    while (this.bans.size > MAX_BANS) this.bans.delete(this.bans.keys().next().value!);
    if (address !== undefined) {
      const wasBanned = this.isAddressBanned(address);
      const peers = this.byAddress.get(address) ?? new Map<string, number>();
      peers.delete(id);
      peers.set(id, until);
      // Only the newest bans matter (the address stays refused while the threshold's newest last).
      while (peers.size > BANNED_PEERS_PER_ADDRESS) peers.delete(peers.keys().next().value!);
      this.byAddress.delete(address);
      this.byAddress.set(address, peers);
      while (this.byAddress.size > MAX_BANS) this.byAddress.delete(this.byAddress.keys().next().value!);
      if (!wasBanned && this.isAddressBanned(address)) this.onBan?.(`address ${address}: ${BANNED_PEERS_PER_ADDRESS} peers from it banned`);
    }
    return current === undefined;
  }

  /** Whether connections from this IP address are refused: BANNED_PEERS_PER_ADDRESS peers from it are banned. */
  isAddressBanned(address: string): boolean {
    const peers = this.byAddress.get(address);
    if (peers === undefined) return false;
    const t = this.now();
    let live = 0;
    for (const until of peers.values()) if (until > t) live++;
    if (live === 0) this.byAddress.delete(address);
    return live >= BANNED_PEERS_PER_ADDRESS;
  }

  get(peer: PeerId | string): Ban | undefined {
    const id = peer.toString();
    const b = this.bans.get(id);
    if (b !== undefined && b.until <= this.now()) {
      this.bans.delete(id);
      return undefined;
    }
    return b;
  }

  isBanned(peer: PeerId | string): boolean {
    return this.get(peer) !== undefined;
  }

  get size(): number {
    return this.bans.size;
  }
}

/** A ban's reason as a metric label (a small fixed set). */
export function banKind(reason: string): string {
  if (/^address /.test(reason)) return 'address';
  if (/snapshot too slowly/.test(reason)) return 'slow-snapshot';
  if (/another chain/.test(reason)) return 'wrong-chain';
  if (/invalid block|bad snapshot/.test(reason)) return 'invalid-data';
  if (/claims blocks it does not serve/.test(reason)) return 'false-head';
  if (/validator proof|proof/.test(reason)) return 'forged-proof';
  if (/in a minute/.test(reason)) return 'flood';
  if (/IBFT/.test(reason)) return 'ibft';
  if (/transaction/.test(reason)) return 'transaction';
  return 'protocol';
}

/**
 * Offences counted per peer over a sliding minute: past `limit` the peer is to be banned. Bounded
 * memory: at most MAX_BANS peers are tracked, the oldest forgotten first.
 */
export class Strikes {
  /** Per peer: [time, weight] of each offence within the window, oldest first. */
  private readonly hits = new Map<string, [number, number][]>();

  constructor(
    readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Count an offence of `peer` weighing `weight` (1 by default; a larger message may weigh more); true
   * when its offences within the window now weigh more than `limit`.
   */
  hit(peer: PeerId | string, weight = 1): boolean {
    const id = peer.toString();
    const t = this.now();
    const list = (this.hits.get(id) ?? []).filter(([x]) => t - x < this.windowMs);
    list.push([t, weight]);
    let total = 0;
    for (const [, w] of list) total += w;
    // Past the limit the peer is banned anyway: keep no more than it takes to say so.
    while (list.length > 1 && total - list[0]![1] > this.limit) total -= list.shift()![1];
    this.hits.delete(id);
    this.hits.set(id, list);
    while (this.hits.size > MAX_BANS) this.hits.delete(this.hits.keys().next().value!);
    return total > this.limit;
  }
}
