import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeStaleTemps } from '../../../src/util/stale-temp.js';
import { tempDir } from '../../helpers/cli.js';

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
    const removed = removeStaleTemps(dir, '.a.bsa.partial-');
    expect(removed.sort((a, b) => a.pid - b.pid)).toEqual(
      [
        { path: join(dir, `.a.bsa.partial-${dead}`), pid: dead },
        { path: join(dir, `.a.bsa.partial-${process.pid}`), pid: process.pid },
      ].sort((a, b) => a.pid - b.pid),
    );
    expect(removeStaleTemps(dir, '.node.restoring-').map((r) => r.pid)).toEqual([dead]);
    expect(readdirSync(dir).sort()).toEqual([`.a.bsa.partial-${dead}x`, `.a.bsa.partial-${process.ppid}`, `.b.bsa.partial-${dead}`].sort());
    expect(removeStaleTemps(join(dir, 'missing'), '.x-')).toEqual([]);
  });
});
