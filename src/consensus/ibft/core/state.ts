import type { Block } from '@ethereumjs/block';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { MessageType, type PreparedCert } from './messages.js';
import type { Signed } from './signing.js';

type Of<T extends number> = Signed & { body: { type: T } };
export type PrepareMsg = Signed & { body: { type: 1; hash: Uint8Array } };
export type CommitMsg = Signed & { body: { type: 2; hash: Uint8Array; seal: Uint8Array } };
export type RoundChangeMsg = Of<3> & { body: { prepared?: PreparedCert } };

/** What a round-change certificate allows the proposal of its round to be. */
export interface Justification {
  /** The highest prepared certificate among the certificate's ROUND-CHANGEs: the proposal must be its value. */
  highest?: { round: number; hash: Uint8Array };
}

export interface Proposal {
  block: Block;
  hash: Uint8Array;
  /** Undefined at round 0 (no round-change certificate needed). */
  justification?: Justification;
}

/** A value this validator saw prepared by a quorum: carried in its ROUND-CHANGEs. */
export interface Prepared {
  cert: PreparedCert;
  block: Block;
}

/** The messages of one round, the first of each kind from each validator (later ones are ignored). */
export class RoundMessages {
  proposal?: Proposal;
  /**
   * Whether a proposal of this round passed the cheap checks (proposer, seal, certificate) and went to
   * full verification: a validator executes one a round. It is `proposal` if it passed.
   */
  tried = false;
  readonly prepares = new Map<string, PrepareMsg>();
  readonly commits = new Map<string, CommitMsg>();
  readonly roundChanges = new Map<string, { msg: RoundChangeMsg; block?: Block }>();

  /** Add `msg` from `sender` unless that validator already sent one of this kind here. */
  static addFirst<T>(map: Map<string, T>, sender: Uint8Array, msg: T): boolean {
    const key = bytesToHex(sender);
    if (map.has(key)) return false;
    map.set(key, msg);
    return true;
  }

  preparesFor(hash: Uint8Array): PrepareMsg[] {
    return [...this.prepares.values()].filter((m) => equalsBytes(m.body.hash, hash));
  }

  commitsFor(hash: Uint8Array): CommitMsg[] {
    return [...this.commits.values()].filter((m) => equalsBytes(m.body.hash, hash));
  }
}

/** Messages kept per validator and height for recall answers (the newest). */
export const MAX_HELD_PER_SENDER = 32;
/**
 * Rounds below the current one whose proposal and COMMITs are kept: a quorum's COMMITs that arrive
 * just after this node left their round still decide the height here. Older ones are dropped (the
 * height is then decided in a later round, or its block comes by sync).
 */
export const ROUNDS_KEPT_BEHIND = 2;

/** Consensus state for one height: the current round, every round's messages, what was sent. */
export class HeightState {
  round = 0;
  done = false;
  prepared?: Prepared;
  /**
   * Set while this validator learns what its key signed at this height (recall): it signs nothing.
   * `answered` holds the validators (itself included) whose answers to the request `nonce` arrived.
   */
  watch?: { nonce: Uint8Array; answered: Set<string>; request?: Uint8Array };
  /** Why this validator signs nothing at this height (its chain was rolled back below what it signed), or undefined. */
  refused?: string;
  private readonly rounds = new Map<number, RoundMessages>();
  /** Every validator's signed messages seen at this height, bare, for recall answers (one proposal each). */
  private readonly held = new Map<string, { bytes: Uint8Array; type: number; round: number }[]>();
  readonly sent = { proposal: new Set<number>(), prepare: new Set<number>(), commit: new Set<number>(), roundChange: new Set<number>() };

  constructor(
    readonly height: bigint,
    readonly validators: Uint8Array[],
    /** PREPAREs, COMMITs and ROUND-CHANGEs this height needs (the chain's quorum rule at the height). */
    readonly quorum: number,
  ) {}

  at(round: number): RoundMessages {
    let r = this.rounds.get(round);
    if (r === undefined) {
      r = new RoundMessages();
      this.rounds.set(round, r);
    }
    return r;
  }

  peek(round: number): RoundMessages | undefined {
    return this.rounds.get(round);
  }

  /** The lowest round whose messages are kept (ROUNDS_KEPT_BEHIND below the current one). */
  get lowestKept(): number {
    return this.round - ROUNDS_KEPT_BEHIND;
  }

  /**
   * The round moved on: what earlier rounds hold that nothing reads any more is dropped, so that a
   * height stuck for hundreds of rounds holds no more than a few rounds' messages and blocks.
   * ROUND-CHANGEs and PREPAREs count only in the round in progress (the value this validator saw
   * prepared is kept apart, in `prepared`, with its certificate and block); a proposal and its COMMITs
   * are kept ROUNDS_KEPT_BEHIND rounds longer.
   */
  forgetEarlierRounds(): void {
    for (const [r, m] of this.rounds) {
      if (r >= this.round) continue;
      if (r < this.lowestKept) {
        this.rounds.delete(r);
      } else {
        m.prepares.clear();
        m.roundChanges.clear();
      }
    }
  }

  /**
   * A block this height holds already whose hash is `hash` (the prepared value, a proposal, a
   * ROUND-CHANGE's), so that each ROUND-CHANGE carrying the same prepared block does not decode and
   * keep a copy of its own.
   */
  blockOf(hash: Uint8Array): Block | undefined {
    if (this.prepared !== undefined && equalsBytes(this.prepared.cert.hash, hash)) return this.prepared.block;
    for (const m of this.rounds.values()) {
      if (m.proposal !== undefined && equalsBytes(m.proposal.hash, hash)) return m.proposal.block;
      for (const rc of m.roundChanges.values()) if (rc.block !== undefined && equalsBytes(rc.msg.body.prepared!.hash, hash)) return rc.block;
    }
    return undefined;
  }

  /** How many rounds have messages kept, and how many distinct blocks they and `prepared` hold. */
  retained(): { rounds: number; blocks: number } {
    const blocks = new Set<Block>();
    if (this.prepared !== undefined) blocks.add(this.prepared.block);
    for (const m of this.rounds.values()) {
      if (m.proposal !== undefined) blocks.add(m.proposal.block);
      for (const rc of m.roundChanges.values()) if (rc.block !== undefined) blocks.add(rc.block);
    }
    return { rounds: this.rounds.size, blocks: blocks.size };
  }

  /**
   * Keep a message its sender signed at this height (seen directly or inside a certificate), without
   * its unsigned attachment, the first of each type and round: copies with other attachments, or a
   * validator's second message of a kind in a round, cannot push out the COMMIT that tells a restored
   * validator its lock. Bounded: one proposal (the newest: it carries a block) and
   * MAX_HELD_PER_SENDER messages in all per sender.
   */
  hold(m: Signed): void {
    const key = bytesToHex(m.sender);
    const { type, round } = m.body;
    let list = this.held.get(key) ?? [];
    if (list.some((e) => e.type === type && e.round === round)) return;
    if (type === MessageType.Preprepare) list = list.filter((e) => e.type !== MessageType.Preprepare);
    list.push({ bytes: m.bare, type, round });
    if (list.length > MAX_HELD_PER_SENDER) list.shift();
    this.held.set(key, list);
  }

  heldFrom(senderHex: string): Uint8Array[] {
    return (this.held.get(senderHex) ?? []).map((e) => e.bytes);
  }

  /** The highest round beyond the rounds kept that each validator sent a ROUND-CHANGE for. */
  private readonly askedFarAhead = new Map<string, number>();

  /**
   * `sender` asked for `round`, too far ahead for its messages to be kept: only the highest such round
   * of each validator is. The highest round that at least `count` validators asked for (that or a later
   * one), if above the current one.
   */
  farAhead(sender: Uint8Array, round: number, count: number): number | undefined {
    const key = bytesToHex(sender);
    if ((this.askedFarAhead.get(key) ?? -1) < round) this.askedFarAhead.set(key, round);
    const r = [...this.askedFarAhead.values()].sort((a, b) => b - a)[count - 1];
    return r !== undefined && r > this.round ? r : undefined;
  }

  /** Rounds above the current one with ROUND-CHANGEs from at least `count` validators, lowest first. */
  roundsAheadWith(count: number): number[] {
    return [...this.rounds.entries()]
      .filter(([r, m]) => r > this.round && m.roundChanges.size >= count)
      .map(([r]) => r)
      .sort((a, b) => a - b);
  }
}
