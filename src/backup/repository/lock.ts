import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { UserError } from '../../util/errors.js';
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
    try {
      for (const other of await listLocks(repo)) {
        if (other.name === lock.name || now() - other.content.at > LOCK_STALE_MS) continue;
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
    this.name = await write(this.repo, this.exclusive, now());
    await this.repo.target.delete(old);
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

/** The locks in the repository and what they say (an unreadable or vanished one is skipped). */
export async function listLocks(repo: Repository): Promise<{ name: string; content: LockContent }[]> {
  const out: { name: string; content: LockContent }[] = [];
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
      if (typeof c.exclusive !== 'boolean' || !Number.isFinite(c.at)) continue;
      out.push({ name, content: { exclusive: c.exclusive, at: c.at, host: String(c.host), pid: Number(c.pid) } });
    } catch {
      // deleted meanwhile (a refresh), or not ours to read
    }
  }
  return out;
}
