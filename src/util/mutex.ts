/** A FIFO async mutex. After close() it rejects new work; close() waits for the work in progress. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Work queued by runCoalesced and not started yet, by key. */
  private readonly waiting = new Map<string, Promise<unknown>>();

  /**
   * run(fn), unless work of the same `key` is already queued and not started: then that work's
   * result. So however many ask, at most one of each key waits behind the work in progress.
   */
  runCoalesced<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const queued = this.waiting.get(key);
    if (queued !== undefined) return queued as Promise<T>;
    const forget = () => {
      if (this.waiting.get(key) === result) this.waiting.delete(key);
    };
    const result: Promise<T> = this.run(() => {
      forget(); // started: whoever asks from now on queues anew
      return fn();
    });
    this.waiting.set(key, result);
    void result.then(forget, forget); // never started (closed)
    return result;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('closed'));
    const result = this.tail.then(() => {
      if (this.closed) throw new Error('closed');
      return fn();
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
  }
}

/**
 * At most `size` holders at once, and at most `perKey` of them with one key (a peer, say, so that a
 * few cannot hold every place); the others wait, first come first served among those a place may go
 * to. A wait ends when its `signal` aborts (its place in the queue is given up, and the promise
 * rejects with the reason).
 */
export class Semaphore {
  private held = 0;
  private readonly heldBy = new Map<string, number>();
  private readonly waiting: { key: string | undefined; grant: () => void }[] = [];

  constructor(
    readonly size: number,
    readonly perKey = size,
  ) {}

  /** Resolves once a place is held: give it back with `release` (with the same key). */
  acquire(signal?: AbortSignal, key?: string): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free(key)) {
      this.take(key);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = {
        key,
        grant: () => {
          signal?.removeEventListener('abort', giveUp);
          resolve();
        },
      };
      const giveUp = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      this.waiting.push(entry);
      signal?.addEventListener('abort', giveUp, { once: true });
    });
  }

  release(key?: string): void {
    this.held--;
    if (key !== undefined) {
      const n = (this.heldBy.get(key) ?? 1) - 1;
      if (n > 0) this.heldBy.set(key, n);
      else this.heldBy.delete(key);
    }
    // The place goes to the first waiting whose key is under its share.
    const i = this.waiting.findIndex((w) => this.free(w.key));
    if (i < 0) return;
    const [next] = this.waiting.splice(i, 1);
    this.take(next!.key);
    next!.grant();
  }

  private free(key: string | undefined): boolean {
    return this.held < this.size && (key === undefined || (this.heldBy.get(key) ?? 0) < this.perKey);
  }

  private take(key: string | undefined): void {
    this.held++;
    if (key !== undefined) this.heldBy.set(key, (this.heldBy.get(key) ?? 0) + 1);
  }
}
