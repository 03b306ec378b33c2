import { describe, expect, it } from 'vitest';
import { listPieces, parsePieceName, pieceName, type DatedPiece, type Piece } from '../../../src/backup/pieces.js';
import { piecesToDelete, weekOf, type RetentionPolicy } from '../../../src/backup/retention.js';

const D = '0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const DAY = 86_400;
const T0 = Date.UTC(2026, 10, 2) / 1000; // Monday 2026-11-02 00:00 UTC
// Stored right after its last block unless `storedAt` (ms) says otherwise.
const snap = (end: number, t: number, storedAt = t * 1000): DatedPiece => ({
  ...parsePieceName(pieceName({ kind: 'snapshot', startBlock: 1n, endBlock: BigInt(end), time: BigInt(t), digest: D }))!,
  storedAt,
});
const arch = (start: number, end: number, t: number, storedAt = t * 1000): DatedPiece => ({
  ...parsePieceName(pieceName({ kind: 'archive', startBlock: BigInt(start), endBlock: BigInt(end), time: BigInt(t), digest: D }))!,
  storedAt,
});

/** Ends of the snapshots kept, and of the archives kept, highest first. */
function kept(pieces: DatedPiece[], policy: RetentionPolicy) {
  const del = new Set(piecesToDelete(pieces, policy));
  const k = pieces.filter((p) => !del.has(p)).sort((a, b) => Number(b.endBlock - a.endBlock) || (a.kind === 'snapshot' ? -1 : 1));
  return {
    snapshots: k.filter((p) => p.kind === 'snapshot').map((p) => Number(p.endBlock)),
    archives: k.filter((p) => p.kind === 'archive').map((p) => `${p.startBlock}-${p.endBlock}`),
  };
}

/** A snapshot every 6 hours for 20 days (block = hours since T0), with an archive chain between them. */
function sixHourly(days: number): DatedPiece[] {
  const out: DatedPiece[] = [];
  for (let h = 6; h <= days * 24; h += 6) {
    if (h > 6) out.push(arch(h - 5, h, T0 + h * 3600));
    out.push(snap(h, T0 + h * 3600));
  }
  return out;
}

const LATER = (T0 + DAY) * 1000;
/** S10, A11-20, A21-30, S30 of a timeline a restore to block 25 left (all on day T0, stored before LATER). */
function leftTimeline(): DatedPiece[] {
  return [snap(10, T0 + 10), arch(11, 20, T0 + 20), arch(21, 30, T0 + 30), snap(30, T0 + 30)];
}

describe('retention', () => {
  const cases: { name: string; pieces: DatedPiece[]; policy: RetentionPolicy; snapshots: number[]; archives?: string[] }[] = [
    { name: 'no rule: nothing is deleted', pieces: [snap(10, T0), snap(20, T0 + 10), snap(30, T0 + 20)], policy: {}, snapshots: [30, 20, 10] },
    { name: 'keep-last 2', pieces: [snap(10, T0), snap(20, T0 + 10), snap(30, T0 + 20)], policy: { keepLast: 2 }, snapshots: [30, 20] },
    { name: 'keep-last 0 still keeps the newest snapshot', pieces: [snap(10, T0), snap(20, T0 + 10)], policy: { keepLast: 0 }, snapshots: [20] },
    {
      name: 'keep-daily 3: the newest of each of the last 3 days with a snapshot',
      pieces: [snap(1, T0 + 100), snap(2, T0 + 200), snap(3, T0 + DAY + 100), snap(4, T0 + 3 * DAY), snap(5, T0 + 3 * DAY + 50), snap(6, T0 + 4 * DAY)],
      policy: { keepDaily: 3 },
      snapshots: [6, 5, 3],
    },
    {
      name: 'keep-weekly 2 with keep-last 1',
      pieces: [snap(1, T0 + DAY), snap(2, T0 + 2 * DAY), snap(3, T0 + 8 * DAY), snap(4, T0 + 9 * DAY), snap(5, T0 + 15 * DAY), snap(6, T0 + 16 * DAY)],
      policy: { keepLast: 1, keepWeekly: 2 },
      snapshots: [6, 4],
    },
    {
      name: 'rules add up (keep-last 1, keep-daily 2, keep-weekly 3)',
      pieces: sixHourly(20).filter((p) => p.kind === 'snapshot'),
      policy: { keepLast: 1, keepDaily: 2, keepWeekly: 3 },
      snapshots: [480, 474, 330, 162], // Sun 22 Nov 00:00; Sat 21 Nov 18:00; the last of the weeks of 9 and 2 Nov (Sundays 18:00)
    },
    {
      name: 'archives after the oldest kept snapshot are kept (point-in-time restore), older ones go',
      pieces: [snap(10, T0), arch(11, 20, T0 + 1), snap(20, T0 + 2), arch(21, 30, T0 + 3), snap(30, T0 + 4), arch(31, 40, T0 + 5)],
      policy: { keepLast: 2 },
      snapshots: [30, 20],
      archives: ['31-40', '21-30'],
    },
    {
      name: 'an archive chain broken by a gap is kept only up to the gap; the newest piece is never deleted',
      pieces: [snap(10, T0), arch(11, 20, T0 + 1), arch(31, 40, T0 + 5)],
      policy: { keepLast: 1 },
      snapshots: [10],
      archives: ['31-40', '11-20'],
    },
    {
      name: 'archives before every snapshot are deleted',
      pieces: [arch(1, 5, T0), snap(10, T0 + 1), arch(11, 12, T0 + 2)],
      policy: { keepLast: 5 },
      snapshots: [10],
      archives: ['11-12'],
    },
    {
      name: 'after a restore to block 25: keep-last 1 keeps the snapshot stored last, not the one ending highest, and the timeline left goes',
      pieces: [...leftTimeline(), snap(25, T0 + 25, LATER), arch(26, 32, T0 + 100, LATER + 1)],
      policy: { keepLast: 1 },
      snapshots: [25],
      archives: ['26-32'],
    },
    {
      name: 'after a restore to block 25: the snapshot just stored is kept though others end higher',
      pieces: [...leftTimeline(), snap(25, T0 + 25, LATER)],
      policy: { keepLast: 1 },
      snapshots: [25],
      archives: [],
    },
    {
      name: 'after a restore to block 25: keep-last 2 counts in the order stored (an older timeline snapshot kept, not its archives before it)',
      pieces: [...leftTimeline(), snap(25, T0 + 25, LATER)],
      policy: { keepLast: 2 },
      snapshots: [30, 25],
      archives: [],
    },
    {
      name: 'keep-daily: the snapshot stored last of a day, not the one ending highest',
      pieces: [...leftTimeline(), snap(25, T0 + 25, LATER)],
      policy: { keepDaily: 1 },
      snapshots: [25],
    },
    {
      name: 'pieces stored at the same time (a copied bucket): in chain order, the snapshot ending highest is the newest',
      pieces: [snap(10, T0, 7), arch(11, 20, T0 + 1, 7), snap(20, T0 + 2, 7), arch(21, 30, T0 + 3, 7)],
      policy: { keepLast: 1 },
      snapshots: [20],
      archives: ['21-30'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const k = kept(c.pieces, c.policy);
      expect(k.snapshots).toEqual(c.snapshots);
      if (c.archives) expect(k.archives).toEqual(c.archives);
    });
  }

  it('deletes newest first, so the pieces left after every single delete still form a chain without a gap', () => {
    const pieces = sixHourly(3);
    const order = piecesToDelete(pieces, { keepLast: 1 });
    expect(order.length).toBeGreaterThan(4);
    const left = new Set(pieces);
    for (const p of order) {
      left.delete(p);
      for (const a of [...left].filter((x) => x.kind === 'archive')) {
        const base = [...left].some((x) => x.endBlock === a.startBlock - 1n);
        expect(base, `after deleting ${p.file}: archive ${a.file} has nothing before it`).toBe(true);
      }
    }
  });

  it("ISO weeks start on Monday and week 1 holds the year's first Thursday", () => {
    const at = (iso: string) => ({ time: BigInt(Date.parse(iso) / 1000) }) as Piece;
    expect(weekOf(at('2026-11-01T23:59:59Z'))).toBe('2026-W44'); // Sunday
    expect(weekOf(at('2026-11-02T00:00:00Z'))).toBe('2026-W45'); // Monday
    expect(weekOf(at('2027-01-01T12:00:00Z'))).toBe('2026-W53');
    expect(weekOf(at('2025-12-29T00:00:00Z'))).toBe('2026-W01');
  });

  it('a file named as a piece of a time no date reaches is passed over by the listing, so retention by day still runs', async () => {
    const ours = [snap(1, T0), snap(2, T0 + DAY)];
    const names = [...ours.map((p) => p.file), 'snapshot-000000003-t99999999999999-abcdef12.bsn'];
    const listed = await listPieces({ list: async () => names.map((name) => ({ name, bytes: 0, storedAt: 0 })) });
    expect(listed.map((p) => p.file)).toEqual(ours.map((p) => p.file));
    expect(piecesToDelete(listed, { keepDaily: 1 }).map((p) => p.file)).toEqual([ours[0]!.file]);
  });
});
