import { isIP } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { readGenesis } from '../chain/genesis-source.js';
import { DEV_DATA_DIR, prepareDevDataDir } from '../node/dev.js';
import { BasaltNode, DEFAULT_CACHE_BYTES, StartStoppedError, type BackupOptions, type HostPort, type P2POptions } from '../node/node.js';
import { isS3Url, parseS3Url } from '../backup/targets/target.js';
import { UserError, errorMessage } from '../util/errors.js';
import { DEFAULT_GRPC_ADDRESS } from '../rpc/grpc/backup-client.js';
import { DEFAULT_GRPC_MAX_STREAMS, DEFAULT_GRPC_STREAM_IDLE_TIMEOUT_MS, DEFAULT_GRPC_STREAM_MIN_RATE } from '../rpc/grpc/backup-handlers.js';
import { formatDuration } from '../util/duration.js';
import { createLogger, type LogFormat } from '../util/log.js';
import { DEFAULT_RPC_EVM_TIMEOUT_MS, DEFAULT_RPC_GAS_CAP } from '../rpc/jsonrpc/methods/context.js';
import { DEFAULT_JSONRPC_APIS, JSONRPC_APIS, type JsonRpcApi } from '../rpc/jsonrpc/methods.js';
import { DEFAULT_HTTP_MAX_CONNECTIONS } from '../rpc/jsonrpc/server.js';
import { DEFAULT_LIBP2P_PORT, DEFAULT_MAX_PEERS } from '../node/network.js';
import type { SyncMode } from '../node/snapshot-bootstrap.js';
import { DEFAULT_MAX_SNAPSHOT_STREAMS } from '../sync/snapshot-protocol.js';
import { DEFAULT_SNAPSHOT_PACE } from '../sync/snapshot-pace.js';
import { DEFAULT_SNAPSHOT_SYNC_TIMEOUT_MS } from '../sync/snapshot-sync.js';
import {
  collect,
  parseBigIntArg,
  parseByteSize,
  parseCacheSize,
  parsePositiveByteSize,
  parsePositiveInteger,
  parseCount,
  parsePositiveCount,
  parsePositiveDuration,
  parseDurationArg,
  parseHostPort,
  parseHostPortString,
  parseLogFormat,
  parseLogLevel,
  parseTimerSeconds,
  parseCountArg,
  parseBlockNumber,
} from './options.js';
import { event } from '../util/events.js';
import { applyConfigFile, dumpConfig } from './config-file.js';

/** Free disk space the node keeps: below it, it stops writing until space is freed. */
const DEFAULT_MIN_FREE_DISK = 256 * 1024 * 1024;

interface ServerOptions {
  dataDir?: string;
  chain?: string;
  seal: boolean;
  sealWithoutJournal?: bigint;
  dev: boolean;
  blockTime: number;
  ibftBaseTimeout?: number;
  jsonrpc: HostPort | false;
  ws: HostPort | false;
  grpcAddress: string | false;
  grpcTlsCert?: string;
  grpcTlsKey?: string;
  grpcTlsClientCa?: string;
  grpcInsecure: boolean;
  grpcMaxStreams: number;
  grpcStreamIdleTimeout: number;
  grpcStreamMinRate: number;
  grpcStreamRateWindow: number;
  cors?: string;
  jsonrpcMaxConnections: number;
  allowUnprotectedTxs: boolean;
  jsonrpcApi?: JsonRpcApi[];
  rpcGasCap?: bigint;
  rpcEvmTimeout?: number;
  minFreeDisk: number;
  cache: number;
  stateHistory?: bigint | 'all';
  statePruneInterval?: bigint;
  /** undefined: the default (none with --dev); false: --no-libp2p. */
  libp2p?: HostPort | false;
  bootnode: string[];
  maxPeers: number;
  maxInboundPeers?: number;
  maxOutboundPeers?: number;
  natAddress?: string;
  discovery: boolean;
  sync: SyncMode;
  history: 'backfill' | 'full';
  maxSnapshotStreams: number;
  snapshotMinRate?: number;
  snapshotRateWindow?: number;
  snapshotSyncTimeout?: number;
  logLevel: string;
  logFormat?: LogFormat;
  backupDir?: string[];
  backupSnapshotInterval?: number;
  backupRepository: boolean;
  backupInterval?: number;
  backupPruneInterval?: number;
  backupArchiveInterval?: number;
  backupKeepLast?: number;
  backupKeepDaily?: number;
  backupKeepWeekly?: number;
  backupRetries: number;
  backupRetryDelay?: number;
  prometheus?: HostPort;
  config?: string;
  dumpConfig: boolean;
}

export function serverCommand(): Command {
  return new Command('server')
    .description('run a Basalt node')
    .option('--config <file>', 'read flags from this TOML file (keys are the flags without their dashes); flags given here override it')
    .option('--dump-config', 'print the effective flags (file, command line and defaults) as TOML for --config, and exit', false)
    .option('--data-dir <dir>', `the node's data directory (default with --dev: ${DEV_DATA_DIR})`)
    .option('--chain <file>', 'genesis file (default: ./genesis.json; with --dev: <data-dir>/genesis.json)')
    .option('--seal', 'seal blocks as an IBFT validator', false)
    .option(
      '--seal-without-journal <block>',
      "a validator started without its sign journal (a restored data dir) takes the operator's word that its key signed nothing above BLOCK, this data dir's head (refused if the head is another): a journal saying so is written (alone in the quorum, it seals without catching up with a peer first; one of several recalls as at a restart): only once the original is stopped",
      parseBlockNumber,
    )
    .option('--dev', `dev mode: a single-validator chain in ${DEV_DATA_DIR}, keys and genesis created if missing, sealing on`, false)
    .option('--block-time <seconds>', 'seconds between blocks', parseTimerSeconds, 2)
    .option('--ibft-base-timeout <seconds>', 'IBFT round 0 timeout, doubling each round (default: max(2, 2 x --block-time))', parseTimerSeconds)
    .option('--jsonrpc <host:port>', 'JSON-RPC HTTP address', parseHostPort, parseHostPort('127.0.0.1:8545'))
    .option('--no-jsonrpc', 'do not serve JSON-RPC')
    .option('--ws <host:port>', 'JSON-RPC WebSocket address (eth_subscribe)', parseHostPort, parseHostPort('127.0.0.1:8546'))
    .option('--no-ws', 'do not serve JSON-RPC over WebSocket')
    .option('--grpc-address <host:port>', 'gRPC operator API address', parseHostPortString, DEFAULT_GRPC_ADDRESS)
    .option('--no-grpc-address', 'do not serve the gRPC operator API')
    .option('--grpc-tls-cert <file>', 'serve the gRPC operator API over TLS with this certificate (PEM); needs --grpc-tls-key')
    .option('--grpc-tls-key <file>', "the TLS certificate's private key (PEM)")
    .option('--grpc-tls-client-ca <file>', 'with TLS: accept only clients whose certificate this CA (PEM) signed')
    .option(
      '--grpc-insecure',
      'allow an unauthenticated gRPC operator API (plain text, or TLS without --grpc-tls-client-ca) on a non-loopback --grpc-address',
      false,
    )
    .option(
      '--grpc-max-streams <n>',
      'export, snapshot and import calls served at once; the next is refused (RESOURCE_EXHAUSTED)',
      parsePositiveInteger,
      DEFAULT_GRPC_MAX_STREAMS,
    )
    .option(
      '--grpc-stream-idle-timeout <duration>',
      `cancel an export or snapshot whose client reads nothing (an import: sends nothing) for this long, 0 for never (default: ${formatDuration(DEFAULT_GRPC_STREAM_IDLE_TIMEOUT_MS)})`,
      parseDurationArg,
      DEFAULT_GRPC_STREAM_IDLE_TIMEOUT_MS,
    )
    .option(
      '--grpc-stream-min-rate <size>',
      `end an export, snapshot or import whose client reads (sends) less than this a second, e.g. 64KiB, over --grpc-stream-rate-window of waiting for it (RESOURCE_EXHAUSTED); 0 for no floor (default: ${DEFAULT_GRPC_STREAM_MIN_RATE.minBytesPerSecond / 1024}KiB)`,
      parseByteSize,
      DEFAULT_GRPC_STREAM_MIN_RATE.minBytesPerSecond,
    )
    .option(
      '--grpc-stream-rate-window <duration>',
      `the window --grpc-stream-min-rate is measured over; the first one is a grace period (default: ${formatDuration(DEFAULT_GRPC_STREAM_MIN_RATE.windowMs)})`,
      parsePositiveDuration,
      DEFAULT_GRPC_STREAM_MIN_RATE.windowMs,
    )
    .option(
      '--jsonrpc-api <namespaces>',
      `comma-separated JSON-RPC namespaces served over HTTP and WebSocket, of ${JSONRPC_APIS.join(', ')} (default: ${DEFAULT_JSONRPC_APIS.join(',')}; ibft is for a validator's operator)`,
      parseJsonRpcApis,
    )
    .option('--cors <origins>', "comma-separated origins allowed to call JSON-RPC from a browser ('*' for any)")
    .option(
      '--jsonrpc-max-connections <n>',
      'open JSON-RPC HTTP connections at once; more are closed as they come',
      parsePositiveInteger,
      DEFAULT_HTTP_MAX_CONNECTIONS,
    )
    .option('--allow-unprotected-txs', 'accept legacy transactions without EIP-155 replay protection over JSON-RPC', false)
    .option('--rpc-gas-cap <gas>', `most gas an eth_call or eth_estimateGas may use, 0 for no cap (default: ${DEFAULT_RPC_GAS_CAP})`, parseBigIntArg)
    .option(
      '--rpc-evm-timeout <duration>',
      `time limit of one eth_call or eth_estimateGas, e.g. 5s or 500ms, 0 for none (default: ${formatDuration(DEFAULT_RPC_EVM_TIMEOUT_MS)})`,
      parseDurationArg,
    )
    .option(
      '--cache <MiB>',
      `memory for the trie nodes and contract code read or written most recently, in MiB (or a size such as 1GiB) (default: ${DEFAULT_CACHE_BYTES / 1024 / 1024})`,
      parseCacheSize,
      DEFAULT_CACHE_BYTES,
    )
    .option(
      '--state-history <n|all>',
      "the states kept: those of the last n blocks (pruned in the background), or 'all' (an archive node). Default: the data dir's mode; a new or restored data dir keeps 128, one of an earlier version all. A pruned data dir cannot become an archive node",
      parseStateHistoryArg,
    )
    .option(
      '--state-prune-interval <blocks>',
      'blocks between two prunes of the state (each walks the kept states once), as given. Default: 1024, or sooner once the blocks since the last prune wrote as much to trie/ as the states it kept; either spaced by what the last prune cost (at most 4096 blocks past the kept states)',
      parseCountArg('blocks'),
    )
    .option(
      '--min-free-disk <size>',
      'stop writing (pause sealing, refuse transactions) while free disk space is below this, e.g. 256MB; 0 to never',
      parseByteSize,
      DEFAULT_MIN_FREE_DISK,
    )
    .option(
      '--libp2p <host:port>',
      `libp2p address (default: 127.0.0.1:${DEFAULT_LIBP2P_PORT}; none with --dev unless given; port 0 picks a free one)`,
      parseHostPort,
    )
    .option('--no-libp2p', 'no networking: neither listen nor dial peers')
    .option('--bootnode <multiaddr>', "a peer to dial and keep, /ip4/…/tcp/…/p2p/<node ID> (repeat; added to the genesis file's bootnodes)", collect, [])
    .option('--max-peers <n>', `most peers connected at once`, parsePositiveInteger, DEFAULT_MAX_PEERS)
    .option('--no-discovery', "find peers only through bootnodes and added peers, not through the chain's Kademlia DHT")
    .option(
      '--max-inbound-peers <n>',
      'most peers that dialled this node (validators, bootnodes and added peers apart); within --max-peers',
      parsePositiveInteger,
    )
    .option(
      '--max-outbound-peers <n>',
      'most discovered peers this node dials (validators, bootnodes and added peers apart); within --max-peers',
      parsePositiveInteger,
    )
    .option('--nat-address <ip>', 'the IP address peers are told to dial this node at (behind NAT or a load balancer), with the --libp2p port', parseIpAddress)
    .option(
      '--sync <mode>',
      "full: verify and execute every block from peers; snapshot: a data dir without a chain first restores a peer's snapshot (verified against --chain's genesis), then follows by blocks",
      parseSyncMode,
      'full',
    )
    .option(
      '--history <mode>',
      "the blocks below a restored or snapshot-synced head, held as headers only: 'backfill' fills them from the backup repository or from peers while the node serves and seals at its head; 'full' fills them before it serves JSON-RPC and seals",
      parseHistoryMode,
      'backfill',
    )
    .option('--max-snapshot-streams <n>', 'snapshots served to peers at once; the next request is refused', parsePositiveInteger, DEFAULT_MAX_SNAPSHOT_STREAMS)
    .option(
      '--snapshot-min-rate <size>',
      `--sync snapshot: the bytes per second a peer must send its snapshot at, measured over --snapshot-rate-window of waiting; a slower peer is banned and the next asked (default: ${DEFAULT_SNAPSHOT_PACE.minBytesPerSecond / 1024}KiB)`,
      parsePositiveByteSize,
    )
    .option(
      '--snapshot-rate-window <duration>',
      `--sync snapshot: the window --snapshot-min-rate is measured over; the first one after the answer is a grace period (default: ${formatDuration(DEFAULT_SNAPSHOT_PACE.windowMs)})`,
      parsePositiveDuration,
    )
    .option(
      '--snapshot-sync-timeout <duration>',
      `--sync snapshot: give up on snapshots after this long and sync block by block (default: ${formatDuration(DEFAULT_SNAPSHOT_SYNC_TIMEOUT_MS)})`,
      parsePositiveDuration,
    )
    .option('--backup-dir <dir>', 'take backups by itself into this folder or s3://bucket/prefix (repeat for more than one target)', collect)
    .option(
      '--backup-repository',
      'back up into a deduplicating backup repository (each backup stores what changed) instead of snapshot and archive pieces',
      false,
    )
    .option('--backup-interval <duration>', 'with --backup-repository: time between backups (default: 10m)', parsePositiveDuration)
    .option(
      '--backup-prune-interval <duration>',
      'with --backup-repository: after retention removed backups (or a backup completed a history segment in pieces), prune at most this often: delete what they alone needed, merge the pieces; 0 never (default: 24h)',
      parseDurationArg,
    )
    .option('--backup-snapshot-interval <duration>', 'time between scheduled snapshots (default: 6h)', parsePositiveDuration)
    .option(
      '--backup-archive-interval <duration>',
      'time between incremental archives of the blocks since the last piece; 0 for snapshots only (default: 10m)',
      parseDurationArg,
    )
    .option('--backup-keep-last <n>', 'retention: keep the newest N snapshots', parseCount)
    .option('--backup-keep-daily <n>', 'retention: keep one snapshot a day for the last N days that have one', parseCount)
    .option('--backup-keep-weekly <n>', 'retention: keep one snapshot a week for the last N weeks that have one', parseCount)
    .option('--backup-retries <n>', 'attempts for each upload, listing or deletion before a backup counts as failed', parsePositiveCount, 5)
    .option('--backup-retry-delay <duration>', 'delay before the first retry, doubled for each later one up to 1m (default: 1s)', parsePositiveDuration)
    .option('--prometheus <host:port>', 'serve Prometheus metrics on GET /metrics at this address', parseHostPort)
    .option('--log-level <level>', 'trace, debug, info, warn, error', parseLogLevel, 'info')
    .option('--log-format <format>', 'pretty or json (default: pretty on a terminal, json otherwise)', parseLogFormat)
    .hook('preAction', (cmd) => {
      const file = cmd.getOptionValue('config') as string | undefined;
      if (file !== undefined) applyConfigFile(cmd, file);
    })
    .action(async (opts: ServerOptions, cmd: Command) => {
      if (opts.dumpConfig) {
        process.stdout.write(dumpConfig(cmd));
        return;
      }
      await runServer(opts);
    });
}

async function runServer(opts: ServerOptions): Promise<void> {
  const log = createLogger({ level: opts.logLevel, ...(opts.logFormat ? { format: opts.logFormat } : {}) });
  const dataDir = opts.dataDir ?? (opts.dev ? DEV_DATA_DIR : undefined);
  if (dataDir === undefined) {
    throw new UserError('--data-dir is required (or run `basalt server --dev` for a local dev chain)');
  }
  if ((opts.grpcTlsCert === undefined) !== (opts.grpcTlsKey === undefined)) {
    const { UserError } = await import('../util/errors.js');
    throw new UserError('--grpc-tls-cert and --grpc-tls-key go together (the certificate and its key)');
  }
  if (opts.grpcTlsClientCa !== undefined && opts.grpcTlsCert === undefined) {
    const { UserError } = await import('../util/errors.js');
    throw new UserError('--grpc-tls-client-ca needs TLS: add --grpc-tls-cert and --grpc-tls-key');
  }
  if (opts.sync === 'snapshot' && (opts.libp2p === false || (opts.libp2p === undefined && opts.dev))) {
    throw new UserError('--sync snapshot restores from peers: it needs networking (--libp2p)');
  }
  const genesisPath = opts.dev ? (opts.chain ?? prepareDevDataDir(dataDir, log)) : (opts.chain ?? './genesis.json');
  const genesis = await readGenesis(genesisPath);
  // Signals are handled from before the node starts, so a CTRL-C during start-up still shuts down cleanly.
  const shutdown = installShutdownHandlers(log);
  const started = await BasaltNode.start({
    dataDir,
    genesis,
    seal: opts.seal || opts.dev,
    ...(opts.sealWithoutJournal !== undefined ? { sealWithoutJournal: opts.sealWithoutJournal } : {}),
    blockTimeMs: Math.round(opts.blockTime * 1000),
    ...(opts.ibftBaseTimeout !== undefined ? { ibftBaseTimeoutMs: Math.round(opts.ibftBaseTimeout * 1000) } : {}),
    ...(opts.jsonrpc ? { jsonrpc: opts.jsonrpc } : {}),
    ...(opts.ws ? { ws: opts.ws } : {}),
    ...(opts.grpcAddress ? { grpcAddress: opts.grpcAddress } : {}),
    ...(opts.grpcTlsCert && opts.grpcTlsKey ? { grpcTls: { cert: opts.grpcTlsCert, key: opts.grpcTlsKey, clientCa: opts.grpcTlsClientCa } } : {}),
    grpcInsecure: opts.grpcInsecure,
    grpcMaxStreams: opts.grpcMaxStreams,
    grpcStreamIdleTimeoutMs: opts.grpcStreamIdleTimeout,
    grpcStreamMinRate: { minBytesPerSecond: opts.grpcStreamMinRate, windowMs: opts.grpcStreamRateWindow },
    ...(opts.cors ? { cors: opts.cors.split(',').map((s) => s.trim()) } : {}),
    jsonrpcMaxConnections: opts.jsonrpcMaxConnections,
    allowUnprotectedTxs: opts.allowUnprotectedTxs,
    ...(opts.jsonrpcApi ? { jsonrpcApis: opts.jsonrpcApi } : {}),
    rpcGasCap: opts.rpcGasCap ?? DEFAULT_RPC_GAS_CAP,
    rpcEvmTimeoutMs: opts.rpcEvmTimeout ?? DEFAULT_RPC_EVM_TIMEOUT_MS,
    minFreeDiskBytes: opts.minFreeDisk,
    cacheBytes: opts.cache,
    ...(opts.stateHistory !== undefined ? { stateHistory: opts.stateHistory } : {}),
    ...(opts.statePruneInterval !== undefined ? { statePruneInterval: opts.statePruneInterval } : {}),
    sync: opts.sync,
    history: opts.history,
    startSignal: shutdown.startSignal,
    maxSnapshotStreams: opts.maxSnapshotStreams,
    snapshotPace: {
      minBytesPerSecond: opts.snapshotMinRate ?? DEFAULT_SNAPSHOT_PACE.minBytesPerSecond,
      windowMs: opts.snapshotRateWindow ?? DEFAULT_SNAPSHOT_PACE.windowMs,
    },
    snapshotSyncTimeoutMs: opts.snapshotSyncTimeout ?? DEFAULT_SNAPSHOT_SYNC_TIMEOUT_MS,
    ...p2pOptions(opts, genesis.config.bootnodes),
    ...(opts.backupDir?.length ? { backup: backupOptions(opts) } : {}),
    ...(opts.prometheus ? { prometheus: opts.prometheus } : {}),
    logger: log,
    // Storage damage met at run time: the node has logged it (one line, at fatal) and stopped itself.
    onFatal: (err) => process.exit(err.exitCode),
  }).catch((err: unknown) => {
    // Told to stop while it could not run yet (a snapshot sync under way): its parts are stopped.
    if (err instanceof StartStoppedError) return undefined;
    throw err;
  });
  if (started === undefined) {
    log.info('node stopped before it started');
    process.exit(0);
  }
  const node = started;
  shutdown.attach(node);
  // Told to stop during start-up (--history full's wait ends then): stopped by attach, not started.
  if (!shutdown.startSignal.aborted) log.info(event('node.started', {}), 'node started');
}

function parseIpAddress(value: string): string {
  if (isIP(value) === 0) throw new InvalidArgumentError(`"${value.slice(0, 60)}" is not an IP address`);
  return value;
}

function parseHistoryMode(value: string): 'backfill' | 'full' {
  if (value !== 'backfill' && value !== 'full') throw new InvalidArgumentError(`"${value.slice(0, 40)}" is not backfill or full`);
  return value;
}

function parseSyncMode(value: string): SyncMode {
  if (value !== 'full' && value !== 'snapshot') throw new InvalidArgumentError(`"${value}" is not full or snapshot`);
  return value;
}

function backupOptions(opts: ServerOptions): BackupOptions {
  const targets = opts.backupDir!;
  for (const t of targets) if (isS3Url(t)) parseS3Url(t); // a malformed URL fails before the node starts
  if (new Set(targets).size !== targets.length) throw new UserError('the same --backup-dir is given twice');
  if (opts.backupRepository && (opts.backupSnapshotInterval !== undefined || opts.backupArchiveInterval !== undefined))
    throw new UserError('--backup-repository takes --backup-interval, not --backup-snapshot-interval or --backup-archive-interval');
  if (!opts.backupRepository && (opts.backupInterval !== undefined || opts.backupPruneInterval !== undefined))
    throw new UserError(`${opts.backupInterval !== undefined ? '--backup-interval' : '--backup-prune-interval'} needs --backup-repository`);
  return {
    targets,
    ...(opts.backupRepository
      ? { repository: { intervalMs: opts.backupInterval ?? 10 * 60_000, pruneIntervalMs: opts.backupPruneInterval ?? 24 * 3_600_000 } }
      : {}),
    snapshotIntervalMs: opts.backupSnapshotInterval ?? 6 * 3_600_000,
    archiveIntervalMs: opts.backupArchiveInterval ?? 10 * 60_000,
    retention: {
      ...(opts.backupKeepLast !== undefined ? { keepLast: opts.backupKeepLast } : {}),
      ...(opts.backupKeepDaily !== undefined ? { keepDaily: opts.backupKeepDaily } : {}),
      ...(opts.backupKeepWeekly !== undefined ? { keepWeekly: opts.backupKeepWeekly } : {}),
    },
    retry: { attempts: opts.backupRetries, baseDelayMs: opts.backupRetryDelay ?? 1000, maxDelayMs: Math.max(60_000, opts.backupRetryDelay ?? 1000) },
  };
}

/**
 * Networking is on by default on 127.0.0.1:1478; --dev stays offline unless --libp2p is given (a
 * local dev chain needs no peers, and several dev nodes must not fight over one port).
 */
function p2pOptions(opts: ServerOptions, genesisBootnodes: string[]): { p2p?: P2POptions } {
  if (opts.libp2p === false || (opts.libp2p === undefined && opts.dev)) return {};
  const listen = opts.libp2p ?? { host: '127.0.0.1', port: DEFAULT_LIBP2P_PORT };
  if (opts.natAddress !== undefined && listen.port === 0) throw new UserError('--nat-address needs a fixed --libp2p port (the port announced with it), not 0');
  const bootnodes = [...new Set([...genesisBootnodes, ...opts.bootnode])];
  return {
    p2p: {
      listen,
      bootnodes,
      maxPeers: opts.maxPeers,
      discovery: opts.discovery,
      ...(opts.maxInboundPeers !== undefined ? { maxInbound: opts.maxInboundPeers } : {}),
      ...(opts.maxOutboundPeers !== undefined ? { maxOutbound: opts.maxOutboundPeers } : {}),
      ...(opts.natAddress !== undefined ? { natAddress: opts.natAddress } : {}),
    },
  };
}

/**
 * SIGINT / SIGTERM: stop sealing, finish the block in progress, close servers, flush and close the
 * databases (releasing LevelDB's locks), exit 0. A second SIGINT forces an immediate exit.
 */
function installShutdownHandlers(log: ReturnType<typeof createLogger>): { attach(node: BasaltNode): void; startSignal: AbortSignal } {
  let signalled = false;
  // Aborted by the first signal: a start-up wait that can be long (--history full) ends, and the node is stopped once up.
  const starting = new AbortController();
  let node: BasaltNode | undefined;
  const stopNode = (n: BasaltNode) =>
    n.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: forcing exit');
      process.exit(130);
    }
    signalled = true;
    log.info({ signal }, 'shutting down gracefully (send SIGINT again to force)');
    starting.abort();
    if (node) void stopNode(node);
    // else: start-up is in progress; attach() stops the node as soon as it is up.
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Started by a supervisor with an IPC channel (`basalt devnet`): the channel closes when the
  // supervisor goes away, even by kill -9; stop as on SIGTERM, so no node outlives it.
  if (process.send !== undefined) {
    process.once('disconnect', () => onSignal('SIGTERM'));
    // Gone already: the supervisor died while this process was still loading, before the listener.
    if (!process.connected) onSignal('SIGTERM');
  }
  return {
    startSignal: starting.signal,
    attach(n) {
      node = n;
      if (signalled) void stopNode(n);
    },
  };
}

/** `--jsonrpc-api eth,net,ibft`: known namespaces, each once. */
export function parseJsonRpcApis(value: string): JsonRpcApi[] {
  const names = value.split(',').map((n) => n.trim());
  for (const n of names) {
    if (!(JSONRPC_APIS as readonly string[]).includes(n)) {
      throw new InvalidArgumentError(`"${n.slice(0, 40)}" is not a JSON-RPC namespace: use ${JSONRPC_APIS.join(', ')}, separated by commas`);
    }
  }
  return [...new Set(names)] as JsonRpcApi[];
}

function parseStateHistoryArg(value: string): bigint | 'all' {
  return value === 'all' ? 'all' : parseCountArg("states' or 'all")(value);
}
