import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Block } from '@ethereumjs/block';
import { bytesToHex } from '@ethereumjs/util';
import type { ArchiveHeader, ArchiveTrailer } from '../archive/format.js';
import { readArchive } from '../archive/reader.js';
import { Chain } from '../chain/chain.js';
import { createCommonForChainId, type GenesisFile } from '../chain/chain-config.js';
import { ibftEngineFor } from '../consensus/ibft/genesis.js';
import { Genesis } from '../chain/genesis-source.js';
import type { ConsensusEngine } from '../chain/engine.js';
import { BlockVerificationError } from '../chain/errors.js';
import { IbftEngine, type SetChangesSeen } from '../consensus/ibft/engine.js';
import { BackupFileError } from '../container/errors.js';
import { openBytesDB } from '../storage/open-db.js';
import { UserError } from '../util/errors.js';
import { decodeBlockRecord } from './block-records.js';
import { importArchive, type ImportOptions } from './import.js';

export interface InspectReport {
  header: ArchiveHeader;
  trailer: ArchiveTrailer;
  /** 0x-hex parent hash of the first block (the last block of whatever this archive continues). */
  firstParentHash: string;
  blocks: bigint;
  bytes: number;
  transactions: number;
  /**
   * Blocks whose validator set differs from their parent's without a vote, taken as the emergency
   * changes (params.engine.ibft.validatorSetChanges) a genesis file would name: with none in hand to
   * check them against, not checked (IbftEngine `unknownChangesFrom`).
   */
  unexplainedSetChanges: SetChangesSeen;
}

export interface VerifyReport extends InspectReport {
  /** 'replayed': every block re-executed from genesis in a scratch chain; 'seals': structure, hashes, links and seals. */
  level: 'replayed' | 'seals';
  /** What this verification could not check, each with the reason (empty when every block was replayed from genesis). */
  notChecked: { what: NotChecked; why: string }[];
  note?: string;
}

/**
 * What a verification may leave unchecked. 'chain binding': the file's chain ID and genesis hash were
 * compared with no genesis file; 'validator set': seals were checked against the validators the file
 * itself declares, not against the genesis's; 'execution': blocks were not re-executed.
 */
export type NotChecked = 'chain binding' | 'validator set' | 'execution';

/** A file checked offline may hold blocks of any age: no timestamp is "in the future" for it. */
export const FAR_FUTURE = { nowSeconds: BigInt(Number.MAX_SAFE_INTEGER) };

/**
 * Read a whole archive and check it without a node: magic, header, record checksums, block decoding
 * and hashes, parent links, consensus seals (each block against the one before it), trailer count and
 * digest. Returns what it found; throws BackupFileError at the first problem.
 */
export async function inspectArchive(
  source: AsyncIterable<Uint8Array>,
  onBlock?: (n: bigint, bytesRead: number) => void,
  engine: ConsensusEngine = IbftEngine.withoutGenesis(),
): Promise<InspectReport> {
  const unexplained = unexplainedSince(engine);
  let header: ArchiveHeader | undefined;
  let common: ReturnType<typeof createCommonForChainId> | undefined;
  let parent: Block | undefined;
  let firstParentHash = '';
  let blocks = 0n;
  let transactions = 0;
  for await (const ev of readArchive(source)) {
    if (ev.kind === 'header') {
      header = ev.header;
      common = createCommonForChainId(BigInt(header.chainId));
    } else if (ev.kind === 'block') {
      const block = await decodeBlockRecord(ev.record, header!.compression, common!);
      if (!parent) firstParentHash = bytesToHex(block.header.parentHash);
      if (parent) {
        try {
          engine.verifyHeader(block.header, parent.header, FAR_FUTURE);
        } catch (err) {
          if (err instanceof BlockVerificationError)
            throw new BackupFileError(`${err.message} (archive is corrupt or forged)`, { code: 'INVALID_BLOCK', cause: err });
          throw err;
        }
      }
      parent = block;
      blocks++;
      transactions += block.transactions.length;
      onBlock?.(block.header.number, ev.bytesRead);
    } else {
      return { header: header!, trailer: ev.trailer, firstParentHash, blocks, bytes: ev.bytesRead, transactions, unexplainedSetChanges: unexplained() };
    }
  }
  throw new BackupFileError('archive ended without a trailer');
}

/**
 * Full verification against a genesis file: the archive must be of that chain, and (when it starts
 * at block 1) every block is replayed through the node's import pipeline in a scratch chain that is
 * deleted afterwards, so execution results (state roots, receipts) are checked too.
 */
export async function verifyArchive(
  open: () => AsyncIterable<Uint8Array>,
  given: GenesisFile | Genesis | undefined,
  onProgress?: (p: { block: bigint; blocksTotal?: bigint; bytesRead: number }) => void,
  givenEngine?: ConsensusEngine,
): Promise<VerifyReport> {
  const genesis = given === undefined ? undefined : await Genesis.of(given);
  const engine = givenEngine ?? (genesis ? ibftEngineFor(genesis.config, genesis.bytes.name) : IbftEngine.withoutGenesis());
  const report = await inspectArchive(open(), (block, bytesRead) => onProgress?.({ block, bytesRead }), engine);
  if (genesis === undefined) {
    return {
      ...report,
      level: 'seals',
      notChecked: [
        { what: 'chain binding', why: `chain ID ${report.header.chainId} and genesis ${report.header.genesisHash} are the file's own claim` },
        {
          what: 'validator set',
          why: `seals were checked against the validators the file declares for itself and the legacy 2F+1 quorum, not against a genesis and its quorum rule${report.unexplainedSetChanges.count > 0 ? `; ${unexplainedNote(report.unexplainedSetChanges)}` : ''}`,
        },
        { what: 'execution', why: 'no block was re-executed' },
      ],
      note: 'pass --chain genesis.json to check the archive against your chain and replay every block',
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'basalt-verify-'));
  try {
    const blockchainDb = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
    const trieDb = await openBytesDB(join(dir, 'trie'), 'trie', dir);
    const chain = await Chain.open({ blockchainDb, trieDb, genesis, engine, syncCommits: false }); // thrown away after
    try {
      if (BigInt(report.header.startBlock) > 1n) {
        // Checks chain ID and genesis, then stops at the gap: execution needs the state before the range.
        try {
          await importArchive(chain, open());
        } catch (err) {
          if (!(err instanceof UserError) || err.code !== 'MISSING_BLOCKS') throw err;
        }
        const start = report.header.startBlock;
        return {
          ...report,
          level: 'seals',
          notChecked: [
            {
              what: 'validator set',
              why: `block ${start}'s parent is not in the archive: seals were checked against the validators the file declares for itself`,
            },
            { what: 'execution', why: `the archive starts at block ${start}: execution can only be replayed from block 1` },
          ],
          note: `archive starts at block ${start}: execution can only be replayed from block 1`,
        };
      }
      const progress: ImportOptions['onProgress'] = (p) => onProgress?.({ block: p.block, blocksTotal: p.blocksTotal, bytesRead: p.bytesRead });
      await importArchive(chain, open(), { onProgress: progress });
      return { ...report, level: 'replayed', notChecked: [] };
    } finally {
      await chain.close();
      await Promise.allSettled([blockchainDb.close(), trieDb.close()]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The set changes `engine` takes on a file's word (IbftEngine `unknownChangesFrom`) from now until the returned function is called. */
export function unexplainedSince(engine: ConsensusEngine): () => SetChangesSeen {
  const seen = engine instanceof IbftEngine ? engine.unexplainedSetChanges : undefined;
  const before = { count: seen?.count ?? 0, listed: seen?.first.length ?? 0 };
  return () => (seen ? { count: seen.count - before.count, first: seen.first.slice(before.listed) } : { count: 0, first: [] });
}

/** What a report adds for set changes without a vote that no genesis file in hand names ('' for none). */
export function unexplainedNote(seen: SetChangesSeen): string {
  if (seen.count === 0) return '';
  const more = seen.count - seen.first.length;
  const at = `${seen.count === 1 ? 'block' : 'blocks'} ${seen.first.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
  return `the validator set changes without a vote at ${at}, taken as the emergency change (params.engine.ibft.validatorSetChanges) a genesis file would name`;
}
