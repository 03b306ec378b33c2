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
