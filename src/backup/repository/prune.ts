import { hexToBytes } from '@ethereumjs/util';
import { BackupFileError } from '../../container/errors.js';
import { errorMessage } from '../../util/errors.js';
import { HashSet } from '../../util/hash-set.js';
import { MissingStateError, stateItems, type MarkedAlready } from '../state-walk.js';
import { indexName, PACK_TARGET_BYTES, packName, parseObjectName, SEGMENT_BLOCKS, type Manifest } from './format.js';
import { RepositoryLock, staleLocks } from './lock.js';
import { PackWriter } from './pack.js';
import { PackScratch } from './scratch.js';
import { readSegment, writeSegment } from './segment.js';
import { backupsOf, type Repository } from './repository.js';

export interface PruneSummary {
  /** Backups (one a killed prune left under two manifests counts once). */
  manifests: number;
  /** Packs kept as they are, rewritten with their live items only, and deleted. */
  packs: { kept: number; repacked: number; deleted: number; written: number };
  /** Complete segments written from the pieces backups stored of them (the pieces are deleted once no backup names them). */
  merged: number;
  /** Pieces left as they are because one could not be read (damaged or missing: `backup verify` names it), one line each. */
  notMerged: string[];
  /**
   * Manifests of a backup left beside the one written again: they name another genesis object or other
   * history than it, so deleting them could delete what they alone hold (`backup verify` checks them).
   */
  copiesLeft: string[];
  /** Other objects deleted: segments and genesis files no backup names, stale locks, a killed run's leftovers (a backup's second manifest among them). */
  deleted: number;
  bytesBefore: number;
  bytesAfter: number;
  durationMs: number;
}

export interface PruneOptions {
  /** A folder for the scratch database the packs are read into (removed at the end). */
  scratchDir: string;
  onStep?: (what: string) => void;
  now?: () => number;
  /** Stops the prune between items (the node is stopping); what it wrote is left for the next prune. */
  signal?: AbortSignal;
  /** Blocks per complete segment (default SEGMENT_BLOCKS; tests use fewer, as their backups do). */
  segmentBlocks?: number;
  /**
   * Only merge the pieces of complete segments (and delete what no manifest names): the packs are
   * neither read nor rewritten, so this costs the pieces' blocks, not the state (the node's prune when
   * retention removed nothing).
   */
  historyOnly?: boolean;
}

/**
 * Remove what no backup in the repository needs, restic's prune: under an exclusive lock (no backup
 * runs meanwhile), mark what each backup's state reaches, rewrite the packs that hold dead items with
 * their live ones only, merge the pieces of each complete history segment into one segment, write each
 * backup's manifest again naming the packs and segments it needs, then delete: the old manifests first,
 * then the packs, indexes, segments and genesis files nothing names any more.
 *
 * Crash-safe at every step: a new object is written before anything it replaces is deleted, and a pack
 * is deleted only once no manifest names it, so whatever a kill leaves, every manifest present
 * restores; what is left over is removed by the next prune.
 */
export async function pruneRepository(repo: Repository, opts: PruneOptions): Promise<PruneSummary> {
  const began = Date.now();
  const now = opts.now ?? Date.now;
  const lock = await RepositoryLock.take(repo, true, now);
  try {
    return await pruneLocked(repo, opts, lock, began, now);
  } finally {
    await lock.release().catch(() => undefined); // a lock left behind goes stale in LOCK_STALE_MS
  }
}

async function pruneLocked(repo: Repository, opts: PruneOptions, lock: RepositoryLock, began: number, now: () => number): Promise<PruneSummary> {
  // The scratch database the packs are read into: a history-only prune reads none, and opens none.
  let opened: PackScratch | undefined;
  let writer: PackWriter | undefined;
  try {
    const listing = await repo.list();
    const bytesBefore = await objectBytes(repo);
    // Summaries (readManifests): the manifests are never held whole together, as each names every pack
    // of the backups before it; what is needed of their lists is folded into sets as they are read, and
    // each backup's manifest is read again where its own lists are needed (merging, writing it again):
    // here the packs named that the listing holds (a copy's among them: see below), those it does not,
    // and the segments named.
    const named = new Set<string>();
    const unlisted = new Set<string>();
    const namedSegments = new Set<string>();
    const read = await repo.readManifests(
      listing.manifests.map((e) => e.name),
      {
        listing,
        signal: opts.signal,
        visit: (_, m) => {
          for (const p of m.packs) {
            const sha = parseObjectName(p)!.sha256;
            (listing.packs.has(sha) ? named : unlisted).add(sha);
          }
          for (const x of m.segments) namedSegments.add(x);
        },
      },
    );
    // A backup under two manifests (a prune stopped between writing them again and deleting the old
    // ones) is one backup: the first of its group (backupsOf) is marked and written again, and the
    // others are deleted as the manifests it replaces are, once its own is there. Which member names
    // the packs that hold the state is not known unread (a manifest anyone who can put an object may
    // add names none): the packs of every member are read and kept live, and the first is written
    // again naming them, so deleting a copy deletes nothing a member needs.
    const groups = backupsOf(read);
    const manifests = groups.map((g) => g[0]!);
    // A pack the listing does not hold is named live (its backup is then incomplete: nothing is pruned)
    // if the first of a group names it; one only a copy names is gone already, nothing to keep of it.
    if (groups.every((g) => g.length === 1)) for (const p of unlisted) named.add(p);
    else
      for (const { name, whole } of manifests)
        if (!whole) for (const p of (await repo.manifest(name, opts.signal)).packs) named.add(parseObjectName(p)!.sha256);
    const keep: string[] = [];
    const rewrite: string[] = [];
    const written: string[] = [];
    if (opts.historyOnly) keep.push(...named);
    else {
      // 1. Every item of every pack a backup names, by hash, with the pack it is in.
      opts.onStep?.(`reading the packs of ${manifests.length} backups`);
      const scratch = await PackScratch.open(opts.scratchDir, '.basalt-prune-scratch');
      opened = scratch;
      await scratch.load(repo, named, () => opts.signal?.throwIfAborted(), { listItems: true });

      // 2. Mark what each backup's state reaches (a node marked before is skipped with its subtree).
      opts.onStep?.('marking what the backups need');
      const live = { nodes: new HashSet(), code: new HashSet() };
      const reader = scratch.reader;
      for (const { name, m } of manifests) {
        try {
          const seen: MarkedAlready = { marked: (kind, h) => live[kind].has(h) };
          for await (const item of stateItems(reader, hexToBytes(m.head.stateRoot as `0x${string}`), seen, 'tree')) {
            opts.signal?.throwIfAborted();
            live[item.kind === 'node' ? 'nodes' : 'code'].add(item.hash);
          }
        } catch (err) {
          // Never delete on the word of a backup that cannot be read whole: nothing is removed.
          if (err instanceof MissingStateError) throw new BackupFileError(`backup ${name} is incomplete (${err.message}): nothing pruned; run backup verify`);
          throw err;
        }
      }

      // 3. Packs: all live (kept), none live (deleted), some (their live items rewritten into new packs).
      opts.onStep?.('rewriting packs that hold items no backup needs');
      for (const pack of named) {
        let total = 0;
        let alive = 0;
        // From the pack's own items as step 1 read them (hashes computed), not its index: a replaced or
        // damaged index must not get a pack that holds live items deleted.
        for await (const rec of scratch.packItems(pack)) {
          opts.signal?.throwIfAborted();
          total += rec.hashes.length;
          for (const h of rec.hashes) if (live[rec.kind].has(h)) alive++;
        }
        if (alive === total) keep.push(pack);
        else if (alive > 0) rewrite.push(pack);
      }
      const flush = async () => {
        if (!writer) return;
        written.push((await writer.store()).sha256);
        writer = undefined;
      };
      const moved = { nodes: new HashSet(), code: new HashSet() };
      // Their live items, from the scratch database: each pack is read from the repository once.
      for (const pack of rewrite) {
        for await (const rec of scratch.packItems(pack)) {
          for (const hash of rec.hashes) {
            if (!live[rec.kind].has(hash) || !moved[rec.kind].add(hash)) continue; // dead, or already moved from another pack
            const data = await scratch.item(rec.kind, hash);
            if (data === undefined) throw new Error(`prune: item ${Buffer.from(hash).toString('hex')} of pack ${pack} is not in the scratch database`);
            writer ??= new PackWriter(repo, 'zstd');
            await writer.add(rec.kind, hash, data);
            if (writer.rawBytes >= PACK_TARGET_BYTES) await flush();
          }
        }
      }
      await flush();
    }

    // 4. History: a backup stores the blocks since the last one as a piece of their segment (never a
    // block twice); the pieces of each complete segment are merged here into the one segment, written
    // once for every backup that names the same pieces.
    opts.onStep?.('merging the pieces of complete history segments');
    const per = BigInt(opts.segmentBlocks ?? SEGMENT_BLOCKS);
    // Only what a manifest names and the listing holds is taken as stored: a merged segment a killed
    // prune left is written again (the same bytes), not trusted unread, and so is one a manifest names
    // that is gone (deleted by hand or by a bucket's lifecycle rule): a manifest written again to name
    // it must not name what is not there.
    const listed = new Set(listing.segments.map((s) => s.name));
    // Every manifest's segments (a copy's too), and each one's pieces merged as the first's are, each
    // read once: a copy is deleted only if it then names the history the first is written again with.
    // Each manifest is read again here, one at a time; what it merges to is computed again in step 5
    // from `mergedAs` (nothing read or written again), not held for every manifest.
    const stored = new Set([...namedSegments].filter((s) => listed.has(s)));
    const mergedAs = new Map<string, string | undefined>();
    const skipped: string[] = [];
    for (const { name } of groups.flat())
      await withPiecesMerged(repo, await repo.manifest(name, opts.signal), per, stored, mergedAs, opts.signal, (why) => skipped.push(why));

    opts.signal?.throwIfAborted(); // the last moment to stop: from here on it writes and deletes
    // 5. Each backup's manifest again, naming the packs and segments that remain (written before anything is deleted).
    opts.onStep?.('writing the manifests again');
    const allPacks = [...keep, ...written].sort().map(packName);
    const replaced: { old: string; again: string }[] = [];
    const copies: { old: string; again: string }[] = [];
    const copiesLeft: string[] = [];
    // As merged in step 4 (mergedAs: nothing is read or written again).
    const merged = (m: Manifest) => withPiecesMerged(repo, m, per, stored, mergedAs, undefined, () => undefined);
    for (const [first, ...others] of groups) {
      const { name } = first!;
      const m = await repo.manifest(name);
      const segments = await merged(m);
      // Whole: every pack holding live items, or their live items rewritten. History only: the packs
      // of every member (what the copies deleted below named stays named): the first's, then those of
      // the others the listing holds (one a copy lost is gone already: nothing to keep of it).
      const ofGroup = new Set(m.packs);
      const sameHistory = new Map<string, boolean>();
      for (const c of others) {
        const cm = await repo.manifest(c.name);
        for (const p of cm.packs) if (listing.packs.has(parseObjectName(p)!.sha256)) ofGroup.add(p);
        sameHistory.set(c.name, cm.genesis === m.genesis && sameList(await merged(cm), segments));
      }
      const packs = opts.historyOnly ? [...ofGroup] : allPacks;
      const again = sameList(m.packs, packs) && sameList(m.segments, segments) ? name : await repo.writeManifest({ ...m, packs, segments });
      if (again !== name) replaced.push({ old: name, again });
      for (const c of others) {
        // A copy may be what it was written again as (the same bytes): that one stays. One naming another
        // genesis object or other history stays too (verify checks it), unless it lost one of its
        // objects where the first holds all of its own.
        if (c.name === again) continue;
        if (sameHistory.get(c.name)! || (first!.whole && !c.whole)) copies.push({ old: c.name, again });
        else copiesLeft.push(c.name);
      }
    }
    lock.assertHeld(now());

    // 6. Delete: old manifests, then what no manifest names.
    opts.onStep?.('deleting what no backup needs');
    let deleted = 0;
    const del = async (n: string) => {
      await repo.target.delete(n);
      deleted++;
    };
    // An old manifest goes only while its replacement is there (retention elsewhere may have removed it).
    const manifestsNow = new Set((await repo.list()).manifests.map((e) => e.name));
    const gone = replaced.filter((r) => manifestsNow.has(r.again));
    for (const r of [...gone, ...copies.filter((r) => manifestsNow.has(r.again))]) await del(r.old);
    const after = await repo.list();
    const needed = new Set<string>();
    await repo.readManifests(
      after.manifests.map((e) => e.name),
      { visit: (_, m) => [...m.packs, ...m.segments, m.genesis].forEach((x) => needed.add(x)) },
    );
    let packsDeleted = 0;
    for (const sha of after.packs.keys()) {
      if (needed.has(packName(sha))) continue;
      await del(packName(sha));
      packsDeleted++;
    }
    for (const sha of after.indexes.keys()) if (!needed.has(packName(sha))) await del(indexName(sha));
    for (const s of after.segments) if (!needed.has(s.name)) await del(s.name);
    for (const g of after.genesis) if (!needed.has(g)) await del(g);
    for (const l of await staleLocks(repo, now())) await del(l);
    const bytesAfter = await objectBytes(repo);
    return {
      manifests: manifests.length,
      packs: { kept: keep.length, repacked: rewrite.length, deleted: packsDeleted, written: written.length },
      merged: [...mergedAs.values()].filter((x) => x !== undefined).length,
      notMerged: skipped,
      copiesLeft,
      deleted: deleted - gone.length - packsDeleted,
      bytesBefore,
      bytesAfter,
      durationMs: Date.now() - began,
    };
  } finally {
    writer?.discard();
    await opened?.close();
  }
}

/**
 * A backup's segments in groups, one per segment range (`per` blocks) they start in; `mergeable` when
 * the group is two or more pieces that make that whole segment.
 */
function segmentGroups(m: Pick<Manifest, 'segments'>, per: bigint): { names: string[]; first: bigint; last: bigint; mergeable: boolean }[] {
  const groups: { names: string[]; first: bigint; last: bigint; mergeable: boolean }[] = [];
  const at = m.segments.map((n) => parseObjectName(n)!);
  for (let i = 0; i < at.length; ) {
    const k = (at[i]!.first! - 1n) / per;
    let j = i + 1;
    while (j < at.length && (at[j]!.first! - 1n) / per === k) j++;
    const first = k * per + 1n;
    const last = first + per - 1n;
    groups.push({ names: m.segments.slice(i, j), first, last, mergeable: j - i > 1 && at[i]!.first === first && at[j - 1]!.last === last });
    i = j;
  }
  return groups;
}

/** Whether a prune would merge pieces of a complete segment this backup names (the node then prunes even if retention removed nothing). */
export const hasPiecesToMerge = (m: Pick<Manifest, 'segments'>, per: bigint): boolean => segmentGroups(m, per).some((g) => g.mergeable);

/**
 * A backup's segments with the pieces of each complete segment replaced by that segment, made of their
 * blocks as read (structure and digest checked; their meaning is verify's and restore's to check). Pieces
 * merged before (`mergedAs`: the pieces joined by a space → their segment) are not read again.
 */
async function withPiecesMerged(
  repo: Repository,
  m: Manifest,
  per: bigint,
  stored: Set<string>,
  mergedAs: Map<string, string | undefined>,
  signal: AbortSignal | undefined,
  notMerged: (why: string) => void,
): Promise<string[]> {
  const out: string[] = [];
  for (const g of segmentGroups(m, per)) {
    if (!g.mergeable) {
      out.push(...g.names);
      continue;
    }
    const key = g.names.join(' ');
    if (!mergedAs.has(key)) {
      async function* blocks() {
        for (const piece of g.names) {
          try {
            yield* readSegment(repo, piece, m, signal);
          } catch (err) {
            throw new BackupFileError(`${piece}: ${errorMessage(err)}`);
          }
        }
      }
      const s = { chainId: m.chainId, genesisHash: m.genesisHash, first: g.first, last: g.last, compression: 'zstd' as const };
      try {
        const whole = (await writeSegment(repo, blocks(), s, stored, () => undefined, signal)).name;
        stored.add(whole);
        mergedAs.set(key, whole);
      } catch (err) {
        // A piece that cannot be read (damaged, missing, a failed read) keeps its group as it is: the
        // rest of the prune goes on, nothing the pieces hold is deleted, and the next prune tries again.
        if (signal?.aborted) throw err;
        mergedAs.set(key, undefined);
        notMerged(`blocks ${g.first}…${g.last} left in ${g.names.length} pieces: ${errorMessage(err)}`);
      }
    }
    const whole = mergedAs.get(key);
    if (whole === undefined) out.push(...g.names);
    else out.push(whole);
  }
  return out;
}

/** Bytes of the repository's objects (locks aside: a prune's own would count). */
async function objectBytes(repo: Repository): Promise<number> {
  return (await repo.target.list()).reduce((n, e) => (parseObjectName(e.name) && !e.name.startsWith('lock-') ? n + e.bytes : n), 0);
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
