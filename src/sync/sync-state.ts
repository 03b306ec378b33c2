/** What eth_syncing reports while the node is behind its best peer (geth's fields). */
export interface SyncProgress {
  startingBlock: bigint;
  currentBlock: bigint;
  highestBlock: bigint;
}

/** The network side of the node, as JSON-RPC and the operator API see it. */
export interface NetworkView {
  readonly listening: boolean;
  peerCount(): number;
  /** Progress while behind the best peer's head; false when caught up (or with no peers). */
  syncing(): SyncProgress | false;
}

/** What eth_syncing reports while the node restores from a peer's snapshot (`--sync snapshot`). */
export interface SnapshotSyncProgress {
  /** The peer being asked, if any yet. */
  peer?: string;
  /** Blocks of the snapshot verified and written so far. */
  currentBlock: bigint;
  /** The snapshot's head once its header has arrived; before, the highest head a peer claims (0: none yet). */
  highestBlock: bigint;
  /** Bytes of the snapshot read so far. */
  bytesReceived: number;
  /** The size the peer announced (0 before its answer): its estimate (protocol version 5), or the most it will send (versions 2 to 4). */
  bytesAnnounced: number;
}
