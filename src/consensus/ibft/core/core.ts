import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { blockWithHeader, headerOpts, headerWithExtraData } from '../../../chain/block-util.js';
import { privateKeyToAddress } from '../../../keys/address.js';
import { recoverAddress } from '../../../util/secp256k1.js';
import { silentLogger, type Logger } from '../../../util/log.js';
import { decodeIbftExtra } from '../extra.js';
import { blockHash, committedSealHash, proposerSealHash } from '../hash.js';
import { committedSeal, withCommittedSeals } from '../seal.js';
import { QuorumRule, maxFaulty, nextProposer, validatorIndex } from '../validators.js';
import { MAX_MESSAGE_BYTES, MessageError, MessageType, type Body, type PreparedCert } from './messages.js';
import { checkBlockRlp } from './rlp-bounds.js';
import { OneShotTimer, realTimers, roundTimeoutMs, type Timers } from './round-timer.js';
import type { SignedState, SignedStore } from './sign-journal.js';
import { openMessage, signMessage, type Signed } from './signing.js';
import { HeightState, RoundMessages, type CommitMsg, type Justification, type PrepareMsg, type Prepared, type Proposal, type RoundChangeMsg } from './state.js';

/** Sends a message to every other validator (gossip). The core handles its own messages itself. */
export interface Transport {
  broadcast(msg: Uint8Array): void;
}

/** The chain as consensus sees it. */
export interface Backend {
  /** A block for `height` on the current head, carrying this validator's proposer seal. */
  buildProposal(height: bigint, round: number): Promise<Block>;
  /** Whether a proposal is valid on the current head (header rules and execution). */
  verifyProposal(block: Block): Promise<boolean>;
  /** A block with a quorum of committed seals: import it (the head then moves). */
  onCommit(block: Block): Promise<void>;
  validators(height: bigint): Uint8Array[];
  /** Milliseconds since the epoch. */
  now(): number;
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
}

/** Rounds beyond the current one that messages are kept for (a byzantine validator cannot fill memory). */
export const MAX_ROUNDS_AHEAD = 32;
/** Messages for the next height kept from each validator until this node gets there. */
export const MAX_FUTURE_PER_VALIDATOR = 64;
/** Messages waiting to be handled; more are dropped. */
export const MAX_PENDING = 4096;

/**
 * The IBFT state machine (Polygon SDK's go-ibft protocol) for one validator. Per height, rounds:
 * the round's proposer (round robin after the last block's proposer) sends PREPREPARE; validators
 * PREPARE its hash; with a quorum Q of PREPAREs they COMMIT with a committed seal; Q COMMITs finish the
 * height (onCommit). Q is the chain's quorum rule at the height: ceil(2N/3), so that any two quorums
 * share an honest validator for every N. A round that does not finish in time ends in ROUND-CHANGE,
 * carrying the latest prepared certificate; the next proposer needs Q of them and must re-propose the highest
 * prepared value. Every PREPARE and COMMIT is journaled (SignedStore) before it is sent, and nothing
 * conflicting with the journal is signed. All work runs one task at a time.
 */
export class IbftCore {
  readonly address: Uint8Array;
  private st?: HeightState;
  private signed?: SignedState;
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private stopped = true;
  private future: Uint8Array[] = [];
  private readonly futureBySender = new Map<string, number>();
  private readonly roundTimer: OneShotTimer;
  private readonly proposeTimer: OneShotTimer;
  private readonly resendTimer: OneShotTimer;
  private readonly log: Logger;
  private readonly baseTimeoutMs: number;
  private readonly maxTimeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly opts: CoreOptions) {
    this.address = privateKeyToAddress(opts.key);
    const timers = opts.timers ?? realTimers;
    this.roundTimer = new OneShotTimer(timers);
    this.proposeTimer = new OneShotTimer(timers);
    this.resendTimer = new OneShotTimer(timers);
    this.log = opts.logger ?? silentLogger();
    this.baseTimeoutMs = opts.baseTimeoutMs ?? 10_000;
    this.maxTimeoutMs = opts.maxTimeoutMs ?? 300_000;
    this.maxBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.signed = opts.store.load();
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
    if (this.stopped || this.pending >= MAX_PENDING) return;
    this.enqueue(() => this.handle(bytes));
  }

  private enqueue(task: () => Promise<void>): void {
    this.pending++;
    this.tail = this.tail
      .then(async () => {
        this.pending--;
        if (!this.stopped) await task();
      })
      .catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'consensus task failed'));
  }

  // ---- heights and rounds ----

  private async startHeight(): Promise<void> {
    const head = this.opts.backend.head();
    const height = head.number + 1n;
    const validators = this.opts.backend.validators(height);
    const st = new HeightState(height, validators, (this.opts.quorum ?? QuorumRule.OPTIMAL).at(height, validators.length));
    this.st = st;
    const j = this.signed;
    if (j !== undefined && j.height === height) {
      // Restarted mid-height: resume at the journaled round with the journaled prepared value.
      st.round = j.round;
      if (j.prepared) {
        const { round, hash, prepares, block } = j.prepared;
        st.prepared = { cert: { round, hash, prepares }, block: this.decodeBlock(block, height) };
      }
    }
    await this.startRound(st, st.round);
    const future = this.future;
    this.future = [];
    this.futureBySender.clear();
    for (const bytes of future) await this.handle(bytes);
  }

  private async startRound(st: HeightState, round: number): Promise<void> {
    st.round = round;
    this.proposeTimer.stop();
    // A round's time counts from when its proposal is due (the block time after the parent).
    const ms = Math.max(0, this.proposalDueIn()) + roundTimeoutMs(round, this.baseTimeoutMs, this.maxTimeoutMs);
    this.roundTimer.start(ms, () => this.enqueue(() => this.onTimeout(st, round)));
    this.log.debug({ height: Number(st.height), round, timeoutMs: ms }, 'consensus round');
    if (round > 0 && !st.sent.roundChange.has(round)) {
      st.sent.roundChange.add(round);
      const p = st.prepared;
      const body: Body = { type: MessageType.RoundChange, height: st.height, round, prepared: p?.cert };
      const rc = signMessage(body, this.opts.key, p ? p.block.serialize() : undefined);
      await this.send(rc);
      this.resendRoundChange(st, round, rc);
    }
    await this.tryPropose(st);
  }

  /**
   * Gossip does not replay: a validator that was away (restarted, partitioned) missed the
   * ROUND-CHANGEs that would bring it to the others' round. They are sent again every base timeout
   * while the round lasts (receivers keep one per validator and round).
   */
  private resendRoundChange(st: HeightState, round: number, rc: Uint8Array): void {
    this.resendTimer.start(this.baseTimeoutMs, () =>
      this.enqueue(async () => {
        if (st !== this.st || st.done || st.round !== round) return;
        this.opts.transport.broadcast(rc);
        this.resendRoundChange(st, round, rc);
      }),
    );
  }

  private async onTimeout(st: HeightState, round: number): Promise<void> {
    if (st !== this.st || st.done || st.round !== round) return;
    this.log.info({ height: Number(st.height), round }, 'consensus round timed out');
    await this.startRound(st, round + 1);
  }

  private proposerFor(st: HeightState, round: number): Uint8Array {
    const head = this.opts.backend.head();
    return nextProposer(st.validators, head.number === 0n ? undefined : head.proposer, round);
  }

  /** Milliseconds until the block time has passed since the parent (negative: past). */
  private proposalDueIn(): number {
    return this.opts.backend.head().timestampMs + this.opts.blockTimeMs - this.opts.backend.now();
  }

  private async tryPropose(st: HeightState): Promise<void> {
    const round = st.round;
    if (st.done || st.sent.proposal.has(round) || !equalsBytes(this.proposerFor(st, round), this.address)) return;
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
    }
    st.sent.proposal.add(round);
    let block: Block;
    try {
      block = reproposal ?? (await this.opts.backend.buildProposal(st.height, round));
    } catch (err) {
      this.log.error({ height: Number(st.height), round, err: (err as Error).message }, 'could not build a proposal');
      return;
    }
    const hash = blockHash(block.header);
    if (!(await this.journal(st, round, hash, 'prepare', justification))) return;
    const body: Body = { type: MessageType.Preprepare, height: st.height, round, block: block.serialize(), roundChanges: certificate };
    await this.send(signMessage(body, this.opts.key));
  }

  // ---- receiving ----

  private async handle(bytes: Uint8Array): Promise<void> {
    const st = this.st;
    if (st === undefined) return;
    let m: Signed;
    try {
      m = openMessage(bytes, this.maxBytes);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'dropped consensus message');
      return;
    }
    const { height, round } = m.body;
    if (height !== st.height || st.done) {
      if (height === st.height + 1n) this.keepForNextHeight(m, bytes);
      return;
    }
    if (validatorIndex(st.validators, m.sender) < 0) return;
    if (round > st.round + MAX_ROUNDS_AHEAD) return;
    switch (m.body.type) {
      case MessageType.Preprepare:
        return this.onPreprepare(st, m as Signed & { body: { type: 0 } });
      case MessageType.Prepare:
        if (RoundMessages.addFirst(st.at(round).prepares, m.sender, m as PrepareMsg)) await this.checkPrepared(st, round);
        return;
      case MessageType.Commit:
        return this.onCommitMessage(st, m as CommitMsg);
      case MessageType.RoundChange:
        return this.onRoundChange(st, m as RoundChangeMsg);
    }
  }

  /**
   * The next height's messages wait until this node gets there (it finished this height a moment
   * after the others), a bounded number from each validator of that height.
   */
  private keepForNextHeight(m: Signed, bytes: Uint8Array): void {
    const validators = this.opts.backend.validators(m.body.height);
    if (validatorIndex(validators, m.sender) < 0) return;
    const key = bytesToHex(m.sender);
    const count = this.futureBySender.get(key) ?? 0;
    if (count >= MAX_FUTURE_PER_VALIDATOR) return;
    this.futureBySender.set(key, count + 1);
    this.future.push(bytes);
  }

  private async onPreprepare(st: HeightState, m: Signed & { body: { type: 0 } }): Promise<void> {
    const { round } = m.body;
    const rm = st.at(round);
    // The first proposal of a round stands: duplicates and an equivocating proposer's second are ignored.
    // One for a round this node has left is still kept: its COMMITs may yet arrive.
    if (rm.proposal !== undefined) return;
    if (!equalsBytes(m.sender, this.proposerFor(st, round))) return;
    let block: Block;
    let hash: Uint8Array;
    let sealer: Uint8Array;
    try {
      block = this.decodeBlock(m.body.block, st.height);
      if (block.header.number !== st.height) throw new MessageError('proposal for another height');
      const extra = decodeIbftExtra(block.header.extraData);
      if (extra.committedSeals.length > 0) throw new MessageError('proposal carries committed seals');
      hash = blockHash(block.header);
      sealer = recoverAddress(proposerSealHash(block.header), extra.proposerSeal);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'dropped malformed proposal');
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
    const own = equalsBytes(m.sender, this.address);
    if (!own && !(await this.verify(block))) return;
    if (rm.proposal !== undefined) return;
    rm.proposal = { block, hash, justification };
    if (round > st.round) await this.startRound(st, round); // a valid certificate shows a quorum moved on
    if (round === st.round) await this.prepare(st, round, rm.proposal);
    await this.checkCommitted(st, round);
  }

  private async verify(block: Block): Promise<boolean> {
    try {
      return await this.opts.backend.verifyProposal(block);
    } catch {
      return false;
    }
  }

  private async prepare(st: HeightState, round: number, p: Proposal): Promise<void> {
    if (st.done || round !== st.round || st.sent.prepare.has(round)) return;
    if (!(await this.journal(st, round, p.hash, 'prepare', p.justification))) return;
    st.sent.prepare.add(round);
    await this.send(signMessage({ type: MessageType.Prepare, height: st.height, round, hash: p.hash }, this.opts.key));
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
    const body: Body = { type: MessageType.Commit, height: st.height, round, hash: p.hash, seal: committedSeal(p.block.header, this.opts.key) };
    await this.send(signMessage(body, this.opts.key));
  }

  private async onCommitMessage(st: HeightState, m: CommitMsg): Promise<void> {
    let signer: Uint8Array;
    try {
      signer = recoverAddress(committedSealHash(m.body.hash), m.body.seal);
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
    this.roundTimer.stop();
    this.proposeTimer.stop();
    this.resendTimer.stop();
    const common = this.opts.commonAt(st.height);
    const header = headerWithExtraData(p.block.header, withCommittedSeals(p.block.header, commits.map((c) => c.body.seal)), common);
    const block = blockWithHeader(p.block, header, common);
    this.log.info({ height: Number(st.height), round, hash: bytesToHex(p.hash), seals: commits.length }, 'consensus reached');
    try {
      await this.opts.backend.onCommit(block);
    } catch (err) {
      this.log.error({ height: Number(st.height), err: (err as Error).message }, 'committed block was not imported');
    }
    this.enqueue(() => this.nextHeightIfDue());
  }

  private async onRoundChange(st: HeightState, m: RoundChangeMsg): Promise<void> {
    const { round, prepared } = m.body;
    if (round === 0) return;
    const rm = st.at(round);
    if (rm.roundChanges.has(bytesToHex(m.sender))) return;
    let block: Block | undefined;
    if (prepared !== undefined) {
      if (!this.checkPreparedCert(st, round, prepared)) return;
      try {
        block = this.decodeBlock(m.attachment, st.height);
      } catch {
        return;
      }
      if (!equalsBytes(blockHash(block.header), prepared.hash)) return;
    } else if (m.attachment.length > 0) {
      return;
    }
    RoundMessages.addFirst(rm.roundChanges, m.sender, { msg: m, block });
    // F+1 validators asking for a later round include an honest one: follow them.
    const ahead = st.roundsAheadWith(maxFaulty(st.validators.length) + 1);
    if (ahead.length > 0) await this.startRound(st, ahead[ahead.length - 1]!);
    else if (round === st.round) await this.tryPropose(st);
  }

  // ---- certificates ----

  /** A prepared certificate: a round below `below`, a quorum of distinct validators' PREPAREs for its hash. */
  private checkPreparedCert(st: HeightState, below: number, pc: PreparedCert): boolean {
    if (pc.round >= below || pc.prepares.length > st.validators.length) return false;
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

  // ---- signing ----

  /**
   * Whether this validator may sign `hash` at `round` of this height, given what it signed before:
   * never below its last signed round, never another value in the same round, and another value in a
   * later round only with a round-change certificate, which must be at least as recent as the
   * value it saw prepared (if it saw one) when it asks for a different value.
   */
  private maySign(height: bigint, round: number, hash: Uint8Array, justification?: Justification): boolean {
    const j = this.signed;
    if (j === undefined || height > j.height) return true;
    if (height < j.height || round < j.round) return false;
    if (round === j.round) return equalsBytes(hash, j.hash);
    if (justification === undefined) return false;
    if (j.prepared && !equalsBytes(hash, j.prepared.hash)) {
      return justification.highest !== undefined && justification.highest.round >= j.prepared.round;
    }
    return true;
  }

  /** Journal a signature (durably) before it is made; false if the journal forbids it. */
  private async journal(st: HeightState, round: number, hash: Uint8Array, kind: SignedState['kind'], justification?: Justification, prepared?: Prepared): Promise<boolean> {
    if (!this.maySign(st.height, round, hash, justification)) {
      this.log.warn({ height: Number(st.height), round, hash: bytesToHex(hash) }, 'refusing to sign: conflicts with what this validator signed before');
      return false;
    }
    const j = this.signed;
    if (prepared === undefined && j?.height === st.height && j.round === round && j.kind === kind && equalsBytes(j.hash, hash)) return true;
    const next: SignedState = {
      height: st.height,
      round,
      hash,
      kind,
      prepared: prepared ? { ...prepared.cert, block: prepared.block.serialize() } : j?.height === st.height ? j.prepared : undefined,
    };
    await this.opts.store.save(next);
    this.signed = next;
    return true;
  }

  private async send(bytes: Uint8Array): Promise<void> {
    this.opts.transport.broadcast(bytes);
    await this.handle(bytes);
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
