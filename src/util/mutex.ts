import { UserError } from './errors.js';

/** Work runCoalesced queued and has not started, with the callers still waiting for it. */
interface Queued {
  result: Promise<unknown>;
  /** Callers waiting for it; those that pass no signal never leave. */
  callers: number;
  started: boolean;
  /** Every caller left before it started: it will not run. */
  dropped: boolean;
}

/** A FIFO async mutex. After close() it rejects new work; close() waits for the work in progress. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Work queued by runCoalesced and not started yet, by key. */
  private readonly waiting = new Map<string, Queued>();

  /**
   * run(fn), unless work of the same `key` is already queued and not started: then that work's
   * result. So however many ask, at most one of each key waits behind the work in progress.
   *
   * A caller whose `signal` aborts stops waiting at once (CANCELLED). Work nobody waits for any more
   * before it starts is dropped and `fn` never called: a client that asks and hangs up, over and over,
   * would otherwise have one full run of `fn` queued behind the other each time (a BackupNow is a whole
   * state walk and an upload, and pushes the scheduled snapshots out of retention). Work that has
   * started runs to its end whoever is left: others may have joined it, and its cost is spent already.
   */
  runCoalesced<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(callerLeft());
    let job = this.waiting.get(key);
    if (job === undefined) {
      const queued: Queued = { result: Promise.resolve(), callers: 0, started: false, dropped: false };
      const forget = () => {
        if (this.waiting.get(key) === queued) this.waiting.delete(key);
      };
      queued.result = this.run(() => {
        forget(); // started (or dropped): whoever asks from now on queues anew
        if (queued.dropped) throw new UserError('not run: every caller that asked for it cancelled before it started', { code: 'CANCELLED' });
        queued.started = true;
        return fn();
      });
      this.waiting.set(key, queued);
      void queued.result.then(forget, forget); // never started (closed)
      job = queued;
    }
    const joined = job;
    joined.callers++;
    if (signal === undefined) return joined.result as Promise<T>;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        reject(callerLeft());
        if (joined.started) return;
        joined.callers--;
        if (joined.callers === 0) {
          joined.dropped = true;
          if (this.waiting.get(key) === joined) this.waiting.delete(key);
        }
      };
      signal.addEventListener('abort', leave, { once: true });
      (joined.result as Promise<T>).then(
        (v) => {
          signal.removeEventListener('abort', leave);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', leave);
          reject(err);
        },
      );
    });
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

/** Why a caller of runCoalesced stopped waiting: its signal aborted (the client cancelled its call). */
function callerLeft(): UserError {
  return new UserError('cancelled by the caller', { code: 'CANCELLED' });
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

  /** A place held at once (give it back with `release`), or false when none is free: for callers refused rather than queued. */
  tryAcquire(key?: string): boolean {
    if (!this.free(key)) return false;
    this.take(key);
    return true;
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
