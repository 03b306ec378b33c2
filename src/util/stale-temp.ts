import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface StaleTemp {
  path: string;
  pid: number;
}

/**
 * Remove the temporary files or folders named `<prefix><pid>` in `dir` whose process is gone: what a
 * `kill -9` (or a power cut) left of an earlier run for the same target. A name whose process still
 * runs (or may: another user's, EPERM) is kept. Call it before creating this process's own temporary
 * name: one with our pid is a former process's (containers reuse pids). Returns what was removed, for
 * the caller to tell the operator.
 */
export function removeStaleTemps(dir: string, prefix: string): StaleTemp[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // the folder's own problems are reported by whoever uses it
  }
  const removed: StaleTemp[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    if (!/^\d{1,10}$/.test(rest)) continue;
    const pid = Number(rest);
    if (processRuns(pid)) continue;
    const path = join(dir, name);
    rmSync(path, { recursive: true, force: true });
    removed.push({ path, pid });
  }
  return removed;
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
