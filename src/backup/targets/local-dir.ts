import { copyFileSync, createReadStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UserError, errorMessage } from '../../util/errors.js';
import type { BackupTarget, StagedPiece, TargetEntry } from './target.js';
import { fsyncFile, renameDurably } from '../../util/durable.js';

/**
 * A local folder as a backup target. Pieces are staged in the folder itself under hidden temporary
 * names, so a put is an fsync and a rename (then an fsync of the folder): a crash leaves either the
 * whole piece under its name or only a hidden temporary file, which the next start removes.
 */
export class LocalDirTarget implements BackupTarget {
  readonly url: string;
  readonly stagingDir: string;

  /** `create`: make the folder when missing (the node); otherwise a missing folder is an error (list, verify, restore). */
  constructor(dir: string, create = true) {
    this.url = resolve(dir);
    this.stagingDir = this.url;
    if (!create) {
      let st;
      try {
        st = statSync(this.url);
      } catch {
        throw new UserError(`backup folder ${this.url} does not exist`, { code: 'NOT_FOUND' });
      }
      if (!st.isDirectory()) throw new UserError(`${this.url} is not a folder`, { code: 'FAILED_PRECONDITION' });
      return;
    }
    try {
      mkdirSync(this.url, { recursive: true });
    } catch (err) {
      throw new UserError(`cannot create backup folder ${this.url}: ${errorMessage(err)}`, { code: 'FAILED_PRECONDITION' });
    }
    if (!statSync(this.url).isDirectory()) throw new UserError(`${this.url} is not a folder`, { code: 'FAILED_PRECONDITION' });
  }

  async put(name: string, staged: StagedPiece, _signal?: AbortSignal): Promise<void> {
    checkName(name);
    const final = join(this.url, name);
    let from = staged.path;
    if (dirname(resolve(staged.path)) !== this.url) {
      from = join(this.url, `.${name}.partial-${process.pid}`);
      copyFileSync(staged.path, from);
    }
    fsyncFile(from);
    renameDurably(from, final);
  }

  async list(): Promise<TargetEntry[]> {
    const out: TargetEntry[] = [];
    for (const name of readdirSync(this.url)) {
      if (name.startsWith('.')) continue;
      try {
        const st = statSync(join(this.url, name));
        if (st.isFile()) out.push({ name, bytes: st.size, storedAt: st.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
    return out;
  }

  get(name: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    checkName(name);
    return createReadStream(join(this.url, name), { highWaterMark: 256 * 1024, ...(signal ? { signal } : {}) });
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    rmSync(join(this.url, name), { force: true });
  }

  close(): void {}
}

function checkName(name: string): void {
  if (name.includes('/') || name.startsWith('.')) throw new Error(`bad piece name ${name}`);
}
