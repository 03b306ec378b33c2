/**
 * The reads of historical state under way (JSON-RPC calls that open the state of a block): a pruner
 * that has recorded the oldest state it keeps waits for the ones that began before, which may still be
 * reading older states, before it deletes anything. Each call is bounded by its own limits (the EVM
 * time limit, the request's), so a wait ends.
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

  /** Resolves once every read that began before this call has ended. */
  drain(): Promise<void> {
    const below = this.next;
    if (!this.pendingBelow(below)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below, resolve }));
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
