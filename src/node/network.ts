import '../util/promise-with-resolvers.js';
import type { PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { keccak256 } from '../util/keccak.js';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { Chain, ChainHead } from '../chain/chain.js';
import type { PeerClock } from '../chain/peer-clock.js';
import { BanList, Strikes, banKind } from '../p2p/bans.js';
import { IbftGossipCheck } from '../p2p/ibft-gossip-check.js';
import { Gossip, type GossipVerdict } from '../p2p/gossip.js';
import { createHost, type Host } from '../p2p/host.js';
import { MessageError, type ChainStatus } from '../p2p/messages.js';
import { PeerManager, parsePeerAddress } from '../p2p/peers.js';
import { RECALL_ANSWER, RECALL_REQUEST, RecallRelay, recallGossip } from '../p2p/ibft-recall.js';
import { signValidatorProof } from '../p2p/validator-proof.js';
import { TxIntake, type TxIntakeLimits, type TxOutcome } from '../p2p/tx-intake.js';
import { privateKeyToAddress } from '../keys/address.js';
import type { PeerSummary, PeersService } from '../p2p/peers-service.js';
import {
  MAX_BLOCK_ANSWERS,
  MAX_BLOCK_ANSWERS_FOR_OTHERS,
  MAX_BLOCK_ANSWERS_PER_ADDRESS,
  MAX_BLOCK_ANSWERS_PER_PEER,
  serveBlocks,
  serveHistory,
} from '../sync/block-protocol.js';
import { Semaphore } from '../util/mutex.js';
import { PeerHistoryFeed } from '../sync/history-feed.js';
import type { HistoryFeed } from '../backup/repository/backfill.js';
import { DEFAULT_MAX_SNAPSHOT_STREAMS, serveSnapshots } from '../sync/snapshot-protocol.js';
import type { NetworkView, SyncProgress } from '../sync/sync-state.js';
import { Syncer, type SyncTarget, type SyncerOptions } from '../sync/syncer.js';
import { DEFAULT_LIMITS, TxPoolError, type TxPool } from '../txpool/txpool.js';
import { decodeRawTx } from '../txpool/validation.js';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { event } from '../util/events.js';
import { txBytes } from '../util/tx-bytes.js';
import { LocalTxRebroadcast } from '../p2p/tx-rebroadcast.js';

export const DEFAULT_LIBP2P_PORT = 1478;
export const DEFAULT_MAX_PEERS = 40;

export interface NetworkOptions {
  key: Uint8Array;
  host: string;
  port: number;
  bootnodes: string[];
  maxPeers: number;
  /** Find the chain's other nodes through a Kademlia DHT (default true); false: bootnodes and added peers only. */
  discovery?: boolean;
  /** Ready peers other than validators and kept ones, by direction (default: --max-peers alone). */
  maxInbound?: number;
  maxOutbound?: number;
  /** The IP address to announce to peers instead of the listen address (behind NAT). */
  natAddress?: string;
  chain: Chain;
  txpool: TxPool;
  logger: Logger;
  sync?: SyncerOptions;
  /** Snapshot streams served at once (default 2); the next request is refused. */
  maxSnapshotStreams?: number;
  /** false: do not sync blocks (a node about to restore from a peer's snapshot). Default true. */
  blockSync?: boolean;
  /**
   * consensus/validator.key: the node proves in its handshake that it holds it, and peers of a set
   * it is in treat it as a validator (slot, score, redial). Without it the node proves nothing.
   */
  validatorKey?: Uint8Array;
  /** Counters of what peers sent that was refused, and of bans (the node's Prometheus metrics). */
  metrics?: P2pMetrics;
  /** Limits on gossiped transactions per peer (tests use small ones); defaults in p2p/tx-intake.ts. */
  txIntake?: Partial<TxIntakeLimits>;
  /** When local transactions are published again while they wait (tests use short ones); defaults in p2p/tx-rebroadcast.ts. */
  rebroadcast?: { afterMs?: number; checkMs?: number };
  /** This node's clock against its peers': blocks announced and verified are its samples. */
  clock?: PeerClock;
  /**
   * The ban list to use (default: a new one, counted in `metrics`): the node hands the one of its
   * snapshot sync on, so peers banned then stay banned (and are counted by whoever made the list).
   */
  bans?: BanList;
}

/** The validator set of a head as the IBFT gossip check asks about it (Network.validatorSet). */
interface ValidatorsOfHead {
  head: Uint8Array;
  list: Uint8Array[];
  hex: ReadonlySet<string>;
  /** Candidates the head's next block could add (engine joiningAfterNext), and the parent's. */
  joining: ReadonlySet<string>;
  wasJoining: ReadonlySet<string>;
}

/** basalt_p2p_rejected_total{reason} and basalt_p2p_bans_total{reason}. */
export interface P2pMetrics {
  rejected(reason: string, count?: number): void;
  banned(reason: string): void;
}

/**
 * IBFT messages signed by keys outside the set that one peer may relay in a minute before it is banned.
 * Each counts one per started NON_VALIDATOR_IBFT_UNIT_BYTES: a peer sending 4 MiB proposals signed
 * by a stranger is banned at the third, not the eleventh (each costs the node its decoding and hashing).
 */
export const MAX_NON_VALIDATOR_IBFT_PER_MINUTE = 10;
export const NON_VALIDATOR_IBFT_UNIT_BYTES = 1024 * 1024;
/**
 * MiB of one peer's gossip dropped in a minute because its queue in front of gossipsub was full
 * (p2p/gossip-intake.ts: 16 MiB a peer) before it is banned. Honest peers relay what the network
 * carries, a few large proposals a minute at most; one sending 4 MiB messages six a second overruns it
 * within seconds.
 */
export const MAX_GOSSIP_OVERRUN_MIB_PER_MINUTE = 16;
/** Repeated IBFT messages one peer may send in a minute (honest relays repeat a ROUND-CHANGE now and then). */
export const MAX_DUPLICATE_IBFT_PER_MINUTE = 600;
/**
 * IBFT messages for heights before the one this node decided last that one peer may send in a minute
 * (messages for the height just decided are not counted: an honest peer that has not seen the block
 * yet relays and repeats them, and relays a replayer's copies of them as fresh). A replayer sends
 * hundreds a second.
 */
export const MAX_STALE_IBFT_PER_MINUTE = 600;
/**
 * An IBFT or recall message more than this many heights past the window of both this node and the peer
 * relaying it (above head + 2, by the higher of the two heads: the peer's as it claims it), or a recall
 * one this many below this node's head, is no honest relayer's: every node relays only what falls in
 * its own window, and the heads it is judged by lag by a block or two at most. Such messages count
 * against the peer as stale ones do (MAX_STALE_IBFT_PER_MINUTE); nearer ones are ignored unblamed (a
 * validator a little ahead or behind).
 */
export const FAR_HEIGHTS = 8n;

/** Transactions from gossip being added to the pool, remembered at most (Network.fromGossip). */
const MAX_FROM_GOSSIP = 4096;
/**
 * A gossiped transaction the pool refused by this node's own policy, which no new head changes (its tip
 * below this node's price floor: TxPoolError `lasting`), is dropped unread when it comes again within
 * this long: a node publishes its own clients' transactions again while they wait
 * (p2p/tx-rebroadcast.ts), and each refusal counted towards throttling the peer relaying it. Other
 * refusals are not remembered: a transaction refused at one head (before a fork, a full pool) may be
 * taken at a later one. Remembered at most MAX_REFUSED_LATELY, oldest forgotten first.
 */
const REFUSED_LATELY_MS = 10 * 60_000;
const MAX_REFUSED_LATELY = 8192;

/**
 * The node on the network: libp2p host, peers (handshake, bans, bootnodes), the block server, the
 * syncer, and gossip of new heads and pool transactions. Started after the chain opens, stopped
 * before it closes.
 */
export class Network implements NetworkView, PeersService {
  /** Transactions being taken from gossip: the pool's 'added' event leaves them to gossip.ts (forwarded in their batch, or republished). */
  private readonly fromGossip = new Set<string>();
  private unsubscribeTx?: () => void;
  private listeningState = false;
  /** Where accepted IBFT messages go (this node's consensus core), if anywhere. */
  private consensusSink?: (msg: Uint8Array) => void;
  /** This validator's answers to recall requests (consensus/ibft/core/recall.ts), if it is one. */
  private recallServer?: (req: Uint8Array) => Uint8Array;
  /** Where answers to this validator's own recall requests go. */
  private recallSink?: (answer: Uint8Array) => void;
  /** The validator set of the head last asked about, as addresses and as lowercase hex. */
  private validatorsOf?: ValidatorsOfHead;

  private constructor(
    readonly host: Host,
    readonly peerManager: PeerManager,
    readonly gossip: Gossip,
    readonly syncer: Syncer,
    private readonly opts: NetworkOptions,
  ) {
    this.txIntake = new TxIntake({
      validate: (peer, raw) => this.validateTx(peer, raw),
      onBan: (peer, reason) => this.peerManager.punish(peer, reason),
      onDrop: (reason) => this.opts.metrics?.rejected(reason),
      ...(opts.txIntake ? { limits: opts.txIntake } : {}),
    });
    this.rebroadcast = new LocalTxRebroadcast({
      // Held back while queued, or further above its sender's nonce than a peer's pool takes ahead of a
      // gap (a peer lacking the nonces below it, which came here by gossip and are not published again,
      // would count it as a fault: a nonce too high).
      lookup: (hash) => {
        const p = this.opts.txpool.pooled(hash);
        if (p === undefined) return undefined;
        return p.executable && p.ahead < BigInt(DEFAULT_LIMITS.accountQueue) ? txBytes(p.tx) : 'queued';
      },
      publish: (raw) => this.gossip.publishTx(raw),
      paused: () => this.opts.txpool.closed || this.syncer.progress() !== false,
      ...opts.rebroadcast,
    });
  }

  static async start(opts: NetworkOptions): Promise<Network> {
    const { chain, logger: log } = opts;
    const bootnodes: Multiaddr[] = opts.bootnodes.map((b) => parsePeerAddress(b, 'bootnode'));
    const bans = opts.bans ?? new BanList(Date.now, (reason) => opts.metrics?.banned(banKind(reason)));
    let manager: PeerManager | undefined; // the gater and the score ask it once it exists
    const gossipFloodStrikes = new Strikes(MAX_GOSSIP_OVERRUN_MIB_PER_MINUTE);
    const host = await createHost({
      key: opts.key,
      host: opts.host,
      port: opts.port,
      maxPeers: opts.maxPeers,
      ...(opts.discovery !== false ? { dht: { genesisHex: bytesToHex(chain.genesisHash) } } : {}),
      ...(opts.natAddress !== undefined ? { announce: opts.natAddress } : {}),
      isBanned: (p) => bans.isBanned(p),
      isAddressBanned: (a) => bans.isAddressBanned(a),
      admitInbound: (p) => manager?.admitInbound(p) ?? true,
      isValidator: (p) => manager?.isValidator(p) ?? false,
      onGossipDropped: (p, n, ownBytes) => {
        opts.metrics?.rejected('gossip-queue', n);
        // Weighed in whole MiB: a peer overrunning its queue with small messages is the tx intake's to judge.
        const mib = Math.floor(ownBytes / (1024 * 1024));
        if (mib > 0 && gossipFloodStrikes.hit(p, mib))
          manager?.punish(p, `sent gossip faster than it is taken (more than ${MAX_GOSSIP_OVERRUN_MIB_PER_MINUTE} MiB dropped in a minute)`);
      },
    });
    try {
      // Signed once: it covers only the genesis and this node's peer ID.
      const proof = opts.validatorKey && signValidatorProof(opts.validatorKey, chain.genesisHash, host.peerId.toMultihash().bytes);
      const status = (): ChainStatus => ({
        chainId: chain.chainId,
        genesisHash: chain.genesisHash,
        headNumber: chain.head.number,
        headHash: chain.head.hash,
        ...(proof ? { validatorProof: proof } : {}),
      });
      const peers = new PeerManager(host, bans, status, log, {
        maxPeers: opts.maxPeers,
        ...(opts.maxInbound !== undefined ? { maxInbound: opts.maxInbound } : {}),
        ...(opts.maxOutbound !== undefined ? { maxOutbound: opts.maxOutbound } : {}),
        validators: () => net.validatorSet().hex,
        ...(opts.validatorKey ? { self: bytesToHex(privateKeyToAddress(opts.validatorKey)) } : {}),
      });
      manager = peers;
      const gossip = new Gossip(host, chain.genesisHash, {
        isReady: (p) => peers.isReady(p),
        onHead: (p, head) => peers.updateHead(p, head.number, head.hash),
        onTx: (p, raw) => net.receiveTx(p, raw),
        onConsensus: (p, data) => net.receiveConsensus(p, data),
        onRecall: (p, data) => net.receiveRecall(p, data),
        onBadPeer: (p, reason) => peers.punish(p, reason),
      });
      // A peer's claimed head counts (for the sealing gate) once enough of the set known for it sealed it.
      const target: SyncTarget = {
        rules: chain.rules,
        genesisHash: chain.genesisHash,
        get head() {
          return chain.head;
        },
        importBlock: (block, o) => chain.importBlock(block, o),
        syncCommitted: () => chain.syncCommitted(),
        ...(opts.clock ? { observeBlock: (header, parent, agoMs) => opts.clock!.observe(header.number, header.timestamp, parent.timestamp, agoMs) } : {}),
        verifyClaimedHead: (header) => chain.engine.verifyClaimedHead(header, chain.head.header),
      };
      const syncer = new Syncer(host, target, peers, log, opts.sync);
      const net: Network = new Network(host, peers, gossip, syncer, opts);
      const served = {
        isReady: (p: PeerId) => peers.isReady(p),
        onBadPeer: (p: PeerId, reason: string) => peers.punish(p, reason),
        answering: new Semaphore(MAX_BLOCK_ANSWERS, MAX_BLOCK_ANSWERS_PER_PEER, {
          perGroup: MAX_BLOCK_ANSWERS_PER_ADDRESS,
          grouped: MAX_BLOCK_ANSWERS_FOR_OTHERS,
        }),
        trusted: (p: PeerId) => peers.isValidatorOrKept(p),
      };
      await serveBlocks(host, chain.genesisHash, chain, served);
      await serveHistory(host, chain.genesisHash, chain, served);
      await serveSnapshots(host, chain.genesisHash, chain, {
        maxStreams: opts.maxSnapshotStreams ?? DEFAULT_MAX_SNAPSHOT_STREAMS,
        isReady: (p) => peers.isReady(p),
        onBadPeer: (p, reason) => peers.punish(p, reason),
        trusted: (p) => peers.isValidatorOrKept(p),
        logger: log,
      });
      gossip.start();
      await peers.start(bootnodes);
      chain.on('head', net.onChainHead);
      net.unsubscribeTx = opts.txpool.onAdded((hash) => net.onPoolTx(hash));
      if (opts.blockSync !== false) syncer.start();
      net.rebroadcast.start();
      net.listeningState = true;
      log.info(event('p2p.listening', { addresses: net.addresses(), peerId: host.peerId.toString(), bootnodes: bootnodes.length }), 'libp2p listening');
      return net;
    } catch (err) {
      await Promise.resolve(host.stop()).catch(() => undefined);
      throw err;
    }
  }

  /** The multiaddrs this node listens on, each ending in /p2p/<node ID>. */
  addresses(): string[] {
    return this.host.getMultiaddrs().map(String);
  }

  get listening(): boolean {
    return this.listeningState;
  }

  peerCount(): number {
    return this.peerManager.count;
  }

  /** Connected peers that dialled this node and that it dialled. */
  peersByDirection(): { inbound: number; outbound: number } {
    let inbound = 0;
    for (const p of this.peerManager.peers()) if (p.direction === 'inbound') inbound++;
    return { inbound, outbound: this.peerManager.count - inbound };
  }

  /** Highest head a ready peer that is not set aside claims (0 with none). */
  highestPeerHead(): bigint {
    return this.syncer.highestUsableHead();
  }

  /**
   * Whether this node has caught up with a peer that showed its head: a ready peer not set aside has
   * proven a head at or above this node's (a claim above it checked, or blocks imported from it), or
   * claims this node's own head block (one verified here). A peer's head at or below this node's is
   * never asked for a proof, so the second is how a peer at the same head counts.
   */
  caughtUpWithPeer(): boolean {
    const { number, hash } = this.opts.chain.head;
    const peers = this.peerManager.peers();
    if (peers.length === 0) return false; // with none, the usable head is this node's own
    if (this.syncer.highestUsableHead() >= number) return true;
    return peers.some((p) => p.head === number && equalsBytes(p.headHash, hash));
  }

  /** A head above `local + slack` a peer claims, not proven yet, that sealing should still wait for. */
  unprovenPeerHead(slack: bigint, anyPeer = false): bigint | undefined {
    return this.syncer.pendingClaim(slack, anyPeer);
  }

  /** Whether there are bootnodes or added peers (other than this node) to connect to. */
  hasPeersToDial(): boolean {
    return this.peerManager.hasStaticPeers();
  }

  /** How many of the bootnodes and added peers are not ready peers now. */
  peersToDialMissing(): number {
    return this.peerManager.staticPeersMissing();
  }

  syncing(): SyncProgress | false {
    return this.syncer.progress();
  }

  /** The peers as a source of a restored node's history back-fill (blocks and receipts below its head). */
  historyFeed(): HistoryFeed {
    return new PeerHistoryFeed(this.host, this.peerManager, this.opts.chain);
  }

  async list(): Promise<PeerSummary[]> {
    return this.peerManager.peers().map((p) => ({ id: p.id.toString(), address: p.address, direction: p.direction, head: p.head }));
  }

  async add(address: string): Promise<void> {
    await this.peerManager.add(address);
  }

  async remove(peer: string): Promise<{ wasConnected: boolean }> {
    return this.peerManager.remove(peer);
  }

  /** Announce every new head once caught up, so that followers (and their followers) fetch it at once. */
  private readonly onChainHead = (head: ChainHead): void => {
    if (this.syncer.progress() !== false) return;
    this.gossip.announceHead({ number: head.number, hash: head.hash });
  };

  /** Deliver accepted IBFT messages to `sink` (undefined: stop). Every node relays them either way. */
  setConsensusSink(sink: ((msg: Uint8Array) => void) | undefined): void {
    this.consensusSink = sink;
  }

  /**
   * Whether a node holding validator key `address` is connected (it proved the key in its handshake)
   * and no more than `slack` blocks behind this node's head: a candidate that can take part at once.
   */
  runningValidator(address: Uint8Array, slack = 2n): boolean {
    const p = this.peerManager.peerProving(bytesToHex(address));
    return p !== undefined && p.head + slack >= this.opts.chain.head.number;
  }

  publishConsensus(msg: Uint8Array): void {
    this.gossip.publishConsensus(msg);
  }

  /** Answer recall requests with `server` (this node's IBFT core); undefined: answer none. */
  setRecallServer(server: ((req: Uint8Array) => Uint8Array) | undefined): void {
    this.recallServer = server;
  }

  /** Publish this validator's recall request; each answer to it goes to `onAnswer`. */
  recall(req: Uint8Array, onAnswer: (answer: Uint8Array) => void): void {
    this.recallSink = onAnswer;
    this.gossip.publishRecall(recallGossip(RECALL_REQUEST, req));
  }

  private readonly recallRelay = new RecallRelay({
    head: () => this.opts.chain.head.number,
    isValidator: (a) => this.validatorSet().hex.has(bytesToHex(a)),
  });
  private ownAddressHex?: string;
  private get ownAddress(): string | undefined {
    if (this.opts.validatorKey === undefined) return undefined;
    this.ownAddressHex ??= bytesToHex(privateKeyToAddress(this.opts.validatorKey));
    return this.ownAddressHex;
  }

  /**
   * A recall request or answer by gossip (RecallRelay checks it; a malformed one bans its relayer; one
   * for a height FAR_HEIGHTS outside the window counts as a stale IBFT message does): a request from
   * another validator is answered by this one's core (if it runs one), an answer to this validator
   * goes to its core; both are relayed.
   */
  private receiveRecall(peer: PeerId, data: Uint8Array): GossipVerdict {
    const r = this.recallRelay.check(data);
    // Signed outside the validator set: as for IBFT messages, a peer that relays more of them than one
    // on another view of the set would is banned (a large one counts for more).
    if (r.verdict === 'reject' && this.nonValidatorStrikes.hit(peer, Math.max(1, Math.ceil(data.length / NON_VALIDATOR_IBFT_UNIT_BYTES)))) {
      this.peerManager.punish(
        peer,
        `relayed IBFT recall messages signed by keys outside the validator set (more than ${MAX_NON_VALIDATOR_IBFT_PER_MINUTE} in a minute)`,
      );
    } else if (r.outside !== undefined && this.farFromWindow(peer, r.outside) && this.farStrikes.hit(peer)) {
      this.peerManager.punish(peer, `sent IBFT recall messages for heights far from this node's (more than ${MAX_STALE_IBFT_PER_MINUTE} in a minute)`);
    }
    if (r.request && this.recallServer && bytesToHex(r.request.request.requester) !== this.ownAddress) {
      const answer = this.recallServer(r.request.bytes);
      this.gossip.publishRecall(recallGossip(RECALL_ANSWER, answer));
    }
    if (r.answer && bytesToHex(r.answer.answer.requester) === this.ownAddress) this.recallSink?.(r.answer.bytes);
    return r.verdict;
  }

  /** The validator set of the head (IBFT extraData), decoded once per head. */
  private validatorSet(): ValidatorsOfHead {
    const head = this.opts.chain.head;
    const was = this.validatorsOf;
    if (was === undefined || !equalsBytes(was.head, head.hash)) {
      const list = this.opts.chain.engine.validatorsAfter(head.header);
      const joining = this.opts.chain.engine.joiningAfterNext(head.header);
      this.validatorsOf = {
        head: head.hash,
        list,
        hex: new Set(list.map((a) => bytesToHex(a))),
        joining: new Set(joining.map((a) => bytesToHex(a))),
        // The parent's candidates, if the set was last asked about at the parent (the usual case: every
        // IBFT message asks); else none, and such a message is counted as before.
        wasJoining: was !== undefined && equalsBytes(was.head, head.header.parentHash) ? was.joining : new Set(),
      };
    }
    return this.validatorsOf!;
  }

  /**
   * An IBFT message is relayed only when it passes IbftGossipCheck (cheapest checks first; signature
   * last): a validator's, for the height after this node's head or the one after that, not seen
   * before. Undecodable, oversized for its type or badly signed: the relayer made it (every node
   * validates before relaying), so it is banned (a MessageError). Signed by a key outside the set:
   * rejected, and a peer that relays more than MAX_NON_VALIDATOR_IBFT_PER_MINUTE of them is banned (one
   * on another view of the set is not at fault at once; a large one counts for more). Stale, far ahead
   * or repeated: ignored; a peer that repeats more than MAX_DUPLICATE_IBFT_PER_MINUTE, or sends more
   * than MAX_STALE_IBFT_PER_MINUTE for decided heights or for heights FAR_HEIGHTS past its window and
   * this node's, is banned.
   */
  private receiveConsensus(peer: PeerId, data: Uint8Array): GossipVerdict {
    let r;
    try {
      r = this.ibftCheck.check(data);
    } catch (err) {
      this.opts.metrics?.rejected('ibft-malformed');
      throw err;
    }
    if (r.reason !== undefined) this.opts.metrics?.rejected(`ibft-${r.reason}`);
    if (r.reason === 'non-validator' && this.nonValidatorStrikes.hit(peer, Math.max(1, Math.ceil(data.length / NON_VALIDATOR_IBFT_UNIT_BYTES)))) {
      this.peerManager.punish(
        peer,
        `relayed IBFT messages signed by keys outside the validator set (more than ${MAX_NON_VALIDATOR_IBFT_PER_MINUTE} in a minute)`,
      );
    } else if (r.reason === 'duplicate' && this.duplicateStrikes.hit(peer)) {
      this.peerManager.punish(peer, `repeated IBFT messages (more than ${MAX_DUPLICATE_IBFT_PER_MINUTE} in a minute)`);
    } else if (r.reason === 'stale' && (r.behind ?? 0n) > 0n && this.staleStrikes.hit(peer)) {
      this.peerManager.punish(peer, `sent IBFT messages for decided heights (more than ${MAX_STALE_IBFT_PER_MINUTE} in a minute)`);
    } else if (r.reason === 'future' && this.farFromWindow(peer, this.opts.chain.head.number + (r.ahead ?? 0n)) && this.farStrikes.hit(peer)) {
      this.peerManager.punish(peer, `sent IBFT messages for heights far ahead of this node's and its own (more than ${MAX_STALE_IBFT_PER_MINUTE} in a minute)`);
    }
    if (r.verdict === 'accept') this.consensusSink?.(data);
    return r.verdict;
  }

  private readonly nonValidatorStrikes = new Strikes(MAX_NON_VALIDATOR_IBFT_PER_MINUTE);
  private readonly duplicateStrikes = new Strikes(MAX_DUPLICATE_IBFT_PER_MINUTE);
  private readonly staleStrikes = new Strikes(MAX_STALE_IBFT_PER_MINUTE);
  private readonly farStrikes = new Strikes(MAX_STALE_IBFT_PER_MINUTE);

  /** Whether a message for `height` from `peer` is FAR_HEIGHTS outside its window and this node's. */
  private farFromWindow(peer: PeerId, height: bigint): boolean {
    const head = this.opts.chain.head.number;
    if (height + FAR_HEIGHTS < head) return true;
    const theirs = this.peerManager.peer(peer)?.head ?? head;
    return height > (theirs > head ? theirs : head) + 2n + FAR_HEIGHTS;
  }
  private readonly ibftCheck = new IbftGossipCheck({
    head: () => this.opts.chain.head.number,
    isValidator: (a) => this.validatorSet().hex.has(bytesToHex(a)),
    isJoining: (a) => this.validatorSet().joining.has(bytesToHex(a)),
    wasJoining: (a) => this.validatorSet().wasJoining.has(bytesToHex(a)),
    validatorCount: () => this.validatorSet().list.length,
  });

  /**
   * Every transaction the pool takes from a client is published (and again while it waits:
   * `rebroadcast`); one taken from a peer's gossip goes on
   * in that peer's batch when the pool took all of it, else in this node's own (gossip.ts
   * `receiveTxBatch`): a node relays exactly what it checked and took. One the pool already holds is not
   * taken again, so a transaction does not go back and forth between peers.
   */
  private onPoolTx(hash: Uint8Array): void {
    if (this.fromGossip.delete(bytesToHex(hash))) return; // gossip.ts forwards or republishes it
    const tx = this.opts.txpool.get(hash);
    if (!tx) return;
    this.gossip.publishTx(txBytes(tx));
    this.rebroadcast.track(bytesToHex(hash));
  }

  /** Gossiped transactions: per-peer rate, queue and throttling, validated round-robin after consensus work. */
  private readonly txIntake: TxIntake;
  /** Gossiped transactions the pool refused lately by this node's own lasting policy, by hash: when (REFUSED_LATELY_MS). */
  private readonly refusedLately = new Map<string, number>();
  /** Transactions this node's clients sent, published again while they wait (p2p/tx-rebroadcast.ts). */
  private readonly rebroadcast: LocalTxRebroadcast;

  /**
   * While its pool is closed (a snapshot restore) or it is catching up (a peer proved a head more than
   * a block above its own: the syncer's `progress()`), a node has no state to judge transactions by:
   * gossiped ones are dropped before they are decoded (not validated, not counted against the peer,
   * not relayed), as geth and Besu do until they are synced. Judged against a stale head, valid
   * transactions looked like faults, and a node banned the very peers it was syncing from.
   */
  private receiveTx(peer: PeerId, raw: Uint8Array): Promise<GossipVerdict> {
    if (this.opts.txpool.closed || this.syncer.progress() !== false) return Promise.resolve('ignore');
    // A transaction's hash is the hash of its bytes: one the pool holds costs no decoding.
    const hash = keccak256(raw);
    if (this.opts.txpool.has(hash)) return Promise.resolve('ignore');
    const refusedAt = this.refusedLately.get(bytesToHex(hash));
    if (refusedAt !== undefined && Date.now() - refusedAt < REFUSED_LATELY_MS) return Promise.resolve('ignore');
    return this.txIntake.submit(peer, raw);
  }

  private async validateTx(peer: PeerId, raw: Uint8Array): Promise<TxOutcome> {
    let tx;
    try {
      // Under the newest rules the chain schedules: a transaction of a scheduled fork's type decodes
      // before the fork (the pool refuses it until then, nobody's fault); bytes that decode under no
      // rules of this chain are the relayer's fault at any head. Bounded in bytes and RLP items before
      // it is decoded (a batch of 256 KiB may hold one transaction).
      tx = decodeRawTx(raw, this.opts.chain.rules.newest());
    } catch (err) {
      if (err instanceof TxPoolError) return err.fault ?? 'refused'; // oversized: as the pool refuses it decoded
      throw new MessageError(`gossiped transaction cannot be decoded: ${errorMessage(err)}`);
    }
    if (this.opts.txpool.has(tx.hash())) return 'refused';
    const key = bytesToHex(tx.hash());
    this.fromGossip.add(key);
    if (this.fromGossip.size > MAX_FROM_GOSSIP) this.fromGossip.delete(this.fromGossip.values().next().value!);
    try {
      await this.opts.txpool.add(tx);
      return 'accepted';
    } catch (err) {
      this.fromGossip.delete(key);
      if (!(err instanceof TxPoolError)) throw err;
      this.opts.logger.debug({ tx: bytesToHex(tx.hash()), peer: peer.toString(), err: err.message }, 'gossiped transaction not added');
      if (err.fault === 'unexecutable' && !this.judgesExecutable(peer)) return 'refused';
      if (err.lasting) {
        this.refusedLately.delete(key);
        this.refusedLately.set(key, Date.now());
        if (this.refusedLately.size > MAX_REFUSED_LATELY) this.refusedLately.delete(this.refusedLately.keys().next().value!);
      }
      return err.fault ?? 'refused';
    }
  }

  /**
   * Whether a transaction `peer` relayed that cannot execute in this node's state (its sender cannot
   * pay, its nonce far ahead) is the peer's fault: only where this node is at the head (not catching
   * up) and the peer claims no head above it. A relayer ahead checked it against a later state, in
   * which it may well execute (its sender funded, its earlier nonces mined since this node's head).
   */
  private judgesExecutable(peer: PeerId): boolean {
    const local = this.opts.chain.head.number;
    return this.syncer.progress() === false && (this.peerManager.peer(peer)?.head ?? 0n) <= local;
  }

  async stop(): Promise<void> {
    this.listeningState = false;
    this.opts.chain.off('head', this.onChainHead);
    this.unsubscribeTx?.();
    this.rebroadcast.stop();
    this.txIntake.stop();
    await this.syncer.stop();
    this.peerManager.stop();
    this.gossip.stop();
    await this.host.stop();
  }
}
