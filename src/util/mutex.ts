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
