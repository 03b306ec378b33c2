import { describe, expect, it } from 'vitest';
import {
  archiveChainAfter,
  chainTip,
  continuityGaps,
  MAX_BACKUP_TIME,
  newestPiece,
  parsePieceName,
  pieceName,
  sortPieces,
  type Piece,
} from '../../../src/backup/pieces.js';

const D = '0xabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789';
const snap = (end: number, t = end): Piece =>
  parsePieceName(pieceName({ kind: 'snapshot', startBlock: 1n, endBlock: BigInt(end), time: BigInt(t), digest: D }))!;
const arch = (start: number, end: number, t = end): Piece =>
  parsePieceName(pieceName({ kind: 'archive', startBlock: BigInt(start), endBlock: BigInt(end), time: BigInt(t), digest: D }))!;

describe('piece names', () => {
  it('name and parse round-trip, with padded numbers, the last block time and 8 digest digits', () => {
    expect(pieceName({ kind: 'snapshot', startBlock: 1n, endBlock: 123n, time: 1700000000n, digest: D })).toBe('snapshot-000000123-t1700000000-abcdef01.bsn');
    expect(pieceName({ kind: 'archive', startBlock: 124n, endBlock: 200n, time: 5n, digest: D })).toBe('archive-000000124-000000200-t5-abcdef01.bsa');
    expect(parsePieceName('archive-000000124-000000200-t5-abcdef01.bsa')).toEqual({
      kind: 'archive',
      startBlock: 124n,
      endBlock: 200n,
      time: 5n,
      digest8: 'abcdef01',
      file: 'archive-000000124-000000200-t5-abcdef01.bsa',
    });
    expect(parsePieceName('snapshot-1234567890-t9-abcdef01.bsn')?.endBlock).toBe(1234567890n);
  });

  it('ignores temporary, foreign and malformed names', () => {
    for (const n of [
      '.snapshot-000000123-t1-abcdef01.bsn.partial-12',
      '.basalt-snapshot.partial-99',
      'snapshot-000000123-t1-abcdef01.bsa',
      'snapshot-123-t1-abcdef01.bsn',
      'snapshot-000000000-t1-abcdef01.bsn',
      'archive-000000200-000000124-t1-abcdef01.bsa',
      'archive-000000000-000000001-t1-abcdef01.bsa',
      'archive-000000001-000000002-t1-ABCDEF01.bsa',
      'notes.txt',
      // times no date reaches (after the year 9999): retention and `backup list` could not name their day
      'snapshot-000000001-t99999999999999-abcdef12.bsn',
      'archive-000000001-000000002-t253402300800-abcdef01.bsa',
    ]) {
      expect(parsePieceName(n), n).toBeUndefined();
    }
    expect(parsePieceName('snapshot-000000001-t253402300799-abcdef12.bsn')?.time).toBe(MAX_BACKUP_TIME);
    expect(() => pieceName({ kind: 'snapshot', startBlock: 1n, endBlock: 1n, time: MAX_BACKUP_TIME + 1n, digest: D })).toThrow(/after the year 9999/);
  });
});

describe('chain of pieces', () => {
  it('sorts by last block, an archive before the snapshot that ends at the same block', () => {
    const s = sortPieces([snap(200), arch(101, 200), snap(100), arch(201, 250)]);
    expect(s.map((p) => p.file)).toEqual([snap(100), arch(101, 200), snap(200), arch(201, 250)].map((p) => p.file));
    expect(newestPiece(s)?.file).toBe(arch(201, 250).file);
  });

  it('a continuous chain has no gaps; a missing archive, an overlap and an archive with nothing before it are named', () => {
    expect(continuityGaps([snap(100), arch(101, 150), arch(151, 200), snap(200), arch(201, 250)])).toEqual([]);
    expect(continuityGaps([snap(100), arch(101, 150), arch(171, 200)])).toEqual([
      `blocks 151-170 are missing: ${arch(171, 200).file} does not continue ${arch(101, 150).file}`,
    ]);
    expect(continuityGaps([snap(100), arch(90, 120)])[0]).toMatch(/overlaps/);
    expect(continuityGaps([arch(5, 10), snap(20)])[0]).toMatch(/^archive-000000005-000000010.*blocks before 5 are missing/);
  });

  it('follows the archives after a piece, through later snapshots, and says where a gap stops it', () => {
    const all = [snap(100), arch(101, 150), arch(151, 200), snap(200), arch(201, 250)];
    expect(archiveChainAfter(all[0]!, all).archives.map((p) => p.endBlock)).toEqual([150n, 200n, 250n]);
    expect(archiveChainAfter(all[0]!, all).gapAfter).toBeUndefined();
    const gap = [snap(100), arch(101, 150), arch(171, 200)];
    expect(archiveChainAfter(gap[0]!, gap)).toEqual({ archives: [gap[1]], gapAfter: 150n });
  });

  it("the chain's tip is the end of the newest snapshot's chain, below pieces beyond it (a node restored to an older block)", () => {
    const left = [snap(100), arch(101, 200), arch(201, 300)];
    expect(chainTip(left)?.file).toBe(arch(201, 300).file);
    expect(chainTip([...left, snap(250)])?.file).toBe(snap(250).file);
    expect(chainTip([...left, snap(250), arch(251, 260)])?.file).toBe(arch(251, 260).file);
    expect(chainTip([arch(1, 10)])).toBeUndefined();
  });
});
