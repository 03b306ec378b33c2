import type { BlockHeader } from '@ethereumjs/block';
import { bytesToHex } from '@ethereumjs/util';
import { createChainRules, createCommonForChainId } from '../chain/chain-config.js';
import type { ConsensusEngine } from '../chain/engine.js';
import { BlockVerificationError } from '../chain/errors.js';
import { buildGenesisBlock } from '../chain/genesis.js';
import { Genesis } from '../chain/genesis-source.js';
import { IbftEngine } from '../consensus/ibft/engine.js';
import { ibftEngineFor } from '../consensus/ibft/genesis.js';
import { BackupFileError } from '../container/errors.js';
import { isGenesisStream } from '../snapshot/format.js';
import { readSnapshot } from '../snapshot/reader.js';
import { errorMessage } from '../util/errors.js';
import { decodeBlockRlp } from './block-records.js';
import { continuityGaps, listPieces, sortPieces, storedOrder, type ListedPiece } from './pieces.js';
import type { BackupTarget } from './targets/target.js';
import { FAR_FUTURE, inspectArchive, unexplainedNote, unexplainedSince } from './verify-archive.js';

/** What reading one piece found. */
export interface PieceFacts {
  chainId: string;
  genesisHash: string;
  startBlock: bigint;
  endBlock: bigint;
  digest: string;
  lastBlockHash: string;
  /** Archives: the first block's parent hash. */
  firstParentHash?: string;
}

export interface PiecesReport {
  pieces: (ListedPiece & { ok: boolean; problem?: string; digest?: string })[];
  /** One line per damaged or missing piece, naming its file. */
  problems: string[];
  /** One line per piece holding what could not be checked (a set change no genesis file in hand names), naming its file. */
  notChecked: string[];
}

export interface VerifyPiecesOptions {
  /** The operator's genesis file (`--chain`): every piece must be of its chain, and its rules decide every seal. */
  genesis?: Genesis;
  /** Where computing its genesis state may spill. */
  scratchDir?: string;
  onPiece?: (p: ListedPiece) => void;
}

/**
 * Check every piece of a target offline: each file's structure, record checksums and digest (which
 * must start with the digest in its name), block hashes, links and IBFT seals, and that it holds the
 * range its name states; then the chain between them: every archive's first block's parent must be
 * the last block of the piece before it (by hash), no blocks may be missing, and all pieces must be of
 * one chain. Seals are checked by the rules of the operator's genesis file, or else of the one the
 * newest snapshot carries (piecesEngine). Reads every piece once; reports every problem, not only the first.
 */
export async function verifyPieces(target: BackupTarget, listed: ListedPiece[], opts: VerifyPiecesOptions = {}): Promise<PiecesReport> {
  const sorted = sortPieces(listed);
  const problems: string[] = [];
  const notChecked: string[] = [];
  const results: PiecesReport['pieces'] = [];
  const facts = new Map<ListedPiece, PieceFacts>();
  const { engine, genesisHash } = opts.genesis ? await operatorRules(opts.genesis, opts.scratchDir) : { engine: await piecesEngine(target, listed) };
  for (const p of sorted) {
    opts.onPiece?.(p);
    try {
      const unexplained = unexplainedSince(engine);
      const f = p.kind === 'archive' ? await archiveFacts(target, p, engine) : await snapshotFacts(target, p, engine);
      if (f.startBlock !== p.startBlock || f.endBlock !== p.endBlock)
        throw new BackupFileError(`holds blocks ${f.startBlock}-${f.endBlock}, its name says ${p.startBlock}-${p.endBlock}`);
      if (!f.digest.slice(2).startsWith(p.digest8)) throw new BackupFileError(`its digest ${f.digest} does not start with the ${p.digest8} of its name`);
      if (genesisHash !== undefined && f.genesisHash !== genesisHash)
        throw new BackupFileError(`of another chain (chain ID ${f.chainId}, genesis ${f.genesisHash}) than --chain (genesis ${genesisHash})`);
      facts.set(p, f);
      results.push({ ...p, ok: true, digest: f.digest });
      const seen = unexplained();
      if (seen.count > 0) notChecked.push(`${p.file}: ${unexplainedNote(seen)} (no genesis file in hand names it: pass --chain)`);
    } catch (err) {
      problems.push(`${p.file}: ${errorMessage(err)}`);
      results.push({ ...p, ok: false, problem: errorMessage(err) });
    }
  }
  // A running node's retention may have deleted pieces while they were read: those are not missing.
  {
    const now = new Set((await listPieces(target).catch(() => listed)).map((p) => p.file));
    const gone = new Set(sorted.filter((p) => !now.has(p.file)).map((p) => p.file));
    if (gone.size > 0) {
      const kept = (line: string) => ![...gone].some((g) => line.startsWith(`${g}: `));
      return verifyFacts(
        sorted.filter((p) => !gone.has(p.file)),
        facts,
        results.filter((r) => !gone.has(r.file)),
        problems.filter(kept),
        notChecked.filter(kept),
      );
    }
  }
  return verifyFacts(sorted, facts, results, problems, notChecked);
}

/** The engine of the operator's genesis file, and the hash of the genesis block it makes. */
async function operatorRules(genesis: Genesis, scratchDir: string | undefined): Promise<{ engine: IbftEngine; genesisHash: string }> {
  const engine = ibftEngineFor(genesis.config, genesis.bytes.name);
  const block = buildGenesisBlock(genesis.config, await genesis.stateRoot(undefined, scratchDir), createChainRules(genesis.config).commonAt(0n));
  return { engine, genesisHash: bytesToHex(engine.blockHash(block.header)) };
}

/**
 * The rules to check pieces by without the operator's genesis file: the genesis file the newest
 * snapshot carries (a chain's genesis file only gains entries above its head, so that copy rules every
 * block up to its snapshot's head), an emergency set change after that head being taken as the blocks
 * claim it and reported as not checked; with no snapshot whose genesis reads, no genesis file at all.
 */
async function piecesEngine(target: BackupTarget, listed: ListedPiece[]): Promise<IbftEngine> {
  for (const s of storedOrder(listed.filter((p) => p.kind === 'snapshot')).reverse()) {
    try {
      const genesis = await Genesis.read({ name: `the genesis file in ${s.file}`, open: () => snapshotGenesisBytes(target.get(s.file)) });
      return ibftEngineFor(genesis.config, genesis.bytes.name, s.endBlock + 1n);
    } catch {
      // A snapshot that cannot be read: its own check names the damage; an older one may do.
    }
  }
  return IbftEngine.withoutGenesis();
}

/** The genesis file a snapshot carries (version 1: in its header; 2: in the records after it). */
async function* snapshotGenesisBytes(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const ev of readSnapshot(source)) {
    if (ev.kind === 'header') {
      const inHeader = ev.header.genesis;
      if (inHeader !== undefined && !isGenesisStream(inHeader)) yield Buffer.from(JSON.stringify(inHeader));
    } else if (ev.kind === 'genesis') yield ev.piece;
    else return;
  }
}

/** The chain checks over what was read: gaps, links by hash, one chain. */
function verifyFacts(
  sorted: ListedPiece[],
  facts: Map<ListedPiece, PieceFacts>,
  results: PiecesReport['pieces'],
  problems: string[],
  notChecked: string[],
): PiecesReport {
  for (const gap of continuityGaps(sorted)) problems.push(gap);
  // Links by hash: a piece that holds block start-1 must end with the block this archive's first block
  // names as parent. After a restore to an older block, two timelines' pieces may end there: one will do.
  const byEnd = new Map<bigint, ListedPiece[]>();
  for (const p of sorted) byEnd.set(p.endBlock, [...(byEnd.get(p.endBlock) ?? []), p]);
  let first: PieceFacts | undefined;
  for (const p of sorted) {
    const f = facts.get(p);
    if (!f) continue;
    first ??= f;
    if (f.chainId !== first.chainId || f.genesisHash !== first.genesisHash)
      problems.push(
        `${p.file}: of another chain (chain ID ${f.chainId}, genesis ${f.genesisHash}) than the other pieces (chain ID ${first.chainId}, genesis ${first.genesisHash})`,
      );
    if (p.kind !== 'archive') continue;
    const before = (byEnd.get(p.startBlock - 1n) ?? []).filter((b) => facts.has(b));
    if (before.length > 0 && !before.some((b) => facts.get(b)!.lastBlockHash === f.firstParentHash)) {
      problems.push(
        `${p.file}: its first block's parent ${f.firstParentHash} is not the last block ${before.map((b) => `${facts.get(b)!.lastBlockHash} of ${b.file}`).join(', nor ')} (the pieces are not one chain)`,
      );
    }
  }
  return { pieces: results, problems, notChecked };
}

async function archiveFacts(target: BackupTarget, p: ListedPiece, engine: ConsensusEngine): Promise<PieceFacts> {
  const r = await inspectArchive(target.get(p.file), undefined, engine);
  return {
    chainId: r.header.chainId,
    genesisHash: r.header.genesisHash,
    startBlock: BigInt(r.header.startBlock),
    endBlock: BigInt(r.header.endBlock),
    digest: r.trailer.digest,
    lastBlockHash: r.trailer.lastBlockHash,
    firstParentHash: r.firstParentHash,
  };
}

/** A snapshot's structure, checksums and digest, each block's hash and seals against the one before it. */
async function snapshotFacts(target: BackupTarget, p: ListedPiece, engine: ConsensusEngine): Promise<PieceFacts> {
  let chainId = '';
  let genesisHash = '';
  let common: ReturnType<typeof createCommonForChainId> | undefined;
  let parent: BlockHeader | undefined;
  for await (const ev of readSnapshot(target.get(p.file))) {
    if (ev.kind === 'header') {
      ({ chainId, genesisHash } = ev.header);
      common = createCommonForChainId(BigInt(chainId));
    } else if (ev.kind === 'block') {
      const block = decodeBlockRlp(ev.blockRlp, ev.number, ev.hash, common!, 'snapshot');
      if (parent) {
        try {
          engine.verifyHeader(block.header, parent, FAR_FUTURE);
        } catch (err) {
          if (err instanceof BlockVerificationError)
            throw new BackupFileError(`${err.message} (snapshot is corrupt or forged)`, { code: 'INVALID_BLOCK', cause: err });
          throw err;
        }
      }
      parent = block.header;
    } else if (ev.kind === 'trailer') {
      return {
        chainId,
        genesisHash,
        startBlock: 1n,
        endBlock: parent ? parent.number : 0n,
        digest: ev.trailer.digest,
        lastBlockHash: ev.trailer.lastBlockHash,
      };
    }
  }
  throw new BackupFileError('snapshot ended without a trailer');
}
