import { describe, expect, it } from 'vitest';
import { DiskSpaceGuard, type DiskSpaceState } from '../../../src/node/disk-space.js';

const MiB = 1024 * 1024;

function guardWith(freeMiB: { value: number }, minMiB: number) {
  const g = new DiskSpaceGuard('/unused', minMiB * MiB, { statfs: async () => ({ bavail: freeMiB.value * 256, bsize: 4096 }) });
  const changes: DiskSpaceState[] = [];
  g.on('change', (s) => changes.push({ ...s }));
  return { g, changes };
}

describe('DiskSpaceGuard', () => {
  it('goes low below the floor and recovers only above the floor plus a margin', async () => {
    const free = { value: 500 };
    const { g, changes } = guardWith(free, 100);
    await g.check();
    expect(changes).toEqual([]);
    free.value = 99;
    await g.check();
    expect(changes.map((c) => c.low)).toEqual([true]);
    expect(changes[0]!.freeBytes).toBe(99 * MiB);
    free.value = 110; // above the floor, below floor + margin (25 MiB): stays low, no flapping
    await g.check();
    expect(g.state.low).toBe(true);
    free.value = 126;
    await g.check();
    expect(changes.map((c) => c.low)).toEqual([true, false]);
    await g.check();
    expect(changes).toHaveLength(2); // no event without a change
  });

  it('with a floor of 0 never measures and never goes low', async () => {
    let calls = 0;
    const g = new DiskSpaceGuard('/unused', 0, {
      statfs: async () => {
        calls++;
        return { bavail: 0, bsize: 4096 };
      },
    });
    expect((await g.check()).low).toBe(false);
    expect(calls).toBe(0);
  });

  it('measures the real file system', async () => {
    const g = new DiskSpaceGuard('/', 1);
    const s = await g.check();
    expect(s.freeBytes).toBeGreaterThan(0);
  });
});
