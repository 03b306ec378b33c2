import { readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StoredKind } from '../backup/scheduler.js';
import { UserError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { event } from '../util/events.js';
/** An address to listen on. */
interface HostPort {
  host: string;
  port: number;
}

/** What the metrics read from the node when scraped. */
export interface MetricsSources {
  headBlock(): bigint;
  /** Size of the validator set deciding the next block. */
  validators(): number;
  /** Executable and queued (behind a nonce gap) transactions in the pool. */
  txpool(): { pending: number; queued: number };
  /** The trie node cache (`--cache`): bytes held and the most it may hold. */
  trieCache(): { bytes: number; limitBytes: number };
  /** Whether free disk space is below --min-free-disk (writing paused). */
  diskLow(): boolean;
  /** The data dir's LevelDB folders, sized at scrape time. */
  dataDir: { blockchain: string; trie: string };
}

/** LevelDB folder sizes are read at most this often (a scrape lists their files). */
const DB_SIZE_TTL_MS = 30_000;

/**
 * The node's Prometheus metrics (prom-client, its own registry) and the HTTP server that serves them
 * on GET /metrics. Backup metrics are labelled by piece kind and target; chain and pool gauges are
 * read at scrape time. `setPeers` is the hook for the networking layer: basalt_peers exists from
 * its first call on (not as a misleading 0 before).
 */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly lastSuccess: Gauge<'kind' | 'target'>;
  private readonly duration: Histogram<'kind' | 'target'>;
  private readonly bytes: Gauge<'kind' | 'target'>;
  private readonly blockInterval: Histogram;
  private readonly missingSeals: Counter<'validator'>;
  private consensus?: () => { round: number | undefined; roundChanges: number };
  private readonly failures: Counter<'kind' | 'target'>;
  private peers?: () => number;
  private clock?: () => { offsetMs: number | undefined; skewed: boolean };
  private server?: Server;
  /** A JSON-RPC call answered (HTTP or WebSocket): the dispatcher's `observe`. */
  readonly jsonrpcCall: (method: string, ok: boolean, seconds: number) => void;
  private sync?: { peersByDirection(): { inbound: number; outbound: number }; targetBlock(): bigint };
  /** What peers sent that was refused, and bans, by reason (the networking layer counts). */
  readonly p2p: { rejected(reason: string, count?: number): void; banned(reason: string): void };

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.lastSuccess = new Gauge({
      name: 'basalt_backup_last_success_timestamp_seconds',
      help: 'Unix time of the last backup piece stored, by kind',
      labelNames: ['kind', 'target'],
      registers,
    });
    this.duration = new Histogram({
      name: 'basalt_backup_duration_seconds',
      help: 'Time to produce and store a backup piece',
      labelNames: ['kind', 'target'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200],
      registers,
    });
    this.bytes = new Gauge({ name: 'basalt_backup_bytes', help: 'Size of the last backup piece stored, by kind', labelNames: ['kind', 'target'], registers });
    this.failures = new Counter({
      name: 'basalt_backup_failures_total',
      help: 'Backups that failed after their retries, by kind',
      labelNames: ['kind', 'target'],
      registers,
    });
    const rejected = new Counter({
      name: 'basalt_p2p_rejected_total',
      help: 'Gossip messages refused (not relayed), by reason',
      labelNames: ['reason'],
      registers,
    });
    const bans = new Counter({ name: 'basalt_p2p_bans_total', help: 'Peers banned, by reason', labelNames: ['reason'], registers });
    this.p2p = { rejected: (reason, count = 1) => rejected.inc({ reason }, count), banned: (reason) => bans.inc({ reason }) };
    new Gauge({
      name: 'basalt_chain_head_block',
      help: 'Number of the head block',
      registers,
      collect() {
        this.set(Number(sources.headBlock()));
      },
    });
    this.blockInterval = new Histogram({
      name: 'basalt_ibft_block_interval_seconds',
      help: 'Seconds between a block and its parent (block timestamps)',
      buckets: [1, 2, 3, 5, 8, 13, 21, 34, 60, 120],
      registers,
    });
    this.missingSeals = new Counter({
      name: 'basalt_ibft_missing_seals_total',
      help: 'Blocks committed without the committed seal of a validator of the set that decided them, by validator',
      labelNames: ['validator'],
      registers,
    });
    new Gauge({
      name: 'basalt_ibft_validators',
      help: 'Validators in the set deciding the next block (changed by validator votes)',
      registers,
      collect() {
        this.set(sources.validators());
      },
    });
    new Gauge({
      name: 'basalt_txpool_pending',
      help: 'Executable transactions in the pool',
      registers,
      collect() {
        this.set(sources.txpool().pending);
      },
    });
    new Gauge({
      name: 'basalt_txpool_queued',
      help: 'Transactions in the pool waiting behind a nonce gap',
      registers,
      collect() {
        this.set(sources.txpool().queued);
      },
    });
    new Gauge({
      name: 'basalt_disk_guard_active',
      help: 'Whether free disk space is below --min-free-disk: sealing paused and new transactions refused (1) or not (0)',
      registers,
      collect() {
        this.set(sources.diskLow() ? 1 : 0);
      },
    });
    let sized: { at: number; bytes: Record<string, number> } | undefined;
    new Gauge({
      name: 'basalt_db_size_bytes',
      help: "Bytes of the data dir's LevelDB databases on disk, by database",
      labelNames: ['db'],
      registers,
      collect() {
        if (sized === undefined || Date.now() - sized.at > DB_SIZE_TTL_MS) {
          sized = { at: Date.now(), bytes: { blockchain: folderBytes(sources.dataDir.blockchain), trie: folderBytes(sources.dataDir.trie) } };
        }
        for (const [db, bytes] of Object.entries(sized.bytes)) this.set({ db }, bytes);
      },
    });
    const calls = new Counter({
      name: 'basalt_jsonrpc_requests_total',
      help: "JSON-RPC calls answered, by method ('other': a method this node does not serve)",
      labelNames: ['method'],
      registers,
    });
    const errors = new Counter({
      name: 'basalt_jsonrpc_errors_total',
      help: 'JSON-RPC calls answered with an error, by method',
      labelNames: ['method'],
      registers,
    });
    const latency = new Histogram({
      name: 'basalt_jsonrpc_request_duration_seconds',
      help: 'Time to answer a JSON-RPC call, by method',
      labelNames: ['method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.jsonrpcCall = (method, ok, seconds) => {
      calls.inc({ method });
      if (!ok) errors.inc({ method });
      if (method !== 'other') latency.observe({ method }, seconds);
    };
    // The process: CPU, memory, heap, event loop lag, open files (prom-client's defaults, unprefixed as
    // every Node.js dashboard expects them).
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which `promtool check metrics` rejects; the same counts are in
    // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources by type.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    new Gauge({
      name: 'basalt_trie_cache_bytes',
      help: 'Bytes of trie nodes and code held in memory (--cache)',
      registers,
      collect() {
        this.set(sources.trieCache().bytes);
      },
    });
    new Gauge({
      name: 'basalt_trie_cache_limit_bytes',
      help: 'The most bytes of trie nodes and code held in memory (--cache)',
      registers,
      collect() {
        this.set(sources.trieCache().limitBytes);
      },
    });
  }

  /**
   * Hook for the validator: basalt_ibft_round (the round of the height being decided; -1 while it
   * takes no part) and basalt_ibft_round_changes_total exist from its first call on.
   */
  setConsensus(read: () => { round: number | undefined; roundChanges: number }): void {
    if (!this.consensus) {
      const metrics = this;
      new Gauge({
        name: 'basalt_ibft_round',
        help: 'IBFT round of the height being decided (0: decided in its first round; -1: this node takes no part now)',
        registers: [this.registry],
        collect() {
          this.set(metrics.consensus!().round ?? -1);
        },
      });
      let counted = 0;
      new Counter({
        name: 'basalt_ibft_round_changes_total',
        help: 'IBFT rounds this validator moved past without a decision (a proposer missing, slow or faulty)',
        registers: [this.registry],
        collect() {
          const now = metrics.consensus!().roundChanges;
          if (now > counted) this.inc(now - counted);
          counted = now;
        },
      });
    }
    this.consensus = read;
  }

  /** A block committed: its interval after its parent (timestamps) and the validators of its set whose committed seal it lacks. */
  blockCommitted(intervalSeconds: number, missing: string[]): void {
    this.blockInterval.observe(intervalSeconds);
    for (const v of missing) this.missingSeals.inc({ validator: v });
  }

  /** Hook for the networking layer: where basalt_peers reads the peer count. */
  setPeers(count: () => number): void {
    if (!this.peers) {
      const metrics = this;
      new Gauge({
        name: 'basalt_peers',
        help: 'Connected peers',
        registers: [this.registry],
        collect() {
          this.set(metrics.peers!());
        },
      });
    }
    this.peers = count;
  }

  /**
   * Hook for the networking layer: basalt_peers_by_direction{direction} and basalt_sync_target_block
   * (the highest head a usable peer claims, or this node's own when it is ahead) exist from its first
   * call on.
   */
  setSync(sync: { peersByDirection(): { inbound: number; outbound: number }; targetBlock(): bigint }): void {
    if (!this.sync) {
      const metrics = this;
      new Gauge({
        name: 'basalt_peers_by_direction',
        help: 'Connected peers by who dialled: inbound (they did) or outbound (this node did)',
        labelNames: ['direction'],
        registers: [this.registry],
        collect() {
          const { inbound, outbound } = metrics.sync!.peersByDirection();
          this.set({ direction: 'inbound' }, inbound);
          this.set({ direction: 'outbound' }, outbound);
        },
      });
      new Gauge({
        name: 'basalt_sync_target_block',
        help: "The highest head a usable peer claims (this node's own head when none is higher): what basalt_chain_head_block syncs towards",
        registers: [this.registry],
        collect() {
          this.set(Number(metrics.sync!.targetBlock()));
        },
      });
    }
    this.sync = sync;
  }

  /**
   * Hook for the networking layer: basalt_clock_offset_seconds (this node's clock minus its peers', from
   * block timestamps; NaN until measured) and basalt_clock_skewed (1 beyond the tolerance) exist from
   * its first call on.
   */
  setClock(reading: () => { offsetMs: number | undefined; skewed: boolean }): void {
    if (!this.clock) {
      const metrics = this;
      new Gauge({
        name: 'basalt_clock_offset_seconds',
        help: "This node's clock minus its peers' (median over recent blocks' timestamps); NaN until measured",
        registers: [this.registry],
        collect() {
          const off = metrics.clock!().offsetMs;
          this.set(off === undefined ? NaN : off / 1000);
        },
      });
      new Gauge({
        name: 'basalt_clock_skewed',
        help: "1 while this node's clock is further from its peers' than the 15 s tolerance (block timestamps then follow the peers' time)",
        registers: [this.registry],
        collect() {
          this.set(metrics.clock!().skewed ? 1 : 0);
        },
      });
    }
    this.clock = reading;
  }

  backupStored(kind: StoredKind, target: string, durationMs: number, bytes: number, atMs = Date.now()): void {
    this.lastSuccess.set({ kind, target }, Math.floor(atMs / 1000));
    this.duration.observe({ kind, target }, durationMs / 1000);
    this.bytes.set({ kind, target }, bytes);
  }

  /** A target read at start: when its newest piece of `kind` was stored (the gauge exists from then on). */
  backupSeen(kind: StoredKind, target: string, storedAtMs: number): void {
    this.lastSuccess.set({ kind, target }, Math.floor(storedAtMs / 1000));
  }

  backupFailed(kind: StoredKind, target: string): void {
    this.failures.inc({ kind, target });
  }

  /** Serve GET /metrics; returns the bound address. */
  async listen(at: HostPort, log: Logger): Promise<HostPort> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(`${errorMessage(err)}\n`),
      );
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.maxHeadersCount = 50;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new UserError(`cannot listen for Prometheus on ${at.host}:${at.port}: ${err.message}`, { code: 'UNAVAILABLE' })));
      server.listen(at.port, at.host, () => resolve());
    });
    this.server = server;
    const addr = server.address() as { address: string; port: number };
    log.info(event('metrics.listening', { address: `${at.host}:${addr.port}` }), 'Prometheus metrics listening');
    return { host: at.host, port: addr.port };
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  }
}

/** Bytes of the files directly in `dir` (a LevelDB folder has no subfolders); 0 if it cannot be read. */
function folderBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) total += st.size;
    } catch {
      // removed by a compaction between the listing and the stat
    }
  }
  return total;
}
