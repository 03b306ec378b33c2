import { mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { createChainRules, type GenesisFile } from '../../chain/chain-config.js';
import { buildGenesisBlock } from '../../chain/genesis.js';
import { BlockVerificationError } from '../../chain/errors.js';
import { Genesis } from '../../chain/genesis-source.js';
import { ibftEngineFor } from '../../consensus/ibft/genesis.js';
import { renameDurably } from '../../util/durable.js';
import { UserError } from '../../util/errors.js';
import { decodeBlockRlp } from '../block-records.js';
import { onRestoredChain } from '../point-in-time.js';
import { BackupFileError } from '../../container/errors.js';
import { ITEMS_RECORD_BYTES, SNAPSHOT_VERSION_GENESIS_RECORDS, type SnapshotHeader } from '../../snapshot/format.js';
import type { SnapshotEvent } from '../../snapshot/reader.js';
import { restoreFromEvents, type RestoreOptions, type RestoreSummary } from '../restore.js';
import { MissingStateError, stateItems, type StateItem } from '../state-walk.js';
import { parseObjectName, type Manifest } from './format.js';
import { takeReaderLock } from './lock.js';
import { readGenesisObject } from './genesis-object.js';
import { PackScratch } from './scratch.js';
import { backupsOf, newestLast, type ManifestInfo, type Repository } from './repository.js';
import { blockHashesIn, holdsBlock, lastBlockAtOrBefore, readSegment } from './segment.js';

/**
 * Restore a new data dir from one backup of a repository, with every check a snapshot's restore makes
 * (restoreFromEvents): the blocks of its segments verified from genesis, seals, transactions and
 * receipts; the state under the head's root, each node and code under its own hash, complete.
 *
 * The packs a manifest names may hold nodes of earlier states too. They are read into a scratch
 * database beside the target (each node checked against its hash as it is read), and only what the
 * head's state reaches is walked out of it, in the order a snapshot carries it: the new data dir holds
 * the head's state and nothing else. The scratch database is removed at the end, whatever happens.
 */
export async function restoreFromRepository(repo: Repository, manifestName: string, opts: RestoreOptions): Promise<RestoreSummary & { manifest: string }> {
  const m = await repo.manifest(manifestName);
  const target = resolve(opts.dataDir);
  const scratch = await PackScratch.open(dirname(target), `.${basename(target)}.scratch`);
  try {
    const summary = await restoreFromEvents(
      manifestEvents(repo, m, `0x${parseObjectName(manifestName)!.sha256}`, scratch, opts.genesis === undefined, opts.onProgress),
      opts,
    );
    return { ...summary, manifest: manifestName };
  } finally {
    await scratch.close();
  }
}

/** The backup as the events of a snapshot: header, genesis (unless the operator gives it), blocks, then the state in walk order. */
async function* manifestEvents(
  repo: Repository,
  m: Manifest,
  digest: string,
  scratch: PackScratch,
  withGenesis: boolean,
  onProgress: RestoreOptions['onProgress'],
): AsyncGenerator<SnapshotEvent> {
  const header: SnapshotHeader = {
    format: 'basalt-snapshot',
    version: SNAPSHOT_VERSION_GENESIS_RECORDS,
    chainId: m.chainId,
    genesisHash: m.genesisHash,
    head: { number: m.head.number, hash: m.head.hash, stateRoot: m.head.stateRoot },
    compression: 'zstd',
    // Neither the walk below nor the restore's check remembers every node (StateOrder).
    stateOrder: 'tree',
  };
  yield { kind: 'header', header };
  let bytesRead = 0;
  if (withGenesis) {
    for await (const piece of readGenesisObject(repo, m.genesis)) {
      bytesRead += piece.length;
      yield { kind: 'genesis', piece, bytesRead };
    }
  }
  let lastBlockHash = m.genesisHash;
  let blocks = 0n;
  for (const name of m.segments) {
    for await (const b of readSegment(repo, name, m)) {
      bytesRead += b.blockRlp.length + b.receiptsRlp.length;
      lastBlockHash = `0x${Buffer.from(b.hash).toString('hex')}`;
      blocks++;
      yield { kind: 'block', number: b.number, hash: b.hash, blockRlp: b.blockRlp, receiptsRlp: b.receiptsRlp, bytesRead };
    }
  }

  // Every pack's nodes and codes into the scratch database, each under the hash computed from it.
  const head = BigInt(m.head.number);
  let items = 0;
  const packsRead = (done: number) =>
    onProgress?.({ phase: 'packs', blocksDone: head, blocksTotal: head, nodes: items, bytesRead, packs: { done, total: m.packs.length } });
  packsRead(0);
  for (const [i, name] of m.packs.entries()) {
    await scratch.load(repo, [parseObjectName(name)!.sha256], (_, got) => {
      items += got.length;
      for (const it of got) bytesRead += it.data.length;
    });
    packsRead(i + 1);
  }
  const source = scratch.reader;
  let nodes = 0;
  let codes = 0;
  const group: Record<StateItem['kind'], { items: Uint8Array[]; bytes: number }> = { node: { items: [], bytes: 0 }, code: { items: [], bytes: 0 } };
  const out = (kind: StateItem['kind']): SnapshotEvent => {
    const g = group[kind];
    const ev: SnapshotEvent = { kind: kind === 'node' ? 'nodes' : 'code', items: g.items, bytesRead };
    group[kind] = { items: [], bytes: 0 };
    return ev;
  };
  try {
    for await (const item of stateItems(source, hexToBytes(m.head.stateRoot as `0x${string}`), undefined, 'tree')) {
      const g = group[item.kind];
      // Items framed as in a snapshot's records (4 bytes each), so a group holds what one of its records would.
      if (g.items.length > 0 && g.bytes + item.data.length + 4 > ITEMS_RECORD_BYTES) yield out(item.kind);
      group[item.kind].items.push(item.data);
      group[item.kind].bytes += item.data.length + 4;
      if (item.kind === 'node') nodes++;
      else codes++;
    }
  } catch (err) {
    if (err instanceof MissingStateError) throw new BackupFileError(`backup ${m.head.number} is incomplete: ${err.message}`, { cause: err });
    throw err;
  }
  if (group.node.items.length > 0) yield out('node');
  if (group.code.items.length > 0) yield out('code');
  yield {
    kind: 'trailer',
    trailer: { blockCount: blocks.toString(), nodeCount: String(nodes), codeCount: String(codes), lastBlockHash, digest },
    bytesRead,
  };
}

/**
 * 'full': every block restored whole before the data dir is ready; 'backfill' (default): headers below
 * the head, the bodies and receipts back-filled by the node while it already serves at the head.
 */
export type HistoryMode = 'full' | 'backfill';

export interface RepositoryRestoreSummary extends RestoreSummary {
  /** The backup restored. */
  manifest: string;
  /** Blocks after that backup's head, imported (executed) from the history segments up to the point asked. */
  blocksImported: bigint;
}

/** Where a point-in-time restore stops: at a block, or at the last block at or before a time (unix seconds). */
export interface RepositoryRestorePoint {
  block?: bigint;
  time?: bigint;
}

/**
 * Restore the repository's state at a point (default: its newest backup's head) into a new data dir:
 * the newest backup at or before the point, then the blocks after it up to the point, imported from
 * the history segments of the newest backup through the chain's import pipeline (each one verified and
 * executed). Works in a folder beside the target, renamed only once all of it passed.
 */
export async function restoreRepositoryAt(
  repo: Repository,
  at: RepositoryRestorePoint,
  opts: RestoreOptions & { genesis: GenesisFile | Genesis; onStep?: (what: string) => void; history?: HistoryMode },
): Promise<RepositoryRestoreSummary> {
  const lock = await takeReaderLock(repo);
  try {
    return await restoreAt(repo, at, opts);
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

/**
 * Which backup to restore (`base`) and which backup's history carries it on to the point (`later`),
 * of one chain's backups oldest first (newestLast). After a roll-back a repository holds two timelines
 * that share the blocks up to where the chain was rolled back to, and a point names a block of one:
 * - none: the newest backup;
 * - a block number: a block of the chain as it is now, the newest backup's timeline: the newest backup
 *   at or below the block whose head the newest backup's history holds, carried on by the newest;
 * - a time: the chain as it was then, the timeline whose last block at or before the time is the
 *   latest: the newest backup at or before the time, carried on by the first backup after it if that
 *   one holds its head; if that one is of another timeline, its own newest backup at or before the time
 *   carried on by it, when it sealed a block after the other's backup and at or before the time.
 */
async function restorePlan<M extends { name: string; last: bigint; time: bigint; m: ManifestInfo }>(
  repo: Repository,
  oldestFirst: M[],
  at: RepositoryRestorePoint,
  point: string,
): Promise<{ base: M; later?: M }> {
  const newest = oldestFirst.at(-1)!;
  // A carrier's manifest whole (its segments), read again when needed: the listing keeps summaries.
  const read = new Map<string, Promise<Manifest>>();
  const lists = (x: M) => read.get(x.name) ?? read.set(x.name, repo.manifest(x.name)).get(x.name)!;
  const none = () => {
    const oldest = oldestFirst.reduce((a, b) => (b.last! < a.last! ? b : a));
    return new UserError(`no backup in ${repo.url} at or before ${point} (the oldest is at block ${oldest.last})`, { code: 'NOT_FOUND' });
  };
  /** Of `candidates` (newest first), the first whose head `carrier`'s history holds (its segments read once). */
  /**
   * Of `candidates` (newest first), the first whose head `carrier`'s history holds: the segments read
   * newest first, each once (with every candidate it holds), none after the first match.
   */
  const firstHeldBy = async (carrier: M, candidates: M[]): Promise<M | undefined> => {
    const known = new Map<bigint, string | undefined>();
    const carried = await lists(carrier);
    for (const c of candidates) {
      if (!known.has(c.last!)) {
        const segment = carried.segments.map((name) => parseObjectName(name)!).find((o) => o.first! <= c.last! && c.last! <= o.last!);
        const numbers = segment ? candidates.map((x) => x.last!).filter((n) => segment.first! <= n && n <= segment.last!) : [c.last!];
        const hashes = await blockHashesIn(repo, carried, numbers);
        for (const n of numbers) known.set(n, hashes.get(n));
      }
      if (known.get(c.last!) === c.m.head.hash) return c;
    }
    return undefined;
  };
  if (at.block === undefined && at.time === undefined) return { base: newest };
  if (at.block !== undefined) {
    if (newest.last! < at.block) {
      throw new UserError(`the newest backup in ${repo.url} is at block ${newest.last}, before block ${at.block}`, { code: 'NOT_FOUND' });
    }
    if (newest.last === at.block) return { base: newest };
    const below = [...oldestFirst].reverse().filter((c) => c.last! <= at.block!);
    const base = await firstHeldBy(newest, below);
    if (base) return base.last === at.block ? { base } : { base, later: newest };
    if (below.length > 0) {
      throw new UserError(
        `no backup in ${repo.url} at or before block ${at.block} is of the chain its newest backup is of (those are of a timeline the chain was rolled back from: --at-time restores the chain as it was at a time)`,
        { code: 'NOT_FOUND' },
      );
    }
    throw none();
  }
  const time = at.time!;
  const i = oldestFirst.findLastIndex((c) => c.time <= time);
  if (i < 0) throw none();
  const base = oldestFirst[i]!;
  const carrier = oldestFirst[i + 1];
  if (carrier === undefined) return { base };
  if (await holdsBlock(repo, await lists(carrier), base.last!, base.m.head.hash)) return { base, later: carrier };
  // The first backup after the time is of another timeline than the newest before it (a roll-back
  // in between): its chain was the chain at the time if it sealed a block after the base was and by then.
  const own = await firstHeldBy(carrier, oldestFirst.slice(0, i).reverse());
  if (own === undefined) return { base };
  const last = await lastBlockAtOrBefore(repo, await lists(carrier), own.last!, time);
  return last !== undefined && last.timestamp > base.time ? { base: own, later: carrier } : { base };
}

async function restoreAt(
  repo: Repository,
  at: RepositoryRestorePoint,
  opts: RestoreOptions & { genesis: GenesisFile | Genesis; onStep?: (what: string) => void; history?: HistoryMode },
): Promise<RepositoryRestoreSummary> {
  // Read once (a large genesis file is hashed as it is read), for every step below.
  const genesis = await Genesis.of(opts.genesis);
  const engine = opts.engine ?? ibftEngineFor(genesis.config, genesis.bytes.name);
  opts = { ...opts, genesis, engine };
  // This chain's backups only: a repository may hold another chain's too, also one of the same chain ID
  // (a network relaunched with a new genesis). A manifest that cannot be read is passed over, said.
  const chainId = String(genesis.config.params.chainID);
  // A few at a time (MANIFEST_READS), as summaries: the manifests are never held whole together (each
  // names every pack of the backups before it); the ones chosen are read again for their lists.
  const listing = await repo.list();
  const read = await repo.readManifests(
    listing.manifests.map((e) => e.name),
    {
      listing,
      onSkipped: (name, why) => opts.onStep?.(`note: passed over ${name}, which cannot be read (${why}; run backup verify)`),
    },
  );
  let ours = read.filter(({ m }) => m.chainId === chainId);
  if (new Set(ours.map(({ m }) => m.genesisHash)).size > 1) {
    // Backups of more than one genesis under this chain ID: this genesis file's block decides (its
    // state root computed once here, and handed to the restore).
    const root = await genesis.stateRoot();
    const hash = bytesToHex(engine.blockHash(buildGenesisBlock(genesis.config, root, createChainRules(genesis.config).commonAt(0n)).header));
    ours = ours.filter(({ m }) => m.genesisHash === hash);
    opts = { ...opts, genesisStateRoot: root };
  }
  // Oldest first by head time (newestLast): after a roll-back the new timeline's backups are the newest.
  // A backup a killed prune left under two manifests is one candidate, the manifest backupsOf prefers.
  const sorted = ours.map((s) => ({ ...s, time: BigInt(s.m.head.timestamp) })).sort(newestLast);
  const manifests = backupsOf(sorted).map((g) => g[0]!);
  if (manifests.length === 0) throw new UserError(`no backups of chain ID ${chainId} (of this genesis) in ${repo.url}`, { code: 'NOT_FOUND' });
  const point = at.block !== undefined ? `block ${at.block}` : at.time !== undefined ? new Date(Number(at.time) * 1000).toISOString() : 'the newest backup';
  const { base, later } = await restorePlan(repo, manifests, at, point);
  const restoreBase = (dataDir: string) => restoreOneOf(repo, ofHead(base, sorted), { ...opts, dataDir });
  if (later === undefined) return { ...(await restoreBase(opts.dataDir)), blocksImported: 0n };
  const untilBlock = at.block ?? later.last;
  const history = await repo.manifest(later.name);
  const final = resolve(opts.dataDir);
  const work = join(dirname(final), `.${basename(final)}.pitr-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { mode: 0o700 });
  const data = join(work, 'data');
  try {
    const restored = await restoreBase(data);
    opts.onStep?.(`importing blocks after ${base.last} up to ${point} from ${later.name}`);
    let imported = 0n;
    const head = await onRestoredChain(data, genesis, engine, async (chain) => {
      segments: for (const name of history.segments) {
        const s = parseObjectName(name)!;
        if (s.last! <= chain.head.number || s.first! > untilBlock) continue;
        for await (const b of readSegment(repo, name, history)) {
          if (b.number <= chain.head.number) continue;
          if (b.number > untilBlock) break segments;
          const block = decodeBlockRlp(b.blockRlp, b.number, b.hash, chain.commonAt(b.number), 'backup');
          if (at.time !== undefined && block.header.timestamp > at.time) break segments; // the last block at or before the time is in
          try {
            await chain.importBlock(block, { bulk: true }); // the restored data dir is closed durably (closeDurably)
          } catch (err) {
            if (err instanceof BlockVerificationError) throw new BackupFileError(`${name}: ${err.message}`, { code: 'INVALID_BLOCK', cause: err });
            throw err;
          }
          imported++;
        }
      }
    });
    if (at.block !== undefined && head.number !== at.block)
      throw new UserError(`the backups reached block ${head.number}, not ${at.block}`, { code: 'NOT_FOUND' });
    renameDurably(data, final);
    rmSync(work, { recursive: true, force: true });
    return { ...restored, dataDir: final, head: head.number, headHash: bytesToHex(head.hash), blocksImported: imported };
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The manifests of `base`'s head block (number and hash), `base` first, then the others newest first:
 * the others of its backup (backupsOf) and any other naming that head. Which of them restores is known
 * only by checking it, and one that fails (naming packs that do not hold the state, or another state
 * root: anyone who can put an object can add a manifest) must not shadow one that passes.
 */
function ofHead<M extends { m: ManifestInfo }>(base: M, oldestFirst: readonly M[]): M[] {
  const same = (x: M) => x !== base && x.m.head.number === base.m.head.number && x.m.head.hash === base.m.head.hash;
  return [base, ...[...oldestFirst].reverse().filter(same)];
}

/** Restore the first of `candidates` that passes every check of a restore; if none does, the first's failure. */
async function restoreOneOf(
  repo: Repository,
  candidates: readonly { name: string }[],
  opts: RestoreOptions & { onStep?: (what: string) => void; history?: HistoryMode },
): Promise<RestoreSummary & { manifest: string }> {
  let first: unknown;
  for (const [i, { name }] of candidates.entries()) {
    opts.onStep?.(`restoring ${name}`);
    try {
      // Unless asked for the whole history now: the headers below the backup's head (seals and links
      // checked) and its head whole, the rest back-filled from this backup by the node once it runs.
      return await restoreFromRepository(repo, name, opts.history === 'full' ? opts : { ...opts, backfill: { repository: repo.url, backup: name } });
    } catch (err) {
      if (!(err instanceof BackupFileError || err instanceof BlockVerificationError)) throw err;
      first ??= err;
      const next = candidates[i + 1];
      if (next === undefined) break;
      opts.onStep?.(`note: ${name} does not restore (${err.message}; run backup verify): trying ${next.name}, of the same head block`);
    }
  }
  throw first;
}
