import type {
  ChainStatus,
  ExportProgress,
  ExportStarted,
  ExportSummary,
  ImportProgress,
  ImportSummary,
  SnapshotProgress,
  SnapshotStarted,
  SnapshotSummary,
} from '../../backup/types.js';
import type { StoredPiece } from '../../backup/scheduler.js';
import type { BackupPiece as WBackupPiece, BackupPiece__Output } from './generated/basalt/operator/v1/BackupPiece.js';
import { isCompression, type Compression } from '../../container/compression.js';
import { UserError } from '../../util/errors.js';
import type { ArchiveInfo, ArchiveInfo__Output } from './generated/basalt/operator/v1/ArchiveInfo.js';
import type { ExportProgress as WExportProgress, ExportProgress__Output } from './generated/basalt/operator/v1/ExportProgress.js';
import type { ExportSummary as WExportSummary, ExportSummary__Output } from './generated/basalt/operator/v1/ExportSummary.js';
import type { ImportProgress as WImportProgress, ImportProgress__Output } from './generated/basalt/operator/v1/ImportProgress.js';
import type { ImportSummary as WImportSummary, ImportSummary__Output } from './generated/basalt/operator/v1/ImportSummary.js';
import type { SnapshotInfo, SnapshotInfo__Output } from './generated/basalt/operator/v1/SnapshotInfo.js';
import type { SnapshotProgress as WSnapshotProgress, SnapshotProgress__Output } from './generated/basalt/operator/v1/SnapshotProgress.js';
import type { SnapshotSummary as WSnapshotSummary, SnapshotSummary__Output } from './generated/basalt/operator/v1/SnapshotSummary.js';
import type { StatusResponse, StatusResponse__Output } from './generated/basalt/operator/v1/StatusResponse.js';

/**
 * Domain types <-> the generated wire types, both ways, field by field. uint64 fields travel as
 * decimal strings (the loader's `longs: String`).
 */
/** A stored backup piece as the CLI shows it (BackupNow). */
export interface BackupPieceInfo {
  kind: string;
  startBlock: bigint;
  endBlock: bigint;
  time: bigint;
  bytes: number;
  digest: string;
  file: string;
  target: string;
  durationMs: number;
}

export const wire = {
  backupPiece: (p: StoredPiece): WBackupPiece => ({
    kind: p.kind,
    startBlock: p.startBlock.toString(),
    endBlock: p.endBlock.toString(),
    time: p.time.toString(),
    bytes: p.bytes,
    digest: p.digest,
    file: p.file,
    target: p.target,
    durationMs: p.durationMs,
  }),
  status: (s: ChainStatus): StatusResponse => ({
    chainId: s.chainId.toString(),
    genesisHash: s.genesisHash,
    number: s.head.number.toString(),
    hash: s.head.hash,
    stateRoot: s.head.stateRoot,
    timestamp: s.head.timestamp.toString(),
    validatorAddress: s.node?.validatorAddress ?? '',
    nodeId: s.node?.nodeId ?? '',
    sealing: s.node?.sealing ?? false,
    clientVersion: s.node?.clientVersion ?? '',
    writable: s.node?.writable ?? true,
    notWritableReason: s.node?.notWritableReason ?? '',
    networking: s.node?.network !== undefined,
    peers: s.node?.network?.peers ?? 0,
    syncing: s.node?.network?.syncing ?? false,
    highestBlock: (s.node?.network?.highestBlock ?? s.head.number).toString(),
    listenAddresses: s.node?.network?.listenAddresses ?? [],
    validators: s.consensus?.validators ?? 0,
    quorum: s.consensus?.quorum ?? 0,
    faultTolerance: s.consensus?.faultTolerance ?? 0,
    quorumSafe: s.consensus?.safe ?? true,
    clockOffsetMs: s.node?.network?.clock?.offsetMs ?? 0,
    clockOffsetKnown: s.node?.network?.clock?.offsetMs !== undefined,
    clockSkewed: s.node?.network?.clock?.skewed ?? false,
    historyBackfillFrom: (s.node?.history?.backfillFrom ?? 0n).toString(),
    historyBackfillTo: (s.node?.history?.backfillTo ?? 0n).toString(),
    historyBackfillStart: (s.node?.history?.backfillStart ?? 0n).toString(),
    historyBackfillSource: s.node?.history?.source ?? '',
    historyBackfillError: s.node?.history?.error ?? '',
  }),
  archiveInfo: (s: ExportStarted): ArchiveInfo => ({
    chainId: s.chainId.toString(),
    genesisHash: s.genesisHash,
    startBlock: s.startBlock.toString(),
    endBlock: s.endBlock.toString(),
    compression: s.compression,
  }),
  exportProgress: (p: ExportProgress): WExportProgress => ({
    block: p.block.toString(),
    blocksDone: p.blocksDone.toString(),
    blocksTotal: p.blocksTotal.toString(),
    bytes: p.bytes,
  }),
  exportSummary: (s: ExportSummary): WExportSummary => ({
    startBlock: s.startBlock.toString(),
    endBlock: s.endBlock.toString(),
    blocks: s.blocks.toString(),
    bytes: s.bytes,
    digest: s.digest,
    durationMs: s.durationMs,
  }),
  importProgress: (p: ImportProgress): WImportProgress => ({
    block: p.block.toString(),
    imported: p.imported.toString(),
    skipped: p.skipped.toString(),
    blocksTotal: p.blocksTotal.toString(),
    bytesRead: p.bytesRead,
  }),
  importSummary: (s: ImportSummary): WImportSummary => ({
    startBlock: s.startBlock.toString(),
    endBlock: s.endBlock.toString(),
    imported: s.imported.toString(),
    skipped: s.skipped.toString(),
    bytes: s.bytes,
    digest: s.digest,
    durationMs: s.durationMs,
    head: s.head.toString(),
  }),
  snapshotInfo: (s: SnapshotStarted): SnapshotInfo => ({
    chainId: s.chainId.toString(),
    genesisHash: s.genesisHash,
    head: s.head.toString(),
    headHash: s.headHash,
    stateRoot: s.stateRoot,
    compression: s.compression,
  }),
  snapshotProgress: (p: SnapshotProgress): WSnapshotProgress => ({
    phase: p.phase,
    blocksDone: p.blocksDone.toString(),
    blocksTotal: p.blocksTotal.toString(),
    stateNodes: p.nodes,
    codes: p.codes,
    bytes: p.bytes,
    stateNodesExpected: p.nodesExpected,
  }),
  snapshotSummary: (s: SnapshotSummary): WSnapshotSummary => ({
    head: s.head.toString(),
    headHash: s.headHash,
    stateRoot: s.stateRoot,
    blocks: s.blocks.toString(),
    stateNodes: s.nodes,
    codes: s.codes,
    bytes: s.bytes,
    digest: s.digest,
    durationMs: s.durationMs,
  }),
};

/** Wire -> domain, for the client side. */
export const domain = {
  backupPiece: (p: BackupPiece__Output): BackupPieceInfo => ({
    kind: p.kind,
    startBlock: BigInt(p.startBlock),
    endBlock: BigInt(p.endBlock),
    time: BigInt(p.time),
    bytes: Number(p.bytes),
    digest: p.digest,
    file: p.file,
    target: p.target,
    durationMs: Number(p.durationMs),
  }),
  status: (r: StatusResponse__Output): ChainStatus => ({
    chainId: BigInt(r.chainId),
    genesisHash: r.genesisHash,
    head: { number: BigInt(r.number), hash: r.hash, stateRoot: r.stateRoot, timestamp: BigInt(r.timestamp) },
    ...(r.validators > 0 ? { consensus: { validators: r.validators, quorum: r.quorum, faultTolerance: r.faultTolerance, safe: r.quorumSafe } } : {}),
    node: {
      validatorAddress: r.validatorAddress,
      nodeId: r.nodeId,
      sealing: r.sealing,
      clientVersion: r.clientVersion,
      writable: r.writable,
      ...(r.notWritableReason ? { notWritableReason: r.notWritableReason } : {}),
      ...(BigInt(r.historyBackfillTo) > 0n
        ? {
            history: {
              backfillFrom: BigInt(r.historyBackfillFrom),
              backfillTo: BigInt(r.historyBackfillTo),
              backfillStart: BigInt(r.historyBackfillStart),
              source: r.historyBackfillSource,
              ...(r.historyBackfillError ? { error: r.historyBackfillError } : {}),
            },
          }
        : {}),
      ...(r.networking
        ? {
            network: {
              peers: r.peers,
              syncing: r.syncing,
              highestBlock: BigInt(r.highestBlock),
              listenAddresses: r.listenAddresses,
              clock: { offsetMs: r.clockOffsetKnown ? r.clockOffsetMs : undefined, skewed: r.clockSkewed },
            },
          }
        : {}),
    },
  }),
  archiveInfo: (i: ArchiveInfo__Output): ExportStarted => ({
    chainId: BigInt(i.chainId),
    genesisHash: i.genesisHash,
    startBlock: BigInt(i.startBlock),
    endBlock: BigInt(i.endBlock),
    compression: compression(i.compression),
  }),
  exportProgress: (p: ExportProgress__Output): ExportProgress => ({
    block: BigInt(p.block),
    blocksDone: BigInt(p.blocksDone),
    blocksTotal: BigInt(p.blocksTotal),
    bytes: Number(p.bytes),
  }),
  exportSummary: (s: ExportSummary__Output): ExportSummary => ({
    startBlock: BigInt(s.startBlock),
    endBlock: BigInt(s.endBlock),
    blocks: BigInt(s.blocks),
    bytes: Number(s.bytes),
    digest: s.digest,
    durationMs: Number(s.durationMs),
  }),
  importProgress: (p: ImportProgress__Output): ImportProgress => ({
    block: BigInt(p.block),
    imported: BigInt(p.imported),
    skipped: BigInt(p.skipped),
    blocksTotal: BigInt(p.blocksTotal),
    bytesRead: Number(p.bytesRead),
  }),
  importSummary: (s: ImportSummary__Output): ImportSummary => ({
    startBlock: BigInt(s.startBlock),
    endBlock: BigInt(s.endBlock),
    imported: BigInt(s.imported),
    skipped: BigInt(s.skipped),
    bytes: Number(s.bytes),
    digest: s.digest,
    durationMs: Number(s.durationMs),
    head: BigInt(s.head),
  }),
  snapshotInfo: (i: SnapshotInfo__Output): SnapshotStarted => ({
    chainId: BigInt(i.chainId),
    genesisHash: i.genesisHash,
    head: BigInt(i.head),
    headHash: i.headHash,
    stateRoot: i.stateRoot,
    compression: compression(i.compression),
  }),
  snapshotProgress: (p: SnapshotProgress__Output): SnapshotProgress => ({
    phase: p.phase === 'state' ? 'state' : 'blocks',
    blocksDone: BigInt(p.blocksDone),
    blocksTotal: BigInt(p.blocksTotal),
    nodes: Number(p.stateNodes),
    codes: Number(p.codes),
    bytes: Number(p.bytes),
    nodesExpected: Number(p.stateNodesExpected),
  }),
  snapshotSummary: (s: SnapshotSummary__Output): SnapshotSummary => ({
    head: BigInt(s.head),
    headHash: s.headHash,
    stateRoot: s.stateRoot,
    blocks: BigInt(s.blocks),
    nodes: Number(s.stateNodes),
    codes: Number(s.codes),
    bytes: Number(s.bytes),
    digest: s.digest,
    durationMs: Number(s.durationMs),
  }),
};

function compression(c: string): Compression {
  if (!isCompression(c)) throw new UserError(`the node names an unknown compression "${c}"`, { code: 'INTERNAL' });
  return c;
}
