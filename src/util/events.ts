/**
 * What a node reports that it did, as typed records in its log.
 *
 * A log line that records an event carries `event: '<name>'` beside its fields; its message is for people
 * and may be reworded, the name and fields are an interface: operators' alerting (`jq 'select(.event ==
 * "peer.banned")'`) and the e2e tests wait on them (`CliProcess.waitForEvent`). Each name has one shape,
 * declared here, so a test that reads a field the node does not log fails to type-check. The JSON log
 * format (`--log-format json`) shows the field; the pretty format hides it.
 *
 * Adding an event: name it here with its fields, log it with `event(name, fields)` as the first argument
 * of the logger call. Renaming or removing one is a breaking change: say it in CHANGELOG.md.
 */
export interface NodeEvents {
  /** The data dir is open and the chain loaded. */
  'chain.opened': {
    dataDir: string;
    chainId: number;
    genesis: string;
    head: number;
    validator: string;
    nodeId: string;
    secp256k1: string;
    /** States kept: the last N blocks', or 'all' (an archive node). */
    stateHistory: number | 'all';
  };
  /** Every part is up (the CLI's `server`). */
  'node.started': Record<string, never>;
  /** Every part stopped; `head` is the last block committed. */
  'node.stopped': { head: number };
  /** `--dev` made the node's keys in a fresh data dir. */
  'keys.created': { validator: string; nodeId: string };
  /** A key file others may read or change (not 0600, or its folder not 0700), at start: `fix` is the chmod that closes it. */
  'keys.exposed': { path: string; fix: string };

  /** A listener is bound: `address` is host:port (libp2p: its multiaddrs). */
  'jsonrpc.listening': { address: string; serving?: string };
  'ws.listening': { address: string };
  'grpc.listening': { address: string; port: number; tls: 'off' | 'server only' | 'client certificates'; maxStreams: number };
  'metrics.listening': { address: string };
  'p2p.listening': { addresses: string[]; peerId: string; bootnodes: number };
  /** An API listens beyond loopback without authenticating its clients (no TLS client certificates for gRPC). */
  'api.exposed': { api: 'jsonrpc' | 'grpc'; address: string };

  /** This node seals: alone (`validators` 1) or in IBFT rounds over libp2p. */
  'validator.started': { validators: number; networked: boolean; baseTimeoutMs: number };
  /** This node does not seal: its key is not in the set, or it cannot reach the quorum without networking. */
  'validator.idle': { validators: number; reason: 'not-in-set' | 'no-network' };
  /**
   * `--seal-without-journal` lifted the hold on a validator that alone makes the quorum and started
   * without its sign journal: it seals above `head` on the operator's word.
   */
  'validator.seal-without-journal': { head: number };
  /** The validator set of `height` holds this node's key (voted in, or back in): it takes part from there. */
  'validator.in-set': { height: number; validators: number };
  /** The validator set of `height` does not hold this node's key (not voted in yet, or voted out): it signs nothing. */
  'validator.outside-set': { height: number; validators: number };
  /** A validator vote was proposed by this node's operator, or discarded. */
  'ibft.vote-proposed': { candidate: string; vote: 'auth' | 'drop' };
  'ibft.vote-discarded': { candidate: string };
  /** The validator set changed at `number` (a vote passed): it decides the blocks after it. */
  'ibft.validators-changed': { number: number; validators: number; added?: string; dropped?: string };
  /** A proposal's execution took longer than its check may (Chain.checkProposal): this validator does not sign it. */
  'ibft.proposal-too-slow': { number: number; reason: string };
  /** A block this validator proposed is committed. */
  'block.sealed': { number: number; hash: string; txs: number; gasUsed: number };
  /** A height is decided: a quorum of COMMIT seals for the block `hash`. */
  'consensus.reached': { height: number; round: number; hash: string; seals: number };
  'consensus.round-timeout': { height: number; round: number };
  /** A restarted validator asks the others what its key signed at this height before it signs. */
  'consensus.recall-started': { height: number; quorum: number };
  /** The others showed that this key signed here before this process started: journaled. */
  'consensus.recall-learned': { height: number; round: number; kind: string; hash?: string };
  /**
   * A validator started without a sign journal (a restored, copied or new data dir) on a chain past
   * genesis: it signs nothing until the others commit a block proposed after its start (recall answers
   * are journaled, but do not end the wait). Logged once a process.
   */
  'consensus.restored-wait': { height: number; reason: string };
  /** A quorum answered: the validator takes part at this height, knowing what its key signed there. */
  'consensus.recall-done': { height: number; round: number; signedRound?: number; signed?: string };
  /** A message of this validator's key that this process did not sign: another process holds the key; this one signs nothing more. */
  'consensus.second-instance': { height: number; round: number; type: string; hash?: string };
  /** Sealing waits until the node has caught up with its peers, and resumes. */
  'sealing.held': { reason: string };
  'sealing.resumed': { head: number };
  /** Sealing and new transactions pause below `--min-free-disk`, and resume. */
  'disk.low': { freeBytes: number; minFreeBytes: number };
  'disk.recovered': { freeBytes: number };
  /** This node's clock is further from its peers' than the tolerance, and back within it. */
  'clock.skewed': { clockOffsetMs: number; toleranceMs: number; blocks: number };
  'clock.recovered': { clockOffsetMs: number };

  /** Block-by-block sync: a batch from a peer is imported (`head` is this node's head after it). */
  'sync.progress': { head: number; highest: number; peer: string };
  /** One block from a peer is imported (debug level). */
  'block.imported': { number: number };

  'peer.connected': { peer: string; address: string; head: number; validator?: string };
  /** A peer broke the protocol: disconnected and refused for a while. */
  'peer.banned': { peer: string; reason: string };
  /** A peer proved it holds this node's own validator key (a second instance of this validator). */
  'peer.same-validator-key': { peer: string; address: string };

  /** `--sync snapshot`: the data dir already has a chain, so it syncs block by block. */
  'snapshot-sync.skipped': { head: number };
  'snapshot-sync.asking': { peer: string; peerHead: number };
  'snapshot-sync.announced': { peer: string; announcedBytes: number; estimate: boolean };
  'snapshot-sync.restored': { peer: string; head: number; headHash: string };
  /** No peer served a valid snapshot: block-by-block sync from genesis. */
  'snapshot-sync.fallback': { tried: number };

  /** An import over the operator API (`basalt import`). */
  'import.started': { start: string; end: string; compression: string };
  'import.finished': { imported: number; skipped: number; head: number; ms: number };
  'import.failed': { err: string };

  /** Scheduled backups (`--backup-dir`). */
  'backup.started': { target: string; kind: 'snapshot' | 'archive' | 'backup'; head?: number; startBlock?: number; endBlock?: number };
  'backup.stored': { target: string; file: string; kind: 'snapshot' | 'archive' | 'backup'; startBlock: number; endBlock: number; bytes: number; ms: number };
  'backup.failed': { target: string; kind: 'snapshot' | 'archive' | 'backup'; err: string };
  'backup.retry': { target: string; what: string; attempt: number; retryInMs: number; err: string };
  /** A backup repository pruned: what no kept backup needs deleted (after retention), the pieces of complete history segments merged (historyOnly: only that, the packs unread). */
  'backup.pruned': { target: string; historyOnly: boolean; merged: number; bytesBefore: number; bytesAfter: number; ms: number };
  /** A backup passed over a manifest of the repository that cannot be read (damaged; `backup verify` names it): nothing of it relied on. */
  'backup.manifest-damaged': { target: string; why: string };
  /**
   * The newest backup of a target was stored at a time after now (its manifest's createdAt, or the
   * target's time of its newest snapshot `at`): taken as now, so the schedule goes on (a clock ahead).
   */
  'backup.time-in-future': { target: string; file: string; at: string };
  /** A backup repository's retention was left to the next backup: another process holds a lock on it. */
  'backup.retention-deferred': { target: string; reason: string };
  /** A restored node back-fills the bodies and receipts of its history gap (from..to) from `source` (a backup repository, then its peers). */
  'history.backfill-started': { from: number; to: number; source: string };
  /** --history full: the node fills its history gap (from..to) before it serves JSON-RPC and seals. */
  'history.waiting': { from: number; to: number };
  /** A back-filled batch is stored: blocks up to `filled` are whole. */
  'history.backfill-progress': { filled: number; to: number };
  /** Every block is whole: the gap is gone. */
  'history.backfilled': { blocks: number; ms: number };
  /** The back-fill failed (the repository unreachable, a block that does not match its header); tried again in `retryInMs`. */
  'history.backfill-failed': { err: string; retryInMs: number };
  /** The node pruned its state to the last blocks' (`--state-history`): states of blocks below `keptFrom` are gone. */
  'state.pruned': {
    head: number;
    keptFrom: number;
    /** What started it: the states held past the window (`--state-prune-interval`), or the trie's growth since the last prune. */
    why: 'interval' | 'growth';
    deleted: number;
    /** Bytes of keys and values of the states kept. */
    keptBytes: number;
    ms: number;
    markMs: number;
    sweepMs: number;
    compactMs: number;
    /** Since the last prune of this run (absent for the first): the share of the time the node's thread was busy (event loop utilization, 0.3 to 1). */
    busy?: number;
    /** The wait after the last prune that share asked (the spacing (9) x the last prune's ms x busy); a prune on the interval's cap (4 intervals held) does not wait it out. */
    spacingMs?: number;
  };
  /** Every state below the window was a kept one (an idle chain): the window moved to `keptFrom` with no walk; nothing to delete. */
  'state.prune-skipped': { head: number; keptFrom: number; checked: number; ms: number };
  'state.prune-failed': { err: string };
  /** A piece an interrupted run left half-written was removed. */
  'backup.partial-removed': { path: string; pid: number };
  /** A piece an interrupted run left half-written could not be removed (another user's, say): it stays, and backups go on beside it. */
  'backup.partial-kept': { path: string; pid: number; error: string };
}

export type EventName = keyof NodeEvents;

/** The fields of a log line recording `name`: `log.info(event('peer.banned', { peer, reason }), 'peer refused…')`. */
export function event<K extends EventName>(name: K, fields: NodeEvents[K]): NodeEvents[K] & { event: K } {
  return { event: name, ...fields };
}
