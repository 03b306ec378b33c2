import type { PeerId } from '@libp2p/interface';
import type { GossipVerdict } from './gossip.js';

/**
 * What validating one gossiped transaction came to:
 * - 'accepted': the pool took it;
 * - 'refused': no one's fault (nonce already used, below this node's price floor, pool full);
 * - 'unexecutable': valid, but its sender cannot pay or its nonce is far ahead in this node's state,
 *   while this node is at the head and the peer no further (node/network.ts; behind, it is 'refused');
 * - 'invalid': it can never be valid (signature, chain id, gas): nobody honest relays it.
 */
export type TxOutcome = 'accepted' | 'refused' | 'unexecutable' | 'invalid';

export interface TxIntakeLimits {
  /** Transactions per second one peer may have validated, sustained (a token bucket). */
  perPeerRate: number;
  /** The bucket's size: a burst one peer may send at once. */
  perPeerBurst: number;
  /** One peer's transactions waiting to be validated; more are dropped (not relayed, no penalty). */
  perPeerQueue: number;
  /** Transactions validated at once, all peers together (each waits on a state read). */
  concurrency: number;
  /**
   * Refusals that are no one's fault in a minute, more than the peer's accepted ones, after which only one in
   * `sampleEvery` of its transactions is validated (the rest are dropped unread): a peer replaying
   * mined transactions or sending junk costs a counter, not a signature recovery and a state read.
   */
  throttleAfter: number;
  sampleEvery: number;
  /**
   * Faults ('invalid' or 'unexecutable') in a minute, more than the peer's accepted ones, after which
   * it is banned. An honest relayer checked what it relays against nearly the same state: it makes
   * such faults only when a block lands between its check and ours, a few a minute at most.
   */
  banAfter: number;
}

/**
 * Defaults sized for a network that carries hundreds of transactions a second: one peer (a validator
 * relaying everyone's transactions) may have 1,000 a second validated, far above what the pipeline
 * executes, while 50 faults in a minute is far beyond what block races make.
 */
export const DEFAULT_TX_INTAKE_LIMITS: TxIntakeLimits = {
  perPeerRate: 1_000,
  perPeerBurst: 2_000,
  perPeerQueue: 256,
  concurrency: 8,
  throttleAfter: 20,
  sampleEvery: 10,
  banAfter: 50,
};

const WINDOW_MS = 60_000;
/** Peers remembered at most (an attacker with fresh identities cannot grow memory). */
const MAX_PEERS = 1024;

interface Job {
  raw: Uint8Array;
  resolve(v: GossipVerdict): void;
  reject(err: unknown): void;
}

interface PeerState {
  id: PeerId;
  tokens: number;
  refilledAt: number;
  queue: Job[];
  /** Times of recent outcomes, at most banAfter + 1 of each (enough to decide). */
  accepted: number[];
  refused: number[];
  faults: number[];
  /** Transactions seen while throttled, to pick one in sampleEvery. */
  seen: number;
}

export interface TxIntakeOptions {
  /** Validate one transaction and add it to the pool; what it throws (a MessageError: undecodable) reaches the submitter. */
  validate(peer: PeerId, raw: Uint8Array): Promise<TxOutcome>;
  /** A peer past `banAfter` faults a minute: ban it (the caller disconnects it). */
  onBan(peer: PeerId, reason: string): void;
  /** Told of each transaction dropped unread or refused, with why: the rejected-messages metric. */
  onDrop?(reason: 'tx-rate' | 'tx-queue' | 'tx-throttled' | 'tx-invalid' | 'tx-unexecutable'): void;
  limits?: Partial<TxIntakeLimits>;
  now?: () => number;
}

/**
 * Gossiped transactions on their way to the pool, so that no peer can make a node spend its time on
 * transactions instead of consensus:
 * - each peer has a rate (token bucket) and a queue bound; past them its transactions are dropped
 *   before they are decoded;
 * - peers are served round-robin, `concurrency` at a time, each validation started from a fresh
 *   turn of the event loop (setImmediate): IBFT messages, which are handled as they arrive, never
 *   wait behind a peer's backlog of transactions;
 * - a peer whose transactions are mostly refused is throttled (one in `sampleEvery` validated), and
 *   one whose transactions are mostly faults is banned.
 * Memory is bounded: per peer, a queue of `perPeerQueue` and three short lists of times.
 */
export class TxIntake {
  private readonly limits: TxIntakeLimits;
  private readonly now: () => number;
  private readonly peers = new Map<string, PeerState>();
  /** Peers with queued transactions, in the order they are served. */
  private readonly ring: string[] = [];
  private running = 0;
  private stopped = false;

  constructor(private readonly opts: TxIntakeOptions) {
    this.limits = { ...DEFAULT_TX_INTAKE_LIMITS, ...opts.limits };
    this.now = opts.now ?? Date.now;
  }

  /** Queue `raw` from `peer`; resolves with what gossipsub should do with it. */
  submit(peer: PeerId, raw: Uint8Array): Promise<GossipVerdict> {
    if (this.stopped) return Promise.resolve('ignore');
    const p = this.state(peer);
    const t = this.now();
    p.tokens = Math.min(this.limits.perPeerBurst, p.tokens + ((t - p.refilledAt) / 1000) * this.limits.perPeerRate);
    p.refilledAt = t;
    if (this.throttled(p, t) && p.seen++ % this.limits.sampleEvery !== 0) return this.drop('tx-throttled');
    if (p.tokens < 1) return this.drop('tx-rate');
    if (p.queue.length >= this.limits.perPeerQueue) return this.drop('tx-queue');
    p.tokens -= 1;
    return new Promise<GossipVerdict>((resolve, reject) => {
      p.queue.push({ raw, resolve, reject });
      if (p.queue.length === 1) this.ring.push(p.id.toString());
      this.pump();
    });
  }

  /** Whether `peer` is throttled now (for status and tests). */
  isThrottled(peer: PeerId | string): boolean {
    const p = this.peers.get(peer.toString());
    return p !== undefined && this.throttled(p, this.now());
  }

  /** Forget a peer (it disconnected): its queued transactions are dropped. */
  forget(peer: PeerId | string): void {
    const id = peer.toString();
    const p = this.peers.get(id);
    if (p === undefined) return;
    this.peers.delete(id);
    for (const job of p.queue.splice(0)) job.resolve('ignore');
    const i = this.ring.indexOf(id);
    if (i >= 0) this.ring.splice(i, 1);
  }

  stop(): void {
    this.stopped = true;
    for (const id of [...this.peers.keys()]) this.forget(id);
  }

  private state(peer: PeerId): PeerState {
    const id = peer.toString();
    let p = this.peers.get(id);
    if (p === undefined) {
      p = { id: peer, tokens: this.limits.perPeerBurst, refilledAt: this.now(), queue: [], accepted: [], refused: [], faults: [], seen: 0 };
      this.peers.set(id, p);
      // The least recently added peer with nothing queued goes first.
      if (this.peers.size > MAX_PEERS) {
        for (const [other, s] of this.peers) {
          if (s.queue.length === 0) {
            this.peers.delete(other);
            break;
          }
        }
      }
    }
    return p;
  }

  private drop(reason: Parameters<NonNullable<TxIntakeOptions['onDrop']>>[0]): Promise<GossipVerdict> {
    this.opts.onDrop?.(reason);
    return Promise.resolve('ignore');
  }

  private throttled(p: PeerState, t: number): boolean {
    // Refusals that are no one's fault only: faults are counted in full towards a ban, not sampled.
    const refusals = recent(p.refused, t);
    return refusals > this.limits.throttleAfter && refusals > recent(p.accepted, t);
  }

  private pump(): void {
    while (this.running < this.limits.concurrency && this.ring.length > 0) {
      const id = this.ring.shift()!;
      const p = this.peers.get(id);
      const job = p?.queue.shift();
      if (p === undefined || job === undefined) continue;
      if (p.queue.length > 0) this.ring.push(id); // round-robin: its next one after the others'
      this.running++;
      setImmediate(() => void this.run(p, job));
    }
  }

  private async run(p: PeerState, job: Job): Promise<void> {
    try {
      const outcome: TxOutcome = this.stopped ? 'refused' : await this.opts.validate(p.id, job.raw);
      job.resolve(this.record(p, outcome));
    } catch (err) {
      job.reject(err);
    } finally {
      this.running--;
      this.pump();
    }
  }

  private record(p: PeerState, outcome: TxOutcome): GossipVerdict {
    const t = this.now();
    const cap = this.limits.banAfter + 1;
    const note = (list: number[]) => {
      list.push(t);
      if (list.length > cap) list.shift();
    };
    if (outcome === 'accepted') {
      note(p.accepted);
      return 'accept';
    }
    if (outcome === 'refused') {
      note(p.refused);
      return 'ignore';
    }
    note(p.faults);
    this.opts.onDrop?.(outcome === 'invalid' ? 'tx-invalid' : 'tx-unexecutable');
    const faults = recent(p.faults, t);
    if (faults > this.limits.banAfter && faults > recent(p.accepted, t) && this.peers.has(p.id.toString())) {
      this.forget(p.id);
      this.opts.onBan(p.id, `sent ${faults} transactions per minute that can never execute (last: ${outcome})`);
    }
    // An invalid one is rejected: gossipsub does not relay it, and counts it against the peer.
    return outcome === 'invalid' ? 'reject' : 'ignore';
  }
}

/** How many of `times` (ascending) fall within the last minute. */
function recent(times: number[], t: number): number {
  let i = 0;
  while (i < times.length && t - times[i]! >= WINDOW_MS) i++;
  if (i > 0) times.splice(0, i);
  return times.length;
}
