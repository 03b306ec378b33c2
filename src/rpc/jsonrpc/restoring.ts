import { bigIntToHex } from '@ethereumjs/util';
import type { SnapshotSyncProgress } from '../../sync/sync-state.js';
import { CLIENT_VERSION } from '../../util/version.js';
import { RpcError, RpcErrorCode } from './errors.js';
import type { RpcMethods } from './methods.js';
import type { JsonRpcService } from './server.js';

export interface RestoringView {
  chainId: bigint;
  /** The snapshot sync's progress now. */
  progress(): SnapshotSyncProgress;
}

const REASON = "the node is restoring from a peer's snapshot (--sync snapshot)";

/**
 * What the JSON-RPC port serves while the node restores from a peer's snapshot, before it has a chain
 * to answer from: who it is, that it is syncing and how far, and for every other method an error
 * saying why not yet (EIP-1474's "resource unavailable"). /health is unhealthy meanwhile, so a load
 * balancer sends no traffic to it. The node hands the same server the full methods afterwards.
 */
export function restoringService(view: RestoringView): JsonRpcService {
  const methods: RpcMethods = {
    web3_clientVersion: () => CLIENT_VERSION,
    net_version: () => view.chainId.toString(),
    eth_chainId: () => bigIntToHex(view.chainId),
    // No block is held yet but genesis.
    eth_blockNumber: () => '0x0',
    // geth's fields, and how much of the snapshot has come (the peer's announced size: an estimate, or from a peer of an earlier version an upper bound).
    eth_syncing: () => {
      const p = view.progress();
      return {
        startingBlock: '0x0',
        currentBlock: bigIntToHex(p.currentBlock),
        highestBlock: bigIntToHex(p.highestBlock),
        snapshotBytesReceived: bigIntToHex(BigInt(p.bytesReceived)),
        snapshotBytesAnnounced: bigIntToHex(BigInt(p.bytesAnnounced)),
      };
    },
  };
  return {
    methods,
    notFound: (method) => new RpcError(RpcErrorCode.ResourceUnavailable, `${method} is not available yet: ${REASON}; eth_syncing shows its progress`),
    health: () => ({ healthy: false, reason: REASON }),
  };
}
