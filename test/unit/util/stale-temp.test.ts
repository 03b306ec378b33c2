import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../helpers/cli.js';

/**
 * Paths rmSync refuses with EPERM, as the kernel does for another user's file in a sticky /tmp (the
 * tests run as root, whom no permission stops).
 */
const refused = new Set<string>();
vi.mock('node:fs', async (original) => {
  const real = await original<typeof import('node:fs')>();
  return {
    ...real,
    rmSync: (path: string, opts?: import('node:fs').RmOptions) => {
      if (refused.has(path)) throw Object.assign(new Error(`EPERM: operation not permitted, rm '${path}'`), { code: 'EPERM', path });
      real.rmSync(path, opts);
    },
  };
});

const { removeStaleTemps } = await import('../../../src/util/stale-temp.js');

describe('removeStaleTemps', () => {
  it('removes only the leftovers of processes that are gone', () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: its PID names no process (until reused)
    writeFileSync(join(dir, `.a.bsa.partial-${dead}`), 'x');
    mkdirSync(join(dir, `.a.bsa.partial-${dead + 0}x`)); // not a PID suffix
    writeFileSync(join(dir, `.a.bsa.partial-${process.ppid}`), 'a running process');
    writeFileSync(join(dir, `.a.bsa.partial-${process.pid}`), 'a former process with our pid');
    mkdirSync(join(dir, `.node.restoring-${dead}`));
    writeFileSync(join(dir, `.node.restoring-${dead}`, 'CURRENT'), 'x');
    writeFileSync(join(dir, `.b.bsa.partial-${dead}`), 'another target');
    const { removed, kept } = removeStaleTemps(dir, '.a.bsa.partial-');
    expect(kept).toEqual([]);
    expect(removed.sort((a, b) => a.pid - b.pid)).toEqual(
      [
        { path: join(dir, `.a.bsa.partial-${dead}`), pid: dead },
        { path: join(dir, `.a.bsa.partial-${process.pid}`), pid: process.pid },
      ].sort((a, b) => a.pid - b.pid),
    );
    expect(removeStaleTemps(dir, '.node.restoring-').removed.map((r) => r.pid)).toEqual([dead]);
    expect(readdirSync(dir).sort()).toEqual([`.a.bsa.partial-${dead}x`, `.a.bsa.partial-${process.ppid}`, `.b.bsa.partial-${dead}`].sort());
    expect(removeStaleTemps(join(dir, 'missing'), '.x-')).toEqual({ removed: [], kept: [] });
  });

  it("keeps a leftover it may not remove (another user's in a sticky /tmp), saying why, and removes the others", () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const theirs = join(dir, `.x.bsa.partial-${dead}`);
    const ours = join(dir, `.x.bsa.partial-${process.pid}`);
    writeFileSync(theirs, 'user B');
    writeFileSync(ours, 'a former process with our pid');
    refused.add(theirs);
    try {
      expect(removeStaleTemps(dir, '.x.bsa.partial-')).toEqual({
        removed: [{ path: ours, pid: process.pid }],
        kept: [{ path: theirs, pid: dead, error: `cannot remove ${theirs}: permission denied` }],
      });
    } finally {
      refused.delete(theirs);
    }
    expect(readdirSync(dir)).toEqual([`.x.bsa.partial-${dead}`]);
  });
});
