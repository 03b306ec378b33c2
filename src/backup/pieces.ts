/**
 * Pieces of a scheduled backup: snapshots (`.bsn`) and incremental archives (`.bsa`) whose names say
 * what they hold, so that a target's listing alone is the manifest:
 *
 *   snapshot-<head>-t<time>-<digest8>.bsn           blocks 1..head with the head's state
 *   archive-<start>-<end>-t<time>-<digest8>.bsa     blocks start..end
 *
 * Block numbers are zero-padded to 9 digits (more when needed), `time` is the last block's timestamp
 * (unix seconds: point-in-time restore and retention work from block time, so every node names the
 * same piece the same way), `digest8` the first 8 hex digits of the file's sha256 digest (its trailer
 * holds the whole one). The files' own headers and trailers are the authority; `backup verify` checks
 * that they say what the names say.
 */

export type PieceKind = 'snapshot' | 'archive';

export interface Piece {
  kind: PieceKind;
  /** 1 for a snapshot (it holds the whole history). */
  startBlock: bigint;
  endBlock: bigint;
  /** Timestamp of the last block, unix seconds. */
  time: bigint;
  /** First 8 hex digits of the sha256 digest. */
  digest8: string;
  /** The name in the target. */
  file: string;
}

/** A piece with when the target stored it: what "newest" means for a snapshot (storedOrder). */
export interface DatedPiece extends Piece {
  /** When the target stored it (ms since the epoch, from its listing). */
  storedAt: number;
}

/** A piece with what the target's listing adds. */
export interface ListedPiece extends DatedPiece {
  bytes: number;
}

const BLOCK = '(\\d{9,20})';
const SNAPSHOT_RE = new RegExp(`^snapshot-${BLOCK}-t(\\d{1,20})-([0-9a-f]{8})\\.bsn$`);
const ARCHIVE_RE = new RegExp(`^archive-${BLOCK}-${BLOCK}-t(\\d{1,20})-([0-9a-f]{8})\\.bsa$`);

const pad = (n: bigint) => n.toString().padStart(9, '0');

/**
 * The latest time a piece's name (or a repository manifest) may carry: 9999-12-31T23:59:59Z, unix
 * seconds. Retention and `backup list` turn times into dates, which end near year 275,760; a chain's
 * blocks are near the present. A name beyond it is not a piece (a foreign file, passed over).
 */
export const MAX_BACKUP_TIME = 253_402_300_799n;

/** The name of a piece; `digest` is the file's 0x-hex sha256 digest (or its first 8 hex digits). */
export function pieceName(p: { kind: PieceKind; startBlock: bigint; endBlock: bigint; time: bigint; digest: string }): string {
  const d8 = p.digest.replace(/^0x/, '').slice(0, 8).toLowerCase();
  if (!/^[0-9a-f]{8}$/.test(d8)) throw new Error(`digest ${p.digest} is not hex`);
  if (p.time > MAX_BACKUP_TIME) throw new Error(`block time ${p.time} is after the year 9999`);
  return p.kind === 'snapshot' ? `snapshot-${pad(p.endBlock)}-t${p.time}-${d8}.bsn` : `archive-${pad(p.startBlock)}-${pad(p.endBlock)}-t${p.time}-${d8}.bsa`;
}

/** The piece a name describes, or undefined for any other name (temporary files, foreign files). */
export function parsePieceName(file: string): Piece | undefined {
  const s = SNAPSHOT_RE.exec(file);
  if (s) {
    const end = BigInt(s[1]!);
    const time = BigInt(s[2]!);
    if (end < 1n || time > MAX_BACKUP_TIME) return undefined;
    return { kind: 'snapshot', startBlock: 1n, endBlock: end, time, digest8: s[3]!, file };
  }
  const a = ARCHIVE_RE.exec(file);
  if (a) {
    const start = BigInt(a[1]!);
    const end = BigInt(a[2]!);
    const time = BigInt(a[3]!);
    if (start < 1n || start > end || time > MAX_BACKUP_TIME) return undefined;
    return { kind: 'archive', startBlock: start, endBlock: end, time, digest8: a[4]!, file };
  }
  return undefined;
}

/**
 * Pieces in chain order: by last block, an archive before the snapshot that ends at the same block
 * (the scheduler closes the archive chain up to a snapshot's head before it stores the snapshot).
 */
export function sortPieces<P extends Piece>(pieces: readonly P[]): P[] {
  return [...pieces].sort((a, b) =>
    a.endBlock !== b.endBlock ? (a.endBlock < b.endBlock ? -1 : 1) : a.kind === b.kind ? a.file.localeCompare(b.file) : a.kind === 'archive' ? -1 : 1,
  );
}

/** The piece that holds the highest block (of any timeline), or undefined. */
export function newestPiece<P extends Piece>(pieces: readonly P[]): P | undefined {
  const sorted = sortPieces(pieces);
  return sorted[sorted.length - 1];
}

/**
 * Pieces in the order the target stored them, oldest first: what "newest" means for a snapshot. A node
 * restored to an older block stores a snapshot below the pieces of the timeline it left; those end
 * higher but are older: the scheduler must not continue them, nor a restore "to the latest" take them.
 * Equal times (an S3 listing's whole seconds, a bucket copied at once) go by chain order (sortPieces):
 * the scheduler stores a timeline's pieces in that order. The target's clock decides: a copy that does
 * not keep the times stores in the copy's order (on one timeline, a chain of archives passes through
 * every snapshot's head, so that only changes where a restore starts).
 */
export function storedOrder<P extends DatedPiece>(pieces: readonly P[]): P[] {
  const chain = new Map(sortPieces(pieces).map((p, i) => [p, i]));
  return [...pieces].sort((a, b) => a.storedAt - b.storedAt || chain.get(a)! - chain.get(b)!);
}

/** The snapshot stored last, or undefined. */
export function newestSnapshot<P extends DatedPiece>(pieces: readonly P[]): P | undefined {
  return storedOrder(pieces.filter((p) => p.kind === 'snapshot')).at(-1);
}

/**
 * The archives that carry `from` forward: from block `from.endBlock + 1`, each archive starting where
 * the one before it ended, as far as they go (to a gap, or the end of the pieces). Of archives starting
 * at the same block (two timelines, see storedOrder), the one stored last that `accept` takes.
 */
export function archiveChainAfter<P extends DatedPiece>(from: Piece, pieces: readonly P[], accept: (a: P) => boolean = () => true): P[] {
  const byStart = new Map<bigint, P>();
  for (const p of storedOrder(pieces)) if (p.kind === 'archive' && accept(p)) byStart.set(p.startBlock, p);
  const archives: P[] = [];
  let end = from.endBlock;
  for (;;) {
    const next = byStart.get(end + 1n);
    if (!next) break;
    archives.push(next);
    end = next.endBlock;
  }
  return archives;
}

/**
 * The piece the next archive continues: the last archive of the chain of the snapshot stored last (of
 * the archives `accept` takes), or that snapshot when none continues it; undefined without a snapshot.
 * Not the newest piece, nor the snapshot ending highest: a node restored to an older block stores a
 * snapshot below the pieces of the timeline it left, and an archive after those would not continue its
 * own snapshot's chain (no restore crosses the gap, and retention deletes behind it). The scheduler
 * accepts only archives of its own blocks: one of the timeline left may start right after its head.
 */
export function chainTip<P extends DatedPiece>(pieces: readonly P[], accept?: (a: P) => boolean): P | undefined {
  const snapshot = newestSnapshot(pieces);
  return snapshot && (archiveChainAfter(snapshot, pieces, accept).at(-1) ?? snapshot);
}

/**
 * Gaps in a target's chain of pieces: archives that continue no piece (none ends at the block before
 * theirs). A piece ending there is enough: after a node was restored to an older block, the pieces of
 * the timeline it left overlap its own, and each archive continues its own timeline's (the links by
 * hash, `backup verify`, say which). Returns one message per gap, naming the files on both sides.
 */
export function continuityGaps(pieces: readonly Piece[]): string[] {
  const sorted = sortPieces(pieces);
  const ends = new Set(sorted.map((p) => p.endBlock));
  const gaps: string[] = [];
  let covered: Piece | undefined; // the piece holding the newest block so far
  for (const p of sorted) {
    if (p.kind === 'archive' && !ends.has(p.startBlock - 1n)) {
      if (covered === undefined)
        gaps.push(`${p.file}: no snapshot or archive before it holds block ${p.startBlock - 1n} (blocks before ${p.startBlock} are missing)`);
      else if (p.startBlock > covered.endBlock + 1n)
        gaps.push(`blocks ${covered.endBlock + 1n}-${p.startBlock - 1n} are missing: ${p.file} does not continue ${covered.file}`);
      else gaps.push(`${p.file} overlaps ${covered.file} (blocks ${p.startBlock}-${covered.endBlock} twice) and continues no piece`);
    }
    if (covered === undefined || p.endBlock >= covered.endBlock) covered = p;
  }
  return gaps;
}

/** The pieces a target holds (other names are ignored), from its listing. */
export async function listPieces(target: { list(): Promise<{ name: string; bytes: number; storedAt: number }[]> }): Promise<ListedPiece[]> {
  const out: ListedPiece[] = [];
  for (const e of await target.list()) {
    const p = parsePieceName(e.name);
    // A time that is no number (a target's odd answer) counts as the oldest, not as a broken sort.
    if (p) out.push({ ...p, bytes: e.bytes, storedAt: Number.isFinite(e.storedAt) ? e.storedAt : 0 });
  }
  return sortPieces(out);
}
