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

/** Shares of a Semaphore's places for holders that name a group (peers other than trusted ones, by IP address, say). */
export interface GroupShares {
  /** The most places the holders of one group hold together. */
  perGroup: number;
  /** The most places holders with a group hold in all: the others are kept for holders without one. */
  grouped: number;
}

/**
 * At most `size` holders at once, and at most `perKey` of them with one key (a peer, say, so that a
 * few cannot hold every place). A holder may also name a group (the peer's IP address): the holders of
 * one group hold at most `groups.perGroup` places together, and holders with a group at most
 * `groups.grouped` in all, the rest kept for holders without one (peers trusted). The others wait.
 *
 * A place given back goes to the waiting holder whose key holds the fewest places, then whose group
 * holds the fewest, then one of another key than the one that gave it back, then the one that came
 * first: a key that keeps requests queued behind the places it holds does not get each place it gives
 * back again while others wait. A wait ends when its `signal` aborts (its place in the queue is given
 * up, and the promise rejects with the reason).
 */
export class Semaphore {
  private held = 0;
  private heldGrouped = 0;
  private readonly heldBy = new Map<string, number>();
  private readonly heldByGroup = new Map<string, number>();
  private readonly waiting: { key: string | undefined; group: string | undefined; grant: () => void }[] = [];
  private readonly groups: GroupShares;

  constructor(
    readonly size: number,
    readonly perKey = size,
    groups: Partial<GroupShares> = {},
  ) {
    this.groups = { perGroup: groups.perGroup ?? size, grouped: groups.grouped ?? size };
  }

  /** Resolves once a place is held: give it back with `release` (with the same key and group). */
  acquire(signal?: AbortSignal, key?: string, group?: string): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free(key, group)) {
      this.take(key, group);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = {
        key,
        group,
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
  tryAcquire(key?: string, group?: string): boolean {
    if (!this.free(key, group)) return false;
    this.take(key, group);
    return true;
  }

  release(key?: string, group?: string): void {
    this.held--;
    if (key !== undefined) lower(this.heldBy, key);
    if (group !== undefined) {
      this.heldGrouped--;
      lower(this.heldByGroup, group);
    }
    // A place given back may let more than one waiting in (one held back by its group's share alone).
    for (;;) {
      let best = -1;
      let bestRank: number[] = [];
      for (let i = 0; i < this.waiting.length; i++) {
        const w = this.waiting[i]!;
        if (!this.free(w.key, w.group)) continue;
        const rank = [this.countOf(this.heldBy, w.key), this.countOf(this.heldByGroup, w.group), w.key !== undefined && w.key === key ? 1 : 0];
        if (best < 0 || before(rank, bestRank)) {
          best = i;
          bestRank = rank;
        }
      }
      if (best < 0) return;
      const [next] = this.waiting.splice(best, 1);
      this.take(next!.key, next!.group);
      next!.grant();
    }
  }

  private countOf(map: Map<string, number>, k: string | undefined): number {
    return k === undefined ? 0 : (map.get(k) ?? 0);
  }

  private free(key: string | undefined, group: string | undefined): boolean {
    if (this.held >= this.size) return false;
    if (key !== undefined && this.countOf(this.heldBy, key) >= this.perKey) return false;
    return group === undefined || (this.heldGrouped < this.groups.grouped && this.countOf(this.heldByGroup, group) < this.groups.perGroup);
  }

  private take(key: string | undefined, group: string | undefined): void {
    this.held++;
    if (key !== undefined) this.heldBy.set(key, this.countOf(this.heldBy, key) + 1);
    if (group !== undefined) {
      this.heldGrouped++;
      this.heldByGroup.set(group, this.countOf(this.heldByGroup, group) + 1);
    }
  }
}

function lower(map: Map<string, number>, k: string): void {
  const n = (map.get(k) ?? 1) - 1;
  if (n > 0) map.set(k, n);
  else map.delete(k);
}

/** Whether rank `a` comes strictly before `b` (compared element by element; equal ranks keep queue order). */
function before(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
