import type { PeerId } from '@libp2p/interface';

/** How long a misbehaving peer stays banned by default. */
export const DEFAULT_BAN_MS = 10 * 60_000;
/** Most bans remembered; past it the oldest is forgotten (a flood of fresh peer IDs cannot grow memory). */
const MAX_BANS = 4096;

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

  constructor(private readonly now: () => number = Date.now) {}

  /** Ban `peer` (or extend its ban); returns true when it was not banned already. */
  ban(peer: PeerId | string, reason: string, ms = DEFAULT_BAN_MS): boolean {
    const id = peer.toString();
    const current = this.get(id);
    this.bans.delete(id);
    // A banned peer's later offences (its streams failing as it is hung up on) extend the ban but keep the first reason.
    this.bans.set(id, { reason: current?.reason ?? reason, until: this.now() + ms });
    while (this.bans.size > MAX_BANS) this.bans.delete(this.bans.keys().next().value!);
    return current === undefined;
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
