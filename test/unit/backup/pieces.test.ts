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
  storedOrder,
  type DatedPiece,
} from '../../../src/backup/pieces.js';

const D = '0xabcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789';
// Stored in chain order unless `storedAt` says otherwise.
const snap = (end: number, t = end, storedAt = end): DatedPiece => ({
  ...parsePieceName(pieceName({ kind: 'snapshot', startBlock: 1n, endBlock: BigInt(end), time: BigInt(t), digest: D }))!,
  storedAt,
});
const arch = (start: number, end: number, t = end, storedAt = end): DatedPiece => ({
  ...parsePieceName(pieceName({ kind: 'archive', startBlock: BigInt(start), endBlock: BigInt(end), time: BigInt(t), digest: D }))!,
  storedAt,
});

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
    expect(continuityGaps([snap(100), arch(90, 120)])[0]).toMatch(/overlaps .* and continues no piece/);
    expect(continuityGaps([arch(5, 10), snap(20)])[0]).toMatch(/^archive-000000005-000000010.*blocks before 5 are missing/);
  });

  it('the pieces of a timeline a restore left overlap the new one without a gap: each archive continues a piece ending right before it', () => {
    // S10, A11-20, A21-30, S30 left; the node restored to 25 stored S25, A26-32.
    const both = [snap(10), arch(11, 20), arch(21, 30), snap(30), snap(25, 25, 100), arch(26, 32, 32, 101)];
    expect(continuityGaps(both)).toEqual([]);
    expect(continuityGaps([...both, arch(35, 40, 40, 102)])).toEqual([`blocks 33-34 are missing: ${arch(35, 40).file} does not continue ${arch(26, 32).file}`]);
  });

  it('follows the archives after a piece, through later snapshots, to a gap', () => {
    const all = [snap(100), arch(101, 150), arch(151, 200), snap(200), arch(201, 250)];
    expect(archiveChainAfter(all[0]!, all).map((p) => p.endBlock)).toEqual([150n, 200n, 250n]);
    const gap = [snap(100), arch(101, 150), arch(171, 200)];
    expect(archiveChainAfter(gap[0]!, gap)).toEqual([gap[1]]);
  });

  it('orders pieces as they were stored; equal times (a copied bucket) in chain order', () => {
    const order = storedOrder([snap(300, 300, 5), snap(250, 250, 9), arch(101, 300, 300, 5), snap(100, 100, 5)]);
    expect(order.map((p) => `${p.startBlock}-${p.endBlock}`)).toEqual(['1-100', '101-300', '1-300', '1-250']);
  });

  it("the chain's tip is the end of the chain of the snapshot stored last, not of the one ending highest (a node restored to an older block)", () => {
    const left = [snap(100), arch(101, 200), arch(201, 300)];
    expect(chainTip(left)?.file).toBe(arch(201, 300).file);
    expect(chainTip([...left, snap(250, 250, 1000)])?.file).toBe(snap(250).file);
    expect(chainTip([...left, snap(250, 250, 1000), arch(251, 260, 260, 1001)])?.file).toBe(arch(251, 260).file);
    expect(chainTip([arch(1, 10)])).toBeUndefined();
    // The timeline left ends with S300 (stored before S250): not the tip, though it ends higher.
    const withS300 = [...left, snap(300), snap(250, 250, 1000)];
    expect(chainTip(withS300)?.file).toBe(snap(250).file);
    expect(chainTip([...withS300, arch(251, 320, 320, 1001)])?.file).toBe(arch(251, 320).file);
    // An archive of the timeline left may start right after the new snapshot: by block numbers it
    // continues it; the scheduler accepts only archives of its own blocks.
    const at250 = [snap(100), arch(101, 250), arch(251, 300), snap(300), snap(250, 250, 1000)];
    expect(chainTip(at250)?.file).toBe(arch(251, 300).file);
    expect(chainTip(at250, (a) => a.file !== arch(251, 300).file)?.file).toBe(snap(250).file);
    // Of two archives starting there, the one stored last.
    expect(chainTip([...at250, arch(251, 320, 320, 1001)])?.file).toBe(arch(251, 320).file);
    expect(chainTip([...at250, arch(251, 280, 280, 1001)])?.file).toBe(arch(251, 280).file);
    // A copied bucket (every piece stored at once): chain order, the snapshot ending highest.
    const copied = [snap(100, 100, 7), arch(101, 300, 300, 7), snap(300, 300, 7), arch(301, 310, 310, 7)];
    expect(chainTip(copied)?.file).toBe(arch(301, 310).file);
    // Copied in name order (archives first, then snapshots): the archives still carry the snapshot on.
    const byName = [arch(101, 300, 300, 1), arch(301, 310, 310, 2), snap(100, 100, 3), snap(300, 300, 4)];
    expect(chainTip(byName)?.file).toBe(arch(301, 310).file);
  });
});
