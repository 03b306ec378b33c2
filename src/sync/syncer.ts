import { performance } from 'node:perf_hooks';
import type { Block, BlockHeader } from '@ethereumjs/block';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { IbftExtraError } from '../consensus/ibft/extra.js';
import { blockHash } from '../consensus/ibft/hash.js';
import type { BlockRules } from '../storage/block-store.js';
import type { PeerId } from '@libp2p/interface';
import type { ImportOutcome } from '../chain/chain.js';
import { BlockVerificationError, FutureBlockError, UnprovenHeadError, WritesPausedError } from '../chain/errors.js';
import { multiaddr } from '@multiformats/multiaddr';
import { addressKeyOf, type Host } from '../p2p/host.js';
import { MAX_BLOCKS_PER_REQUEST, MessageError } from '../p2p/messages.js';
import type { ReadyPeer } from '../p2p/peers.js';
import { OversizedMessageError, RequestTimeoutError } from '../p2p/streams.js';
import type { Logger } from '../util/log.js';
import { type AnswerSize, BLOCKS_TIMEOUT_MS, type PeerBlock, fetchBlocks, fetchHeadProof, slowAnswer } from './block-protocol.js';
import type { SyncProgress } from './sync-state.js';
import { errorMessage } from '../util/errors.js';
import { Semaphore } from '../util/mutex.js';
import { event } from '../util/events.js';

/** A peer that stalled is not asked again for this long while another peer is ahead. */
const STALL_MS = 30_000;
/** Where no other peer is ahead, a stalled peer is asked again once this long has passed since it stalled (a blip does not hold sync for STALL_MS). */
const ALONE_RETRY_MS = 5_000;
/** Times in a row a peer may fail to serve the head it claims (no answer, no blocks) before it is banned. */
const MAX_STRIKES = 3;
/**
 * A peer that has not proven a validator's key answers for the head it claims sooner and fewer times:
 * the proof is one block, the one it has just announced. Its claim never holds sealing, but three
 * 10 s timeouts let an identity announce false heads for half a minute and leave before its ban (and
 * come back as a new one): it is banned at its second unanswered proof, ~7 s after its first claim.
 */
export const STRANGER_PROOF_TIMEOUT_MS = 3_000;
const STRANGER_MAX_STRIKES = 2;
/**
 * A claim one block ahead is what every peer makes for a moment after a block is sealed, before this
 * node has imported its own copy: it is proven only if it is still ahead after this long.
 */
export const PROVE_DELAY_MS = 500;
/** How long an unproven claim holds a validator's sealing at most (a liar's claim then stops counting). */
export const CLAIM_PROOF_WAIT_MS = 5_000;
/**
 * Head proofs of peers that have not proven a validator's key made at once over the node: each takes in
 * a block of up to MAX_HEAD_PROOF_BYTES and decodes and hashes it, and one per peer let fresh identities,
 * each answering with a large block it did not announce (a strike, not a ban), have the node hold and
 * decode as many at once. Others wait their turn.
 */
export const MAX_STRANGER_PROOFS = 4;
/** The places of MAX_STRANGER_PROOFS the peers of one address (IPv4, or IPv6 /64) hold at once. */
const STRANGER_PROOFS_PER_ADDRESS = 2;
/**
 * At start-up (until sealing first resumes), how long the claims of peers at one address that are
 * neither validators nor kept (bootnodes, added) are waited for, from the first of their proofs sent:
 * identities coming and going from one address, each claiming a false head, hold a starting validator
 * this long in all; an honest full node at another address keeps its own wait.
 */
export const START_CLAIM_WAIT_MS = CLAIM_PROOF_WAIT_MS + STRANGER_PROOF_TIMEOUT_MS;
/**
 * A block from the future (FutureBlockError) is tried again after at most this long: sooner than its
 * time if this node's clock is being corrected meanwhile (PeerClock).
 */
export const FUTURE_RETRY_MS = 1_000;

/** While the node imports no block (WritesPausedError: the disk is almost full), sync tries again this often. */
export const WRITES_PAUSED_RETRY_MS = 2_000;
/** Blocks whose announcement time is remembered (by hash) for the clock samples. */
const MAX_ANNOUNCED = 256;
/** While blocks from the future are held, the warning is repeated at most this often. */
const FUTURE_WARN_EVERY_MS = 60_000;

/** What the syncer writes to: the chain's one import pipeline. */
export interface SyncTarget {
  /** The rules by height blocks are decoded with. */
  readonly rules: BlockRules;
  readonly genesisHash: Uint8Array;
  /** The local head (its header, where the target has one, gives the parent's timestamp for clock samples). */
  readonly head: { number: bigint; header?: BlockHeader };
  /** `bulk`: one of a batch, made durable with the rest of it (syncCommitted). */
  importBlock(block: Block, opts?: { bulk?: boolean }): Promise<ImportOutcome>;
  /** Make every block imported so far durable (Chain.syncCommitted). */
  syncCommitted(): Promise<void>;
  /**
   * A block just made (a peer announced it as its new head, right after its parent, `agoMs` ago by the
   * monotonic clock) passed verification, or all of it but its timestamp (FutureBlockError): a sample
   * of its proposer's clock for this node's PeerClock.
   */
  observeBlock?(header: BlockHeader, parent: BlockHeader, agoMs: number): void;
  /**
   * Throws BlockVerificationError unless a quorum of the current validator set sealed `header`: what
   * proves a peer's claimed head before the claim counts; UnprovenHeadError where its seals are well
   * formed but by keys this node does not know yet (the set changed since its head). Without it claims
   * count unproven.
   */
  verifyClaimedHead?(header: BlockHeader): void;
}

/** The peers the syncer reads: the PeerManager. */
export interface SyncPeers {
  peers(): ReadyPeer[];
  lowerHead(peer: PeerId, number: bigint): void;
  punish(peer: PeerId, reason: string): void;
  on(event: 'head', listener: (p: ReadyPeer) => void): unknown;
  off(event: 'head', listener: (p: ReadyPeer) => void): unknown;
  /** Whether `peer` proved it holds a current validator's key (only such a peer's unproven claim is waited for). */
  isValidator?(peer: PeerId): boolean;
  /** Whether `peer` is a validator, a bootnode or an added peer (counted by itself, not by its address). */
  isValidatorOrKept?(peer: PeerId): boolean;
}

export interface SyncerOptions {
  batch?: number;
  timeoutMs?: number;
}

/**
 * Catches the chain up with its peers: while a ready peer claims a higher head, ask the best one for
 * the next batch of blocks after the local head and hand each to Chain.importBlock (full
 * verification; a block that fails is not written). A peer that sends an invalid or malformed block
 * is banned; one that times out is set aside for a while and another is asked. It always starts from
 * the local head, so it resumes after a restart or a crash by itself.
 */
export class Syncer {
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly stalled = new Map<string, number>();
  private readonly strikes = new Map<string, number>();
  private starting?: bigint;
  /** The highest head each peer proved: served a header a quorum sealed, or blocks this node imported. */
  private readonly proven = new Map<string, bigint>();
  private readonly proving = new Set<string>();
  /** Peers whose head could not be proven by the keys known here (UnprovenHeadError), until when no proof is asked again. */
  private readonly unprovable = new Map<string, number>();
  private readonly proofs = new Set<Promise<void>>();
  /** Places of the proofs of peers not proven validators (MAX_STRANGER_PROOFS); their waits end at stop. */
  private readonly strangerProofs = new Semaphore(MAX_STRANGER_PROOFS, 1, { perGroup: STRANGER_PROOFS_PER_ADDRESS });
  /** When each peer's proof request in progress went out; absent while it waits for a place. */
  private readonly proofSentAt = new Map<string, number>();
  /** By address, for peers neither validators nor kept: when the first of their proofs went out (START_CLAIM_WAIT_MS). */
  private readonly addressFirstProof = new Map<string, number>();
  private readonly stopping = new AbortController();
  /** When each peer's current claim was first heard (how long it may hold sealing unproven). */
  private readonly claimed = new Map<string, { head: bigint; at: number }>();
  /**
   * When each block (by hash) was first announced by a peer following the chain live (its new head
   * right after the one it claimed before: not a head told in a handshake, which may be old), on the
   * monotonic clock.
   */
  private readonly announced = new Map<string, number>();
  /** Each peer's last claimed head, to tell a live announcement from a jump. */
  private readonly lastClaim = new Map<string, bigint>();
  /** A block from the future is held: no import before this (monotonic ms: a clock put right meanwhile may step back). */
  private heldUntil = 0;
  private heldTimer?: NodeJS.Timeout;
  private lastFutureWarn = -Infinity;
  private readonly batch: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly host: Host,
    private readonly chain: SyncTarget,
    private readonly peerSet: SyncPeers,
    private readonly log: Logger,
    opts: SyncerOptions = {},
  ) {
    this.batch = Math.min(opts.batch ?? MAX_BLOCKS_PER_REQUEST, MAX_BLOCKS_PER_REQUEST);
    this.timeoutMs = opts.timeoutMs ?? BLOCKS_TIMEOUT_MS;
  }

  private readonly onHead = (p: ReadyPeer) => {
    this.noteAnnouncement(p);
    this.scheduleProof(p);
    this.kick();
  };

  private noteAnnouncement(p: ReadyPeer): void {
    const id = p.id.toString();
    const prev = this.lastClaim.get(id);
    this.lastClaim.delete(id);
    this.lastClaim.set(id, p.head);
    if (this.lastClaim.size > 1024) this.lastClaim.delete(this.lastClaim.keys().next().value!);
    if (prev === undefined || p.head !== prev + 1n) return;
    const key = bytesToHex(p.headHash);
    if (this.announced.has(key)) return; // first heard counts: a late relayer cannot move it
    this.announced.set(key, performance.now());
    if (this.announced.size > MAX_ANNOUNCED) this.announced.delete(this.announced.keys().next().value!);
  }

  private timer?: NodeJS.Timeout;

  start(): void {
    this.peerSet.on('head', this.onHead);
    // Peers set aside for stalling become eligible again; an error may have ended a run.
    this.timer = setInterval(() => this.kick(), 5_000);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort(new Error('sync stopped'));
    clearInterval(this.timer);
    clearTimeout(this.heldTimer);
    this.peerSet.off('head', this.onHead);
    await this.running;
  }

  /** Look for work now (a peer told of a higher head). */
  kick(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.loop()
      .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'sync stopped by an error; retrying shortly'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Highest head a peer claims, and where this catch-up began, while behind by more than one block;
   * false otherwise (a follower fetching the block just announced is following, not syncing).
   */
  progress(): SyncProgress | false {
    const current = this.chain.head.number;
    let highest = current;
    // What peers proved, not what they claim: a claim alone would make a node report itself syncing forever.
    for (const p of this.peerSet.peers()) {
      const head = this.provenHead(p);
      if (head > highest) highest = head;
    }
    if (highest <= current + 1n) return false;
    return { startingBlock: this.starting ?? current, currentBlock: current, highestBlock: highest };
  }

  /** Resolves when the loop is idle and no claimed head is being checked (tests). */
  async idle(): Promise<void> {
    while (this.running !== undefined || this.proofs.size > 0) {
      if (this.running !== undefined) await this.running;
      await Promise.all([...this.proofs]);
    }
  }

  /**
   * The peer to ask: not set aside, ahead of the local head; the highest proven head first, and only
   * where no peer has proven a head above the local one, the highest claim (a claim alone would let a
   * peer announcing false heads be asked before an honest one), a claim whose proof came back unproven
   * (`unprovable`) only where no other peer is ahead. Where every peer ahead is set aside, those set
   * aside ALONE_RETRY_MS ago or more are asked (three failures in a row still ban).
   */
  private pickPeer(): ReadyPeer | undefined {
    const local = this.chain.head.number;
    const now = Date.now();
    const ahead = this.peerSet.peers().filter((p) => p.head > local);
    const until = (p: ReadyPeer) => this.stalled.get(p.id.toString()) ?? 0;
    let fresh = ahead.filter((p) => until(p) <= now);
    if (fresh.length === 0) fresh = ahead.filter((p) => until(p) - STALL_MS + ALONE_RETRY_MS <= now);
    const proven = fresh.filter((p) => this.provenHead(p) > local);
    const unprovable = (p: ReadyPeer) => this.unprovable.has(p.id.toString());
    const claims = fresh.some((p) => !unprovable(p)) ? fresh.filter((p) => !unprovable(p)) : fresh;
    const headOf = proven.length > 0 ? (p: ReadyPeer) => this.provenHead(p) : (p: ReadyPeer) => p.head;
    const pool = proven.length > 0 ? proven : claims;
    pool.sort((a, b) => (headOf(b) > headOf(a) ? 1 : headOf(b) < headOf(a) ? -1 : 0));
    return pool[0];
  }

  /**
   * Fetch the batch after the local head from the best peer and import it, while the next batch from
   * the same peer is already on its way (one batch ahead: serving and transfer overlap execution). A
   * peer that answers slowly (a part of the batch, at a pace at which the whole would not come within
   * the timeout) is set aside while another peer has proven the blocks after: one peer sending a block
   * a request just inside the timeout does not set the pace. Alone, it is still asked.
   */
  private async loop(): Promise<void> {
    let ahead: { from: bigint; peer: ReadyPeer; blocks: Promise<Batch> } | undefined;
    try {
      while (!this.stopped) {
        if (performance.now() < this.heldUntil) return; // a block from the future: heldTimer kicks again
        const local = this.chain.head.number;
        let peer: ReadyPeer | undefined;
        let pending: Promise<Batch>;
        if (ahead && ahead.from === local + 1n && this.peerSet.peers().includes(ahead.peer)) {
          ({ peer, blocks: pending } = ahead);
        } else {
          peer = this.pickPeer();
          if (!peer) {
            if (this.progress() === false) this.starting = undefined;
            return;
          }
          pending = this.fetch(peer, local + 1n);
        }
        ahead = undefined;
        this.starting ??= local;
        let blocks: PeerBlock[];
        let slow: boolean;
        try {
          ({ blocks, slow } = await pending);
        } catch (err) {
          if (this.stopped) return;
          if (err instanceof MessageError) this.peerSet.punish(peer.id, err.message);
          else this.setAside(peer, err as Error);
          continue;
        }
        if (blocks.length === 0) {
          // It does not have them (yet): forget its claim until it announces again.
          this.strike(peer, 'answered no blocks');
          continue;
        }
        const next = local + BigInt(blocks.length) + 1n;
        if (slow && this.servedElsewhere(peer, next)) {
          this.stall(peer);
          this.log.info({ peer: peer.id.toString(), blocks: blocks.length }, 'peer slow (part of a batch, near the timeout); asking another peer');
        }
        if (peer.head >= next && (this.stalled.get(peer.id.toString()) ?? 0) <= Date.now()) {
          ahead = { from: next, peer, blocks: this.fetch(peer, next) };
          ahead.blocks.catch(() => undefined); // handled when awaited; dropped if the batch before fails
        }
        if (!(await this.importAll(peer, blocks))) ahead = undefined;
      }
    } finally {
      ahead?.blocks.catch(() => undefined);
    }
  }

  /** The batch from `from` on: its blocks, and whether it came slowly (part of it, at a pace at which all of it would not have come within the timeout). */
  private async fetch(peer: ReadyPeer, from: bigint): Promise<Batch> {
    const left = peer.head - from + 1n;
    const count = Number(left < BigInt(this.batch) ? left : BigInt(this.batch));
    const began = performance.now();
    const answered: AnswerSize = { bytes: 0 };
    const blocks = await fetchBlocks(this.host, peer.id, this.chain.genesisHash, this.chain.rules, from, count, this.timeoutMs, undefined, answered);
    const ms = performance.now() - began;
    return { blocks, slow: blocks.length < count && slowAnswer(count, blocks.length, answered.bytes, ms, this.timeoutMs) };
  }

  /** Whether a peer other than `peer`, not set aside, has proven it holds block `next`. */
  private servedElsewhere(peer: ReadyPeer, next: bigint): boolean {
    const now = Date.now();
    return this.peerSet.peers().some((p) => p !== peer && (this.stalled.get(p.id.toString()) ?? 0) <= now && this.provenHead(p) >= next);
  }

  /**
   * Import the batch block by block; false when a block failed verification (the peer is punished).
   * All but the last in bulk: the last one's synced write makes the batch durable (LevelDB syncs its
   * log, the earlier writes with it) before the progress line, and before a validator acts on that
   * head; a batch that ends early is made durable as it ends.
   */
  private async importAll(peer: ReadyPeer, blocks: PeerBlock[]): Promise<boolean> {
    this.unsynced = false;
    let ok: boolean;
    try {
      ok = await this.importEach(peer, blocks);
    } catch (err) {
      await this.makeDurable().catch(() => undefined); // the import's own error is the one to report
      throw err;
    }
    // A stop closes the chain meanwhile: nothing here is reported then.
    await this.makeDurable().catch((err) => {
      if (!this.stopped) throw err;
    });
    return ok;
  }

  /** Whether the last block importEach committed went in bulk (not synced yet). */
  private unsynced = false;

  private async makeDurable(): Promise<void> {
    if (!this.unsynced) return;
    this.unsynced = false;
    await this.chain.syncCommitted();
  }

  /**
   * Each block's body is decoded in its turn, once the blocks before it are imported (PeerBlock): an
   * answer whose first block is forged costs one body, not 64; the node's other work runs between two.
   */
  private async importEach(peer: ReadyPeer, blocks: PeerBlock[]): Promise<boolean> {
    const id = peer.id.toString();
    for (const [i, { header }] of blocks.entries()) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.stopped) return false;
      const parent = this.chain.head.header;
      try {
        const block = blocks[i]!.block();
        const bulk = i < blocks.length - 1;
        if ((await this.chain.importBlock(block, { bulk })) === 'imported') this.unsynced = bulk;
        if (i === 0) this.strikes.delete(id); // it serves the chain: strikes are for not serving it
        if (header.number > (this.proven.get(id) ?? 0n)) this.setProven(id, header.number); // verified in full
        this.observe(header, parent);
        this.log.debug(event('block.imported', { number: Number(header.number) }), 'imported block');
      } catch (err) {
        if (err instanceof MessageError) {
          // Its body does not decode (its header did, with the ones before it).
          this.peerSet.punish(peer.id, err.message);
          return false;
        }
        if (err instanceof FutureBlockError) {
          // Valid but for a clock: this node's or its proposer's is wrong. Not the peer's fault.
          this.observe(header, parent);
          this.observeHeld(blocks.slice(i + 1), header);
          this.holdFuture(peer, err);
          return false;
        }
        if (err instanceof WritesPausedError) {
          // The disk is almost full: no peer's fault; fetched again later (the node logged why).
          this.hold(WRITES_PAUSED_RETRY_MS);
          return false;
        }
        if (err instanceof BlockVerificationError) {
          this.peerSet.punish(peer.id, `sent an invalid block: ${err.message}`);
          return false;
        }
        if (this.stopped) return false;
        throw err;
      }
    }
    const head = this.chain.head.number;
    if (blocks.length > 1 || peer.head - head > 1n)
      this.log.info(event('sync.progress', { head: Number(head), highest: Number(peer.head), peer: peer.id.toString() }), 'synced blocks');
    return true;
  }

  private observe(header: BlockHeader, parent: BlockHeader | undefined): void {
    const at = this.announced.get(bytesToHex(blockHash(header)));
    if (at !== undefined && parent !== undefined && this.chain.observeBlock) this.chain.observeBlock(header, parent, performance.now() - at);
  }

  /**
   * The blocks after one held for its timestamp are clock samples too (a node whose clock is behind
   * measures that from them before it can import them): each checked for a quorum's seals and its link
   * to the one before. Not imported now; a bad one ends the sampling (its peer answers for it when it
   * is imported).
   */
  private observeHeld(rest: PeerBlock[], held: BlockHeader): void {
    if (this.chain.verifyClaimedHead === undefined || this.chain.observeBlock === undefined) return;
    let prev = held;
    for (const b of rest) {
      if (!equalsBytes(b.header.parentHash, blockHash(prev))) return;
      if (this.announced.has(bytesToHex(blockHash(b.header)))) {
        try {
          this.chain.verifyClaimedHead(b.header);
        } catch {
          return;
        }
        this.observe(b.header, prev);
      }
      prev = b.header;
    }
  }

  /**
   * A block from the future: no import for a while (FUTURE_RETRY_MS at most, then it is tried again,
   * from whichever peer), and a warning, at most once a minute.
   */
  /** Fetch nothing for `wait` ms, then go on. */
  private hold(wait: number): void {
    this.heldUntil = performance.now() + wait;
    clearTimeout(this.heldTimer);
    this.heldTimer = setTimeout(() => this.kick(), wait);
    this.heldTimer.unref();
  }

  private holdFuture(peer: ReadyPeer, err: FutureBlockError): void {
    this.hold(Math.min(err.waitMs, FUTURE_RETRY_MS));
    const t = performance.now();
    const fields = { number: Number(err.blockNumber), aheadS: Number(err.timestamp - err.nowSeconds), peer: peer.id.toString() };
    if (t - this.lastFutureWarn >= FUTURE_WARN_EVERY_MS) {
      this.lastFutureWarn = t;
      this.log.warn(
        fields,
        `block from the future held: its timestamp is more than ${Number(err.allowedSeconds)} s ahead of this node's clock (is this node's clock behind?); tried again shortly, the peer is not at fault`,
      );
    } else {
      this.log.debug(fields, 'block from the future held');
    }
  }

  /**
   * The highest head a peer that is not set aside claims: what a validator must reach before it seals
   * (a stalled peer's claim does not hold sealing).
   */
  highestUsableHead(): bigint {
    const now = Date.now();
    let h = 0n;
    for (const p of this.peerSet.peers()) {
      const head = this.provenHead(p);
      if (head > h && (this.stalled.get(p.id.toString()) ?? 0) <= now) h = head;
    }
    return h;
  }

  /**
   * The part of a peer's claimed head it has proven (a claim is not a fact: a peer could announce heads
   * it never serves and hold every validator's sealing). Without a way to verify (no
   * verifyClaimedHead) the claim itself.
   */
  provenHead(p: ReadyPeer): bigint {
    if (this.chain.verifyClaimedHead === undefined) return p.head;
    const proven = this.proven.get(p.id.toString()) ?? 0n;
    return p.head < proven ? p.head : proven;
  }

  /**
   * The highest claim above `local + slack` that is not proven yet but young enough to be waited for
   * (CLAIM_PROOF_WAIT_MS): the sealing gate holds for it, undefined when there is none. A validator's
   * claim always; with `anyPeer` (a node that has not sealed since it started) any peer's.
   */
  pendingClaim(slack: bigint, anyPeer = false): bigint | undefined {
    if (this.chain.verifyClaimedHead === undefined) return undefined;
    const now = Date.now();
    const floor = this.chain.head.number + slack;
    let best: bigint | undefined;
    for (const p of this.peerSet.peers()) {
      if (p.head <= floor || this.provenHead(p) >= p.head) continue;
      // Only a validator's claim is waited for unproven: a validator catches up from the other
      // validators, and any other peer's claim counts once proven (fresh identities earn nothing).
      // At start-up (`anyPeer`) every peer's claim is waited for: a validator back from an old copy of
      // its data dir whose only peers are full nodes would otherwise seal on its stale head (a fork)
      // before the proof of their higher head came back.
      if (!anyPeer && this.peerSet.isValidator !== undefined && !this.peerSet.isValidator(p.id)) continue;
      const id = p.id.toString();
      const c = this.claimed.get(id);
      if (c === undefined || c.head !== p.head) continue;
      const group = this.strangerGroup(p);
      if (group === undefined || !this.proving.has(id)) {
        if (now - c.at >= CLAIM_PROOF_WAIT_MS) continue;
      } else {
        // A stranger's claim holds while its proof waits for a place or runs (CLAIM_PROOF_WAIT_MS from
        // when it went out: a proof queued behind liars' still counts), within its address's window.
        const first = this.addressFirstProof.get(group);
        if (first !== undefined && now - first >= START_CLAIM_WAIT_MS) continue;
        const sent = this.proofSentAt.get(id);
        if (sent !== undefined && now - sent >= CLAIM_PROOF_WAIT_MS) continue;
      }
      if (best === undefined || p.head > best) best = p.head;
    }
    return best;
  }

  private scheduleProof(p: ReadyPeer): void {
    if (this.chain.verifyClaimedHead === undefined || this.stopped) return;
    const id = p.id.toString();
    const before = this.claimed.get(id);
    if (before?.head !== p.head) {
      this.claimed.delete(id);
      // A claim raised before the last one was proven waits from the first: a peer raising its
      // claim every few seconds cannot hold sealing for ever.
      const unproven = before !== undefined && before.head > (this.proven.get(id) ?? 0n);
      this.claimed.set(id, { head: p.head, at: unproven ? before.at : Date.now() });
      if (this.claimed.size > 1024) this.claimed.delete(this.claimed.keys().next().value!);
    }
    if (p.head > this.chain.head.number + 1n) {
      this.prove(p);
      return;
    }
    const t = setTimeout(() => this.prove(p), PROVE_DELAY_MS);
    t.unref();
  }

  /**
   * Ask `p` for the block at the head it claims and check that a quorum of the validator set sealed it
   * (and that it is the block it announced): then the claim counts. A peer that does not serve it (no
   * block, no answer in time, a request it breaks off) is struck (three strikes: banned), one that
   * serves a block without a quorum of seals is banned. One sealed by keys this node does not know yet
   * (UnprovenHeadError: the validator set changed since its head) leaves the claim unproven, its peer
   * unpunished and not asked for a proof again for STALL_MS (blocks imported from it prove it). The
   * answer is one block of at most MAX_HEAD_PROOF_BYTES, its body decoded only once its header is
   * proven (one whose body does not decode is banned then); peers not proven validators are asked
   * MAX_STRANGER_PROOFS at a time over the node (proveInTurn).
   */
  private prove(p: ReadyPeer): void {
    const id = p.id.toString();
    const claim = p.head;
    if (this.stopped || claim <= this.chain.head.number || claim <= (this.proven.get(id) ?? 0n) || this.proving.has(id)) return;
    if (!this.peerSet.peers().includes(p) || (this.unprovable.get(id) ?? 0) > Date.now()) return;
    this.proving.add(id);
    const proof: Promise<void> = this.proveInTurn(p, claim)
      .catch((err: Error) => {
        if (!this.stopped) this.log.debug({ peer: id, err: err.message }, 'could not check the head a peer claims');
      })
      .finally(() => {
        this.proving.delete(id);
        this.proofs.delete(proof);
        if (p.head > claim) this.scheduleProof(p);
      });
    this.proofs.add(proof);
  }

  /**
   * prove's check, once a place is free: a peer that has not proven a validator's key waits for one of
   * the MAX_STRANGER_PROOFS (fresh identities cannot have the node take in and decode a block each at
   * once); a validator's proof does not wait behind theirs. Its time to answer starts once asked.
   */
  private async proveInTurn(p: ReadyPeer, claim: bigint): Promise<void> {
    const id = p.id.toString();
    const group = this.strangerGroup(p); // undefined for a kept peer: it takes a place, counted by itself
    const queued = this.peerSet.isValidator?.(p.id) !== true;
    // A free place is taken at once: the request then goes out now, as a validator's does. A place
    // given back goes to the address holding fewest (Semaphore): liars at one address hold at most
    // STRANGER_PROOFS_PER_ADDRESS, and an honest peer elsewhere is asked at once.
    if (queued && !this.strangerProofs.tryAcquire(id, group)) await this.strangerProofs.acquire(this.stopping.signal, id, group);
    try {
      // Meanwhile the peer may have left, changed its claim (proven in turn), or the node caught up.
      if (this.stopped || p.head !== claim || claim <= this.chain.head.number || !this.peerSet.peers().includes(p)) return;
      const sent = Date.now();
      this.proofSentAt.set(id, sent);
      if (group !== undefined && !this.addressFirstProof.has(group)) {
        if (this.addressFirstProof.size >= 4096) this.addressFirstProof.delete(this.addressFirstProof.keys().next().value!);
        this.addressFirstProof.set(group, sent);
      }
      await this.checkClaim(p, claim);
    } finally {
      this.proofSentAt.delete(id);
      if (queued) this.strangerProofs.release(id, group);
    }
  }

  /** The address a peer neither validator nor kept is counted by (addressKeyOf), undefined for the others. */
  private strangerGroup(p: ReadyPeer): string | undefined {
    if (this.peerSet.isValidator?.(p.id) === true || this.peerSet.isValidatorOrKept?.(p.id) === true) return undefined;
    // Parsed once a peer: the sealing gate asks about each unproven claim every 250 ms.
    const known = this.addressKeys.get(p);
    if (known !== undefined && known.address === p.address) return known.key;
    let key: string;
    try {
      key = addressKeyOf(multiaddr(p.address));
    } catch {
      key = p.address;
    }
    this.addressKeys.set(p, { address: p.address, key });
    return key;
  }
  /** Each ready peer's address key (strangerGroup), with the address it was read from. */
  private readonly addressKeys = new WeakMap<ReadyPeer, { address: string; key: string }>();

  private async checkClaim(p: ReadyPeer, claim: bigint): Promise<void> {
    const id = p.id.toString();
    const hash = p.headHash;
    const stranger = this.peerSet.isValidator !== undefined && !this.peerSet.isValidator(p.id);
    const timeoutMs = stranger ? Math.min(this.timeoutMs, STRANGER_PROOF_TIMEOUT_MS) : this.timeoutMs;
    const maxStrikes = stranger ? STRANGER_MAX_STRIKES : MAX_STRIKES;
    let block: PeerBlock | undefined;
    try {
      block = await fetchHeadProof(this.host, p.id, this.chain.genesisHash, this.chain.rules, claim, timeoutMs);
    } catch (err) {
      if (this.stopped) return;
      // Larger than a proposal can be: not a block of this chain as built now, but one sealed alone by
      // a release before the builder's 3 MiB bound may be: not read, a strike.
      if (err instanceof OversizedMessageError) this.strike(p, 'its head block is larger than a proposal can be', maxStrikes);
      else if (err instanceof MessageError) this.peerSet.punish(p.id, err.message);
      else if (err instanceof RequestTimeoutError) this.strike(p, 'did not serve the head it claims in time', maxStrikes);
      else this.strike(p, `did not serve the head it claims: ${errorMessage(err)}`, maxStrikes); // it reset or closed the stream
      return;
    }
    if (block === undefined) {
      this.strike(p, 'did not serve the head it claims', maxStrikes);
      return;
    }
    let served: Uint8Array;
    try {
      served = blockHash(block.header);
    } catch (err) {
      // Its IBFT extra data does not decode (too short, too long, wrong shape): no honest node's block.
      if (!(err instanceof IbftExtraError)) throw err;
      this.peerSet.punish(p.id, `claimed head ${claim} has malformed IBFT extra data: ${err.message}`);
      return;
    }
    if (!equalsBytes(served, hash)) {
      if (p.head === claim) this.strike(p, 'served another block than the head it announced', maxStrikes);
      return;
    }
    try {
      this.chain.verifyClaimedHead!(block.header);
    } catch (err) {
      if (err instanceof UnprovenHeadError) {
        if (this.unprovable.size > 1024) this.unprovable.clear(); // peers that left; bounded
        this.unprovable.set(id, Date.now() + STALL_MS);
        this.log.debug({ peer: id, err: err.message }, 'the head a peer claims is sealed by keys not known here yet');
        // A strike that keeps the claim (block sync proves an honest one, and an imported batch
        // clears it): the set the seals are weighed against is the one the header itself lists.
        this.strike(p, `claimed head ${claim} is sealed by keys not known here`, maxStrikes, false);
        return;
      }
      if (!(err instanceof BlockVerificationError)) throw err;
      this.peerSet.punish(p.id, `claimed head ${claim} is not sealed by a quorum of the validator set: ${err.message}`);
      return;
    }
    // Its body, decoded once its header is proven (a forged header's never is): the peer serves the whole block.
    try {
      block.block();
    } catch (err) {
      if (!(err instanceof MessageError)) throw err;
      this.peerSet.punish(p.id, err.message);
      return;
    }
    if (claim > (this.proven.get(id) ?? 0n)) this.setProven(id, claim);
    this.kick();
  }

  private setProven(id: string, head: bigint): void {
    if ((this.claimed.get(id)?.head ?? 0n) <= head) this.unprovable.delete(id); // its claim is proven
    this.proven.delete(id);
    this.proven.set(id, head);
    if (this.proven.size > 1024) this.proven.delete(this.proven.keys().next().value!); // peers that left; bounded
  }

  /**
   * The peer did not serve the head it claims: forget the claim (unless `dropClaim` is false); a peer
   * that keeps doing so is banned. A peer whose claim could not be proven (`unprovable`) is banned as a
   * stranger is, the second time.
   */
  private strike(peer: ReadyPeer, what: string, maxStrikes = MAX_STRIKES, dropClaim = true): void {
    const id = peer.id.toString();
    const n = (this.strikes.get(id) ?? 0) + 1;
    if (this.strikes.size > 1024) this.strikes.clear(); // peers that left; bounded
    if (this.unprovable.has(id)) maxStrikes = Math.min(maxStrikes, STRANGER_MAX_STRIKES);
    if (dropClaim) this.peerSet.lowerHead(peer.id, this.chain.head.number);
    if (n >= maxStrikes) {
      this.strikes.delete(id);
      this.peerSet.punish(peer.id, `claims blocks it does not serve (${what}, ${n} times in a row)`);
    } else {
      this.strikes.set(id, n);
    }
  }

  /** Ask `peer` for no blocks for STALL_MS. */
  private stall(peer: ReadyPeer): void {
    if (this.stalled.size > 1024) this.stalled.clear();
    this.stalled.set(peer.id.toString(), Date.now() + STALL_MS);
  }

  private setAside(peer: ReadyPeer, err: Error): void {
    this.stall(peer);
    this.strike(peer, err instanceof RequestTimeoutError ? 'no answer in time' : 'request failed');
    const what = err instanceof RequestTimeoutError ? 'peer stalled' : 'block request failed';
    this.log.info({ peer: peer.id.toString(), err: err.message }, `${what}; asking another peer`);
  }
}

/** A batch of blocks from a peer, and whether it came slowly (Syncer.fetch). */
interface Batch {
  blocks: PeerBlock[];
  slow: boolean;
}
