import { randomBytes } from 'node:crypto';
import { afterEach } from 'vitest';
import { Network, type P2pMetrics } from '../../../src/node/network.js';
import { gossipTopics } from '../../../src/p2p/gossip.js';
import { DEFAULT_LIMITS, TxPool, type TxPoolLimits } from '../../../src/txpool/txpool.js';
import type { Chain } from '../../../src/chain/chain.js';
import type { PeerClock } from '../../../src/chain/peer-clock.js';
import type { SyncerOptions } from '../../../src/sync/syncer.js';
import { silentLogger } from '../../../src/util/log.js';
import type { Logger } from 'pino';

export interface TestNode {
  net: Network;
  chain: Chain;
  txpool: TxPool;
  addr: string;
}

/** A Network on 127.0.0.1, ephemeral port, fresh key, over `chain`. */
export async function startNode(
  chain: Chain,
  opts: {
    bootnodes?: string[];
    sync?: SyncerOptions;
    key?: Uint8Array;
    maxSnapshotStreams?: number;
    blockSync?: boolean;
    validatorKey?: Uint8Array;
    maxPeers?: number;
    maxInbound?: number;
    port?: number;
    clock?: PeerClock;
    metrics?: P2pMetrics;
    discovery?: boolean;
    logger?: Logger;
    rebroadcast?: { afterMs?: number; checkMs?: number };
    txpool?: Partial<TxPoolLimits>;
  } = {},
): Promise<TestNode> {
  const txpool = new TxPool(chain, { ...DEFAULT_LIMITS, ...opts.txpool });
  const net = await Network.start({
    key: opts.key ?? randomBytes(32),
    host: '127.0.0.1',
    port: opts.port ?? 0,
    bootnodes: opts.bootnodes ?? [],
    maxPeers: opts.maxPeers ?? 10,
    chain,
    txpool,
    logger: opts.logger ?? silentLogger(),
    ...(opts.sync ? { sync: opts.sync } : {}),
    ...(opts.maxSnapshotStreams !== undefined ? { maxSnapshotStreams: opts.maxSnapshotStreams } : {}),
    ...(opts.blockSync !== undefined ? { blockSync: opts.blockSync } : {}),
    ...(opts.maxInbound !== undefined ? { maxInbound: opts.maxInbound } : {}),
    ...(opts.validatorKey ? { validatorKey: opts.validatorKey } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.discovery !== undefined ? { discovery: opts.discovery } : {}),
    ...(opts.rebroadcast ? { rebroadcast: opts.rebroadcast } : {}),
  });
  return { net, chain, txpool, addr: net.addresses()[0]! };
}

/**
 * For a test file: `node` starts a Network as `startNode` does and stops it after the test; anything
 * else pushed to `cleanup` runs then too, last pushed first.
 */
export function nodesStoppedAfterEach(): {
  cleanup: (() => Promise<unknown>)[];
  node: (chain: Chain, opts?: Parameters<typeof startNode>[1]) => Promise<TestNode>;
} {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    cleanup.length = 0;
  });
  const node = async (chain: Chain, opts: Parameters<typeof startNode>[1] = {}): Promise<TestNode> => {
    const n = await startNode(chain, opts);
    cleanup.push(() => n.net.stop());
    return n;
  };
  return { cleanup, node };
}

export { until } from '../../helpers/until.js';

/** Count the transaction gossip messages (batches, and single ones of earlier versions) `n` receives. */
export function countTxMessages(n: TestNode): { n: number } {
  const topics = gossipTopics(n.chain.genesisHash);
  const count = { n: 0 };
  n.net.host.services.pubsub.addEventListener('message', (e) => {
    if (e.detail.topic === topics.txBatches || e.detail.topic === topics.txs) count.n++;
  });
  return count;
}
