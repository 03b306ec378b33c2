import { createHash } from 'node:crypto';
import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { IbftEngine } from '../consensus/ibft/engine.js';
import type { ChainHead } from '../chain/chain.js';
import type { BlockHeader } from '@ethereumjs/block';
import { recoverAddress } from '../util/secp256k1.js';
import { VoteProposals } from '../consensus/ibft/proposals.js';
import { LocalIbftService } from './ibft-service.js';
import type { Chain } from '../chain/chain.js';
import { PeerClock } from '../chain/peer-clock.js';
import type { GenesisFile } from '../chain/chain-config.js';
import { ibftEngineFor } from '../consensus/ibft/genesis.js';
import { Genesis } from '../chain/genesis-source.js';
import type { StorageDamageError } from '../storage/damage.js';
import { halfPairError, recoverKeyPair, writeKeyPair } from '../keys/key-pair.js';
import { markNothingSigned } from '../consensus/ibft/core/sign-journal.js';
import { exposedKeys, loadNodeKeys, newNodeKeys, type NodeKeys } from '../keys/keyfile.js';
import { join } from 'node:path';
import { LocalBackupService } from '../backup/local.js';
import type { PieceKind } from '../backup/pieces.js';
import type { RetentionPolicy } from '../backup/retention.js';
import type { RetryPolicy } from '../backup/retry.js';
import { BackupScheduler, backupNowEach, type StoredKind, type StoredPiece } from '../backup/scheduler.js';
import { RepositoryScheduler } from '../backup/repository/scheduler.js';
import { HistoryBackfill } from '../backup/repository/backfill.js';
import type { HistoryMode } from '../backup/repository/restore.js';
import { DEFAULT_STATE_PRUNE_INTERVAL, StatePruner, resolveStateHistory } from './state-pruner.js';
import { openTarget } from '../backup/targets/open.js';
import type { S3TargetOptions } from '../backup/targets/s3.js';
import { abortable } from '../util/abortable.js';
import { UserError } from '../util/errors.js';
import { listensOnLoopbackOnly } from '../util/net.js';
import { NodeMetrics } from './metrics.js';
import { DiskSpaceGuard } from './disk-space.js';
import { DEFAULT_GRPC_MAX_STREAMS, DEFAULT_GRPC_STREAM_IDLE_TIMEOUT_MS } from '../rpc/grpc/backup-handlers.js';
import type { RateFloorLimits } from '../util/rate-floor.js';
import { checkOperatorAddress, OperatorServer } from '../rpc/grpc/server.js';
import type { ServerTls } from '../rpc/grpc/tls.js';
import { LogQueryBudget } from '../rpc/jsonrpc/filters.js';
import { ethMethods, type JsonRpcApi } from '../rpc/jsonrpc/methods.js';
import type { WsLimits, WsRpcServer } from '../rpc/jsonrpc/ws-server.js';
import { TxPool } from '../txpool/txpool.js';
import type { SnapshotPaceLimits } from '../sync/snapshot-pace.js';
import { removeSnapshotSyncLeftovers } from '../sync/snapshot-sync.js';
import { BanList, banKind } from '../p2p/bans.js';
import type { SyncMode } from './snapshot-bootstrap.js';
import { Network } from './network.js';
import { Validator, defaultIbftBaseTimeoutMs } from './consensus.js';
import { Lifecycle } from './lifecycle.js';
import { JsonRpcPart, startStorage, startWebSocket, syncFromPeerSnapshot, type HostPort, type P2POptions } from './parts.js';
import { optimalQuorum, validatorIndex, sameValidatorSet, type QuorumRule } from '../consensus/ibft/validators.js';
import { privateKeyToAddress } from '../keys/address.js';
import type { Logger } from '../util/log.js';
import { dataDirLayout, ensureDataDir } from '../storage/data-dir.js';
import { CLIENT_VERSION } from '../util/version.js';
import { secp256k1Backend } from '../util/native-secp256k1.js';
import { event } from '../util/events.js';

export { DEFAULT_CACHE_BYTES } from '../storage/trie-node-store.js';
export type { HostPort, P2POptions } from './parts.js';

/** How long a validator with peers to dial waits for one before it seals on its own. */
const PEER_WAIT_MS = 5_000;
/**
 * A validator held for its absent journal (journalHold) lifts the hold once it has been caught up with a
 * peer for this long without a break (a peer that knows a higher head may connect a moment after one
 * at the same stale head)...
 */
const CATCH_UP_SETTLE_MS = 5_000;
/** ...with every bootnode and added peer connected, or for this long without them. */
const CATCH_UP_STATIC_WAIT_MS = 60_000;
/**
 * BasaltNode.start was told to stop (`startSignal`) at a point where the node cannot run as it is (a
 * snapshot sync under way): what it started is stopped, and the data dir is left for the next start.
 */
export class StartStoppedError extends Error {}

export interface NodeOptions {
  dataDir: string;
  /** The genesis file (Genesis.read streams it: a large alloc is never held), or an object of one. */
  genesis: GenesisFile | Genesis;
  seal: boolean;
  /**
   * --seal-without-journal BLOCK: the operator states that the original validator is stopped and that its
   * key signed nothing above block BLOCK, which must be this data dir's head (a flag left in a service's
   * command line then speaks for nobody at a later restore). Without a sign journal, one saying it signed nothing is
   * written before the validator starts: a validator that alone makes the quorum seals at once
   * (journalHold), one of several recalls as at a normal restart (a whole network restored from backups
   * would otherwise wait for each other for good). A journal that is there is never replaced.
   */
  sealWithoutJournal?: bigint;
  blockTimeMs: number;
  /** IBFT round 0 timeout (doubling each round) of a multi-validator set; default max(2 s, 2 x block time). */
  ibftBaseTimeoutMs?: number;
  /** undefined: no JSON-RPC server. */
  jsonrpc?: HostPort;
  /** undefined: no JSON-RPC over WebSocket. */
  ws?: HostPort;
  /** Bounds of the WebSocket server (tests lower them). */
  wsLimits?: Partial<WsLimits>;
  /** host:port; undefined: no gRPC server. */
  grpcAddress?: string;
  /** gRPC over TLS (client certificates with `clientCa`). */
  grpcTls?: ServerTls;
  /** Allow plain-text gRPC on a non-loopback address. */
  grpcInsecure?: boolean;
  /** Export/snapshot streams served at once (default 4). */
  grpcMaxStreams?: number;
  /** Cancel a stream whose client reads nothing for this long, in ms (0: never; default 60 s). */
  grpcStreamIdleTimeoutMs?: number;
  /** End a stream whose client reads (an import: sends) below this floor (a rate of 0: never; default 64 KiB/s over 2 min). */
  grpcStreamMinRate?: RateFloorLimits;
  cors?: string[];
  /** Open JSON-RPC HTTP connections at once (default 256). */
  jsonrpcMaxConnections?: number;
  /** Accept legacy transactions without EIP-155 replay protection over JSON-RPC. */
  allowUnprotectedTxs?: boolean;
  /** The JSON-RPC namespaces served (`--jsonrpc-api`); default every one but ibft. */
  jsonrpcApis?: JsonRpcApi[];
  /** eth_call / eth_estimateGas gas cap (0: none); default 50,000,000. */
  rpcGasCap?: bigint;
  /** eth_call / eth_estimateGas time limit in ms (0: none); default 5 s. */
  rpcEvmTimeoutMs?: number;
  /** Free space below which the node stops writing (pauses sealing, refuses transactions); 0: never. */
  minFreeDiskBytes?: number;
  /** Bytes of committed trie nodes and code kept in memory (`--cache`); default DEFAULT_CACHE_BYTES. */
  cacheBytes?: number;
  /** States kept: the last N blocks', or 'all' (an archive node); default: the data dir's mode (StatePruner). */
  stateHistory?: bigint | 'all';
  /** Blocks between two prunes of the state, as given. Default: DEFAULT_STATE_PRUNE_INTERVAL, or sooner as the trie grows, or later while the last prune's cost asks (StatePruner `growth`). */
  statePruneInterval?: bigint;
  /** libp2p networking; undefined: none (the node neither listens nor dials). */
  p2p?: P2POptions;
  /** 'snapshot': a data dir without a chain restores a peer's snapshot first (default 'full'). */
  sync?: SyncMode;
  /** Snapshot streams served to peers at once (default 2). */
  maxSnapshotStreams?: number;
  /** --sync snapshot: how long to wait for a peer with blocks (tests lower it). */
  snapshotPeerWaitMs?: number;
  /** --sync snapshot: the floor a peer's snapshot stream must keep (default DEFAULT_SNAPSHOT_PACE). */
  snapshotPace?: SnapshotPaceLimits;
  /** --sync snapshot: the whole phase's bound, after which the node syncs block by block (default 2 h). */
  snapshotSyncTimeoutMs?: number;
  /**
   * --history: 'full' fills a history gap (the blocks below a restored or snapshot-synced head, headers
   * only) before the node serves JSON-RPC and seals; 'backfill' (default) fills it behind the head.
   */
  history?: HistoryMode;
  /** Aborted when the node is told to stop during start-up: a wait that can be long (--history full) ends then. */
  startSignal?: AbortSignal;
  /** Scheduled backups (--backup-dir); undefined: none. */
  backup?: BackupOptions;
  /** Serve Prometheus metrics on GET /metrics here. */
  prometheus?: HostPort;
  logger: Logger;
  /**
   * Called once the node has stopped itself on storage damage (a LevelDB corruption or I/O error, a
   * canonical block missing below the head): the CLI exits non-zero then.
   */
  onFatal?: (err: StorageDamageError) => void;
}

export interface BackupOptions {
  /** Folders and s3://bucket/prefix URLs; each gets its own chain of pieces. */
  targets: string[];
  snapshotIntervalMs: number;
  /** 0: snapshots only. */
  archiveIntervalMs: number;
  retention: RetentionPolicy;
  retry?: RetryPolicy;
  s3?: S3TargetOptions;
  /** Back up into deduplicating repositories (backup/repository/), one backup every `intervalMs`, instead of pieces. */
  repository?: { intervalMs: number; pruneIntervalMs: number };
}

/**
 * A running Basalt node: databases, chain, transaction pool, network (libp2p), IBFT validator, JSON-RPC and gRPC.
 * start() brings them up in dependency order, each a part of one Lifecycle; stop() takes them down in
 * reverse, the databases last, which flushes LevelDB and releases its locks.
 */
export class BasaltNode {
  private sealer?: Validator;
  /** The validator votes this node's operator proposed (ibft propose): put into the blocks it proposes. */
  readonly voteProposals = new VoteProposals();
  /** The operator's view of the validator set (gRPC Ibft*, JSON-RPC ibft_). */
  readonly ibft: LocalIbftService;
  private wsRpc?: WsRpcServer;
  private stopping?: Promise<void>;
  /** Per --backup-dir target: pieces (BackupScheduler) or a repository (RepositoryScheduler). */
  private schedulers: (BackupScheduler | RepositoryScheduler)[] = [];
  /** A restored node's back-fill of the history below its restored head (none once it is whole). */
  backfill?: HistoryBackfill;
  readonly metrics: NodeMetrics;
  prometheusAddress?: HostPort;
  /** Why the node cannot write now, or undefined when it can. */
  private notWritable?: string;
  /** The disk guard's verdict: free space below --min-free-disk (basalt_disk_guard_active). */
  private diskLow = false;
  private failure?: StorageDamageError;
  network?: Network;
  private waitingForPeers = false;
  /**
   * Why a validator that alone makes the quorum and started without its sign journal holds sealing
   * until it has caught up with a peer (decided at start, lifted once caught up), or undefined.
   */
  private journalHold?: string;
  /**
   * Since when (performance.now(): a wall-clock step must not end the hold early) the held validator has
   * been caught up with a peer without a break, and since when it has been held (journalHoldOver).
   */
  private caughtUpSince?: number;
  private heldSince?: number;
  /** Why the network holds sealing (last logged), or undefined. */
  private heldForNetwork?: string;
  jsonRpcAddress?: HostPort;
  wsAddress?: HostPort;
  grpcPort?: number;

  private constructor(
    /** The options, but the genesis file: its allocations are not held once the chain is open. */
    readonly opts: Omit<NodeOptions, 'genesis'>,
    readonly chain: Chain,
    readonly txpool: TxPool,
    /** Its parts, started in order (databases first) and stopped in reverse. */
    private readonly parts: Lifecycle,
    readonly validatorAddress: string,
    readonly nodeId: string,
    /** This node's clock against its peers' (block timestamps): status, metrics, and the time blocks are checked against. */
    readonly clock: PeerClock,
  ) {
    const engine = chain.engine;
    if (!(engine instanceof IbftEngine)) throw new Error(`a node runs the IBFT engine, not ${engine.name}`);
    this.ibft = new LocalIbftService(chain, engine, this.voteProposals, hexToBytes(validatorAddress as `0x${string}`), {
      networked: opts.p2p !== undefined,
      validator: () => this.sealer,
      logger: opts.logger,
      candidateReady: (a) => this.network?.runningValidator(a) ?? false,
    });
    this.metrics = new NodeMetrics({
      headBlock: () => chain.head.number,
      validators: () => chain.engine.validatorsAfter(chain.head.header).length,
      txpool: () => txpool.status(),
      trieCache: () => chain.trie.cacheStats,
      diskLow: () => this.diskLow,
      dataDir: dataDirLayout(opts.dataDir),
    });
  }

  /**
   * Start-up is ordered so that everything that can fail is checked before a new data dir gets keys:
   * the keys on disk (recovered after a crash, read), the genesis against the stored chain, and, without
   * networking, the listeners bound. Only then are the keys of a data dir without any written, so such
   * a failed first start leaves none and `secrets restore` into it still works. With networking they are
   * written before the network starts, since from then peers see the validator key proven (a later
   * failure, a port in use, leaves them: the next start uses the same keys). (The databases are
   * opened, and a new one gets its genesis block, before that: they are what checks the genesis and
   * locks the data dir.)
   * Each part is started through one Lifecycle, which stops them in reverse on a failure and on stop.
   */
  static async start(opts: NodeOptions): Promise<BasaltNode> {
    const log = opts.logger;
    await checkIbftApiLoopback(opts);
    // Before anything is written (keys, with networking, come before the servers bind).
    if (opts.grpcAddress) await checkOperatorAddress(opts.grpcAddress, { tls: opts.grpcTls, insecure: opts.grpcInsecure });
    const layout = dataDirLayout(opts.dataDir);
    ensureDataDir(layout);
    const parts = new Lifecycle(log);
    try {
      // Databases first: their LOCK files make this node the data dir's only writer before any key is made.
      const storage = await startStorage(parts, layout);
      // Once the locks are held (no other node runs here): whatever a snapshot sync killed part-way left,
      // at every start, whether or not this one syncs from a snapshot (a chain with a head never does).
      const { removed, kept } = removeSnapshotSyncLeftovers(layout.root);
      if (removed.length > 0) log.info({ removed }, 'removed what an interrupted snapshot sync left');
      if (kept.length > 0) log.warn({ kept }, "could not remove what an earlier release's snapshot sync left next to the data dir: remove it by hand");
      const onDisk = loadKeysIfAny(layout.root, log);
      const keys = onDisk ?? newNodeKeys(); // written below, before any peer sees them or once nothing else can fail
      const genesis = await Genesis.of(opts.genesis);
      const engine = ibftEngineFor(genesis.config, genesis.bytes.name);
      const quorum = engine.quorum;
      // Measured from peers' blocks (with networking); until then, and within the tolerance, the local clock.
      const clock = new PeerClock({ logger: log });
      const chainOptions = {
        genesis,
        scratchDir: layout.root,
        engine,
        logger: log,
        now: () => clock.now(),
        cacheBytes: opts.cacheBytes,
        // A new data dir that restores a peer's snapshot writes its genesis block alone: the restore
        // replaces the state (1M accounts + 1M slots: 30-39 s written, 22 s for the root alone).
        genesisState: opts.sync === 'snapshot' ? ('deferred' as const) : ('write' as const),
      };
      await storage.openChain(chainOptions);
      // Peers banned while restoring from a snapshot stay banned once the node runs, and are counted in
      // basalt_p2p_bans_total (which exists with the node: until then, kept here).
      const bansBefore: string[] = [];
      let countBan = (kind: string): void => {
        if (bansBefore.length < 1024) bansBefore.push(kind);
      };
      const bans = new BanList(Date.now, (reason) => countBan(banKind(reason)));
      const rpc = new JsonRpcPart(parts, opts, log);
      if (opts.sync === 'snapshot') {
        await syncFromPeerSnapshot({ opts, layout, storage, chainOptions, genesis, keys, bans, rpc });
        // Told to stop meanwhile: stopped here, its genesis state (if pending) left to the next start.
        if (opts.startSignal?.aborted) throw new StartStoppedError('told to stop during the snapshot sync');
        // No peer's snapshot restored: the genesis state it would have replaced is written now. Told to
        // stop meanwhile: stopped at once, the state still pending (the next start writes it again).
        try {
          await storage.chain.completeGenesisState(genesis, {
            scratchDir: layout.root,
            logger: log,
            ...(opts.startSignal ? { signal: opts.startSignal } : {}),
          });
        } catch (err) {
          if (opts.startSignal?.aborted) throw new StartStoppedError('told to stop while it wrote the genesis state');
          throw err;
        }
      }
      // Resolved on the chain the node runs (a snapshot sync replaced the databases: a restored data dir).
      const stateHistory = await resolveStateHistory(storage.chain, opts.stateHistory);
      const chain = storage.chain;
      const node = new BasaltNode(withoutGenesis(opts), chain, new TxPool(chain), parts, keys.validatorAddress, keys.nodeId, clock);
      countBan = (kind) => node.metrics.p2p.banned(kind);
      for (const kind of bansBefore) countBan(kind);
      storage.dbs.damage.onDamage((err) => node.fail(err));
      log.info(
        event('chain.opened', {
          dataDir: layout.root,
          chainId: Number(chain.chainId),
          genesis: bytesToHex(chain.genesisHash),
          head: Number(chain.head.number),
          validator: keys.validatorAddress,
          nodeId: keys.nodeId,
          secp256k1: secp256k1Backend,
          stateHistory: 'keep' in stateHistory ? Number(stateHistory.keep) : 'all',
        }),
        'chain opened',
      );
      const validators = chain.engine.validatorsAfter(chain.head.header);
      warnOfQuorum(log, quorum, chain.head.number + 1n, validators.length);
      node.watchValidatorSet(validators, quorum);
      let keysOnDisk = onDisk !== undefined;
      const writeKeys = (): void => {
        if (keysOnDisk) return;
        writeKeyPair(layout.root, keys);
        markNothingSigned(layout.consensus); // a new key: see initNodeSecrets
        keysOnDisk = true;
        log.info(event('keys.created', { validator: keys.validatorAddress, nodeId: keys.nodeId }), 'created node keys (keystore/, consensus/)');
      };
      if (opts.p2p) {
        // From here every peer is shown this validator key (and --history full may wait hours before the
        // servers): a key peers have seen, which operators may vote in, is on disk before any sees it.
        writeKeys();
        await node.startNetwork(opts.p2p, keys, bans);
      }
      if (opts.history === 'full' && !(await node.fillHistoryFirst(layout.root))) return node; // stopped meanwhile
      await node.startServers(rpc);
      if (opts.backup) node.schedulers = await node.makeSchedulers(opts.backup, layout.root);
      writeKeys();
      const minFree = opts.minFreeDiskBytes ?? 0;
      if (minFree > 0)
        await parts.start(
          'disk guard',
          () => node.watchDiskSpace(layout.root, minFree),
          (guard) => guard.stop(),
        );
      if (opts.seal) await node.startValidator(validators, keys.validatorKey, layout.consensus, quorum);
      await node.startSchedulers();
      if ('keep' in stateHistory) {
        const keep = stateHistory.keep;
        await parts.start(
          'state pruner',
          () =>
            new StatePruner(chain, {
              keep,
              interval: opts.statePruneInterval ?? DEFAULT_STATE_PRUNE_INTERVAL,
              // An interval the operator chose is kept as given; the default also prunes on the trie's growth.
              growth: opts.statePruneInterval === undefined,
              logger: log,
            }),
          (p) => p.stop(),
          'stopping state pruning',
        );
      }
      // The node serves and seals at its head; the history below a restored head comes in behind it,
      // from the backup repository it was restored from, or else from its peers (--history full: before).
      if (opts.history !== 'full') await node.startBackfill(layout.root);
      return node;
    } catch (err) {
      await parts.stopAll({ quiet: !(err instanceof StartStoppedError) }).catch(() => undefined);
      throw err;
    }
  }

  /** The history back-fill (HistoryBackfill.start: none without a gap or a source). */
  private async startBackfill(stagingDir: string): Promise<void> {
    const { opts, chain, network } = this;
    this.backfill = await this.parts.start(
      'history back-fill',
      () =>
        HistoryBackfill.start(chain, {
          logger: opts.logger,
          stagingDir,
          ...(opts.backup?.s3 ? { s3: opts.backup.s3 } : {}),
          ...(network ? { peers: network.historyFeed() } : {}),
        }),
      (b) => b?.stop(),
    );
  }

  /**
   * --history full: a history gap is filled before the node serves and seals (the snapshot sync's
   * JSON-RPC, eth_syncing and a few more, answers meanwhile). False if the node was told to stop first.
   */
  private async fillHistoryFirst(stagingDir: string): Promise<boolean> {
    const { opts, chain } = this;
    const gap = await chain.store.historyGap();
    if (gap === undefined) return true;
    await this.startBackfill(stagingDir);
    const backfill = this.backfill;
    if (backfill === undefined) {
      throw new UserError(
        `--history full: blocks ${gap.from}-${gap.to} are held as headers only, and there is no source to fill them from (no backup repository recorded, no peers: --no-libp2p); start with --history backfill to serve without them`,
      );
    }
    opts.logger.info(
      event('history.waiting', { from: Number(gap.from), to: Number(gap.to) }),
      '--history full: filling the history below the head before serving JSON-RPC and sealing',
    );
    try {
      await abortable(backfill.finished(), opts.startSignal);
    } catch (err) {
      if (opts.startSignal?.aborted) return false;
      throw err;
    }
    if (backfill.status().gap !== undefined) throw new Error('--history full: the history back-fill stopped before the history was whole');
    return true;
  }

  /** libp2p: block and transaction gossip, block sync, snapshots to peers, the IBFT topic. */
  private async startNetwork(p2p: P2POptions, keys: NodeKeys, bans: BanList): Promise<void> {
    const { opts, chain, clock } = this;
    const network = await this.parts.start(
      'network',
      () =>
        Network.start({
          key: keys.libp2pKey,
          host: p2p.listen.host,
          port: p2p.listen.port,
          bootnodes: p2p.bootnodes,
          maxPeers: p2p.maxPeers,
          ...(p2p.discovery !== undefined ? { discovery: p2p.discovery } : {}),
          ...(p2p.maxInbound !== undefined ? { maxInbound: p2p.maxInbound } : {}),
          ...(p2p.maxOutbound !== undefined ? { maxOutbound: p2p.maxOutbound } : {}),
          ...(p2p.natAddress !== undefined ? { natAddress: p2p.natAddress } : {}),
          chain,
          txpool: this.txpool,
          logger: opts.logger,
          // Every node proves its validator key; peers treat it as a validator while that key is in the set.
          validatorKey: keys.validatorKey,
          metrics: this.metrics.p2p,
          clock,
          bans,
          ...(opts.maxSnapshotStreams !== undefined ? { maxSnapshotStreams: opts.maxSnapshotStreams } : {}),
        }),
      (n) => n.stop(),
      'stopping networking',
    );
    this.network = network;
    this.metrics.setPeers(() => network.peerCount());
    this.metrics.setSync({
      peersByDirection: () => network.peersByDirection(),
      targetBlock: () => {
        const best = network.highestPeerHead();
        return best > chain.head.number ? best : chain.head.number;
      },
    });
    this.metrics.setClock(() => clock.reading());
  }

  /** JSON-RPC over HTTP and WebSocket, Prometheus metrics, the gRPC operator API: each as asked. */
  private async startServers(rpc: JsonRpcPart): Promise<void> {
    const { opts, chain, parts } = this;
    const log = opts.logger;
    if (opts.jsonrpc || opts.ws) {
      // Log filters (HTTP and WebSocket) and logs subscriptions hold their addresses and topics within one bound.
      const logQueryBudget = new LogQueryBudget();
      const methods = ethMethods(
        {
          chain,
          txpool: this.txpool,
          ...(this.network ? { network: this.network } : {}),
          allowUnprotectedTxs: opts.allowUnprotectedTxs ?? false,
          ...(opts.rpcGasCap !== undefined ? { rpcGasCap: opts.rpcGasCap } : {}),
          ...(opts.rpcEvmTimeoutMs !== undefined ? { rpcEvmTimeoutMs: opts.rpcEvmTimeoutMs } : {}),
          blockTimeMs: opts.blockTimeMs,
          ibft: this.ibft,
          logQueryBudget,
        },
        opts.jsonrpcApis,
      );
      const observe = this.metrics.jsonrpcCall;
      if (opts.jsonrpc) this.jsonRpcAddress = await rpc.serve({ methods, health: () => this.health(), observe });
      if (opts.ws) {
        const ws = await startWebSocket(parts, opts.ws, methods, chain, this.txpool, opts.wsLimits, log, observe, logQueryBudget);
        this.wsAddress = ws.bound;
        this.wsRpc = ws.server;
      }
    }
    const prometheus = opts.prometheus;
    if (prometheus)
      this.prometheusAddress = await parts.start(
        'metrics',
        () => this.metrics.listen(prometheus, log),
        () => this.metrics.close(),
      );
    const grpcAddress = opts.grpcAddress;
    if (grpcAddress) {
      const operator = new OperatorServer(
        new LocalBackupService(chain, () => this.nodeStatus()),
        log,
        {
          maxStreams: opts.grpcMaxStreams ?? DEFAULT_GRPC_MAX_STREAMS,
          streamIdleTimeoutMs: opts.grpcStreamIdleTimeoutMs ?? DEFAULT_GRPC_STREAM_IDLE_TIMEOUT_MS,
          streamMinRate: opts.grpcStreamMinRate,
          tls: opts.grpcTls,
          insecure: opts.grpcInsecure,
        },
        this.network,
        (kind, signal) => this.backupNow(kind, signal),
        this.ibft,
      );
      this.grpcPort = await parts.start(
        'gRPC',
        () => operator.listen(grpcAddress),
        () => operator.close(),
        'closing gRPC server',
      );
    }
  }

  /**
   * The one block producer, the IBFT core: several validators take part in rounds over the network; one
   * alone makes its own quorum and sends nothing. A key outside the set, or a set of several without
   * networking, does not seal, and says why.
   */
  private async startValidator(validators: Uint8Array[], key: Uint8Array, consensusDir: string, quorum: QuorumRule): Promise<void> {
    const { opts, chain } = this;
    const log = opts.logger;
    const inSet = validatorIndex(validators, privateKeyToAddress(key)) >= 0;
    // With networking, a key outside the set runs the core too: it signs nothing until voted in (core.ts).
    if ((!inSet && !opts.p2p) || (validators.length > 1 && !opts.p2p)) {
      log.warn(
        event('validator.idle', { validators: validators.length, reason: inSet ? 'no-network' : 'not-in-set' }),
        inSet
          ? `this node alone cannot reach the IBFT quorum of ${validators.length} validators: not sealing (several validators seal together in IBFT rounds only with networking on)`
          : 'this node holds no key of the validator set: not sealing',
      );
      return;
    }
    const network = this.network;
    const baseTimeoutMs = opts.ibftBaseTimeoutMs ?? defaultIbftBaseTimeoutMs(opts.blockTimeMs);
    const validator = await Validator.create({
      chain,
      ...(network ? { network } : {}),
      txs: this.txpool,
      key,
      consensusDir,
      blockTimeMs: opts.blockTimeMs,
      baseTimeoutMs,
      logger: log,
      quorum,
      clock: this.clock,
      proposals: this.voteProposals,
      ...(opts.sealWithoutJournal !== undefined ? { sealWithoutJournal: opts.sealWithoutJournal } : {}),
    });
    this.journalHold = this.journalHoldFor(validator, quorum);
    this.metrics.setConsensus(() => ({ round: validator.sealing ? validator.core.position?.round : undefined, roundChanges: validator.core.roundChanges }));
    log.info(
      event('validator.started', { validators: validators.length, networked: network !== undefined, baseTimeoutMs }),
      !inSet
        ? 'following the chain: this key takes part once it is voted into the validator set'
        : network
          ? 'IBFT rounds with the other validators over libp2p'
          : 'sealing as the only validator of the set',
    );
    await this.parts.start(
      'validator',
      () => {
        this.sealer = validator;
        const gate = this.gateSealingOnPeers();
        validator.start();
        log.info({ blockTimeMs: opts.blockTimeMs }, 'sealing started');
        return gate;
      },
      async (gate) => {
        clearInterval(gate);
        await validator.stop();
      },
      'stopping sealer',
    );
  }

  private async startSchedulers(): Promise<void> {
    const { schedulers, opts } = this;
    if (schedulers.length === 0) return;
    await this.parts.start(
      'scheduled backups',
      () => {
        for (const s of schedulers) s.start();
        const b = opts.backup;
        opts.logger.info(
          b?.repository
            ? { targets: b.targets, repository: true, intervalMs: b.repository.intervalMs }
            : { targets: b?.targets, snapshotIntervalMs: b?.snapshotIntervalMs, archiveIntervalMs: b?.archiveIntervalMs },
          'scheduled backups started',
        );
      },
      async () => {
        await Promise.all(schedulers.map((s) => s.stop()));
      },
      'stopping scheduled backups (a piece in progress is abandoned)',
    );
  }

  /** One scheduler per target, reporting to the metrics; pieces for S3 are staged in the data dir. */
  private async makeSchedulers(b: BackupOptions, dataDir: string): Promise<(BackupScheduler | RepositoryScheduler)[]> {
    const targets = await Promise.all(b.targets.map((url) => openTarget(url, b.s3)));
    const events = (url: string) => ({
      onStored: (p: StoredPiece) => this.metrics.backupStored(p.kind, p.target, p.durationMs, p.bytes),
      onFailure: (kind: StoredKind) => this.metrics.backupFailed(kind, url),
      onTargetRead: (newest: { kind: StoredKind; storedAt: number }[]) => {
        for (const n of newest) this.metrics.backupSeen(n.kind, url, n.storedAt);
      },
    });
    const repository = b.repository;
    if (repository)
      return b.targets.map(
        (url, i) =>
          new RepositoryScheduler({
            chain: this.chain,
            target: targets[i]!,
            stagingDir: join(dataDir, 'backup-staging'),
            indexDir: join(dataDir, 'backup-index', createHash('sha256').update(targets[i]!.url).digest('hex').slice(0, 16)),
            intervalMs: repository.intervalMs,
            pruneIntervalMs: repository.pruneIntervalMs,
            retention: b.retention,
            logger: this.opts.logger,
            events: events(url),
          }),
      );
    return b.targets.map(
      (url, i) =>
        new BackupScheduler({
          chain: this.chain,
          target: targets[i]!,
          stagingDir: join(dataDir, 'backup-staging'),
          tag: String(i),
          snapshotIntervalMs: b.snapshotIntervalMs,
          archiveIntervalMs: b.archiveIntervalMs,
          retention: b.retention,
          ...(b.retry ? { retry: b.retry } : {}),
          logger: this.opts.logger,
          events: events(url),
        }),
    );
  }

  /**
   * `basalt backup now`: a piece into every target, one after the other (backupNowEach). When `signal`
   * aborts (the caller hung up) the call stops waiting, and the targets not reached yet are not asked.
   */
  async backupNow(kind: PieceKind, signal?: AbortSignal): Promise<StoredPiece[]> {
    if (this.schedulers.length === 0)
      throw new UserError('this node takes no scheduled backups: start it with --backup-dir DIR|s3://bucket/prefix', { code: 'FAILED_PRECONDITION' });
    return backupNowEach(
      this.schedulers.map((s) => async () => {
        if (!(s instanceof RepositoryScheduler)) return s.backupNow(kind, signal);
        if (kind === 'archive')
          throw new UserError('this node backs up into a repository, where every backup stores only what changed: drop --archive', {
            code: 'FAILED_PRECONDITION',
          });
        return s.backupNow(signal);
      }),
    );
  }

  /** Open JSON-RPC WebSocket connections (0 without the server). */
  get wsConnectionCount(): number {
    return this.wsRpc?.connectionCount ?? 0;
  }

  /** What the node adds to its chain's status (the operator API's Status). */
  nodeStatus() {
    return {
      validatorAddress: this.validatorAddress,
      nodeId: this.nodeId,
      sealing: this.sealer?.sealing ?? false,
      clientVersion: CLIENT_VERSION,
      writable: this.notWritable === undefined,
      ...(this.notWritable !== undefined ? { notWritableReason: this.notWritable } : {}),
      ...(this.network ? { network: this.networkStatus(this.network) } : {}),
      ...(this.backfill?.status().gap ? { history: this.historyStatus() } : {}),
    };
  }

  /** The history back-fill under way: the blocks still without bodies, out of those the node started with. */
  private historyStatus() {
    const s = this.backfill!.status();
    return {
      backfillFrom: s.gap!.from,
      backfillTo: s.gap!.to,
      backfillStart: s.started.from,
      source: s.source,
      ...(s.error ? { error: s.error } : {}),
    };
  }

  private networkStatus(net: Network) {
    const sync = net.syncing();
    return {
      peers: net.peerCount(),
      syncing: sync !== false,
      highestBlock: sync === false ? this.chain.head.number : sync.highestBlock,
      listenAddresses: net.addresses(),
      clock: this.clock.reading(),
    };
  }

  /** For GET /health on the JSON-RPC port: healthy while the node can write. */
  health(): { healthy: boolean; reason?: string } {
    return this.notWritable === undefined ? { healthy: true } : { healthy: false, reason: this.notWritable };
  }

  /**
   * Below the free-space floor the node stops writing before LevelDB runs out of space (a failed
   * LevelDB write fails every later one): sealing pauses, the pool refuses transactions that could not
   * be mined, status and /health say why. It all resumes when space is back.
   */
  private async watchDiskSpace(dataDir: string, min: number): Promise<DiskSpaceGuard> {
    const log = this.opts.logger;
    const guard = new DiskSpaceGuard(dataDir, min);
    guard.on('change', ({ low, freeBytes }) => {
      this.diskLow = low;
      if (low) {
        this.notWritable = `disk almost full: ${mib(freeBytes)} free on the data dir's file system, below --min-free-disk ${mib(min)}; free some space (the node resumes by itself)`;
        this.gateSealer();
        this.chain.pauseWrites(this.notWritable);
        this.txpool.close(`node cannot accept transactions now: ${this.notWritable}`);
        log.error(
          event('disk.low', { freeBytes, minFreeBytes: min }),
          'disk almost full: sealing, block imports and new transactions paused until space is freed',
        );
      } else {
        this.notWritable = undefined;
        this.chain.pauseWrites(undefined);
        this.txpool.reopen();
        this.gateSealer();
        log.info(event('disk.recovered', { freeBytes }), 'disk space recovered: sealing, block imports and transactions resume');
      }
    });
    await guard.start();
    return guard;
  }

  /** The storage damage the node stopped on, if any. */
  get fatalError(): StorageDamageError | undefined {
    return this.failure;
  }

  /**
   * The one path for storage damage met at run time: one line at fatal naming the database and what
   * to do, then the node stops (no more answers from a damaged database) and `onFatal` is told.
   */
  private fail(err: StorageDamageError): void {
    if (this.failure) return;
    this.failure = err;
    this.opts.logger.fatal({ database: err.database, path: err.path }, `stopping: ${err.message}`);
    void this.stop()
      .catch(() => undefined)
      .then(() => this.opts.onFatal?.(err));
  }

  /**
   * A validator that alone makes the quorum of the head's next block (one validator; a legacy quorum of
   * one) and started without its sign journal (a data dir restored from a backup, which
   * never holds consensus/) may be behind what its lost self sealed: the core's start guard waits for
   * the other validators to commit a block, and here there are none. Its journal cannot say, and no
   * other validator can, so it seals only once it has caught up with a peer (a full node following the
   * chain knows its head), however long that takes; without one, the operator's word that its key
   * sealed nothing above the head (--seal-without-journal: the journal is written first, Validator.create)
   * stands for the journal. The reason held, or undefined.
   */
  private journalHoldFor(validator: Validator, quorum: QuorumRule): string | undefined {
    const { chain } = this;
    const head = chain.head.number;
    const set = chain.engine.validatorsAfter(chain.head.header);
    const alone = quorum.at(head + 1n, set.length) === 1 && validatorIndex(set, validator.core.address) >= 0;
    // At the genesis too: a restored key may start there (its peers not reached yet) while its lost self
    // sealed the chain's first blocks.
    if (!validator.core.startedWithoutJournal || !alone) return undefined;
    return `the sign journal is absent (a restored or new data dir) and this validator alone makes the quorum: it seals only once caught up with a peer, so it cannot seal again a block its lost self sealed; with no peer to ask, start it with --seal-without-journal ${head} once you know the original is stopped and its key sealed nothing above block ${head}`;
  }

  /**
   * A validator with peers does not seal while it is behind them: a block sealed on an old head (a
   * data dir restored from an old backup, a node stopped for a while) would fork the chain. When it has
   * peers to dial it first waits for one (at most PEER_WAIT_MS: a lone validator still seals), then
   * seals only while no ready peer claims a higher head.
   */
  /**
   * Whether the journal hold can end: caught up with a peer (one that proved a head at or above this
   * node's, or sits at its head block) for CATCH_UP_SETTLE_MS without a break, and every bootnode and
   * added peer connected (or CATCH_UP_STATIC_WAIT_MS gone by since the hold began without them). The first peer to answer may
   * be as stale as the backup (another node restored from it); one that knows the blocks the lost self
   * sealed above it then has time to show its head, which this node syncs to before it seals.
   */
  private journalHoldOver(net: Network | undefined): boolean {
    const now = performance.now();
    this.heldSince ??= now;
    if (!net?.caughtUpWithPeer()) {
      this.caughtUpSince = undefined;
      return false;
    }
    this.caughtUpSince ??= now;
    return now - this.caughtUpSince >= CATCH_UP_SETTLE_MS && (net.peersToDialMissing() === 0 || now - this.heldSince >= CATCH_UP_STATIC_WAIT_MS);
  }

  /** Sealing has resumed once since the node started (the start-up catch-up is over). */
  private resumedOnce = false;

  private gateSealingOnPeers(): NodeJS.Timeout | undefined {
    const net = this.network;
    this.gateSealer();
    if (!net) return undefined;
    this.waitingForPeers = net.hasPeersToDial();
    const started = Date.now();
    const timer = setInterval(() => {
      if (this.waitingForPeers && (net.peerCount() > 0 || Date.now() - started >= PEER_WAIT_MS)) this.waitingForPeers = false;
      this.gateSealer();
    }, 250);
    timer.unref();
    this.gateSealer();
    return timer;
  }

  /** Why the network holds sealing now, or undefined. */
  private behindPeers(): string | undefined {
    const net = this.network;
    // Caught up with peers once, the journal hold is over for good; the checks below then apply as usual.
    if (this.journalHold !== undefined) {
      if (!this.journalHoldOver(net)) return this.journalHold;
      this.journalHold = undefined;
    }
    if (!net) return undefined;
    if (this.waitingForPeers) return 'waiting for a peer before sealing (at most 5 s)';
    const highest = net.highestPeerHead();
    const head = this.chain.head.number;
    // In IBFT rounds a peer announces the block just committed a moment before this node imports its
    // own copy: one block behind is not behind.
    const slack = this.sealer?.networked ? 1n : 0n;
    if (highest > head + slack) return `behind the network: block ${head} of ${highest}; sealing resumes once caught up`;
    // A higher head a peer claims counts once a quorum's seals prove it; until then (a few seconds at most) sealing waits for the proof.
    // A validator's claim always (its key is proven: no fresh identities). Until sealing first resumes,
    // any peer's too (a full node may be the only one that knows the chain went on): a bootnode's or an
    // added peer's as a validator's, the others' while their proofs wait or run, within
    // START_CLAIM_WAIT_MS of their address's first proof (Syncer.pendingClaim): fresh identities from
    // one address, each claiming a false head, earn nothing more, and do not cut an honest peer's wait.
    const claimed = net.unprovenPeerHead(slack, !this.resumedOnce);
    return claimed !== undefined ? `checking the head a peer claims (block ${claimed}) before sealing` : undefined;
  }

  /** Pause or resume the sealer for the reason that holds now: the disk first, then the network. */
  private gateSealer(): void {
    if (!this.sealer) return;
    const behind = this.behindPeers();
    const reason = this.notWritable ?? behind;
    if (behind !== this.heldForNetwork) {
      if (behind !== undefined && this.heldForNetwork === undefined) {
        // The journal hold may last until the operator acts: it says why, and what to do, at warn.
        if (behind === this.journalHold) this.opts.logger.warn(event('sealing.held', { reason: behind }), `sealing held: ${behind}`);
        else this.opts.logger.info(event('sealing.held', { reason: behind }), 'sealing held until the node has caught up with its peers');
      } else if (behind === undefined) {
        this.resumedOnce = true;
        this.opts.logger.info(event('sealing.resumed', { head: Number(this.chain.head.number) }), 'caught up with peers: sealing resumes');
      }
      this.heldForNetwork = behind;
    }
    if (reason !== undefined) this.sealer.pause(reason);
    else if (this.sealer.paused) this.sealer.resume();
  }

  /** basalt_ibft_block_interval_seconds and basalt_ibft_missing_seals_total of a committed block. */
  private observeSeals(header: BlockHeader, parent: BlockHeader): void {
    const engine = this.chain.engine;
    const signed = new Set<string>();
    for (const { hash, signature } of engine.sealSignatures(header).slice(1)) {
      try {
        signed.add(bytesToHex(recoverAddress(hash, signature)));
      } catch {
        // verified at import: cannot happen
      }
    }
    const missing = engine
      .validatorsAfter(parent)
      .map((v) => bytesToHex(v))
      .filter((v) => !signed.has(v));
    this.metrics.blockCommitted(Number(header.timestamp - parent.timestamp), missing);
  }

  /** Say when a vote changes the validator set, and warn as at start when the new set is unsafe or tolerates no fault. */
  private watchValidatorSet(initial: Uint8Array[], quorum: QuorumRule): void {
    let last = initial;
    let parent = this.chain.head.header;
    const log = this.opts.logger;
    const onHead = (head: ChainHead): void => {
      if (head.number === parent.number + 1n) this.observeSeals(head.header, parent);
      parent = head.header;
      const set = this.chain.engine.validatorsAfter(head.header);
      if (sameValidatorSet(set, last)) return;
      const hex = (a: Uint8Array[]) => new Set(a.map((v) => bytesToHex(v)));
      const [before, after] = [hex(last), hex(set)];
      const added = [...after].find((v) => !before.has(v));
      const dropped = [...before].find((v) => !after.has(v));
      last = set;
      log.info(
        event('ibft.validators-changed', { number: Number(head.number), validators: set.length, ...(added ? { added } : {}), ...(dropped ? { dropped } : {}) }),
        `validator set changed by a vote at block ${head.number}: ${set.length} validators${added ? `, added ${added}` : ''}${dropped ? `, dropped ${dropped}` : ''}`,
      );
      warnOfQuorum(log, quorum, head.number + 1n, set.length);
      if (set.length === 1)
        log.warn({ validators: 1, faultTolerance: 0 }, 'one validator is left: the chain halts while it is stopped; 4 validators tolerate one fault');
    };
    this.chain.on('head', onHead);
  }

  /** Graceful shutdown; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    await this.parts.stopAll();
    this.opts.logger.info(event('node.stopped', { head: Number(this.chain.head.number) }), 'node stopped');
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * The keys of the data dir, after recovering an interrupted key write; undefined when it has none (a
 * new data dir gets fresh keys, as Polygon SDK's local secrets manager does). One key of the two is an error.
 */
function loadKeysIfAny(dataDir: string, log: Logger): NodeKeys | undefined {
  const state = recoverKeyPair(dataDir, (note) => log.warn(note));
  if (state.kind === 'none') return undefined;
  if (state.kind === 'one') throw halfPairError(state);
  const keys = loadNodeKeys(dataDir);
  for (const { path, fix, message } of exposedKeys(dataDir)) log.warn(event('keys.exposed', { path, fix }), message);
  return keys;
}

/**
 * Say at start when the validator set cannot tolerate what an operator may expect it to: a legacy
 * quorum that lets a split fork the chain (and how to switch), or a set of 2 or 3 that tolerates no fault.
 */
function warnOfQuorum(log: Logger, rule: QuorumRule, next: bigint, n: number): void {
  const unsafe = rule.unsafeAt(next, n);
  if (unsafe !== undefined) {
    log.warn(
      { validators: n, quorum: rule.at(next, n), safeQuorum: optimalQuorum(n), nextBlock: Number(next) },
      `${unsafe}. Switch to the safe quorum of ${optimalQuorum(n)}: set params.engine.ibft.quorumSwitchBlock to a block above the head in every node's genesis file and restart them before that block`,
    );
  } else if (n === 2 || n === 3) {
    const what = n === 2 ? 'the chain halts while either is stopped' : 'one may be stopped, but none may be faulty';
    log.warn({ validators: n, quorum: rule.at(next, n), faultTolerance: 0 }, `${n} validators tolerate no fault (F = 0): ${what}; 4 validators tolerate one`);
  }
}

function withoutGenesis(opts: NodeOptions): Omit<NodeOptions, 'genesis'> {
  const { genesis: _genesis, ...rest } = opts;
  return rest;
}

/**
 * The `ibft` JSON-RPC namespace casts this validator's votes: an operator API, which is served on loopback
 * only (JSON-RPC has no authentication; the same votes over gRPC need client certificates off loopback).
 */
async function checkIbftApiLoopback(opts: Pick<NodeOptions, 'jsonrpc' | 'ws' | 'jsonrpcApis'>): Promise<void> {
  if (!opts.jsonrpcApis?.includes('ibft')) return;
  for (const [flag, at] of [
    ['--jsonrpc', opts.jsonrpc],
    ['--ws', opts.ws],
  ] as const) {
    if (at === undefined || (await listensOnLoopbackOnly(at.host))) continue;
    throw new UserError(
      `--jsonrpc-api ibft casts this validator's votes and JSON-RPC has no authentication: serve it on a loopback address, not ${flag} ${at.host}:${at.port} (or vote with \`basalt ibft propose\` over gRPC with TLS client certificates, --grpc-tls-client-ca)`,
    );
  }
}
