/** A FIFO async mutex. After close() it rejects new work; close() waits for the work in progress. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

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
 * At most `size` holders at once; the others wait, first come first served. A wait ends when its
 * `signal` aborts (its place in the queue is given up, and the promise rejects with the reason).
 */
export class Semaphore {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Resolves once a place is held: give it back with `release`. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.held < this.size) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', giveUp);
        resolve();
      };
      const giveUp = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', giveUp, { once: true });
    });
  }

  release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // the place passes to the first waiting
    else this.held--;
  }
}
