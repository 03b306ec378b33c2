import type { BlockHeader } from '@ethereumjs/block';
import { createCommonForChainId } from '../chain/chain-config.js';
import type { ConsensusEngine } from '../chain/engine.js';
import { BlockVerificationError } from '../chain/errors.js';
import { IbftEngine } from '../consensus/ibft/engine.js';
import { BackupFileError } from '../container/errors.js';
import { readSnapshot } from '../snapshot/reader.js';
import { errorMessage } from '../util/errors.js';
import { decodeBlockRlp } from './block-records.js';
import { continuityGaps, listPieces, sortPieces, type ListedPiece } from './pieces.js';
import type { BackupTarget } from './targets/target.js';
import { FAR_FUTURE, inspectArchive } from './verify-archive.js';

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
}

/**
 * Check every piece of a target offline: each file's structure, record checksums and digest (which
 * must start with the digest in its name), block hashes, links and IBFT seals, and that it holds the
 * range its name states; then the chain between them: every archive's first block's parent must be
 * the last block of the piece before it (by hash), no blocks may be missing, and all pieces must be of
 * one chain. Reads every piece once; reports every problem, not only the first.
 */
export async function verifyPieces(
  target: BackupTarget,
  listed: ListedPiece[],
  engine: ConsensusEngine = new IbftEngine(),
  onPiece?: (p: ListedPiece) => void,
): Promise<PiecesReport> {
  const sorted = sortPieces(listed);
  const problems: string[] = [];
  const results: PiecesReport['pieces'] = [];
  const facts = new Map<ListedPiece, PieceFacts>();
  for (const p of sorted) {
    onPiece?.(p);
    try {
      const f = p.kind === 'archive' ? await archiveFacts(target, p, engine) : await snapshotFacts(target, p, engine);
      if (f.startBlock !== p.startBlock || f.endBlock !== p.endBlock)
        throw new BackupFileError(`holds blocks ${f.startBlock}-${f.endBlock}, its name says ${p.startBlock}-${p.endBlock}`);
      if (!f.digest.slice(2).startsWith(p.digest8)) throw new BackupFileError(`its digest ${f.digest} does not start with the ${p.digest8} of its name`);
      facts.set(p, f);
      results.push({ ...p, ok: true, digest: f.digest });
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
      return verifyFacts(
        sorted.filter((p) => !gone.has(p.file)),
        facts,
        results.filter((r) => !gone.has(r.file)),
        problems.filter((line) => ![...gone].some((g) => line.startsWith(`${g}: `))),
      );
    }
  }
  return verifyFacts(sorted, facts, results, problems);
}

/** The chain checks over what was read: gaps, links by hash, one chain. */
function verifyFacts(sorted: ListedPiece[], facts: Map<ListedPiece, PieceFacts>, results: PiecesReport['pieces'], problems: string[]): PiecesReport {
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
  return { pieces: results, problems };
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
