import type { Compression } from '../container/compression.js';

/**
 * The backup service: export, import, snapshot and status over domain types. It has two
 * implementations with one contract: `LocalBackupService` (backup/local.ts) runs against a chain in
 * this process (the node itself, or a data dir opened offline), `RemoteBackupService`
 * (rpc/grpc/backup-client.ts) calls a running node's gRPC operator API. CLI commands pick one and
 * render its result; the gRPC server adapts the node's local one. Restore builds a new data dir and
 * so is local only (backup/restore.ts): the node never writes to a path a client names.
 */
export interface BackupService {
  status(): Promise<ChainStatus>;
  /** Write blocks start..end as an archive to `sink`. */
  export(req: ExportRequest, sink: ByteSink, observer?: Observer<ExportStarted, ExportProgress>): Promise<ExportSummary>;
  /** Read an archive from `source` into the chain, verifying every block. */
  import(source: AsyncIterable<Uint8Array>, observer?: Observer<ExportStarted, ImportProgress>): Promise<ImportSummary>;
  /** Write a snapshot of the chain at its head to `sink`. */
  snapshot(req: SnapshotRequest, sink: ByteSink, observer?: Observer<SnapshotStarted, SnapshotProgress>): Promise<SnapshotSummary>;
}

/** Where produced bytes go: a file, stdout, a gRPC stream. `write` resolves when the sink can take more. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
}

export interface Observer<Started, Progress> {
  onStart?(started: Started): void;
  onProgress?(progress: Progress): void;
}

/** A node's networking, in its status (absent when it runs without networking). */
export interface NetworkStatus {
  peers: number;
  syncing: boolean;
  highestBlock: bigint;
  listenAddresses: string[];
  /** This node's clock against its peers' (chain/peer-clock.ts); absent from a node older than this field. */
  clock?: ClockStatus;
}

/** This node's clock against its peers', measured from recent blocks' timestamps. */
export interface ClockStatus {
  /** This node's clock minus its peers' in ms (positive: ahead); undefined until measured. */
  offsetMs: number | undefined;
  /** Further apart than the tolerance (15 s): block timestamps here follow the peers' time. */
  skewed: boolean;
}

/** The validator set deciding the next block and what it tolerates. */
export interface ConsensusStatus {
  validators: number;
  /** Committed seals the next block needs. */
  quorum: number;
  /** Faulty validators that cannot fork the chain (F); the chain keeps sealing with validators - quorum down. */
  faultTolerance: number;
  /** False when the quorum is the legacy 2F+1 of a set that it does not protect (N != 3F+1): a split can fork the chain. */
  safe: boolean;
}

export interface ChainStatus {
  chainId: bigint;
  genesisHash: string;
  head: { number: bigint; hash: string; stateRoot: string; timestamp: bigint };
  consensus?: ConsensusStatus;
  /** Present when the chain runs in a node. */
  node?: {
    validatorAddress: string;
    nodeId: string;
    sealing: boolean;
    clientVersion: string;
    writable: boolean;
    notWritableReason?: string;
    network?: NetworkStatus;
    /** A restored node back-filling the history below its restored head; absent once every block is whole. */
    history?: HistoryStatus;
  };
}

/** The history back-fill of a restored node: blocks backfillFrom..backfillTo still lack bodies and receipts. */
export interface HistoryStatus {
  backfillFrom: bigint;
  backfillTo: bigint;
  /** The first block of the gap when the node started (so the progress is (backfillFrom - backfillStart) of (backfillTo - backfillStart + 1)). */
  backfillStart: bigint;
  /** The repository and backup it reads. */
  source: string;
  /** The last failure, while it waits to try again. */
  error?: string;
}

export interface ExportRequest {
  /** First block; default 1 (the genesis block is bound by hash in the header, not stored). */
  startBlock?: bigint;
  /** Last block; default: the head when the export starts. */
  endBlock?: bigint;
  compression: Compression;
}

/** What an export (or an import, read from the archive's header) covers. */
export interface ExportStarted {
  chainId: bigint;
  genesisHash: string;
  startBlock: bigint;
  endBlock: bigint;
  compression: Compression;
}

export interface ExportProgress {
  block: bigint;
  blocksDone: bigint;
  blocksTotal: bigint;
  bytes: number;
}

export interface ExportSummary {
  startBlock: bigint;
  endBlock: bigint;
  blocks: bigint;
  bytes: number;
  digest: string;
  durationMs: number;
}

export interface ImportProgress {
  block: bigint;
  imported: bigint;
  skipped: bigint;
  blocksTotal: bigint;
  bytesRead: number;
}

export interface ImportSummary {
  startBlock: bigint;
  endBlock: bigint;
  imported: bigint;
  /** Blocks already on the chain with the same hash. */
  skipped: bigint;
  bytes: number;
  digest: string;
  durationMs: number;
  /** The chain's head after the import. */
  head: bigint;
  /** Set when the import stopped on purpose before this block (ImportOptions.untilBlock/untilTime); bytes and digest are then empty. */
  stoppedBefore?: bigint;
}

/** A snapshot's history: 'full', every block with its receipts; 'headers', the headers below the head (version 3). */
export type SnapshotHistory = 'full' | 'headers';
export const SNAPSHOT_HISTORIES: readonly SnapshotHistory[] = ['full', 'headers'];

export interface SnapshotRequest {
  compression: Compression;
  /** Default 'full'. */
  history?: SnapshotHistory;
}

export interface SnapshotStarted {
  chainId: bigint;
  genesisHash: string;
  head: bigint;
  headHash: string;
  stateRoot: string;
  compression: Compression;
}

export interface SnapshotProgress {
  phase: 'blocks' | 'state';
  blocksDone: bigint;
  blocksTotal: bigint;
  nodes: number;
  codes: number;
  bytes: number;
  /**
   * About how many nodes the state phase lists (the state's size as last measured whole, StateSize:
   * exact if that state is the head's); 0 when none is kept.
   */
  nodesExpected: number;
}

export interface SnapshotSummary {
  head: bigint;
  headHash: string;
  stateRoot: string;
  blocks: bigint;
  nodes: number;
  codes: number;
  bytes: number;
  digest: string;
  durationMs: number;
}
