import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileError } from './errors.js';

export interface StaleTemp {
  path: string;
  pid: number;
}

/** What removeStaleTemps found: the leftovers it removed, and those it could not remove (`error`: why, one line). */
export interface StaleTemps {
  removed: StaleTemp[];
  kept: (StaleTemp & { error: string })[];
}

/**
 * Remove the temporary files or folders named `<prefix><pid>` in `dir` whose process is gone: what a
 * `kill -9` (or a power cut) left of an earlier run for the same target. A name whose process still
 * runs (or may: another user's, EPERM) is kept. Call it before creating this process's own temporary
 * name: one with our pid is a former process's (containers reuse pids). A leftover it cannot remove
 * (another user's in a sticky /tmp: EPERM) is kept, never thrown: it holds another pid's name, so it
 * is in nobody's way, and failing on it would refuse that target name forever. Returns what was removed
 * and what was kept, for the caller to tell the operator.
 */
export function removeStaleTemps(dir: string, prefix: string): StaleTemps {
  const found: StaleTemps = { removed: [], kept: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return found; // the folder's own problems are reported by whoever uses it
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    if (!/^\d{1,10}$/.test(rest)) continue;
    const pid = Number(rest);
    if (processRuns(pid)) continue;
    removeLeftover(found, join(dir, name), pid);
  }
  return found;
}

/** Remove the leftover `path` of process `pid` (gone), a file or a folder, into `found.removed`; into `found.kept` if it cannot be removed. */
export function removeLeftover(found: StaleTemps, path: string, pid: number): void {
  try {
    rmSync(path, { recursive: true, force: true });
    found.removed.push({ path, pid });
  } catch (err) {
    found.kept.push({ path, pid, error: fileError(err, 'remove', path).message });
  }
}

/** Whether process `pid` runs. Our own pid on a temp file we are not writing is a former process (containers reuse pids). */
export function processRuns(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
