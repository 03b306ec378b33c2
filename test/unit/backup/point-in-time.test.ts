import { describe, expect, it } from 'vitest';
import { parsePieceName, pieceName, type DatedPiece, type Piece } from '../../../src/backup/pieces.js';
import { planRestore } from '../../../src/backup/point-in-time.js';
import { UserError } from '../../../src/util/errors.js';

const D = '0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const snap = (end: number, storedAt = end, time = 1000 + end): DatedPiece => ({
  ...parsePieceName(pieceName({ kind: 'snapshot', startBlock: 1n, endBlock: BigInt(end), time: BigInt(time), digest: D }))!,
  storedAt,
});
const arch = (start: number, end: number, storedAt = end, time = 1000 + end): DatedPiece => ({
  ...parsePieceName(pieceName({ kind: 'archive', startBlock: BigInt(start), endBlock: BigInt(end), time: BigInt(time), digest: D }))!,
  storedAt,
});

// Block n has timestamp 1000 + n; pieces are stored in chain order unless said otherwise.
const pieces = [snap(10), arch(11, 20), arch(21, 30), snap(30), arch(31, 40), arch(41, 50)];
const ends = (p: Piece[]) => p.map((x) => `${x.startBlock}-${x.endBlock}`);

function fails(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(pattern);
    return;
  }
  throw new Error('expected a failure');
}

describe('point-in-time restore plan', () => {
  it('--at-block between two snapshots: the older snapshot and the archives up to the block, the last one cut at it', () => {
    const p = planRestore(pieces, { block: 25n });
    expect(p.snapshot.endBlock).toBe(10n);
    expect(ends(p.archives)).toEqual(['11-20', '21-30']);
    expect(p.untilBlock).toBe(25n);
    expect(p.reach).toBe(25n);
  });

  it('--at-block on a snapshot head: that snapshot alone', () => {
    const p = planRestore(pieces, { block: 30n });
    expect(p.snapshot.endBlock).toBe(30n);
    expect(p.archives).toEqual([]);
  });

  it('no point: the newest snapshot and every archive after it', () => {
    const p = planRestore(pieces);
    expect(p.snapshot.endBlock).toBe(30n);
    expect(ends(p.archives)).toEqual(['31-40', '41-50']);
    expect(p.reach).toBe(50n);
    expect(p.untilBlock).toBeUndefined();
  });

  it('--at-time: the newest snapshot at or before it, archives while the piece before them ends at or before it', () => {
    const p = planRestore(pieces, { time: 1035n });
    expect(p.snapshot.endBlock).toBe(30n);
    expect(ends(p.archives)).toEqual(['31-40']);
    expect(p.untilTime).toBe(1035n);
    const q = planRestore(pieces, { time: 1040n }); // block 40 is at 1040: the next archive may hold blocks of that second too
    expect(ends(q.archives)).toEqual(['31-40', '41-50']);
    expect(planRestore(pieces, { time: 1029n }).snapshot.endBlock).toBe(10n);
  });

  it('refuses points the pieces cannot reach, saying why', () => {
    fails(() => planRestore(pieces, { block: 51n }), /block 51 is not backed up: the newest block backed up is 50/);
    fails(() => planRestore(pieces, { block: 5n }), /no snapshot at or below block 5: the oldest is at block 10/);
    fails(() => planRestore(pieces, { time: 1005n }), /no snapshot at or before 1970-01-01T00:16:45.000Z/);
    fails(() => planRestore([arch(1, 10)], {}), /holds no snapshot/);
    fails(() => planRestore([snap(10), arch(11, 20), arch(31, 40)], { block: 35n }), /stop at block 20/);
  });

  it('without a point or at a time, a gap before the newest block backed up fails too, naming the block the pieces reach', () => {
    const gap = [snap(10), arch(11, 20), arch(31, 40)];
    fails(
      () => planRestore(gap),
      /the newest block backed up \(40, in archive-000000031-000000040-.*\) cannot be restored: .* stop at block 20 .*--at-block 20/,
    );
    fails(() => planRestore(gap, { time: 1025n }), /1970-01-01T00:17:05.000Z cannot be restored: .* stop at block 20 .*--at-block 20/);
    // The point lies before the gap: the plan reaches it.
    expect(ends(planRestore(gap, { time: 1015n }).archives)).toEqual(['11-20']);
    expect(planRestore(gap, { block: 20n }).reach).toBe(20n);
  });

  describe('after the chain was restored to block 25: S10, A11-20, A21-30, S30 of the timeline left, then S25 and its archives', () => {
    const left = [snap(10), arch(11, 20), arch(21, 30), snap(30)];
    // The new timeline's blocks after 25 are sealed after the restore, later than the old ones.
    const both = [...left, snap(25, 100), arch(26, 40, 101, 2040)];
    const plan = (p: ReturnType<typeof planRestore>) => [`${p.snapshot.startBlock}-${p.snapshot.endBlock}`, ...ends(p.archives)];

    it('without a point: the timeline stored last, to its end, not the snapshot ending highest', () => {
      expect(plan(planRestore(both))).toEqual(['1-25', '26-40']);
      expect(planRestore(both).reach).toBe(40n);
      // S25 alone: it is the newest backup; the pieces beyond it were stored before it.
      expect(plan(planRestore([...left, snap(25, 100)]))).toEqual(['1-25']);
    });

    it('at a block or a time: the snapshot stored last of those at or before it, so the blocks of the timeline left only where it shares them', () => {
      expect(plan(planRestore(both, { block: 30n }))).toEqual(['1-25', '26-40']);
      expect(plan(planRestore(both, { block: 35n }))).toEqual(['1-25', '26-40']);
      expect(plan(planRestore(both, { time: 1035n }))).toEqual(['1-25', '26-40']); // the import stops after block 25
      expect(plan(planRestore(both, { block: 20n }))).toEqual(['1-10', '11-20']);
      expect(plan(planRestore(both, { block: 24n }))).toEqual(['1-10', '11-20', '21-30']);
      // Block 28 of the new timeline is not backed up yet: refused, not restored from the timeline left.
      fails(
        () => planRestore([...left, snap(25, 100)], { block: 28n }),
        /pieces after snapshot-000000025-.*, the timeline stored last, stop at block 25; the ones beyond were stored before it/,
      );
    });

    it('a gap in the timeline stored last is still refused', () => {
      const gap = [...left, snap(25, 100), arch(26, 28, 101, 2028), arch(31, 40, 102, 2040)];
      fails(
        () => planRestore(gap),
        /the newest block backed up \(40, in archive-000000031-000000040-.*\) cannot be restored: .* stop at block 28 .*--at-block 28/,
      );
      fails(() => planRestore(gap, { block: 35n }), /stop at block 28 \(blocks 29-… are missing\)/);
    });
  });
});
