import { describe, expect, it } from 'vitest';
import { parsePieceName, pieceName, type Piece } from '../../../src/backup/pieces.js';
import { planRestore } from '../../../src/backup/point-in-time.js';
import { UserError } from '../../../src/util/errors.js';

const D = '0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const snap = (end: number): Piece =>
  parsePieceName(pieceName({ kind: 'snapshot', startBlock: 1n, endBlock: BigInt(end), time: BigInt(1000 + end), digest: D }))!;
const arch = (start: number, end: number): Piece =>
  parsePieceName(pieceName({ kind: 'archive', startBlock: BigInt(start), endBlock: BigInt(end), time: BigInt(1000 + end), digest: D }))!;

// Block n has timestamp 1000 + n.
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
    // A node restored to block 25 stored a snapshot there, below the pieces it left (no archive continues it yet).
    const restored = [snap(10), arch(11, 20), arch(21, 30), snap(25)];
    fails(() => planRestore(restored), /stop at block 25 \(blocks 26-… are missing\); --at-block 25/);
    expect(planRestore(restored, { block: 25n }).reach).toBe(25n);
  });
});
