/**
 * The reads of historical state under way (JSON-RPC calls that open the state of a block): a pruner
 * that has recorded the oldest state it keeps waits for the ones that began before, which may still be
 * reading older states, before it deletes anything. A call is bounded by its own limits (the EVM time
 * limit, the gas cap) only as long as the operator keeps them (`--rpc-evm-timeout 0 --rpc-gas-cap 0`
 * lets an eth_call loop for ever), so a wait has a bound of its own. Nothing here ever blocks a read:
 * a read begins at once, whatever a pruner waits for.
 */
export class StateReaders {
  private next = 0;
  private readonly active = new Set<number>();
  private waiters: { below: number; resolve: () => void }[] = [];

  /** A read begins; call what it returns when it ends (once). */
  enter(): () => void {
    const id = this.next++;
    this.active.add(id);
    return () => {
      if (!this.active.delete(id)) return;
      this.wake();
    };
  }

  /** Run `read` as one read: entered before it starts, left when it settles. */
  async during<T>(read: () => Promise<T>): Promise<T> {
    const leave = this.enter();
    try {
      return await read();
    } finally {
      leave();
    }
  }

  /**
   * Resolves true once every read that began before this call has ended, or false once `withinMs` have
   * passed with one still running (the wait given up: nothing is cancelled).
   */
  drain(withinMs: number): Promise<boolean> {
    const below = this.next;
    if (!this.pendingBelow(below)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        below,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      // Unref'd: a wait given up by a node stopping (abortable) does not keep the process alive.
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, withinMs).unref();
      this.waiters.push(waiter);
    });
  }

  get count(): number {
    return this.active.size;
  }

  private pendingBelow(below: number): boolean {
    for (const id of this.active) if (id < below) return true;
    return false;
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.pendingBelow(w.below)) return true;
      w.resolve();
      return false;
    });
  }
}
