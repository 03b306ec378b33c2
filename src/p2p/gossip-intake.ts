import type { PeerId } from '@libp2p/interface';

/**
 * What gossipsub hands its RPC handler: the decoded RPC of one peer (subscriptions, messages, control).
 * Only `messages` is touched here.
 */
export interface GossipRpc {
  subscriptions?: unknown[];
  messages: unknown[];
  control?: unknown;
}

export type RpcHandler = (from: PeerId, rpc: GossipRpc) => Promise<void>;

export interface GossipIntakeLimits {
  /** Messages of one peer waiting for gossipsub; more are dropped unread (gossipsub never sees them). */
  perPeerQueue: number;
  /** Messages of one peer handed to gossipsub in one turn of the event loop. */
  perPeerSlice: number;
  /** Messages of all queued peers together handed to gossipsub in one turn of the event loop. */
  turnBudget: number;
  /** Bytes of one peer's messages waiting; more are dropped unread. */
  perPeerQueueBytes: number;
  /** Bytes of all peers' messages waiting; more are dropped unread. */
  totalQueueBytes: number;
  /** Bytes handed to gossipsub in one turn (at least one message is, whatever its size). */
  turnBytes: number;
  /**
   * Milliseconds of handling one turn may take: no further slice is handed over once they are spent
   * (at least one is). The handler's promise must settle when gossipsub is done with the messages
   * (`awaitRpcMessageHandler`), so that what is measured is what they cost.
   */
  turnMs: number;
  /**
   * How long a turn waits for gossipsub to be done with a slice before it moves on regardless (a
   * handler that never settles must not stop the intake; what it still does then is not measured).
   */
  sliceWaitMs: number;
}

/**
 * Sized for the 2-core reference machine: a new message costs gossipsub ~1.4 ms before Basalt sees it
 * (decoding the publisher's key, pure JS, and checking its signature), and a transaction as much again
 * in Basalt's checks (its sender's signature), so a turn ends after 10 ms of handling, handed over in
 * slices of 4 messages a peer: the event loop is held ~20 ms at most, and a peer's backlog of 512 is a
 * second or two of work. Large messages (an IBFT proposal may carry 4 MiB) cost by size (hashing ~4 ms
 * a MiB), so a turn hands over 1 MiB (or one message), and what waits is bounded in bytes: 16 MiB a
 * peer, 64 MiB in all.
 */
export const DEFAULT_GOSSIP_INTAKE_LIMITS: GossipIntakeLimits = {
  perPeerQueue: 512,
  perPeerSlice: 4,
  turnBudget: 64,
  perPeerQueueBytes: 16 * 1024 * 1024,
  totalQueueBytes: 64 * 1024 * 1024,
  turnBytes: 1024 * 1024,
  turnMs: 10,
  sliceWaitMs: 1_000,
};

interface PeerQueue {
  from: PeerId;
  messages: unknown[];
  bytes: number;
}

/** A gossipsub RPC message's size, as far as it costs: its data. */
const sizeOf = (m: unknown): number => (m as { data?: Uint8Array } | null)?.data?.length ?? 0;

/**
 * In front of gossipsub's RPC handler: validators first, everyone else's messages in turns.
 *
 * gossipsub takes every RPC it reads at once, and all of a burst's messages in one run of the event
 * loop: a peer flooding a topic held a validator for two seconds at a time (its publisher keys decoded
 * and signatures checked before Basalt's own checks could ban it), and the IBFT messages of the other
 * validators waited behind it, so rounds timed out. Here an RPC from a proven validator (`isPriority`)
 * goes to gossipsub as it arrives, as does the control part of every RPC (subscriptions, GRAFT, PRUNE,
 * IHAVE, IWANT: small, bounded by gossipsub's decode limits). The messages of every other peer wait in
 * a queue of their own (at most `perPeerQueue`; past it they are dropped unread and counted), and are
 * handed over round-robin, `perPeerSlice` per peer and at most `turnBudget` messages, `turnBytes` and
 * `turnMs` of handling per turn of the event loop, so that whatever arrives meanwhile (a validator's
 * vote, a block request, a timer) is handled between turns.
 */
export class GossipIntake {
  private readonly queues = new Map<string, PeerQueue>();
  private readonly limits: GossipIntakeLimits;
  private queuedBytes = 0;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly handle: RpcHandler,
    private readonly opts: {
      isPriority(peer: string): boolean;
      /**
       * Told of messages dropped unread: `count` in all, `ownBytes` of them because the peer's own
       * queue was full (the peer sent faster than its turns take; not when the queues of all peers
       * together were full, which may be someone else's doing).
       */
      onDrop?(peer: PeerId, count: number, ownBytes: number): void;
      limits?: Partial<GossipIntakeLimits>;
    },
  ) {
    this.limits = { ...DEFAULT_GOSSIP_INTAKE_LIMITS, ...opts.limits };
  }

  /** gossipsub's handleReceivedRpc, in its place. */
  submit(from: PeerId, rpc: GossipRpc): Promise<void> {
    const id = from.toString();
    const messages = rpc.messages ?? [];
    if (this.stopped || messages.length === 0 || this.opts.isPriority(id)) return this.handle(from, rpc);
    const control = (rpc.subscriptions?.length ?? 0) > 0 || rpc.control != null;
    const queued = control ? this.handle(from, { ...rpc, messages: [] }) : Promise.resolve();
    let q = this.queues.get(id);
    if (q === undefined) {
      q = { from, messages: [], bytes: 0 };
      this.queues.set(id, q);
    }
    let dropped = 0;
    let ownBytes = 0;
    for (const m of messages) {
      const size = sizeOf(m);
      if (q.messages.length >= this.limits.perPeerQueue || q.bytes + size > this.limits.perPeerQueueBytes) {
        dropped++;
        ownBytes += size;
        continue;
      }
      if (this.queuedBytes + size > this.limits.totalQueueBytes) {
        dropped++;
        continue;
      }
      q.messages.push(m);
      q.bytes += size;
      this.queuedBytes += size;
    }
    if (dropped > 0) this.opts.onDrop?.(from, dropped, ownBytes);
    if (q.messages.length === 0) this.queues.delete(id);
    this.schedule();
    return queued;
  }

  /** Messages of `peer` waiting (tests, metrics). */
  waiting(peer: PeerId | string): number {
    return this.queues.get(peer.toString())?.messages.length ?? 0;
  }

  /** Forget what a peer that left (or was banned) still had queued. */
  forget(peer: PeerId | string): void {
    const q = this.queues.get(peer.toString());
    if (q === undefined) return;
    this.queuedBytes -= q.bytes;
    this.queues.delete(peer.toString());
  }

  /** Bytes of messages waiting, all peers together. */
  get bytesWaiting(): number {
    return this.queuedBytes;
  }

  stop(): void {
    this.stopped = true;
    this.queues.clear();
    this.queuedBytes = 0;
  }

  private schedule(): void {
    if (this.scheduled || this.queues.size === 0) return;
    this.scheduled = true;
    setImmediate(() => void this.turn());
  }

  private readonly turn = async (): Promise<void> => {
    const started = performance.now();
    let budget = this.limits.turnBudget;
    let bytes = 0;
    try {
      // Round-robin: the first peer waiting gets a slice and goes to the back.
      while (!this.stopped && budget > 0 && bytes < this.limits.turnBytes && performance.now() - started < this.limits.turnMs) {
        const first = this.queues.entries().next();
        if (first.done === true) break;
        const [id, q] = first.value;
        let take = 0;
        let taken = 0;
        while (take < Math.min(this.limits.perPeerSlice, budget, q.messages.length)) {
          const size = sizeOf(q.messages[take]);
          if ((take > 0 || bytes > 0) && bytes + size > this.limits.turnBytes) break;
          bytes += size;
          taken += size;
          take++;
        }
        if (take === 0) break;
        const batch = q.messages.splice(0, take);
        q.bytes -= taken;
        this.queuedBytes -= taken;
        budget -= take;
        this.queues.delete(id);
        if (q.messages.length > 0) this.queues.set(id, q);
        await settledWithin(this.handle(q.from, { subscriptions: [], messages: batch }), this.limits.sliceWaitMs);
      }
    } finally {
      this.scheduled = false;
      this.schedule();
    }
  };
}

/** Wait for `p` to settle (either way), `ms` at most. */
function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([p.then(noop, noop), late]).finally(() => clearTimeout(timer));
}

function noop(): void {}
