import { archiveChainAfter, storedOrder, type DatedPiece, type Piece } from './pieces.js';

/** restic-style retention: how many snapshots to keep. Unset counts keep nothing by that rule. */
export interface RetentionPolicy {
  /** The newest N snapshots. */
  keepLast?: number;
  /** The newest snapshot of each of the last N days (UTC) that have one. */
  keepDaily?: number;
  /** The newest snapshot of each of the last N weeks (ISO weeks, UTC) that have one. */
  keepWeekly?: number;
}

export function hasRetention(p: RetentionPolicy): boolean {
  return p.keepLast !== undefined || p.keepDaily !== undefined || p.keepWeekly !== undefined;
}

/**
 * Which pieces to delete (pure). Without any rule nothing is deleted. Snapshots are kept by the rules
 * (a snapshot's time is its head block's timestamp; "newest" is stored last, see storedOrder: after a
 * node was restored to an older block, the snapshots of the timeline it left end higher but are not
 * newer); the snapshot stored last and the piece stored last are always kept; an archive is kept when
 * it continues a kept snapshot's chain (archiveChainAfter: the archives from that snapshot's head on,
 * each starting where the one before ended), since that is what restoring to any block after the
 * snapshot needs. Everything else goes.
 */
export function piecesToDelete<P extends DatedPiece>(pieces: readonly P[], policy: RetentionPolicy): P[] {
  if (!hasRetention(policy) || pieces.length === 0) return [];
  const stored = storedOrder(pieces);
  const snapshots = stored.filter((p) => p.kind === 'snapshot').reverse(); // newest first
  const keep = new Set<P>();
  snapshots.slice(0, Math.max(0, policy.keepLast ?? 0)).forEach((s) => keep.add(s));
  keepOnePer(snapshots, policy.keepDaily ?? 0, dayOf, keep);
  keepOnePer(snapshots, policy.keepWeekly ?? 0, weekOf, keep);
  if (snapshots[0]) keep.add(snapshots[0]);
  for (const s of [...keep]) for (const a of archiveChainAfter(s, pieces)) keep.add(a);
  keep.add(stored.at(-1)!);
  // Highest first: whatever is left at any moment of the deletions (seen by a `backup verify` or a
  // restore running meanwhile, or left by a delete that fails) is still a chain without a gap.
  return pieces.filter((p) => !keep.has(p)).sort((a, b) => (a.endBlock === b.endBlock ? 0 : a.endBlock > b.endBlock ? -1 : 1));
}

/**
 * Keep the newest snapshot (the first in `newestFirst`) of each of the `n` latest buckets (by their
 * block time) that have one.
 */
function keepOnePer<P extends Piece>(newestFirst: P[], n: number, bucket: (p: P) => string, keep: Set<P>): void {
  const first = new Map<string, P>();
  for (const s of newestFirst) if (!first.has(bucket(s))) first.set(bucket(s), s);
  // Bucket names (`2026-11-25`, `2026-W48`) sort as their times do.
  const latest = [...first.keys()].sort().reverse().slice(0, n);
  for (const b of latest) keep.add(first.get(b)!);
}

function dayOf(p: Piece): string {
  return new Date(Number(p.time) * 1000).toISOString().slice(0, 10);
}

/** ISO 8601 week (`2026-W48`), UTC. */
export function weekOf(p: Piece): string {
  const d = new Date(Number(p.time) * 1000);
  const day = (d.getUTCDay() + 6) % 7; // Monday 0
  const thursday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3));
  const yearStart = Date.UTC(thursday.getUTCFullYear(), 0, 1);
  const week = 1 + Math.floor((thursday.getTime() - yearStart) / (7 * 86_400_000));
  return `${thursday.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}
