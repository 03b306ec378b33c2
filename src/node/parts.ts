import { Chain, type OpenChainOptions } from '../chain/chain.js';
import type { Genesis } from '../chain/genesis-source.js';
import type { NodeKeys } from '../keys/keyfile.js';
import type { BanList } from '../p2p/bans.js';
import { RpcDispatcher } from '../rpc/jsonrpc/dispatch.js';
import type { RpcMethods } from '../rpc/jsonrpc/methods.js';
import { restoringService } from '../rpc/jsonrpc/restoring.js';
import { JsonRpcServer, type JsonRpcService } from '../rpc/jsonrpc/server.js';
import type { LogQueryBudget } from '../rpc/jsonrpc/filters.js';
import { SubscriptionHub } from '../rpc/jsonrpc/subscriptions.js';
import { WsRpcServer, type WsLimits } from '../rpc/jsonrpc/ws-server.js';
import type { DataDirLayout } from '../storage/data-dir.js';
import { openNodeDatabases, type NodeDatabases } from '../storage/node-databases.js';
import { installSnapshot } from '../sync/snapshot-sync.js';
import type { SnapshotPaceLimits } from '../sync/snapshot-pace.js';
import type { SnapshotSyncProgress } from '../sync/sync-state.js';
import type { TxPool } from '../txpool/txpool.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { listensOnLoopbackOnly } from '../util/net.js';
import type { Lifecycle } from './lifecycle.js';
import { restoreFromPeers } from './snapshot-bootstrap.js';
import { event } from '../util/events.js';

/**
 * The parts a node is made of that stand on their own: the databases and chain, the JSON-RPC servers,
 * a snapshot sync before the node runs. BasaltNode.start puts them together through one Lifecycle.
 */

export interface HostPort {
  host: string;
  port: number;
}

export interface P2POptions {
  listen: HostPort;
  /** Peers to dial and keep (the genesis file's and --bootnode's); this node's own address is skipped. */
  bootnodes: string[];
  maxPeers: number;
  /** Kademlia DHT discovery of the chain's other nodes (default true). */
  discovery?: boolean;
  /** --max-inbound-peers / --max-outbound-peers (default: --max-peers alone bounds them). */
  maxInbound?: number;
  maxOutbound?: number;
  /** --nat-address: the IP address peers are told to dial (the listen port kept). */
  natAddress?: string;
}

/** What a snapshot sync before the node runs needs of the node's options. */
export interface SnapshotSyncOptions {
  p2p?: P2POptions;
  logger: Logger;
  maxSnapshotStreams?: number;
  snapshotPeerWaitMs?: number;
  minFreeDiskBytes?: number;
  snapshotPace?: SnapshotPaceLimits;
  snapshotSyncTimeoutMs?: number;
  /** Aborted by the first signal to stop: the sync ends at once. */
  startSignal?: AbortSignal;
}

/** Listen for JSON-RPC at `at`, log the address (and a warning off loopback). */
export async function listenJsonRpc(server: JsonRpcServer, at: HostPort, log: Logger, serving?: string): Promise<HostPort> {
  const bound = await server.listen(at.host, at.port);
  log.info(event('jsonrpc.listening', { address: `${bound.host}:${bound.port}`, ...(serving ? { serving } : {}) }), 'JSON-RPC listening');
  if (!(await listensOnLoopbackOnly(at.host))) {
    log.warn(
      event('api.exposed', { api: 'jsonrpc', address: `${bound.host}:${bound.port}` }),
      'JSON-RPC on a non-loopback address: it has no authentication (and --cors only governs browsers), so anyone who can reach it can call it; bind it to 127.0.0.1 behind a reverse proxy that authenticates',
    );
  }
  return bound;
}

/** The data dir's databases and the chain over them; a snapshot sync replaces both (the parts close whichever is current). */
export interface Storage {
  dbs: NodeDatabases;
  readonly chain: Chain;
  openChain(o: ChainOptions): Promise<Chain>;
  /** Close the chain and databases, run `install` (which replaces their files), open them again. */
  replace(install: () => void): Promise<void>;
}

export type ChainOptions = Pick<OpenChainOptions, 'genesis' | 'genesisState' | 'scratchDir' | 'engine' | 'logger' | 'now'> & { cacheBytes: number | undefined };

export async function startStorage(parts: Lifecycle, layout: DataDirLayout): Promise<Storage> {
  let chain: Chain | undefined;
  let chainOptions: ChainOptions | undefined;
  const storage: Storage = await parts.start(
    'databases',
    async () => ({
      dbs: await openNodeDatabases(layout),
      get chain(): Chain {
        if (chain === undefined) throw new Error('the chain is not open');
        return chain;
      },
      async openChain(o: ChainOptions) {
        chainOptions = o;
        const { cacheBytes, ...rest } = o;
        chain = await Chain.open({
          ...rest,
          blockchainDb: storage.dbs.blockchain,
          trieDb: storage.dbs.trie,
          damage: storage.dbs.reporter,
          ...(cacheBytes !== undefined ? { cacheBytes } : {}),
        });
        return chain;
      },
      async replace(install: () => void) {
        const old = chain;
        chain = undefined;
        await old?.close();
        await storage.dbs.close();
        install();
        storage.dbs = await openNodeDatabases(layout);
        if (chainOptions) await storage.openChain(chainOptions);
      },
    }),
    (st) => st.dbs.close(),
    'flushing and closing databases',
  );
  await parts.start(
    'chain',
    () => undefined,
    () => chain?.close(),
    'waiting for chain writes to finish',
  );
  return storage;
}

/**
 * The JSON-RPC server, started once: for the restoring methods during a snapshot sync, then serving
 * every method on the same socket (no gap for clients), or for every method at once.
 */
export class JsonRpcPart {
  private server?: JsonRpcServer;
  private address?: HostPort;

  constructor(
    private readonly parts: Lifecycle,
    private readonly opts: { jsonrpc?: HostPort; cors?: string[]; jsonrpcMaxConnections?: number },
    private readonly log: Logger,
  ) {}

  async serve(service: JsonRpcService, serving?: string): Promise<HostPort | undefined> {
    const at = this.opts.jsonrpc;
    if (at === undefined) return undefined;
    if (this.server && this.address) {
      this.server.serve(service);
      this.log.info({ address: `${this.address.host}:${this.address.port}` }, 'JSON-RPC serving every method');
      return this.address;
    }
    const server = new JsonRpcServer({
      ...service,
      logger: this.log,
      ...(this.opts.cors ? { cors: this.opts.cors } : {}),
      ...(this.opts.jsonrpcMaxConnections !== undefined ? { maxConnections: this.opts.jsonrpcMaxConnections } : {}),
    });
    this.address = await this.parts.start(
      'JSON-RPC',
      () => listenJsonRpc(server, at, this.log, serving),
      () => server.close(),
      'closing JSON-RPC server',
    );
    this.server = server;
    return this.address;
  }
}

export async function startWebSocket(
  parts: Lifecycle,
  at: HostPort,
  methods: RpcMethods,
  chain: Chain,
  txpool: TxPool,
  limits: Partial<WsLimits> | undefined,
  log: Logger,
  observe?: (method: string, ok: boolean, seconds: number) => void,
  logQueryBudget?: LogQueryBudget,
): Promise<{ bound: HostPort; server: WsRpcServer }> {
  const hub = new SubscriptionHub(chain, txpool, log, logQueryBudget);
  const dispatcher = new RpcDispatcher({ methods, logger: log, ...(observe ? { observe } : {}) });
  const server = new WsRpcServer({ dispatcher, hub, logger: log, ...(limits ? { limits } : {}) });
  const bound = await parts.start(
    'JSON-RPC over WebSocket',
    () =>
      server.listen(at.host, at.port).catch(async (err: unknown) => {
        await hub.close();
        throw err;
      }),
    async () => {
      await server.close();
      await hub.close();
    },
    'closing JSON-RPC WebSocket server',
  );
  log.info(event('ws.listening', { address: `${bound.host}:${bound.port}` }), 'JSON-RPC over WebSocket listening');
  return { bound, server };
}

/**
 * `--sync snapshot` on a data dir without a chain: restore a peer's snapshot before the node runs,
 * JSON-RPC answering eth_syncing meanwhile. A data dir with a chain syncs block by block from its head.
 */
export async function syncFromPeerSnapshot(c: {
  opts: SnapshotSyncOptions;
  layout: DataDirLayout;
  storage: Storage;
  chainOptions: ChainOptions;
  genesis: Genesis;
  keys: NodeKeys;
  bans: BanList;
  rpc: JsonRpcPart;
}): Promise<void> {
  const { opts, storage } = c;
  const log = opts.logger;
  if (!opts.p2p) throw new UserError('--sync snapshot needs networking: drop --no-libp2p');
  if (storage.chain.head.number > 0n) {
    log.info(
      event('snapshot-sync.skipped', { head: Number(storage.chain.head.number) }),
      '--sync snapshot: the data dir already has a chain; syncing block by block from its head',
    );
    return;
  }
  let progress: SnapshotSyncProgress = { currentBlock: 0n, highestBlock: 0n, bytesReceived: 0, bytesAnnounced: 0 };
  // JSON-RPC is up meanwhile, on its own port: eth_syncing and a few more; the full methods after.
  await c.rpc.serve(
    restoringService({ chainId: storage.chain.chainId, progress: () => progress }),
    'restoring from a peer snapshot: eth_syncing, eth_chainId, net_version, web3_clientVersion, eth_blockNumber',
  );
  const restored = await restoreFromPeers({
    dataDir: c.layout.root,
    genesis: c.genesis,
    chain: storage.chain,
    libp2pKey: c.keys.libp2pKey,
    listen: opts.p2p.listen,
    bootnodes: opts.p2p.bootnodes,
    maxPeers: opts.p2p.maxPeers,
    ...(opts.p2p.discovery !== undefined ? { discovery: opts.p2p.discovery } : {}),
    ...(opts.p2p.maxInbound !== undefined ? { maxInbound: opts.p2p.maxInbound } : {}),
    ...(opts.p2p.maxOutbound !== undefined ? { maxOutbound: opts.p2p.maxOutbound } : {}),
    ...(opts.p2p.natAddress !== undefined ? { natAddress: opts.p2p.natAddress } : {}),
    logger: log,
    bans: c.bans,
    onProgress: (p) => (progress = p),
    ...(opts.maxSnapshotStreams !== undefined ? { maxSnapshotStreams: opts.maxSnapshotStreams } : {}),
    ...(opts.snapshotPeerWaitMs !== undefined ? { waitForPeersMs: opts.snapshotPeerWaitMs } : {}),
    ...(opts.minFreeDiskBytes !== undefined ? { minFreeBytes: opts.minFreeDiskBytes } : {}),
    ...(opts.snapshotPace ? { pace: opts.snapshotPace } : {}),
    ...(opts.snapshotSyncTimeoutMs !== undefined ? { timeoutMs: opts.snapshotSyncTimeoutMs } : {}),
    ...(opts.startSignal ? { signal: opts.startSignal } : {}),
  });
  if (!restored) return;
  await storage.replace(() => installSnapshot(restored.built, c.layout.root));
  log.info(
    event('snapshot-sync.restored', { peer: restored.result.peer, head: Number(restored.result.head), headHash: restored.result.headHash }),
    'snapshot sync: restored from peer',
  );
}
