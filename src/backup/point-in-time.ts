import { mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Chain } from '../chain/chain.js';
import type { GenesisFile } from '../chain/chain-config.js';
import { ibftEngineFor } from '../consensus/ibft/genesis.js';
import { Genesis } from '../chain/genesis-source.js';
import type { ConsensusEngine } from '../chain/engine.js';
import { BackupFileError } from '../container/errors.js';
import { dataDirLayout } from '../storage/data-dir.js';
import { closeDurably, openNodeDatabases } from '../storage/node-databases.js';
import { UserError, errorMessage } from '../util/errors.js';
import { importArchive } from './import.js';
import { archiveChainAfter, newestPiece, sortPieces, storedOrder, type DatedPiece, type Piece } from './pieces.js';
import { restoreFromEvents, type RestoreOptions, type SealCheck, type TrustedBlock } from './restore.js';
import { readSnapshot, type SnapshotEvent } from '../snapshot/reader.js';
import type { BackupTarget } from './targets/target.js';
import { renameDurably } from '../util/durable.js';

export interface RestorePoint {
  /** Restore up to this block (it becomes the head). */
  block?: bigint;
  /** Restore up to the last block whose timestamp (unix seconds) is at or before this. */
  time?: bigint;
}

export interface RestorePlan {
  snapshot: Piece;
  /** The archives to import after it, in order. */
  archives: Piece[];
  untilBlock?: bigint;
  untilTime?: bigint;
  /** The newest block the pieces reach (the head after restore for --at-block and for no point). */
  reach: bigint;
}

/**
 * Which pieces rebuild the chain at a point (pure): the snapshot stored last of those at or before it,
 * then the archives that continue that snapshot up to the point. Without a point: the snapshot stored
 * last and every archive after it, to the end of its chain. "Stored last", not "ending highest": after a
 * node was restored to an older block, the target holds the pieces of the timeline it left, and a
 * restore follows the timeline stored last (the chain's, see storedOrder); the blocks of a timeline
 * left are restored only where it shares them, or where its archive starting right after the new
 * snapshot is the only one (until the new timeline stores its first: names alone cannot tell). Fails with a one-line reason when the pieces cannot
 * reach the point (none early enough, a gap before it or before the newest block stored after the
 * snapshot, a point beyond the newest block).
 */
export function planRestore(pieces: readonly DatedPiece[], at: RestorePoint = {}): RestorePlan {
  const snapshots = storedOrder(pieces.filter((p) => p.kind === 'snapshot'));
  if (snapshots.length === 0) throw new UserError('the backup holds no snapshot: nothing to restore from', { code: 'NOT_FOUND' });
  const newest = newestPiece(pieces)!;
  let candidates = snapshots;
  if (at.block !== undefined) {
    if (at.block > newest.endBlock)
      throw new UserError(`block ${at.block} is not backed up: the newest block backed up is ${newest.endBlock} (${newest.file})`, { code: 'NOT_FOUND' });
    candidates = snapshots.filter((s) => s.endBlock <= at.block!);
    if (candidates.length === 0)
      throw new UserError(`no snapshot at or below block ${at.block}: the oldest is at block ${sortPieces(snapshots)[0]!.endBlock}`, { code: 'NOT_FOUND' });
  } else if (at.time !== undefined) {
    candidates = snapshots.filter((s) => s.time <= at.time!);
    if (candidates.length === 0) {
      const earliest = snapshots.reduce((a, b) => (b.time < a.time ? b : a));
      throw new UserError(`no snapshot at or before ${iso(at.time)}: the oldest has its head at ${iso(earliest.time)}`, { code: 'NOT_FOUND' });
    }
  }
  const snapshot = candidates[candidates.length - 1]!;
  const chain = archiveChainAfter(snapshot, pieces);
  const archives: Piece[] = [];
  let reach = snapshot.endBlock;
  let prevTime = snapshot.time;
  for (const a of chain) {
    if (at.block !== undefined && a.startBlock > at.block) break;
    if (at.time !== undefined && prevTime > at.time) break;
    archives.push(a);
    reach = a.endBlock;
    prevTime = a.time;
  }
  // Pieces stored after the snapshot that end beyond its chain: its timeline went on past a gap. The
  // ones stored before it that end higher are of a timeline left by a restore: no gap of this one.
  const wentOn = sortPieces(pieces.filter((p) => p !== snapshot && p.storedAt >= snapshot.storedAt && p.endBlock > reach)).at(-1);
  if (at.block !== undefined && reach < at.block) {
    throw new UserError(
      wentOn
        ? `block ${at.block} cannot be restored: the pieces after ${snapshot.file} stop at block ${reach} (blocks ${reach + 1n}-… are missing)`
        : `block ${at.block} cannot be restored: the pieces after ${snapshot.file}, the timeline stored last, stop at block ${reach}; the ones beyond were stored before it (a timeline left when the chain was restored to an older block)`,
      { code: 'NOT_FOUND' },
    );
  }
  // Without a point, or at a time the chain ends before (its next blocks may be at or before it), a
  // gap would stop the restore short of what was asked: refused, as for --at-block, rather than a
  // restore that reports success at an older block.
  if (wentOn && reach === (chain.at(-1) ?? snapshot).endBlock && at.block === undefined && (at.time === undefined || prevTime <= at.time)) {
    const point = at.time !== undefined ? iso(at.time) : `the newest block backed up (${wentOn.endBlock}, in ${wentOn.file})`;
    throw new UserError(
      `${point} cannot be restored: the pieces after ${snapshot.file} stop at block ${reach} (blocks ${reach + 1n}-… are missing); --at-block ${reach} restores up to there`,
      { code: 'NOT_FOUND' },
    );
  }
  return {
    snapshot,
    archives,
    reach: at.block ?? reach,
    ...(at.block !== undefined ? { untilBlock: at.block } : {}),
    ...(at.time !== undefined ? { untilTime: at.time } : {}),
  };
}

export interface PointRestoreSummary {
  dataDir: string;
  head: bigint;
  headHash: string;
  snapshot: string;
  archives: string[];
  blocksImported: bigint;
  durationMs: number;
  /** Blocks of the snapshot whose seals were recovered (RestoreSummary.sealedBlocks); the imported ones' all are. */
  sealedBlocks: number;
}

/**
 * Carry out a plan into a new data dir: the snapshot restored (verified as `basalt restore` does),
 * then each archive imported through the chain's import pipeline (every block verified and
 * executed), stopping at the point. All of it happens in a hidden folder next to the target
 * (`.NAME.pitr-PID/data`), renamed to the target only at the end; on any failure it is removed (and
 * one left by a killed restore is removed by the next, see the CLI).
 */
export async function restoreToPoint(
  target: BackupTarget,
  plan: RestorePlan,
  opts: {
    dataDir: string;
    genesis: GenesisFile | Genesis;
    engine?: ConsensusEngine;
    onStep?: (what: string) => void;
    /** The snapshot's restore, phase by phase (RestoreProgress). */
    onProgress?: RestoreOptions['onProgress'];
    trustedBlock?: TrustedBlock;
    seals?: SealCheck;
  },
): Promise<PointRestoreSummary> {
  const began = Date.now();
  const final = resolve(opts.dataDir);
  checkNewDataDir(final);
  const work = pitrFolder(final, process.pid);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { mode: 0o700 });
  const data = join(work, 'data');
  const genesis = await Genesis.of(opts.genesis);
  const engine = opts.engine ?? ibftEngineFor(genesis.config, genesis.bytes.name);
  try {
    // Names meet contents here: each piece must hold what its name says (its digest prefix, its range,
    // its last block's time), or a renamed piece could stop the restore short and report success.
    opts.onStep?.(`restoring ${plan.snapshot.file}`);
    const s = await named(plan.snapshot.file, () =>
      restoreFromEvents(snapshotAsNamed(readSnapshot(target.get(plan.snapshot.file)), plan.snapshot), {
        dataDir: data,
        genesis,
        engine,
        ...(opts.trustedBlock ? { trustedBlock: opts.trustedBlock } : {}),
        ...(opts.seals ? { seals: opts.seals } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      }),
    );
    if (!s.digest.slice(2).startsWith(plan.snapshot.digest8))
      throw new BackupFileError(`${plan.snapshot.file}: its digest ${s.digest} does not match its name`);
    let imported = 0n;
    const head = await onRestoredChain(data, genesis, engine, async (chain) => {
      checkLastBlock(plan.snapshot, chain.head.header);
      for (const a of plan.archives) {
        opts.onStep?.(`importing ${a.file}`);
        const r = await named(a.file, () =>
          importArchive(chain, target.get(a.file), {
            onHeader: (h) => {
              if (BigInt(h.startBlock) !== a.startBlock || BigInt(h.endBlock) !== a.endBlock)
                throw new BackupFileError(`holds blocks ${h.startBlock}-${h.endBlock}, its name says ${a.startBlock}-${a.endBlock}`);
            },
            ...(plan.untilBlock !== undefined ? { untilBlock: plan.untilBlock } : {}),
            ...(plan.untilTime !== undefined ? { untilTime: plan.untilTime } : {}),
          }),
        );
        imported += r.imported;
        if (r.stoppedBefore !== undefined) break;
        if (!r.digest.slice(2).startsWith(a.digest8)) throw new BackupFileError(`${a.file}: its digest ${r.digest} does not match its name`);
        checkLastBlock(a, chain.head.header);
      }
    });
    if (plan.untilBlock !== undefined && head.number !== plan.untilBlock) {
      throw new UserError(`the pieces reached block ${head.number}, not ${plan.untilBlock}`, { code: 'NOT_FOUND' });
    }
    // Without a point, the restore reaches the newest block the plan's pieces hold, or fails.
    if (plan.untilBlock === undefined && plan.untilTime === undefined && head.number !== plan.reach) {
      throw new BackupFileError(`the pieces reached block ${head.number}, not block ${plan.reach} their names say`);
    }
    if (readdirOrEmpty(final)) rmdirSync(final); // an empty folder the operator made
    renameDurably(data, final);
    rmSync(work, { recursive: true, force: true });
    return {
      dataDir: final,
      head: head.number,
      headHash: `0x${Buffer.from(head.hash).toString('hex')}`,
      snapshot: plan.snapshot.file,
      archives: plan.archives.map((a) => a.file),
      blocksImported: imported,
      durationMs: Date.now() - began,
      sealedBlocks: s.sealedBlocks,
    };
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Open the chain of a data dir a restore just built, run `fn` on it (importing the blocks after the
 * restored head), close it; returns the head it reached. Point-in-time restores from pieces and from a
 * backup repository both end this way.
 */
export async function onRestoredChain(
  dataDir: string,
  genesis: Genesis,
  engine: ConsensusEngine,
  fn: (chain: Chain) => Promise<void>,
): Promise<{ number: bigint; hash: Uint8Array }> {
  const layout = dataDirLayout(dataDir);
  const dbs = await openNodeDatabases(layout);
  let head: { number: bigint; hash: Uint8Array };
  try {
    // Closed durably below, before the caller puts it in place: no commit needs its own sync.
    const chain = await Chain.open({ blockchainDb: dbs.blockchain, trieDb: dbs.trie, genesis, engine, syncCommits: false });
    try {
      await fn(chain);
      head = { number: chain.head.number, hash: chain.head.hash };
    } finally {
      await chain.close();
    }
  } catch (err) {
    await dbs.close();
    throw err;
  }
  // The imported blocks went in without `sync`: durable before the caller renames the data dir into place.
  await closeDurably(dbs, layout);
  return head;
}

/** A snapshot's events, refused at its header unless its head is the block its name says. */
async function* snapshotAsNamed(events: AsyncIterable<SnapshotEvent>, piece: Piece): AsyncGenerator<SnapshotEvent> {
  for await (const ev of events) {
    if (ev.kind === 'header' && BigInt(ev.header.head.number) !== piece.endBlock)
      throw new BackupFileError(`its head is block ${ev.header.head.number}, its name says ${piece.endBlock}`);
    yield ev;
  }
}

/** The last block a piece brought (the chain's head once it is restored or imported) must be the one its name says, of the time it says. */
function checkLastBlock(piece: Piece, head: { number: bigint; timestamp: bigint }): void {
  if (head.number !== piece.endBlock) throw new BackupFileError(`${piece.file}: it ends at block ${head.number}, its name says ${piece.endBlock}`);
  if (head.timestamp !== piece.time)
    throw new BackupFileError(`${piece.file}: its last block ${head.number} has time ${head.timestamp}, its name says ${piece.time}`);
}

/** Run `fn`; a failure names the piece it was reading. */
async function named<T>(file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`${file}: ${err.message}`, { code: err.code, cause: err });
    throw new UserError(`${file}: ${errorMessage(err)}`, { code: 'UNAVAILABLE', cause: err });
  }
}

/** The hidden folder a point-in-time restore into `target` works in (its `data/` becomes the target). */
export function pitrFolder(target: string, pid: number): string {
  return join(dirname(target), `.${basename(target)}.pitr-${pid}`);
}

function checkNewDataDir(target: string): void {
  let st;
  try {
    st = statSync(dirname(target));
  } catch {
    throw new UserError(`folder ${dirname(target)} does not exist`, { code: 'NOT_FOUND' });
  }
  if (!st.isDirectory()) throw new UserError(`${dirname(target)} is not a folder`, { code: 'FAILED_PRECONDITION' });
  try {
    st = statSync(target);
  } catch {
    return;
  }
  if (!st.isDirectory() || readdirSync(target).length > 0)
    throw new UserError(`${target} exists and is not an empty folder: restore into a new data dir`, { code: 'ALREADY_EXISTS' });
}

/** True when `p` is an (empty) folder that exists. */
function readdirOrEmpty(p: string): boolean {
  try {
    return readdirSync(p).length === 0;
  } catch {
    return false;
  }
}

function iso(t: bigint): string {
  return new Date(Number(t) * 1000).toISOString();
}
