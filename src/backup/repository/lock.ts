import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { UserError } from '../../util/errors.js';
import { processRuns } from '../../util/stale-temp.js';
import type { Repository } from './repository.js';

/** A lock not refreshed for this long belongs to a process that died: it is ignored (and a prune removes it). */
export const LOCK_STALE_MS = 30 * 60_000;
/** How often a holder writes its lock again. */
const LOCK_REFRESH_MS = 5 * 60_000;
const MAX_LOCK_BYTES = 4096;

interface LockContent {
  exclusive: boolean;
  /** When this lock object was written (a refresh writes a new one), ms since the epoch. */
  at: number;
  host: string;
  pid: number;
}

/**
 * restic's repository locks: a backup holds a shared lock while it writes, a prune an exclusive one,
 * so that a prune never deletes what a backup running at the same time relies on. A lock is an object
 * `lock-<random>` (objects are never rewritten: a refresh writes a new one and deletes the old). Taking
 * a lock writes it first and then lists the others, so of a backup and a prune that start together at
 * least one sees the other and gives way: never both proceed.
 */
export class RepositoryLock {
  private name: string;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  /** When this holder last wrote its lock (a refresh that fails leaves it older). */
  private writtenAt = 0;
  /**
   * The longest time this holder's lock went unwritten: once over what others wait before they take it
   * for stale, it stays so, even after a later refresh got through (a prune may have acted meanwhile).
   */
  private longestGapMs = 0;

  private constructor(
    private readonly repo: Repository,
    private readonly exclusive: boolean,
    name: string,
  ) {
    this.name = name;
  }

  /** Take a lock; throws UserError (FAILED_PRECONDITION) naming the holder when a conflicting one is held. */
  static async take(repo: Repository, exclusive: boolean, now: () => number = Date.now): Promise<RepositoryLock> {
    const lock = new RepositoryLock(repo, exclusive, await write(repo, exclusive, now()));
    lock.writtenAt = now();
    try {
      // A lock listed but not readable is being refreshed or released: look again, and if it stays
      // unreadable count it as held (never proceed on a lock this process could not read).
      let others = await listLocks(repo);
      for (let i = 0; i < 3 && others.unreadable.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        others = await listLocks(repo);
      }
      // One that stayed unreadable since it was stored over LOCK_STALE_MS ago is no process's (a live
      // one is refreshed well within that): damaged, it holds nothing, and the next prune deletes it.
      const held = others.unreadable.length > 0 ? (await unreadableLocks(repo, others.unreadable, now())).recent : [];
      if (held.length > 0) {
        throw new UserError(`the repository ${repo.url} has a lock that cannot be read (${held[0]}); try again later`, {
          code: 'FAILED_PRECONDITION',
        });
      }
      for (const other of others.locks) {
        if (other.name === lock.name || isStale(other.content, now())) continue;
        if (exclusive || other.content.exclusive) {
          const what = other.content.exclusive ? 'being pruned' : 'being backed up';
          throw new UserError(
            `the repository ${repo.url} is ${what} by process ${other.content.pid} on ${other.content.host} (${other.name}); try again when it is done`,
            { code: 'FAILED_PRECONDITION' },
          );
        }
      }
    } catch (err) {
      await repo.target.delete(lock.name).catch(() => undefined);
      throw err;
    }
    lock.timer = setInterval(() => {
      lock.refreshing = lock.refresh(now).catch(() => undefined);
    }, LOCK_REFRESH_MS);
    lock.timer.unref();
    return lock;
  }

  private async refresh(now: () => number): Promise<void> {
    const old = this.name;
    const at = now();
    try {
      this.name = await write(this.repo, this.exclusive, at);
    } finally {
      // Others saw the old lock alone until the new one was written (or, failing, at least until now).
      this.longestGapMs = Math.max(this.longestGapMs, now() - this.writtenAt);
    }
    this.writtenAt = at;
    await this.repo.target.delete(old);
  }

  /**
   * Throw unless this lock was written recently enough, and never went unwritten long enough, that no
   * other process can have taken it for stale:
   * checked before a step that relies on it (a prune's deletions, a backup's manifest: a prune that
   * took a backup's lock for stale may have deleted objects the backup's manifest would name). `step`
   * says what was not done.
   */
  assertHeld(at: number, step = 'deleting anything'): void {
    const gap = Math.max(this.longestGapMs, at - this.writtenAt);
    if (gap > LOCK_STALE_MS - LOCK_REFRESH_MS) {
      throw new UserError(`the lock on ${this.repo.url} could not be refreshed for ${Math.round(gap / 60_000)} minutes: stopped before ${step}`, {
        code: 'UNAVAILABLE',
      });
    }
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing;
    await this.repo.target.delete(this.name);
  }
}

async function write(repo: Repository, exclusive: boolean, at: number): Promise<string> {
  const content: LockContent = { exclusive, at, host: hostname(), pid: process.pid };
  const name = `lock-${randomBytes(32).toString('hex')}`;
  await repo.putBytes(() => name, new TextEncoder().encode(JSON.stringify(content)));
  return name;
}

/**
 * A lock written over LOCK_STALE_MS ago (or implausibly far in the future) belongs to a process that
 * died; so does one of this host whose process is gone (a node killed with -9 and restarted need not
 * wait 30 minutes for its retention or a prune), as restic decides. A lock of this very process is
 * never stale: it is one of its own operations.
 */
function isStale(c: LockContent, now: number): boolean {
  if (now - c.at > LOCK_STALE_MS || c.at - now > LOCK_STALE_MS) return true;
  return c.host === hostname() && c.pid !== process.pid && !processRuns(c.pid);
}

/** The locks in the repository and what they say, and those that could not be read. */
export async function listLocks(repo: Repository): Promise<{ locks: { name: string; content: LockContent }[]; unreadable: string[] }> {
  const out: { name: string; content: LockContent }[] = [];
  const unreadable: string[] = [];
  for (const name of (await repo.list()).locks) {
    try {
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      for await (const c of repo.get(name)) {
        bytes += c.length;
        if (bytes > MAX_LOCK_BYTES) throw new Error('too large');
        chunks.push(c);
      }
      const c = JSON.parse(Buffer.concat(chunks).toString('utf8')) as LockContent;
      if (typeof c.exclusive !== 'boolean' || !Number.isFinite(c.at)) throw new Error('not a lock');
      out.push({ name, content: { exclusive: c.exclusive, at: c.at, host: String(c.host), pid: Number(c.pid) } });
    } catch {
      unreadable.push(name); // deleted meanwhile (a refresh, a release), or damaged
    }
  }
  return { locks: out, unreadable };
}

/** Stale locks (their processes died; or unreadable since they were stored over LOCK_STALE_MS ago), for a prune to delete. */
export async function staleLocks(repo: Repository, now: number): Promise<string[]> {
  const { locks, unreadable } = await listLocks(repo);
  const old = unreadable.length > 0 ? (await unreadableLocks(repo, unreadable, now)).old : [];
  return [...locks.filter((l) => isStale(l.content, now)).map((l) => l.name), ...old];
}

/** `names` (locks that cannot be read) still listed: stored within LOCK_STALE_MS of `now`, or before. */
async function unreadableLocks(repo: Repository, names: string[], now: number): Promise<{ recent: string[]; old: string[] }> {
  const storedAt = new Map((await repo.target.list()).map((e) => [e.name, e.storedAt]));
  const out = { recent: [] as string[], old: [] as string[] };
  for (const n of names) {
    const at = storedAt.get(n);
    if (at !== undefined) (now - at <= LOCK_STALE_MS ? out.recent : out.old).push(n);
  }
  return out;
}

/**
 * A shared lock for a reader (restore, verify), so that no prune deletes what it reads, when the
 * credentials allow writing one: a prune under way is an error; a refused write (read-only access to
 * the bucket or folder) is not, and the reader goes on without a lock.
 */
export async function takeReaderLock(repo: Repository): Promise<RepositoryLock | undefined> {
  try {
    return await RepositoryLock.take(repo, false);
  } catch (err) {
    if (err instanceof UserError) throw err;
    return undefined;
  }
}
