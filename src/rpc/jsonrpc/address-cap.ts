import type { Socket } from 'node:net';
import { addressKey, isLoopbackHost } from '../../util/net.js';

/** Open connections from one client address (HTTP and WebSocket servers each), beyond loopback. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 32;

/**
 * Counts a server's open connections by client address (addressKey) and refuses one past the bound.
 * The bound applies only once the server listens beyond loopback: on loopback every client comes
 * through the same machine (a reverse proxy: one address for all its users), which must bound them itself.
 */
export class AddressCap {
  private readonly open = new Map<string, number>();
  private bound = Infinity;

  constructor(private readonly perAddress: number) {}

  /** The server listens on `address` (call once it does, with the address it bound: a name such as `localhost` may not resolve to loopback). */
  listening(address: string): void {
    this.bound = isLoopbackHost(address) ? Infinity : this.perAddress;
  }

  /** The bound in force (Infinity on loopback). */
  get limit(): number {
    return this.bound;
  }

  /** What a per-client share counts `socket`'s calls under: its address's key, or undefined where the bound is off (loopback). */
  clientOf(socket: Socket): string | undefined {
    return this.bound === Infinity ? undefined : addressKey(socket.remoteAddress);
  }

  /** Count `socket` under its address until it closes; false, and not counted, when its address is at the bound. */
  admit(socket: Socket): boolean {
    const key = addressKey(socket.remoteAddress);
    const n = this.open.get(key) ?? 0;
    if (n >= this.bound) return false;
    this.open.set(key, n + 1);
    socket.once('close', () => {
      const left = (this.open.get(key) ?? 1) - 1;
      if (left > 0) this.open.set(key, left);
      else this.open.delete(key);
    });
    return true;
  }
}
