import { createBlockFromRLP, type Block, type BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { blockWithHeader, headerOpts, headerWithExtraData } from '../../../chain/block-util.js';
import { privateKeyToAddress } from '../../../keys/address.js';
import { recoverAddress } from '../../../util/secp256k1.js';
import { silentLogger, type Logger } from '../../../util/log.js';
import { headerExtra } from '../extra.js';
import { blockHash, committedSealHash, proposerSealHash } from '../hash.js';
import { committedSeal, withCommittedSeals } from '../seal.js';
import { QuorumRule, maxFaulty, nextProposer, validatorIndex } from '../validators.js';
import { randomBytes } from 'node:crypto';
import { MAX_FUTURE_SECONDS } from '../../../chain/errors.js';
import { MAX_MESSAGE_BYTES, MessageError, MessageType, type Body, type PreparedCert } from './messages.js';
import { MAX_RECALL_MESSAGES, RECALL_NONCE_BYTES, openRecallAnswer, openRecallRequest, signRecallAnswer, signRecallRequest } from './recall.js';
import { checkBlockRlp } from '../../../util/rlp-bounds.js';
import { checkPreparedBlock } from './prepared-block.js';
import { OneShotTimer, realTimers, roundTimeoutMs, type Timers } from './round-timer.js';
import { NOTHING_SIGNED, journalForbids, lockOf, setDigest, signedUpTo, type SignedState, type SignedStore } from './sign-journal.js';
import { openMessage, signOwn, type Signed } from './signing.js';
import { HeightState, RoundMessages, type CommitMsg, type Justification, type PrepareMsg, type Prepared, type Proposal, type RoundChangeMsg } from './state.js';
import { errorMessage } from '../../../util/errors.js';
import { event } from '../../../util/events.js';
import { blockBytes } from '../../../util/tx-bytes.js';

/** Sends a message to every other validator (gossip). The core handles its own messages itself. */
export interface Transport {
  broadcast(msg: Uint8Array): void;
}

/** The chain as consensus sees it. */
export interface Backend {
  /** A block for `height` on the current head, carrying this validator's proposer seal. */
  buildProposal(height: bigint, round: number): Promise<Block>;
  /**
   * Whether a proposal is valid on the current head (header rules and execution). `roundTimeoutMs`: how
   * long the proposal's round lasts (its check need not outlast it; rounds grow, so a check a loaded
   * validator could not finish in one round fits a later one).
   */
  verifyProposal(block: Block, opts?: { roundTimeoutMs: number }): Promise<boolean>;
  /** A block with a quorum of committed seals: import it (the head then moves). */
  onCommit(block: Block): Promise<void>;
  /**
   * The validators that decide `height`, or undefined where that is not known yet: the set after a
   * block not decided yet (the one after the head's next, unless the genesis file changes the set
   * there). The head's next height's is always known.
   */
  validators(height: bigint): Uint8Array[] | undefined;
  /**
   * Where `validators(height)` is not known (the height after the head's next): candidates a vote in
   * the head's next block could add, whose messages for `height` are kept too (none if absent).
   */
  joining?(height: bigint): Uint8Array[];
  /**
   * Milliseconds since the epoch: the time block timestamps are taken from and compared with (a
   * node's PeerClock: its own clock, or its peers' time while its own is skewed). Only for
   * timestamps: durations are measured with the monotonic Timers.now.
   */
  now(): number;
  /**
   * The peers' time as measured (this node's clock corrected by its measured offset from theirs,
   * even within the tolerance), or undefined until measured. Without it, now() is taken as right.
   */
  peersTime?(): number | undefined;
  /**
   * A proposal another validator just made arrived `agoMs` ago (monotonic; checked as the round's
   * proposer's, not yet executed): a sample of its clock.
   */
  observeProposal?(header: BlockHeader, agoMs: number): void;
  /** The current head: the next height builds on it. Its proposer is undefined for genesis. */
  head(): { number: bigint; proposer: Uint8Array | undefined; timestampMs: number };
}

export interface CoreOptions {
  key: Uint8Array;
  backend: Backend;
  transport: Transport;
  store: SignedStore;
  /** The rules (hardforks) of a height: blocks are decoded under their own height's. */
  commonAt(height: bigint): Common;
  blockTimeMs: number;
  /** The chain's quorum rule by height (default: the optimal quorum ceil(2N/3) throughout). */
  quorum?: QuorumRule;
  /** Round r lasts baseTimeoutMs * 2^r, at most maxTimeoutMs. */
  baseTimeoutMs?: number;
  maxTimeoutMs?: number;
  maxMessageBytes?: number;
  timers?: Timers;
  logger?: Logger;
  /**
   * Ask the other validators which messages signed by this key they hold (recall.ts): `request` goes
   * to every peer; their answers come back through onRecallAnswer. Without it this validator cannot
   * learn what its key signed before this process started, and sits out each height it is not sure of.
   */
  recall?(request: Uint8Array): void;
}

/** How often a validator still unsure of what its key signed at a height asks again. */
export const RECALL_RETRY_MS = 1_000;
/** Largest recall answer read: a round's proposal and a few small messages. */
export const MAX_RECALL_ANSWER_BYTES = MAX_MESSAGE_BYTES + 64 * 1024;

/** Rounds beyond the current one that messages are kept for (a byzantine validator cannot fill memory). */
export const MAX_ROUNDS_AHEAD = 32;
/** Messages for the next height kept from each validator until this node gets there. */
export const MAX_FUTURE_PER_VALIDATOR = 64;
/**
 * Bytes of them kept from each validator: a proposal of the largest size gossip carries (4 MiB) and
 * the validator's votes. What does not fit comes again: a validator sends its round's messages again
 * every base timeout.
 */
export const MAX_FUTURE_BYTES_PER_VALIDATOR = 5 * 1024 * 1024;
/** Messages waiting to be handled; more are dropped. */
export const MAX_PENDING = 4096;
/** A message this small is a vote (PREPARE, COMMIT, a ROUND-CHANGE without a certificate: a few hundred bytes). */
export const SMALL_MESSAGE_BYTES = 1024;
/**
 * Larger messages (proposals, certificates, recall answers) waiting to be handled: at most this many
 * and MAX_PENDING_BYTES in all; more are dropped. The rest of MAX_PENDING is kept for votes, so a flood
 * of large messages never shuts out the PREPAREs and COMMITs that decide a height.
 */
export const MAX_PENDING_LARGE = 1024;
export const MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** The most a block's timestamp may be ahead of Backend.now(): further ahead, a proposal is held until it is within (dropped if its round would end first). */
export const MAX_FUTURE_MS = Number(MAX_FUTURE_SECONDS) * 1000;
/** A held proposal's proposer is named in a warning at most this often. */
const HOLD_WARN_EVERY_MS = 60_000;

/**
 * The IBFT state machine (Polygon SDK's go-ibft protocol) for one validator. Per height, rounds:
 * the round's proposer (round robin after the last block's proposer) sends PREPREPARE; validators
 * PREPARE its hash; with a quorum Q of PREPAREs they COMMIT with a committed seal; Q COMMITs finish the
 * height (onCommit). Q is the chain's quorum rule at the height: ceil(2N/3), so that any two quorums
 * share an honest validator for every N. A round that does not finish in time ends in ROUND-CHANGE,
 * carrying the latest prepared certificate; the next proposer needs Q of them and must re-propose the highest
 * prepared value. Every PREPARE and COMMIT (and a ROUND-CHANGE for a later round) is journaled (SignedStore) before it is sent, and nothing
 * conflicting with the journal is signed. All work runs one task at a time.
 */
export class IbftCore {
  readonly address: Uint8Array;
  private st?: HeightState;
  private signed?: SignedState;
  /** A value released at restart for an emergency set change: no lock on it is learned again (adopt). */
  private released?: { height: bigint; hash: Uint8Array };
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  /** Of the tasks pending, the messages larger than SMALL_MESSAGE_BYTES, and their bytes. */
  private pendingLarge = 0;
  private pendingBytes = 0;
  private stopped = true;
  private future: { bytes: Uint8Array; bare: Uint8Array; sender: Uint8Array; receivedAt: number }[] = [];
  /** Signatures of the messages this process sent at the current height: never "learned" back from others. */
  private ownSigs = new Set<string>();
  /** What this validator sent in the round in progress: sent again every base timeout (resend). */
  private ownRound?: { st: HeightState; round: number; msgs: Uint8Array[] };
  /** This validator's own messages found inside certificates, journaled before the next signature. */
  private ownSeen: Signed[] = [];
  /** What is kept for the next height from each validator: messages, bytes, and the rounds of its proposals. */
  private readonly futureBySender = new Map<string, { count: number; bytes: number; proposals: Set<number> }>();
  /** The signatures of the messages kept for the next height: a copy replayed (by anyone) takes no place of its signer's. */
  private readonly futureSignatures = new Set<string>();
  private readonly roundTimer: OneShotTimer;
  private readonly proposeTimer: OneShotTimer;
  private readonly resendTimer: OneShotTimer;
  private readonly recallTimer: OneShotTimer;
  /** A proposal from the future, handled again once its timestamp is within MAX_FUTURE_MS of now(). */
  private readonly holdTimer: OneShotTimer;
  /** The height and round of the proposal held (holdTimer), until it is handled again. */
  private held?: { st: HeightState; round: number };
  /** When the round in progress times out (monotonic ms; set by startRound, which a node outside the set or refusing to sign never calls). */
  private roundEnds?: { st: HeightState; round: number; at: number };
  /** When each proposer whose proposal was held was last warned of (monotonic ms). */
  private readonly holdWarned = new Map<string, number>();
  private readonly timers: Timers;
  /** When this node began the height being decided (monotonic ms). */
  private heightStartedAt = 0;
  /**
   * Sub-second block times: when this height's proposal is due (monotonic ms), a block time after the
   * previous height's was, and never before this height began (so a slow height is followed by one
   * block at once, not by a burst catching up).
   */
  private proposalDueAt = 0;
  /**
   * Until a block proposed after this process started is committed, this validator cannot know from
   * its journal alone what its key signed at the height being decided (the data dir may be a restored
   * snapshot or an old copy, and the key's lost self may have signed there): it learns that from a
   * quorum of validators (recall) before it signs at each such height. `startedAt` is this process's
   * start on the monotonic clock; the guard is lifted by a block whose timestamp is MAX_FUTURE_MS after
   * that moment in the peers' time (proposedSinceStart). Undefined once lifted.
   *
   * `journalAbsent`: the store held no journal when this process began. A key made here gets one from
   * its first day (NOTHING_SIGNED, written with it), so an absent journal marks a data dir restored
   * from a backup or copied without its consensus/ folder (or keys made by an earlier release that
   * never signed). `untilCommitted`, decided at the first height started: the journal was absent and
   * the chain past genesis. Then recall cannot lift the guard. A validator that answers nothing (a
   * byzantine one saying it holds nothing, or an honest one the lost self's messages never reached: a
   * byzantine relay) looks the same as one that truly holds nothing, so no count of answers shows what
   * the lost self signed; only the time rule does. A journal that exists is this data dir's own, so a
   * normal restart still recalls; at genesis a new network's validators would all wait for each other.
   */
  private guard: { startedAt: number; journalAbsent: boolean; untilCommitted?: boolean } | undefined;
  /** Whether the key was in the set at the last height started (undefined before the first): leaving it, and coming back, are logged. */
  private member?: boolean;
  /**
   * Set once a message of this key reached this node that this process did not sign while its journal
   * was complete (after the start guard): another process holds the key. From then on this validator
   * signs nothing (refusal), for good in this process: two instances of one key double-sign.
   */
  private twin?: string;
  /**
   * The store held no journal when this process began (guard.journalAbsent, kept once the guard is
   * lifted). The node holds a validator that alone makes the quorum until it has caught up with a
   * peer: nobody else can tell it what its lost self sealed (node.ts, journalHold).
   */
  readonly startedWithoutJournal: boolean;
  /** Whether the wait of a validator started without its journal (guard.untilCommitted) was logged. */
  private restoredWaitLogged = false;
  /** The refusal last logged (once per roll-back, not once per height). */
  private refusedLogged?: string;
  private readonly log: Logger;
  private readonly baseTimeoutMs: number;
  private readonly maxTimeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly opts: CoreOptions) {
    this.address = privateKeyToAddress(opts.key);
    const timers = opts.timers ?? realTimers;
    this.timers = timers;
    this.roundTimer = new OneShotTimer(timers);
    this.proposeTimer = new OneShotTimer(timers);
    this.resendTimer = new OneShotTimer(timers);
    this.recallTimer = new OneShotTimer(timers);
    this.holdTimer = new OneShotTimer(timers);
    this.log = opts.logger ?? silentLogger();
    this.baseTimeoutMs = opts.baseTimeoutMs ?? 10_000;
    this.maxTimeoutMs = opts.maxTimeoutMs ?? 300_000;
    this.maxBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.signed = opts.store.load();
    this.startedWithoutJournal = this.signed === undefined;
    this.guard = { startedAt: timers.now(), journalAbsent: this.startedWithoutJournal };
  }

  /** The height being decided and its round (undefined before start). */
  get position(): { height: bigint; round: number } | undefined {
    return this.st && { height: this.st.height, round: this.st.round };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.enqueue(() => this.startHeight());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.roundTimer.stop();
    this.proposeTimer.stop();
    this.resendTimer.stop();
    this.recallTimer.stop();
    this.holdTimer.stop();
    await this.tail;
  }

  /** Resolves when every task queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }

  /**
   * The chain's head moved (a block imported by sync while this validator missed the round): leave
   * the height being decided for the next one. A no-op when the core is already there.
   */
  headChanged(): void {
    if (this.stopped) return;
    this.enqueue(() => this.nextHeightIfDue());
  }

  private async nextHeightIfDue(): Promise<void> {
    const st = this.st;
    if (st === undefined || st.done || this.opts.backend.head().number + 1n > st.height) await this.startHeight();
  }

  /** A message from the network. Malformed, forged, late or unwanted ones are dropped. */
  onMessage(bytes: Uint8Array): void {
    if (!this.admits(bytes.length)) return;
    const receivedAt = this.timers.now();
    this.enqueue(() => this.handle(bytes, receivedAt), bytes.length);
  }

  /** Whether a message of `size` bytes may wait in the queue (MAX_PENDING; a large one, MAX_PENDING_LARGE and MAX_PENDING_BYTES too). */
  private admits(size: number): boolean {
    if (this.stopped || this.pending >= MAX_PENDING) return false;
    return size <= SMALL_MESSAGE_BYTES || (this.pendingLarge < MAX_PENDING_LARGE && this.pendingBytes + size <= MAX_PENDING_BYTES);
  }

  /** What the height being decided holds: rounds with messages kept, and distinct blocks (bounded however long it lasts). */
  get retained(): { rounds: number; blocks: number } | undefined {
    return this.st?.retained();
  }

  /** What is kept for the next height (keepForNextHeight): messages and their bytes. */
  get keptForNextHeight(): { messages: number; bytes: number } {
    return { messages: this.future.length, bytes: this.future.reduce((n, f) => n + f.bytes.length, 0) };
  }

  /** Whether this validator is still learning what its key signed at the current height (signing nothing). */
  get watching(): boolean {
    return this.st?.watch !== undefined;
  }

  /**
   * A recall answer (recall.ts) from a peer: messages of this validator's key that another validator
   * holds. Adopted into the journal; with a quorum of answers the validator takes part.
   */
  onRecallAnswer(bytes: Uint8Array): void {
    if (!this.admits(bytes.length)) return;
    this.enqueue(() => this.recallAnswered(bytes), bytes.length);
  }

  /**
   * Answer another validator's recall request: the messages signed by it that this node holds for the
   * height (its own and those inside certificates), signed with this validator's key. Undefined when
   * the request does not parse (a MessageError is thrown: the asker broke the protocol).
   */
  answerRecall(request: Uint8Array): Uint8Array {
    const r = openRecallRequest(request);
    const st = this.st;
    const key = bytesToHex(r.requester);
    let held: Uint8Array[] = [];
    if (st !== undefined && st.height === r.height) held = st.heldFrom(key);
    else if (st !== undefined && st.height + 1n === r.height) held = this.future.filter((f) => bytesToHex(f.sender) === key).map((f) => f.bare);
    return signRecallAnswer(r, held.slice(-MAX_RECALL_MESSAGES), this.opts.key);
  }

  /** Queue `task`; `size`: the bytes of the message it handles (counted against MAX_PENDING_BYTES until it runs). */
  private enqueue(task: () => Promise<void>, size = 0): void {
    const large = size > SMALL_MESSAGE_BYTES;
    this.pending++;
    if (large) {
      this.pendingLarge++;
      this.pendingBytes += size;
    }
    this.tail = this.tail
      .then(async () => {
        this.pending--;
        if (large) {
          this.pendingLarge--;
          this.pendingBytes -= size;
        }
        if (!this.stopped) await task();
      })
      .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'consensus task failed'));
  }

  // ---- heights and rounds ----

  private async startHeight(): Promise<void> {
    const head = this.opts.backend.head();
    const height = head.number + 1n;
    const validators = this.opts.backend.validators(height);
    if (validators === undefined) throw new Error(`the validator set of block ${height}, the head's next, is not known`);
    this.ownSigs.clear();
    const st = new HeightState(height, validators, (this.opts.quorum ?? QuorumRule.OPTIMAL).at(height, validators.length));
    this.st = st;
    this.heightStartedAt = this.timers.now();
    this.proposalDueAt = this.proposalDueAt === 0 ? this.heightStartedAt : Math.max(this.proposalDueAt + this.opts.blockTimeMs, this.heightStartedAt);
    this.holdTimer.stop();
    const j = this.signed;
    if (j !== undefined && j.height === height) {
      // Restarted mid-height: resume at the journaled round with the journaled prepared value.
      st.round = j.round;
      if (j.prepared) {
        const { round, hash, prepares, block } = j.prepared;
        if (this.preparedBy(st, { round, hash, prepares })) {
          st.prepared = { cert: { round, hash, prepares }, block: this.decodeBlock(block, height) };
        } else {
          // The height's validator set is not the one that prepared this value: an emergency change in
          // the genesis file (the operators' decision, made after the head) replaced it. No validator of
          // this set accepts that certificate, or the block it locks (its header names the old set), so
          // holding on to it would halt the height for good. The rounds and values this key signed
          // stay journaled: it still never signs another value in a round it signed in.
          this.signed = { ...j, prepared: undefined };
          // and no lock on it is learned again from its own old messages (adopt)
          this.released = { height, hash };
          this.log.warn(
            { height: Number(height), round, hash: bytesToHex(hash) },
            'the value this validator prepared at this height was prepared by another validator set (an emergency change in the genesis file): released',
          );
        }
      }
      // A lock learned under another validator set (an emergency change since) is released too: the
      // value it names was certified, if at all, by a set that no longer decides this height.
      const lock = this.signed?.lock;
      if (lock !== undefined && !equalsBytes(lock.set, setDigest(st.validators))) {
        const { lock: _released, ...rest } = this.signed!;
        this.signed = rest;
        this.released = { height, hash: lock.hash };
        this.log.warn(
          { height: Number(height), round: lock.round, hash: bytesToHex(lock.hash) },
          'the value this validator learned it was locked on at this height was locked under another validator set (an emergency change in the genesis file): released',
        );
      }
      // The proposer of that round that signed a proposal it no longer holds cannot propose it again,
      // and may not propose another there: it asks for the next round at once instead of waiting it out.
      const holds = st.prepared !== undefined && equalsBytes(st.prepared.cert.hash, j.hash);
      if (j.kind !== 'commit' && !holds && equalsBytes(this.proposerFor(st, j.round), this.address)) st.round = j.round + 1;
    }
    // A key outside the set (not voted in yet, or voted out) proposes and signs nothing; it follows the
    // chain and takes part from the first height whose set holds it.
    const member = validatorIndex(validators, this.address) >= 0;
    // Checked at heights outside the set too: a key following the chain lifts the guard there.
    const g = this.guard;
    if (g !== undefined && this.proposedSinceStart(head.timestampMs)) {
      this.guard = undefined;
      this.log.debug({ height: Number(height) }, 'a block proposed after this process started is committed: the sign journal is complete from here');
      // Complete, and this data dir's own from here: a restart now is a normal one (it recalls).
      if (this.signed === undefined) {
        await this.opts.store.save(NOTHING_SIGNED);
        this.signed = NOTHING_SIGNED;
      }
    } else if (g !== undefined && g.untilCommitted !== true) {
      // Also for a key outside the set: its lost self may have been voted in since the backup. Decided
      // again at each height until it holds: a restored data dir may start at the genesis (a full sync
      // from peers that came late) and reach the network's head. Only a new network at its genesis
      // recalls without a journal (keys of an earlier release, which wrote none; past block 1 they wait
      // too, so such a network needs --seal-without-journal once, as the restored-wait line says).
      g.untilCommitted = g.journalAbsent && head.number > 0n;
    }
    const fields = { height: Number(height), validators: validators.length };
    if (member && this.member === false) this.log.info(event('validator.in-set', fields), `this key is in the validator set of block ${height}: taking part`);
    if (!member && this.member !== false) {
      this.log.info(
        event('validator.outside-set', fields),
        `this key is not in the validator set of block ${height}: not proposing or signing until it is voted in`,
      );
    }
    this.member = member;
    if (!member) {
      st.refused = `this key is not in the validator set of block ${height}`;
      return;
    }
    st.refused = this.refusal(height, validators.length);
    if (st.refused !== undefined) {
      if (this.refusedLogged !== st.refused) {
        this.refusedLogged = st.refused;
        this.log.error({ head: Number(height - 1n), signed: Number(signedUpTo(j!)) }, st.refused);
      }
      return;
    }
    if (this.guard !== undefined && st.quorum > 1) {
      st.watch = { nonce: randomBytes(RECALL_NONCE_BYTES), answered: new Set([bytesToHex(this.address)]) };
      this.log.info(
        event('consensus.recall-started', { height: Number(height), quorum: st.quorum }),
        'learning from the other validators what this key signed at this height before signing (recall)',
      );
      if (this.guard.untilCommitted === true && !this.restoredWaitLogged) {
        this.restoredWaitLogged = true;
        const reason =
          "its sign journal is absent (a restored data dir): it signs nothing until the other validators commit a block proposed after this start, so it cannot sign against what its lost self signed; if they cannot make a quorum without it (every validator restored, or two validators), start it once with --seal-without-journal HEAD (this node's head block) after making sure the original is stopped and its key signed nothing above it";
        this.log.warn(event('consensus.restored-wait', { height: Number(height), reason }), `this validator waits: ${reason}`);
      }
      this.askRecall(st);
    }
    await this.startRound(st, st.round);
    const future = this.future;
    this.future = [];
    this.futureBySender.clear();
    this.futureSignatures.clear();
    for (const f of future) await this.handle(f.bytes, f.receivedAt);
  }

  /**
   * Why this validator may sign nothing at `height`, or undefined: its journal shows it signed at a
   * later height (or, from a record of an earlier version, at this one or later), so the chain here
   * was rolled back below what it signed. Signing again there could sign a second block at a height.
   */
  private refusal(height: bigint, validators: number): string | undefined {
    if (this.twin !== undefined) return this.twin;
    const j = this.signed;
    if (j === undefined || !journalForbids(j, height)) return undefined;
    const at = signedUpTo(j);
    const what = at === j.height && j.kind !== 'roundChange' ? `block ${at} (${bytesToHex(j.hash)})` : `block ${at}`;
    const then =
      validators > 1
        ? `it signs again once the chain passes block ${at} (synced from the other validators)`
        : `sealing stopped (the node keeps serving). Restore this data dir from a snapshot taken at or after block ${at} (\`basalt restore\`)`;
    return `refusing to seal: this validator already signed ${what}, and block ${height} is at or below it: the chain was rolled back; ${then}`;
  }

  /** Rounds moved past without a decision, since this core was made (basalt_ibft_round_changes_total). */
  roundChanges = 0;

  /** The highest height this key's sign journal holds (undefined: it signed nothing yet). */
  get signedHeight(): bigint | undefined {
    return this.signed === undefined ? undefined : signedUpTo(this.signed);
  }

  /** Why this validator signs nothing now (its key is outside the set, or its chain was rolled back below what it signed), or undefined. */
  get refused(): string | undefined {
    return this.st?.refused;
  }

  /**
   * Whether a block with this timestamp was proposed after this process started: its timestamp is
   * more than a proposer's clock may run ahead past the start, in the peers' time (the start placed
   * there by the monotonic time elapsed since). Not before this node's clock is measured against the
   * peers': one 10 s behind would otherwise take a block from 10 s before its start for a later one.
   */
  private proposedSinceStart(timestampMs: number): boolean {
    const g = this.guard;
    if (g === undefined) return true;
    const b = this.opts.backend;
    const now = b.peersTime ? b.peersTime() : b.now();
    if (now === undefined) return false;
    const startedAt = now - (this.timers.now() - g.startedAt);
    return timestampMs >= startedAt + MAX_FUTURE_MS;
  }

  private askRecall(st: HeightState): void {
    const w = st.watch;
    if (w === undefined || st !== this.st) return;
    w.request ??= signRecallRequest(st.height, w.nonce, this.opts.key);
    this.opts.recall?.(w.request);
    this.recallTimer.start(Math.min(RECALL_RETRY_MS, this.baseTimeoutMs), () => this.enqueue(async () => this.askRecall(st)));
  }

  private async recallAnswered(bytes: Uint8Array): Promise<void> {
    const st = this.st;
    if (st === undefined) return;
    let a;
    try {
      a = openRecallAnswer(bytes, MAX_RECALL_ANSWER_BYTES);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'dropped recall answer');
      return;
    }
    if (a.height !== st.height || !equalsBytes(a.requester, this.address) || validatorIndex(st.validators, a.signer) < 0) return;
    for (const m of a.messages) {
      let msg: Signed;
      try {
        msg = openMessage(m, this.maxBytes);
      } catch {
        continue;
      }
      if (!equalsBytes(msg.sender, this.address) || msg.body.height !== st.height) continue;
      await this.handle(m);
    }
    const w = st.watch;
    if (w === undefined || st !== this.st || !equalsBytes(a.nonce, w.nonce)) return;
    w.answered.add(bytesToHex(a.signer));
    // Started without a journal past genesis: the answers are journaled (above), but only a block
    // proposed after this start ends the wait (guard).
    if (w.answered.size >= st.quorum && this.guard?.untilCommitted !== true) await this.endWatch(st);
  }

  /** A quorum answered: what this key signed at the height is known (and journaled); take part from here. */
  private async endWatch(st: HeightState): Promise<void> {
    st.watch = undefined;
    this.recallTimer.stop();
    const j = this.signed;
    this.log.info(
      event('consensus.recall-done', {
        height: Number(st.height),
        round: st.round,
        ...(j?.height === st.height ? { signedRound: j.round, signed: j.kind } : {}),
      }),
      'a quorum of validators told what this key signed at this height: taking part',
    );
    if (j !== undefined && j.height === st.height && j.round > st.round) {
      await this.startRound(st, j.round);
      return;
    }
    if (st.round > 0) await this.sendRoundChange(st, st.round);
    await this.tryPropose(st);
    const p = st.peek(st.round)?.proposal;
    if (p !== undefined) await this.prepare(st, st.round, p);
    await this.checkPrepared(st, st.round);
  }

  private async startRound(st: HeightState, round: number): Promise<void> {
    if (round > st.round) this.roundChanges++;
    st.round = round;
    st.forgetEarlierRounds();
    this.proposeTimer.stop();
    // A round's time counts from when its proposal is due (the block time after the parent).
    const ms = Math.max(0, this.proposalDueIn()) + roundTimeoutMs(round, this.baseTimeoutMs, this.maxTimeoutMs);
    this.roundEnds = { st, round, at: this.timers.now() + ms };
    this.roundTimer.start(ms, () => this.enqueue(() => this.onTimeout(st, round)));
    this.log.debug({ height: Number(st.height), round, timeoutMs: ms }, 'consensus round');
    if (round > 0) await this.sendRoundChange(st, round);
    await this.tryPropose(st);
  }

  private async sendRoundChange(st: HeightState, round: number): Promise<void> {
    if (st.watch !== undefined || st.refused !== undefined || st.sent.roundChange.has(round)) return;
    await this.adoptSeen(st);
    // Journaled before it is sent, when the round is later than the journal's: a restart (kill -9) then
    // resumes in this round, not in one it left, where it could still COMMIT, and send a second,
    // different ROUND-CHANGE for this round after (one carrying the value it then prepared).
    const j = this.signed;
    if ((j === undefined || j.height < st.height || round > j.round) && !(await this.journal(st, round, NO_VALUE, 'roundChange'))) return;
    st.sent.roundChange.add(round);
    const p = st.prepared;
    const body: Body = { type: MessageType.RoundChange, height: st.height, round, prepared: p?.cert };
    await this.send(body, st, round, p ? blockBytes(p.block) : undefined);
  }

  /**
   * Gossip does not replay: a validator that was away (restarted, partitioned) missed the
   * ROUND-CHANGEs that would bring it to the others' round, and after a partition heals the proposal
   * and votes of the round in progress may have reached only part of the network (gossip adds a new
   * link to its mesh a moment later), which would hold the round until it times out, for as long as
   * the split lasted. So everything this validator sent in the current round (its proposal, PREPARE,
   * COMMIT, ROUND-CHANGE: the same bytes) is sent again every base timeout while the round lasts;
   * receivers keep one of each per validator and round, and relay a repeat at most once a second.
   */
  private resend(st: HeightState, round: number): void {
    this.resendTimer.start(this.baseTimeoutMs, () =>
      this.enqueue(async () => {
        const own = this.ownRound;
        if (st !== this.st || st.done || st.round !== round || own === undefined || own.st !== st || own.round !== round) return;
        for (const m of own.msgs) this.opts.transport.broadcast(m);
        this.resend(st, round);
      }),
    );
  }

  private async onTimeout(st: HeightState, round: number): Promise<void> {
    if (st !== this.st || st.done || st.round !== round) return;
    this.log.info(event('consensus.round-timeout', { height: Number(st.height), round }), 'consensus round timed out');
    await this.startRound(st, round + 1);
  }

  private proposerFor(st: HeightState, round: number): Uint8Array {
    const head = this.opts.backend.head();
    return nextProposer(st.validators, head.number === 0n ? undefined : head.proposer, round);
  }

  /**
   * Milliseconds until this height's proposal is due (negative: past): when the block time has passed
   * since the parent's timestamp, but never later than the block time after this node began the height
   * (monotonic). The parent's timestamp keeps blocks a block time apart on the chain's clock where
   * clocks agree; the cap keeps a proposer whose clock is behind the parent's proposer's (or the round
   * timer, which counts from here) from waiting for its clock to catch up. Timestamps count whole
   * seconds, so a block time below a second is kept by the local clock alone: a block time after the
   * previous height's proposal was due, so that proposals are that far apart (the time to decide one
   * is within it). Counting from when the previous height began instead, as an earlier version did,
   * let two interleaved schedules run: blocks came in pairs, a block time and a few ms apart.
   */
  private proposalDueIn(): number {
    const now = this.timers.now();
    if (this.opts.blockTimeMs < 1000) return this.proposalDueAt - now;
    const byLocal = this.heightStartedAt + this.opts.blockTimeMs - now;
    const byTimestamp = this.opts.backend.head().timestampMs + this.opts.blockTimeMs - this.opts.backend.now();
    return Math.min(byTimestamp, byLocal);
  }

  private async tryPropose(st: HeightState): Promise<void> {
    const round = st.round;
    if (st.done || st.watch !== undefined || st.refused !== undefined || st.sent.proposal.has(round) || !equalsBytes(this.proposerFor(st, round), this.address))
      return;
    const wait = this.proposalDueIn();
    if (wait > 0) {
      this.proposeTimer.start(wait, () => this.enqueue(async () => (st === this.st && st.round === round ? this.tryPropose(st) : undefined)));
      return;
    }
    let justification: Justification | undefined;
    let certificate: Uint8Array[] = [];
    let reproposal: Block | undefined;
    if (round > 0) {
      const rcs = [...st.at(round).roundChanges.values()];
      if (rcs.length < st.quorum) return; // the round-change quorum will call again
      const best = highestPrepared(rcs.map((r) => ({ prepared: r.msg.body.prepared, block: r.block })));
      justification = { highest: best && { round: best.cert.round, hash: best.cert.hash } };
      reproposal = best?.block;
      certificate = rcs.map((r) => r.msg.bare);
    } else if (st.prepared?.cert.round === 0) {
      // Restarted after this proposal of round 0 was prepared: the same block again (what it signed).
      reproposal = st.prepared.block;
    }
    st.sent.proposal.add(round);
    let block: Block;
    try {
      block = reproposal ?? (await this.opts.backend.buildProposal(st.height, round));
    } catch (err) {
      this.log.error({ height: Number(st.height), round, err: errorMessage(err) }, 'could not build a proposal');
      return;
    }
    const hash = blockHash(block.header);
    if (!(await this.journal(st, round, hash, 'prepare', justification))) return;
    const body: Body = { type: MessageType.Preprepare, height: st.height, round, block: blockBytes(block), roundChanges: certificate };
    await this.send(body, st, round, undefined, block);
  }

  // ---- receiving ----

  /** `receivedAt`: when it arrived (monotonic), for the clock samples of proposals. */
  private async handle(bytes: Uint8Array, receivedAt = this.timers.now()): Promise<void> {
    if (this.st === undefined) return;
    let m: Signed;
    try {
      m = openMessage(bytes, this.maxBytes);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'dropped consensus message');
      return;
    }
    await this.handleSigned(m, bytes, false, receivedAt);
  }

  /**
   * An opened message. `fromSelf`: sent by this process just now (its signature was made here, not
   * recovered); `block`: a proposal's block, already decoded.
   */
  private async handleSigned(m: Signed, bytes: Uint8Array, fromSelf: boolean, receivedAt: number, block?: Block): Promise<void> {
    const st = this.st;
    if (st === undefined) return;
    const { height, round } = m.body;
    if (height !== st.height || st.done) {
      if (height === st.height + 1n) this.keepForNextHeight(st, m, bytes, receivedAt);
      return;
    }
    if (validatorIndex(st.validators, m.sender) < 0) return;
    // A message of this validator's key that it did not send in this process: its lost self (a
    // restored data dir) or a second instance signed it. What it says is journaled before anything
    // else, also for a round too far ahead to be kept (the rounds below it may be joined later).
    if (!fromSelf && equalsBytes(m.sender, this.address)) await this.adopt(st, m);
    if (round > st.round + MAX_ROUNDS_AHEAD) {
      // Not kept, but not ignored either: where the others waited out round after round at the longest
      // timeout (rounds then tick at one pace everywhere), a validator back from an outage would stay
      // this far behind, and the height halted, for good. F+1 validators asking for such rounds
      // include an honest one: follow them, as for the rounds kept (onRoundChange).
      if (m.body.type === MessageType.RoundChange && !fromSelf) {
        const r = st.farAhead(m.sender, round, maxFaulty(st.validators.length) + 1);
        if (r !== undefined) await this.startRound(st, r);
      }
      return;
    }
    st.hold(m);
    switch (m.body.type) {
      case MessageType.Preprepare:
        return this.onPreprepare(st, m as Signed & { body: { type: 0 } }, fromSelf, receivedAt, block);
      case MessageType.Prepare:
        // A PREPARE counts only in its own round (checkPrepared): none is kept for a round this node has left.
        if (round >= st.round && RoundMessages.addFirst(st.at(round).prepares, m.sender, m as PrepareMsg)) await this.checkPrepared(st, round);
        return;
      case MessageType.Commit:
        return this.onCommitMessage(st, m as CommitMsg, fromSelf);
      case MessageType.RoundChange:
        return this.onRoundChange(st, m as RoundChangeMsg);
    }
  }

  /**
   * The next height's messages wait until this node gets there (it finished this height a moment
   * after the others), from each validator of that height at most MAX_FUTURE_PER_VALIDATOR messages
   * and MAX_FUTURE_BYTES_PER_VALIDATOR bytes, one proposal a round, rounds up to MAX_ROUNDS_AHEAD.
   * That height's set is known once this one is decided (the head moved), or where the genesis file
   * changes the set there; else this height's is taken, with the candidates a vote in this height's
   * block could add (`joining`: a validator voted in sends its first messages before the others have
   * the block that adds it; dropped, they came again only after a round timeout). Each is checked
   * against the height's real set when it is handled there.
   */
  private keepForNextHeight(st: HeightState, m: Signed, bytes: Uint8Array, receivedAt: number): void {
    const { type, round } = m.body;
    if (round > MAX_ROUNDS_AHEAD) return;
    const known = this.opts.backend.validators(m.body.height);
    const member =
      known !== undefined
        ? validatorIndex(known, m.sender) >= 0
        : validatorIndex(st.validators, m.sender) >= 0 || (this.opts.backend.joining?.(m.body.height) ?? []).some((a) => equalsBytes(a, m.sender));
    if (!member) return;
    const key = bytesToHex(m.sender);
    let kept = this.futureBySender.get(key);
    if (kept === undefined) {
      kept = { count: 0, bytes: 0, proposals: new Set() };
      this.futureBySender.set(key, kept);
    }
    if (kept.count >= MAX_FUTURE_PER_VALIDATOR || kept.bytes + bytes.length > MAX_FUTURE_BYTES_PER_VALIDATOR) return;
    if (type === MessageType.Preprepare && kept.proposals.has(round)) return;
    const sig = bytesToHex(m.signature);
    if (this.futureSignatures.has(sig)) return;
    this.futureSignatures.add(sig);
    kept.count++;
    kept.bytes += bytes.length;
    if (type === MessageType.Preprepare) kept.proposals.add(round);
    this.future.push({ bytes, bare: m.bare, sender: m.sender, receivedAt });
  }

  /**
   * Journal what a message of this validator's key (not sent by this process) shows it signed, when
   * that is later than what the journal holds: the core then never signs against it (maySign).
   */
  private async adopt(st: HeightState, m: Signed): Promise<void> {
    if (this.ownSigs.has(bytesToHex(m.signature))) return; // sent by this very process (a certificate echoes it)
    const b = m.body;
    let kind: SignedState['kind'];
    let hash: Uint8Array;
    // The value the message shows this key locked on: a COMMIT is signed only on a prepared value, and a
    // ROUND-CHANGE carries the certificate of the one its signer held.
    let lock: SignedState['lock'];
    try {
      if (b.type === MessageType.Preprepare) {
        kind = 'prepare';
        hash = blockHash(this.decodeBlock(b.block, st.height).header);
      } else if (b.type === MessageType.RoundChange) {
        kind = 'roundChange';
        hash = new Uint8Array(32);
        // only a certificate this height's set makes (not one of a set an emergency change replaced)
        if (b.prepared !== undefined && this.preparedBy(st, b.prepared))
          lock = { round: b.prepared.round, hash: b.prepared.hash, set: setDigest(st.validators) };
      } else {
        kind = b.type === MessageType.Commit ? 'commit' : 'prepare';
        hash = b.hash;
        if (kind === 'commit') lock = { round: b.round, hash, set: setDigest(st.validators) };
      }
    } catch {
      return;
    }
    const j = this.signed;
    if (j !== undefined && j.height > st.height) return;
    const here = j !== undefined && j.height === st.height ? j : undefined;
    // Once the journal is complete (the start guard lifted), every signature of this process at this
    // height is in it before it is sent: a message it does not cover was signed elsewhere.
    if (this.guard === undefined && !journalCovers(here, b.round, kind, hash)) this.secondInstance(st, m, kind, hash);
    // Whether the message is later than the journal's last signature (else only its lock may be news).
    let later = true;
    if (here !== undefined && here.round === b.round) {
      if (kind !== 'roundChange' && here.kind !== 'roundChange' && !equalsBytes(here.hash, hash)) {
        // Two values at one height and round under one key: whichever process signed the other, two hold the key.
        this.secondInstance(st, m, kind, hash);
        return;
      }
      later = KIND_ORDER[kind] > KIND_ORDER[here.kind];
    } else if (here !== undefined && here.round > b.round) {
      later = false;
    }
    const held = here && lockOf(here);
    const released = this.released !== undefined && this.released.height === st.height && lock !== undefined && equalsBytes(this.released.hash, lock.hash);
    const newLock = lock !== undefined && !released && (held === undefined || lock.round > held.round) ? lock : undefined;
    if (!later && newLock === undefined) return;
    const base: SignedState = later
      ? { height: st.height, round: b.round, hash, kind, ...(here?.prepared ? { prepared: here.prepared } : {}), ...(here?.lock ? { lock: here.lock } : {}) }
      : here!;
    const next: SignedState = { ...base, ...(newLock ? { lock: newLock } : {}), ...(j?.floor !== undefined ? { floor: j.floor } : {}) };
    await this.opts.store.save(next);
    this.signed = next;
    this.log.warn(
      event('consensus.recall-learned', {
        height: Number(st.height),
        round: b.round,
        kind,
        ...(kind === 'roundChange' ? {} : { hash: bytesToHex(hash) }),
        ...(newLock ? { lockedRound: newLock.round, locked: bytesToHex(newLock.hash) } : {}),
      }),
      'learned that this validator key already signed here (before this process started): journaled, nothing conflicting will be signed',
    );
  }

  private async onPreprepare(st: HeightState, m: Signed & { body: { type: 0 } }, fromSelf: boolean, receivedAt: number, known?: Block): Promise<void> {
    const { round } = m.body;
    // One for a round this node has left is still kept a few rounds (ROUNDS_KEPT_BEHIND): its COMMITs may yet arrive.
    if (round < st.lowestKept) return;
    const rm = st.at(round);
    // The first proposal of a round stands: duplicates and an equivocating proposer's second are ignored.
    if (rm.proposal !== undefined) return;
    if (!equalsBytes(m.sender, this.proposerFor(st, round))) return;
    // One proposal a round is executed: once one went to verification (and failed: else it is
    // rm.proposal), the round's answer stands. An honest proposer sends one block a round (its resends
    // are the same block), so a second, different one is equivocation; executing each would let a
    // proposer hold every validator with blocks that fail late. Nothing of it is decoded either.
    if (!fromSelf && rm.tried) return;
    let block: Block;
    let hash: Uint8Array;
    let sealer: Uint8Array;
    try {
      block = known ?? this.decodeBlock(m.body.block, st.height);
      if (block.header.number !== st.height) throw new MessageError('proposal for another height');
      const extra = headerExtra(block.header);
      if (extra.committedSeals.length > 0) throw new MessageError('proposal carries committed seals');
      hash = blockHash(block.header);
      // A block this process proposed just now carries its own seal; a re-proposal, its first proposer's.
      sealer = fromSelf && known !== undefined && m.body.round === 0 ? m.sender : recoverAddress(proposerSealHash(block.header), extra.proposerSeal);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'dropped malformed proposal');
      return;
    }
    let justification: Justification | undefined;
    if (round === 0) {
      if (m.body.roundChanges.length > 0 || !equalsBytes(sealer, m.sender)) return;
    } else {
      justification = this.checkRoundChangeCertificate(st, round, m.body.roundChanges);
      if (justification === undefined) return;
      const must = justification.highest;
      if (must ? !equalsBytes(must.hash, hash) : !equalsBytes(sealer, m.sender)) return;
    }
    if (!fromSelf) {
      // A block the proposer built for this round (not a value carried over from an earlier one): its
      // timestamp was just read from the proposer's clock.
      if (justification?.highest === undefined) this.opts.backend.observeProposal?.(block.header, this.timers.now() - receivedAt);
      const aheadMs = Number(block.header.timestamp) * 1000 - this.opts.backend.now() - MAX_FUTURE_MS;
      if (aheadMs > 0) {
        this.holdProposal(st, m, block, aheadMs, receivedAt);
        return;
      }
    }
    if (!fromSelf) {
      rm.tried = true;
      if (!(await this.verify(block, round))) {
        this.log.debug(
          { height: Number(st.height), round, proposer: bytesToHex(m.sender), hash: bytesToHex(hash) },
          'invalid proposal: none other of its round is executed',
        );
        return;
      }
    }
    if (rm.proposal !== undefined) return;
    rm.proposal = { block, hash, justification };
    if (round > st.round) await this.startRound(st, round); // a valid certificate shows a quorum moved on
    if (round === st.round) await this.prepare(st, round, rm.proposal);
    await this.checkCommitted(st, round);
  }

  /**
   * A proposal whose timestamp is further ahead of this node's clock than MAX_FUTURE_MS is not invalid
   * (a clock is wrong: this node's or the proposer's) and not refused: it is handled again once it is
   * within, with its block as decoded. If its round would time out first (the round in progress, for
   * one of it or of a round left; a round ahead's full timeout, for one of that round; a round's full
   * timeout for a node that started no round of the height), it is dropped:
   * the next proposer takes over and nobody is punished. One is held at a time: another displaces it
   * only if it is of the same round or a later one. The proposer is named in a warning at most once a
   * minute.
   */
  private holdProposal(st: HeightState, m: Signed & { body: { type: 0 } }, block: Block, aheadMs: number, receivedAt: number): void {
    const { round } = m.body;
    const now = this.timers.now();
    // A node that started no round of this height (outside the set, or refusing to sign) has no round
    // end of its own: the round's full timeout.
    const ends = this.roundEnds;
    const started = ends !== undefined && ends.st === st && ends.round === st.round;
    const left = round > st.round || !started ? roundTimeoutMs(Math.max(round, st.round), this.baseTimeoutMs, this.maxTimeoutMs) : ends.at - now;
    const held = this.held;
    const late = aheadMs > left;
    const drop = late || (held !== undefined && held.st === st && held.round > round);
    const who = bytesToHex(m.sender);
    const fields = { height: Number(st.height), round, proposer: who, aheadMs: Math.round(aheadMs + MAX_FUTURE_MS) };
    const last = this.holdWarned.get(who);
    const what = `proposal from the future ${drop ? 'dropped' : 'held'}: its timestamp is more than ${MAX_FUTURE_MS / 1000} s ahead of this node's clock${
      late ? ', and will still be when its round ends' : drop ? ' (one of a later round is held)' : ''
    } (one of the two clocks is wrong)`;
    if (last === undefined || now - last >= HOLD_WARN_EVERY_MS) {
      this.holdWarned.set(who, now);
      if (this.holdWarned.size > 1024) this.holdWarned.delete(this.holdWarned.keys().next().value!);
      this.log.warn(fields, what);
    } else {
      this.log.debug(fields, what);
    }
    if (drop) return;
    this.held = { st, round };
    this.holdTimer.start(aheadMs, () => {
      this.held = undefined;
      this.enqueue(async () => {
        if (st === this.st && !st.done) await this.onPreprepare(st, m, false, receivedAt, block);
      });
    });
  }

  private async verify(block: Block, round: number): Promise<boolean> {
    try {
      return await this.opts.backend.verifyProposal(block, { roundTimeoutMs: roundTimeoutMs(round, this.baseTimeoutMs, this.maxTimeoutMs) });
    } catch {
      return false;
    }
  }

  private async prepare(st: HeightState, round: number, p: Proposal): Promise<void> {
    if (st.done || round !== st.round || st.sent.prepare.has(round)) return;
    if (!(await this.journal(st, round, p.hash, 'prepare', p.justification))) return;
    st.sent.prepare.add(round);
    await this.send({ type: MessageType.Prepare, height: st.height, round, hash: p.hash }, st, round);
    await this.checkPrepared(st, round);
  }

  private async checkPrepared(st: HeightState, round: number): Promise<void> {
    const rm = st.at(round);
    const p = rm.proposal;
    if (st.done || p === undefined || round !== st.round || st.sent.commit.has(round)) return;
    const prepares = rm.preparesFor(p.hash);
    if (prepares.length < st.quorum) return;
    const prepared: Prepared = { cert: { round, hash: p.hash, prepares: prepares.map((x) => x.bare) }, block: p.block };
    if (!(await this.journal(st, round, p.hash, 'commit', p.justification, prepared))) return;
    st.prepared = prepared;
    st.sent.commit.add(round);
    await this.send({ type: MessageType.Commit, height: st.height, round, hash: p.hash, seal: committedSeal(p.block.header, this.opts.key) }, st, round);
  }

  private async onCommitMessage(st: HeightState, m: CommitMsg, fromSelf: boolean): Promise<void> {
    if (m.body.round < st.lowestKept) return;
    let signer: Uint8Array;
    try {
      signer = fromSelf ? m.sender : recoverAddress(committedSealHash(m.body.hash), m.body.seal);
    } catch {
      return;
    }
    if (!equalsBytes(signer, m.sender)) return;
    if (!RoundMessages.addFirst(st.at(m.body.round).commits, m.sender, m)) return;
    await this.checkCommitted(st, m.body.round);
  }

  private async checkCommitted(st: HeightState, round: number): Promise<void> {
    const rm = st.peek(round);
    const p = rm?.proposal;
    if (st.done || rm === undefined || p === undefined) return;
    const commits = rm.commitsFor(p.hash);
    if (commits.length < st.quorum) return;
    st.done = true;
    st.watch = undefined;
    this.roundTimer.stop();
    this.proposeTimer.stop();
    this.resendTimer.stop();
    this.recallTimer.stop();
    this.holdTimer.stop();
    const common = this.opts.commonAt(st.height);
    const header = headerWithExtraData(
      p.block.header,
      withCommittedSeals(
        p.block.header,
        commits.map((c) => c.body.seal),
      ),
      common,
    );
    const block = blockWithHeader(p.block, header, common);
    // One validator alone: its 'sealed block' line says it all.
    const level = st.validators.length > 1 ? 'info' : 'debug';
    this.log[level](event('consensus.reached', { height: Number(st.height), round, hash: bytesToHex(p.hash), seals: commits.length }), 'consensus reached');
    try {
      await this.opts.backend.onCommit(block);
    } catch (err) {
      this.log.error({ height: Number(st.height), err: errorMessage(err) }, 'committed block was not imported');
    }
    this.enqueue(() => this.nextHeightIfDue());
  }

  private async onRoundChange(st: HeightState, m: RoundChangeMsg): Promise<void> {
    const { round, prepared } = m.body;
    // Only the round in progress and those ahead count (tryPropose, roundsAheadWith).
    if (round === 0 || round < st.round) return;
    const rm = st.at(round);
    if (rm.roundChanges.has(bytesToHex(m.sender))) return;
    let block: Block | undefined;
    if (prepared !== undefined) {
      if (!this.checkPreparedCert(st, round, prepared)) return;
      // Every locked validator attaches the same block to each ROUND-CHANGE: one copy is decoded and kept.
      block = st.blockOf(prepared.hash);
      if (block === undefined) {
        try {
          checkPreparedBlock(prepared.hash, m.attachment); // its header and transactions, before anything is decoded
          block = this.decodeBlock(m.attachment, st.height);
        } catch {
          return;
        }
        if (!equalsBytes(blockHash(block.header), prepared.hash)) return;
      }
    } else if (m.attachment.length > 0) {
      return;
    }
    // Kept without its attachment (a view of the whole message as it arrived): the block is kept once.
    RoundMessages.addFirst(rm.roundChanges, m.sender, { msg: { ...m, attachment: NO_ATTACHMENT }, block });
    // F+1 validators asking for a later round include an honest one: follow them.
    const ahead = st.roundsAheadWith(maxFaulty(st.validators.length) + 1);
    if (ahead.length > 0) await this.startRound(st, ahead[ahead.length - 1]!);
    else if (round === st.round) await this.tryPropose(st);
  }

  // ---- certificates ----

  /** A prepared certificate: a round below `below`, a quorum of distinct validators' PREPAREs for its hash. */
  private checkPreparedCert(st: HeightState, below: number, pc: PreparedCert): boolean {
    return pc.round < below && this.preparedBy(st, pc, (m) => this.embedded(st, m));
  }

  /**
   * Whether `pc` is a quorum of distinct validators of this height's PREPAREs for its round and hash;
   * `each` sees every valid PREPARE read before the answer is known.
   */
  private preparedBy(st: HeightState, pc: PreparedCert, each?: (m: Signed) => void): boolean {
    if (pc.prepares.length > st.validators.length) return false;
    const senders = new Set<string>();
    for (const bytes of pc.prepares) {
      let m: Signed;
      try {
        m = openMessage(bytes, this.maxBytes);
      } catch {
        return false;
      }
      const b = m.body;
      if (b.type !== MessageType.Prepare || b.height !== st.height || b.round !== pc.round || !equalsBytes(b.hash, pc.hash)) return false;
      if (validatorIndex(st.validators, m.sender) < 0) return false;
      each?.(m);
      senders.add(bytesToHex(m.sender));
    }
    return senders.size >= st.quorum;
  }

  /**
   * A PREPREPARE's round-change certificate for `round`: a quorum of distinct validators' valid ROUND-CHANGEs
   * for this height and round. Returns what it requires of the proposal, or undefined if invalid.
   */
  private checkRoundChangeCertificate(st: HeightState, round: number, rcs: Uint8Array[]): Justification | undefined {
    if (rcs.length > st.validators.length) return undefined;
    const senders = new Set<string>();
    const prepared: PreparedCert[] = [];
    for (const bytes of rcs) {
      let m: Signed;
      try {
        m = openMessage(bytes, this.maxBytes);
      } catch {
        return undefined;
      }
      const b = m.body;
      if (b.type !== MessageType.RoundChange || b.height !== st.height || b.round !== round) return undefined;
      if (validatorIndex(st.validators, m.sender) < 0) return undefined;
      this.embedded(st, m);
      if (b.prepared) {
        if (!this.checkPreparedCert(st, round, b.prepared)) return undefined;
        prepared.push(b.prepared);
      }
      senders.add(bytesToHex(m.sender));
    }
    if (senders.size < st.quorum) return undefined;
    const best = highestPrepared(prepared.map((cert) => ({ prepared: cert })));
    if (best && prepared.some((c) => c.round === best.cert.round && !equalsBytes(c.hash, best.cert.hash))) return undefined;
    return { highest: best && { round: best.cert.round, hash: best.cert.hash } };
  }

  /**
   * A validator's message found inside a certificate: kept for recall answers, and one of this
   * validator's own (its lost self's) is adopted once the current message is handled.
   */
  private embedded(st: HeightState, m: Signed): void {
    st.hold(m);
    if (equalsBytes(m.sender, this.address)) this.ownSeen.push(m);
  }

  /**
   * Another process signs with this validator's key (a backup's key started while its original still
   * runs, a copied data dir): stop signing, for good in this process, and say so once. Stopping does
   * not take a fault off the network (the other process may go on), but this one adds none: the two
   * would otherwise build and sign their own proposal at each height this key proposes, two values at
   * one height and round, and use up the network's tolerance of one fault on their own.
   */
  private secondInstance(st: HeightState, m: Signed, kind: SignedState['kind'], hash: Uint8Array): void {
    if (this.twin === undefined) {
      this.twin = `refusing to sign: another process signs with this validator's key (a ${MESSAGE_NAMES[m.body.type]} at block ${st.height}, round ${m.body.round}, that this process did not sign): two nodes running one validator key sign two values at one height. Stop one of them, then restart this node`;
      this.log.error(
        event('consensus.second-instance', {
          height: Number(st.height),
          round: m.body.round,
          type: MESSAGE_NAMES[m.body.type],
          ...(kind === 'roundChange' ? {} : { hash: bytesToHex(hash) }),
        }),
        this.twin,
      );
    }
    st.refused = this.twin;
    this.proposeTimer.stop();
    this.resendTimer.stop();
  }

  /** Journal the own messages found in certificates (embedded) before anything is signed. */
  private async adoptSeen(st: HeightState): Promise<void> {
    const seen = this.ownSeen;
    this.ownSeen = [];
    for (const m of seen) if (m.body.height === st.height) await this.adopt(st, m);
  }

  // ---- signing ----

  /**
   * Whether this validator may sign `hash` at `round` of this height, given what it signed before:
   * never below its last signed round, never another value in the same round, and another value in a
   * later round only with a round-change certificate, which must be at least as recent as the
   * value it is locked on (the one it saw prepared, or one its lost self committed: lockOf) when it
   * asks for a different value. A ROUND-CHANGE, which names no value, in any round from the journal's on.
   */
  private maySign(height: bigint, round: number, hash: Uint8Array, kind: SignedState['kind'], justification?: Justification): boolean {
    const j = this.signed;
    if (journalForbids(j, height)) return false;
    if (j === undefined || height > j.height) return true;
    if (height < j.height || round < j.round) return false;
    // A ROUND-CHANGE commits to no value: any round from the journal's on.
    if (kind === 'roundChange') return true;
    // A ROUND-CHANGE (learned by recall) commits to no value of its round: signing one there needs what a later round needs.
    if (round === j.round && j.kind !== 'roundChange') return equalsBytes(hash, j.hash);
    if (justification === undefined) return false;
    const lock = lockOf(j);
    if (lock && !equalsBytes(hash, lock.hash)) return justification.highest !== undefined && justification.highest.round >= lock.round;
    return true;
  }

  /** Journal a signature (durably) before it is made; false if the journal forbids it. */
  private async journal(
    st: HeightState,
    round: number,
    hash: Uint8Array,
    kind: SignedState['kind'],
    justification?: Justification,
    prepared?: Prepared,
  ): Promise<boolean> {
    if (st.watch !== undefined || st.refused !== undefined) return false; // not sure yet what this key signed here, or rolled back: sign nothing
    await this.adoptSeen(st);
    if (!this.maySign(st.height, round, hash, kind, justification)) {
      const lock = this.signed && lockOf(this.signed);
      this.log.warn(
        {
          height: Number(st.height),
          round,
          hash: bytesToHex(hash),
          ...(lock && !equalsBytes(lock.hash, hash) ? { lockedRound: lock.round, locked: bytesToHex(lock.hash) } : {}),
        },
        lock && !equalsBytes(lock.hash, hash)
          ? 'refusing to sign: this validator is locked on another value of this height (it saw it prepared, or its key committed it before a restore) until a round-change certificate shows a value prepared at or after that round'
          : 'refusing to sign: conflicts with what this validator signed before',
      );
      return false;
    }
    const j = this.signed;
    // Already journaled, as this signature or a later one of the same round and value (a PREPARE again
    // after its COMMIT: the height started again after a pause, the proposal resent). Saved, it would
    // lower the journal below this process's own COMMIT, which would then read as another process's.
    if (
      prepared === undefined &&
      j?.height === st.height &&
      j.round === round &&
      KIND_ORDER[j.kind] >= KIND_ORDER[kind] &&
      (kind === 'roundChange' || equalsBytes(j.hash, hash))
    )
      return true;
    const next: SignedState = {
      height: st.height,
      round,
      hash,
      kind,
      prepared: prepared ? { ...prepared.cert, block: blockBytes(prepared.block) } : j?.height === st.height ? j.prepared : undefined,
      ...(j?.height === st.height && j.lock !== undefined ? { lock: j.lock } : {}),
      ...(j?.floor !== undefined ? { floor: j.floor } : {}),
    };
    await this.opts.store.save(next);
    this.signed = next;
    return true;
  }

  /** Sign `body`, send it to the other validators, and handle it here as one of theirs (`block`: a proposal's, decoded). */
  private async send(body: Body, st: HeightState, round: number, attachment?: Uint8Array, block?: Block): Promise<void> {
    const { bytes, signed } = signOwn(body, this.opts.key, this.address, attachment);
    this.opts.transport.broadcast(bytes);
    if (this.ownSigs.size > 4 * MAX_ROUNDS_AHEAD) this.ownSigs.clear();
    this.ownSigs.add(bytesToHex(signed.signature));
    const own = this.ownRound;
    if (own !== undefined && own.st === st && own.round === round) {
      own.msgs.push(bytes);
    } else {
      this.ownRound = { st, round, msgs: [bytes] };
      this.resend(st, round);
    }
    await this.handleSigned(signed, bytes, true, this.timers.now(), block);
  }

  private decodeBlock(bytes: Uint8Array, height: bigint): Block {
    checkBlockRlp(bytes);
    return createBlockFromRLP(bytes, headerOpts(this.opts.commonAt(height)));
  }
}

/** The prepared certificate of the highest round among `items` (the value a new round must keep). */
function highestPrepared<T extends { prepared?: PreparedCert; block?: Block }>(items: T[]): { cert: PreparedCert; block?: Block } | undefined {
  let best: { cert: PreparedCert; block?: Block } | undefined;
  for (const it of items) {
    if (it.prepared && (best === undefined || it.prepared.round > best.cert.round)) best = { cert: it.prepared, block: it.block };
  }
  return best;
}

const NO_ATTACHMENT = new Uint8Array(0);
/** The hash journaled with a ROUND-CHANGE, which names no value (as `adopt` journals one learned). */
const NO_VALUE = new Uint8Array(32);

/** Later in a round: a ROUND-CHANGE, then a PREPARE (or the proposal), then a COMMIT. */
const KIND_ORDER: Record<SignedState['kind'], number> = { roundChange: 0, prepare: 1, commit: 2 };

const MESSAGE_NAMES = ['PREPREPARE', 'PREPARE', 'COMMIT', 'ROUND-CHANGE'] as const;

/**
 * Whether the journal's last signature at a height (`here`) accounts for a message of this key there:
 * a signature of an earlier round (the journal keeps only the latest: it may have been this process's),
 * or of its round no later in it and of the same value. A later round or kind, or another value, was
 * not signed by the process whose journal this is.
 */
function journalCovers(here: SignedState | undefined, round: number, kind: SignedState['kind'], hash: Uint8Array): boolean {
  // A ROUND-CHANGE proves nothing here: it commits to no value, and one this process sent is journaled
  // only when its round is above the journal's (an earlier release journaled none).
  if (kind === 'roundChange') return true;
  if (here === undefined || round > here.round) return false;
  if (round < here.round) return true;
  if (KIND_ORDER[kind] > KIND_ORDER[here.kind]) return false;
  return here.kind === 'roundChange' || equalsBytes(here.hash, hash);
}
