import type { BlockHeader } from '@ethereumjs/block';
import { bytesToHex, equalsBytes, hexToBytes } from '@ethereumjs/util';
import { createChainRules, createCommonForChainId } from '../../chain/chain-config.js';
import type { ConsensusEngine } from '../../chain/engine.js';
import { BlockVerificationError } from '../../chain/errors.js';
import { buildGenesisBlock } from '../../chain/genesis.js';
import { Genesis } from '../../chain/genesis-source.js';
import { BackupFileError } from '../../container/errors.js';
import { IbftEngine } from '../../consensus/ibft/engine.js';
import { ibftEngineFor } from '../../consensus/ibft/genesis.js';
import { errorMessage } from '../../util/errors.js';
import { decodeBlockRlp } from '../block-records.js';
import { MissingStateError, stateItems } from '../state-walk.js';
import { FAR_FUTURE } from '../verify-archive.js';
import { parseObjectName, type Manifest } from './format.js';
import { readGenesisObject } from './genesis-object.js';
import { readIndex, readPack } from './pack.js';
import { backupsOf, summaryOf, type ManifestInfo, type ManifestSummary, type Repository } from './repository.js';
import { takeReaderLock } from './lock.js';
import { PackScratch } from './scratch.js';
import { readSegment } from './segment.js';

export interface RepositoryReport {
  /**
   * Every manifest, each checked (each restores on its own). `copyOf`: the manifest is another of the
   * backup named there (a prune stopped between writing the manifests again and deleting the old ones
   * left both; the next prune deletes this one): one backup, counted once.
   */
  backups: { name: string; head: string; ok: boolean; problem?: string; copyOf?: string }[];
  /** Objects read and found whole (all of them, or the subset asked for). */
  objectsRead: number;
  /** One line per damaged or missing object or incomplete backup, naming it. */
  problems: string[];
}

export interface VerifyOptions {
  /** Read only the packs and segments of subset `n` of `of` (1-based; restic's --read-data-subset n/of): each object falls in one. */
  subset?: { n: number; of: number };
  /** A folder for the scratch database of the state check (removed at the end). */
  scratchDir: string;
  /** The rules to check seals by; without it, each chain's own, from the genesis object its backups name. */
  engine?: ConsensusEngine;
  onStep?: (what: string) => void;
}

/**
 * Check a repository offline: every backup's manifest (its content against its name, its fields); that
 * every object it names is there; each genesis object, that it makes the genesis block its backups name
 * (its state root computed); every segment's structure, digest, block hashes, links and IBFT seals
 * under its chain's quorum rule, block 1's against the genesis block's validators, and that one
 * backup's segments are one chain from genesis up to its head; every pack's structure and digest, and
 * that its index lists exactly its items; and that each backup's state is complete in the packs it names.
 * With a subset, only that share of the packs and segments is read (the state check needs them all
 * and is left out), so a large repository can be checked a part at a time. Reports every problem.
 */
export async function verifyRepository(repo: Repository, opts: VerifyOptions): Promise<RepositoryReport> {
  const lock = await takeReaderLock(repo);
  try {
    return await verifyUnderLock(repo, opts);
  } finally {
    await lock?.release().catch(() => undefined);
  }
}

async function verifyUnderLock(repo: Repository, opts: VerifyOptions): Promise<RepositoryReport> {
  const problems: string[] = [];
  const listing = await repo.list();
  const present = new Set([...listing.packs.keys()].map((p) => `pack-${p}`));
  const indexes = new Set(listing.indexes.keys());
  for (const s of listing.segments) present.add(s.name);
  for (const g of listing.genesis) present.add(g);
  const backups: RepositoryReport['backups'] = [];
  // The manifests as summaries, their lists folded as each is read: never all held whole (each names
  // every pack of the backups before it); each is read again below for its own chain of segments.
  const manifests: ManifestSummary[] = [];
  /** Each genesis object, with the genesis hash of the first backup naming it. */
  const genesisHashOf = new Map<string, string>();
  /** Each segment (in the order backups first name them), with the newest backup naming it. */
  const newestNaming = new Map<string, ManifestInfo>();
  const packsNamed = new Set<string>();
  for (const e of listing.manifests) {
    try {
      const m = await repo.manifest(e.name);
      // Its objects are read whatever is missing: every damaged one is named.
      const missing = [...m.packs, ...m.segments, m.genesis].filter((n) => !present.has(n));
      const summary = summaryOf(e.name, m, missing.length === 0);
      manifests.push(summary);
      if (!genesisHashOf.has(m.genesis)) genesisHashOf.set(m.genesis, m.genesisHash);
      for (const x of m.segments) newestNaming.set(x, summary.m);
      for (const p of m.packs) packsNamed.add(p);
      if (missing.length > 0) throw new Error(`names ${missing.length} missing objects: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
      backups.push({ name: e.name, head: m.head.number, ok: true });
    } catch (err) {
      problems.push(`${e.name}: ${errorMessage(err)}`);
      backups.push({ name: e.name, head: String(e.last), ok: false, problem: errorMessage(err) });
    }
  }
  const inSubset = (name: string) => {
    if (!opts.subset) return true;
    const sha = parseObjectName(name)!.sha256;
    return (Number.parseInt(sha.slice(0, 8), 16) % opts.subset.of) + 1 === opts.subset.n;
  };
  let objectsRead = 0;

  // Each chain's genesis object: its rules (the quorum rule seals are counted by), and, read in its
  // subset, the genesis block it makes, which must be the one its backups name (block 1's parent).
  const chains = new Map<string, { engine: ConsensusEngine; header?: BlockHeader }>();
  for (const [name, genesisHash] of genesisHashOf) {
    if (!present.has(name)) continue; // named as missing above
    try {
      const genesis = await Genesis.read({ name, open: () => readGenesisObject(repo, name) });
      const engine = opts.engine ?? ibftEngineFor(genesis.config, name);
      chains.set(name, { engine });
      if (!inSubset(name)) continue;
      opts.onStep?.(`computing the genesis state root of ${name}`);
      const header = buildGenesisBlock(
        genesis.config,
        await genesis.stateRoot(undefined, opts.scratchDir),
        createChainRules(genesis.config).commonAt(0n),
      ).header;
      const made = bytesToHex(engine.blockHash(header));
      if (made !== genesisHash) throw new BackupFileError(`it makes genesis block ${made}, not the ${genesisHash} its backups name`);
      chains.set(name, { engine, header });
      objectsRead++;
    } catch (err) {
      problems.push(`${name}: ${errorMessage(err)}`);
    }
  }
  // A damaged genesis object is named above; its chain's seals are then counted by the legacy rule,
  // which every valid chain meets, so the segments are still read and their own damage named.
  const engineOf = (m: ManifestInfo) => chains.get(m.genesis)?.engine ?? opts.engine ?? new IbftEngine();

  // Segments: each once; what each holds at its ends, for the links between them.
  const ends = new Map<string, { firstParent: string; last: string; first: BlockHeader; lastHeader: BlockHeader }>();
  const segments = [...newestNaming.keys()].filter((n) => present.has(n) && inSubset(n));
  opts.onStep?.(`reading ${segments.length} history segments`);
  for (const name of segments) {
    // Judged by the rules of the newest backup naming it: a genesis file changed since (a fork scheduled
    // later) rules the blocks before the change as the earlier one did.
    const chain = newestNaming.get(name)!;
    const engine = engineOf(chain);
    try {
      const common = createCommonForChainId(BigInt(chain.chainId));
      let parent: BlockHeader | undefined;
      let first: BlockHeader | undefined;
      let firstParent = '';
      for await (const b of readSegment(repo, name, chain)) {
        const block = decodeBlockRlp(b.blockRlp, b.number, b.hash, common, 'backup');
        if (parent) {
          if (!equalsBytes(block.header.parentHash, engine.blockHash(parent)))
            throw new BlockVerificationError(b.number, 'its parent is not the block before it');
          engine.verifyHeader(block.header, parent, FAR_FUTURE);
        } else {
          firstParent = bytesToHex(block.header.parentHash);
          first = block.header;
        }
        parent = block.header;
      }
      ends.set(name, { firstParent, last: bytesToHex(engine.blockHash(parent!)), first: first!, lastHeader: parent! });
      objectsRead++;
    } catch (err) {
      problems.push(`${name}: ${errorMessage(err)}`);
    }
  }
  // One chain per backup: each segment starts on the last block of the one before; the last ends at the
  // head. Each manifest read again for its segments, one at a time.
  /** A backup needs each of its segments and its genesis whole: one damaged breaks it (named last). */
  const needs: string[] = [];
  for (const { name } of manifests) {
    let m: Manifest;
    try {
      m = await repo.manifest(name);
    } catch (err) {
      problems.push(`${name}: ${errorMessage(err)}`);
      continue;
    }
    for (const o of [m.genesis, ...m.segments]) {
      const damage = problems.find((p) => p.startsWith(`${o}: `));
      if (damage !== undefined) needs.push(`${name}: needs ${damage}`);
    }
    const engine = engineOf(m);
    for (let i = 0; i < m.segments.length; i++) {
      const e = ends.get(m.segments[i]!);
      // The block before the segment's first: the last of the segment before, or the genesis block.
      const prev = i > 0 ? ends.get(m.segments[i - 1]!) : undefined;
      const genesis = i === 0 ? chains.get(m.genesis)?.header : undefined;
      if (e && i === 0 && e.firstParent !== m.genesisHash) problems.push(`${name}: ${m.segments[0]} does not start on its genesis block ${m.genesisHash}`);
      else if (e && prev && e.firstParent !== prev.last) problems.push(`${name}: ${m.segments[i]} does not continue ${m.segments[i - 1]} (not one chain)`);
      else if (e && (prev || genesis)) {
        // The first block's seals, against the validators of the block before it.
        try {
          engine.verifyHeader(e.first, prev?.lastHeader ?? genesis!, FAR_FUTURE);
        } catch (err) {
          if (!(err instanceof BlockVerificationError)) throw err;
          problems.push(`${name}: ${m.segments[i]}: ${err.message}`);
        }
      }
      if (e && i === m.segments.length - 1) {
        // The head the manifest names is its last block's: the hash, and what a restore takes from the
        // manifest alone (the state root it walks, the time restores and retention order backups by).
        const h = e.lastHeader;
        if (e.last !== m.head.hash) problems.push(`${name}: its last segment ends at ${e.last}, not at its head ${m.head.hash}`);
        else if (bytesToHex(h.stateRoot) !== m.head.stateRoot)
          problems.push(`${name}: names state root ${m.head.stateRoot}, not its head block's ${bytesToHex(h.stateRoot)}`);
        else if (h.timestamp.toString() !== m.head.timestamp)
          problems.push(`${name}: names head time ${m.head.timestamp}, not its head block's ${h.timestamp}`);
      }
    }
  }

  // Packs: structure and digest; a pack with an index object (written by earlier versions): that the
  // index lists exactly what the pack holds.
  const packs = [...packsNamed].filter((n) => present.has(n) && inSubset(n));
  opts.onStep?.(`reading ${packs.length} state packs`);
  for (const name of packs) {
    const sha = parseObjectName(name)!.sha256;
    try {
      if (!indexes.has(sha)) {
        for await (const _ of readPack(repo, sha));
        objectsRead++;
        continue;
      }
      // The index and the pack side by side, a record of each at a time (a forged index of any size
      // costs no more memory than its largest record).
      const listed = flatten(readIndex(repo, sha), (r) => r.hashes.map((h) => ({ kind: r.kind, hash: h })));
      let i = 0;
      try {
        for await (const it of flatten(readPack(repo, sha), (r) => r.items.map((x) => ({ kind: r.kind, hash: x.hash })))) {
          const l = await listed.next();
          i++;
          if (l.done || l.value.kind !== it.kind || !equalsBytes(l.value.hash, it.hash))
            throw new Error(`its index does not list item ${i} as the pack holds it`);
        }
        if (!(await listed.next()).done) throw new Error(`its index lists more items than the pack's ${i}`);
      } finally {
        await listed.return(undefined); // closes the index's reader
      }
      objectsRead++;
    } catch (err) {
      problems.push(`${name}: ${errorMessage(err)}`);
    }
  }

  // Each backup's state, complete in its packs (needs every pack: not with a subset).
  if (!opts.subset && manifests.length > 0) {
    opts.onStep?.('checking that each backup state is complete');
    const scratch = await PackScratch.open(opts.scratchDir, '.basalt-verify-scratch');
    try {
      const readable = [...packsNamed].map((p) => parseObjectName(p)!.sha256);
      const damaged = new Set(problems.map((p) => p.split(':')[0]!));
      await scratch.load(repo, new Set(readable.filter((p) => present.has(`pack-${p}`) && !damaged.has(`pack-${p}`))), undefined, { owners: true });
      for (const { name } of manifests) {
        // Read again for its packs, one at a time (one that cannot be is named above).
        let m: Manifest;
        try {
          m = await repo.manifest(name);
        } catch (err) {
          if (!problems.some((p) => p.startsWith(`${name}: `))) problems.push(`${name}: ${errorMessage(err)}`);
          continue;
        }
        try {
          // In the packs it names, as its restore reads them (not in another backup's).
          const own = scratch.readerOf(m.packs.map((p) => parseObjectName(p)!.sha256));
          for await (const _ of stateItems(own, hexToBytes(m.head.stateRoot as `0x${string}`), undefined, 'tree')) {
            // reading it is the check
          }
        } catch (err) {
          if (!(err instanceof MissingStateError)) throw err;
          problems.push(`${name}: its state is incomplete: ${err.message}`);
        }
      }
    } finally {
      await scratch.close();
    }
  }
  problems.push(...needs);
  for (const b of backups) {
    const own = problems.filter((p) => p.startsWith(`${b.name}: `));
    if (b.ok && own.length > 0) Object.assign(b, { ok: false, problem: own[0]!.slice(b.name.length + 2) });
  }
  // A backup under more than one manifest counts once: the others are copies of the first that passed
  // (a member that fails is named as failing, never taken for the backup a good one is).
  const verdict = new Map(backups.map((b) => [b.name, b]));
  for (const group of backupsOf(manifests)) {
    if (group.length < 2) continue;
    const first = group.find((x) => verdict.get(x.name)!.ok) ?? group[0]!;
    for (const c of group) if (c !== first) verdict.get(c.name)!.copyOf = first.name;
  }
  return { backups, objectsRead, problems };
}

/** The items of a record stream, one at a time. */
async function* flatten<R, T>(records: AsyncIterable<R>, items: (r: R) => T[]): AsyncGenerator<T> {
  for await (const r of records) yield* items(r);
}
