import type { Chain } from '../chain/chain.js';
import type { GenesisFile } from '../chain/chain-config.js';
import type { Genesis } from '../chain/genesis-source.js';
import type { BanList } from '../p2p/bans.js';
import { TxPool } from '../txpool/txpool.js';
import type { Logger } from '../util/log.js';
import type { SnapshotPaceLimits } from '../sync/snapshot-pace.js';
import { snapshotSync, snapshotSyncFolder, type SnapshotSyncResult } from '../sync/snapshot-sync.js';
import type { SnapshotSyncProgress } from '../sync/sync-state.js';
import { Network } from './network.js';

export type SyncMode = 'full' | 'snapshot';

export interface SnapshotBootstrapOptions {
  dataDir: string;
  genesis: GenesisFile | Genesis;
  /** The data dir's chain, open, at its genesis block (its state may be pending: Chain.open's genesisState). */
  chain: Chain;
  libp2pKey: Uint8Array;
  listen: { host: string; port: number };
  bootnodes: string[];
  maxPeers: number;
  /** Kademlia DHT discovery (default true). */
  discovery?: boolean;
  /** --max-inbound-peers, --max-outbound-peers, --nat-address, as the running node has them. */
  maxInbound?: number;
  maxOutbound?: number;
  natAddress?: string;
  maxSnapshotStreams?: number;
  logger: Logger;
  waitForPeersMs?: number;
  /** --min-free-disk: a snapshot that would take the disk below it is abandoned. */
  minFreeBytes?: number;
  /** --snapshot-min-rate, --snapshot-rate-window. */
  pace?: SnapshotPaceLimits;
  /** --snapshot-sync-timeout. */
  timeoutMs?: number;
  /** The node's ban list: peers banned here stay banned once the node runs. */
  bans?: BanList;
  onProgress?: (p: SnapshotSyncProgress) => void;
  /** Aborted when the node is told to stop during the sync. */
  signal?: AbortSignal;
}

/**
 * `--sync snapshot` on a data dir at genesis: bring the network up without block sync, restore a
 * peer's snapshot (verified against the operator's genesis) into snapshotSyncFolder(dataDir), and
 * take the network down again. The caller closes the databases and calls installSnapshot; undefined
 * when no peer served a valid snapshot (the node then syncs block by block).
 */
export async function restoreFromPeers(opts: SnapshotBootstrapOptions): Promise<{ built: string; result: SnapshotSyncResult } | undefined> {
  const { chain, logger: log } = opts;
  // The chain is at its genesis block, whose state may not be written (a new data dir's: the restore
  // replaces it): nothing to check a transaction against, so none is taken (peers are not at fault).
  const txpool = new TxPool(chain);
  txpool.close('the node is restoring from a peer snapshot: it takes transactions once it runs');
  const net = await Network.start({
    key: opts.libp2pKey,
    host: opts.listen.host,
    port: opts.listen.port,
    bootnodes: opts.bootnodes,
    maxPeers: opts.maxPeers,
    ...(opts.discovery !== undefined ? { discovery: opts.discovery } : {}),
    ...(opts.maxInbound !== undefined ? { maxInbound: opts.maxInbound } : {}),
    ...(opts.maxOutbound !== undefined ? { maxOutbound: opts.maxOutbound } : {}),
    ...(opts.natAddress !== undefined ? { natAddress: opts.natAddress } : {}),
    chain,
    txpool,
    logger: log,
    blockSync: false,
    ...(opts.bans ? { bans: opts.bans } : {}),
    ...(opts.maxSnapshotStreams !== undefined ? { maxSnapshotStreams: opts.maxSnapshotStreams } : {}),
  });
  const built = snapshotSyncFolder(opts.dataDir);
  try {
    log.info({ bootnodes: opts.bootnodes.length }, "snapshot sync: the data dir has no chain; restoring from a peer's snapshot");
    const result = await snapshotSync({
      host: net.host,
      peers: net.peerManager,
      genesis: opts.genesis,
      genesisHash: chain.genesisHash,
      // The chain is at its genesis block, made from the same file (its state root computed, the
      // state itself not written).
      genesisStateRoot: chain.head.header.stateRoot,
      target: built,
      log,
      ...(opts.waitForPeersMs !== undefined ? { waitForPeersMs: opts.waitForPeersMs } : {}),
      ...(opts.minFreeBytes !== undefined ? { minFreeBytes: opts.minFreeBytes } : {}),
      ...(opts.pace ? { fetch: { pace: opts.pace } } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return result ? { built, result } : undefined;
  } finally {
    await net.stop();
  }
}
