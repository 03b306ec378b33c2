import { createHash } from 'node:crypto';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { MessageError as CoreMessageError, MessageType, type PreparedCert } from '../consensus/ibft/core/messages.js';
import { checkPreparedBlock } from '../consensus/ibft/core/prepared-block.js';
import { decodeMessage, openMessage, recoverSender, type Signed, type Unopened } from '../consensus/ibft/core/signing.js';
import { maxFaulty } from '../consensus/ibft/validators.js';
import type { GossipVerdict } from './gossip.js';
import { MAX_IBFT_GOSSIP_BYTES, MessageError } from './messages.js';
import { errorMessage } from '../util/errors.js';

/**
 * Validation of a gossiped IBFT message, cheapest check first, so that what a hostile peer sends
 * costs it more than it costs the node: a bounded decode (no signature), the size its type may have,
 * the height window, a seen-cache (a replay costs one hash lookup; keyed on the signed body and
 * signature, so a copy with another attachment is never taken as new), and only then the signature recovery and
 * the validator check, and for a ROUND-CHANGE carrying a prepared block, that block against its
 * certificate. Only that ROUND-CHANGE carries an attachment, the block its certificate names.
 * Every honest node validates before it relays, so a message that fails a check nobody honest would
 * pass (undecodable, oversized for its type, badly signed) was made by the peer it came from: a
 * MessageError, and that peer is banned. An attachment where there is none, or not the block the
 * certificate names, is ignored ('attachment': not relayed, not remembered as seen, no blame): a node
 * of the previous release relays a copy of an honest message that a peer re-wrapped with junk, and is
 * not to be banned for it. A message signed by a key outside
 * the set is rejected and counted against the peer (a relayer on another view of the set is not at
 * fault at once); a stale, far-future or repeated one (within REPEAT_MS), a validator's second
 * PREPREPARE for a height and round, or a ROUND-CHANGE whose certificate does not show F+1 of the
 * head's validators, is ignored (not relayed, no blame here: the Network counts repeated, stale and
 * far-future ones against the peer past a rate, `behind` and `ahead` saying how far).
 */
export interface IbftCheckContext {
  /** The node's head: heads + 1 and + 2 are the heights a message may be for. */
  head(): bigint;
  /** Validators of the head's set, as 20-byte addresses (bytesToHex, lowercase). */
  isValidator(address: Uint8Array): boolean;
  /**
   * Candidates a vote in the head's next block could add (votes.ts joiningNext): validators, maybe, of
   * the height after it, whose messages for that height are taken as a validator's (none if absent).
   */
  isJoining?(address: Uint8Array): boolean;
  /**
   * Candidates the head's own block could have added (joining at its parent) and did not: nodes one
   * block behind relayed their messages for the head's next height as a validator's, so such a message
   * is no relayer's fault here (ignored, 'unjoined'; none if absent).
   */
  wasJoining?(address: Uint8Array): boolean;
  /** Validators in the set (bounds the certificates a message may carry). */
  validatorCount(): number;
}

export interface IbftCheckResult {
  verdict: GossipVerdict;
  /** Why it was not accepted: a label for metrics. */
  reason?: 'stale' | 'future' | 'duplicate' | 'non-validator' | 'unjoined' | 'equivocation' | 'uncertified' | 'attachment';
  /** The decoded, signature-checked message, when accepted. */
  message?: Signed;
  /** For a stale one: how many heights below this node's head it is (0: the height just decided). */
  behind?: bigint;
  /** For a future one: how many heights above this node's head it is (3 and more). */
  ahead?: bigint;
}

/** PREPARE and COMMIT envelopes, and a ROUND-CHANGE without a prepared certificate: a few hundred bytes. */
export const MAX_VOTE_BYTES = 512;
/** Room per validator in a certificate (one PREPARE or bare ROUND-CHANGE envelope each, with RLP framing). */
const PER_CERT_ENTRY_BYTES = MAX_VOTE_BYTES;
/**
 * A validator repeats what it sent in the round in progress every base timeout (a returning validator,
 * or one on a link gossip just added, needs it): the same message is accepted and relayed again after
 * this long, never more often, so a replay costs a hash lookup.
 */
export const REPEAT_MS = 1_000;
/** Prepared blocks remembered as verified. */
export const MAX_PREPARED_BLOCKS = 8;
/** Messages remembered as seen (by hash), oldest forgotten first. */
export const MAX_SEEN = 16_384;

export class IbftGossipCheck {
  private readonly seen = new Map<string, number>();
  /**
   * The first PREPREPARE relayed of each validator, height and round (its body's hash): an honest
   * proposer sends one block a round, so another one is not relayed. Heights at or below the head are
   * forgotten as the head moves; at most MAX_SEEN, oldest forgotten first.
   */
  private readonly proposals = new Map<string, { height: bigint; body: string }>();
  private proposalsHead?: bigint;
  /**
   * Prepared blocks verified (by hex hash: the height and the sha256 of the attachment), so that a
   * validator's ROUND-CHANGE resent every base timeout costs neither the certificate's recoveries nor
   * a transactions root again. At most MAX_PREPARED_BLOCKS, oldest forgotten first; heights at or below
   * the head forgotten as the head moves.
   */
  private readonly preparedBlocks = new Map<string, { height: bigint; digest: string }>();
  private preparedHead?: bigint;
  /** Transactions roots computed for prepared blocks. */
  rootsComputed = 0;
  /** Signature recoveries made (what the cheap checks spare). */
  recoveries = 0;

  constructor(
    private readonly ctx: IbftCheckContext,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws MessageError for a message nobody honest would relay. */
  check(data: Uint8Array): IbftCheckResult {
    if (data.length > MAX_IBFT_GOSSIP_BYTES) throw new MessageError(`IBFT message of ${data.length} bytes, more than ${MAX_IBFT_GOSSIP_BYTES}`);
    let m: Unopened;
    try {
      m = decodeMessage(data, MAX_IBFT_GOSSIP_BYTES);
    } catch (err) {
      if (!(err instanceof CoreMessageError)) throw err;
      throw new MessageError(`IBFT message cannot be decoded: ${err.message.split('\n')[0]}`);
    }
    if (!this.checkSize(m)) return { verdict: 'ignore', reason: 'attachment' };
    const head = this.ctx.head();
    const { height } = m.body;
    if (height <= head) return { verdict: 'ignore', reason: 'stale', behind: head - height };
    if (height > head + 2n) return { verdict: 'ignore', reason: 'future', ahead: height - head };
    // The signed message, not its unsigned attachment: a copy with another attachment is not new.
    const body = createHash('sha256').update(m.envelope.body).digest();
    const key = Buffer.concat([body, m.envelope.signature]).toString('base64');
    const t = this.now();
    const last = this.seen.get(key);
    if (last !== undefined && t - last < REPEAT_MS) {
      // A ROUND-CHANGE seen with its verified block, now with other bytes attached: a re-wrapped copy (a
      // node of the previous release relays those), not the relayer's repeat: not counted against it.
      const b = m.body;
      if (b.type === MessageType.RoundChange && b.prepared !== undefined) {
        const known = this.preparedBlock(bytesToHex(b.prepared.hash), head);
        if (known !== undefined && known !== createHash('sha256').update(m.envelope.attachment).digest('base64'))
          return { verdict: 'ignore', reason: 'attachment' };
      }
      return { verdict: 'ignore', reason: 'duplicate' };
    }
    const b = m.body;
    // The one attachment there is: a ROUND-CHANGE's prepared block, the block its certificate names.
    // A block verified before (same hash) is taken on its bytes' digest: there is one canonical
    // encoding of a block whose header hash and transactions root are fixed, so other bytes are forged.
    // Else its header first (a hash of a few hundred bytes); its transactions (a trie of up to 4 MiB)
    // only once F+1 validators' PREPAREs show an honest one executed that block (so it holds no more
    // transactions than a block may). A forged attachment is ignored before the message is remembered
    // as seen: a copy with one, arriving first, does not shut out the signed one.
    let prepared: { key: string; digest: string } | undefined;
    if (b.type === MessageType.RoundChange && b.prepared !== undefined) {
      const known = this.preparedBlock(bytesToHex(b.prepared.hash), head);
      const digest = createHash('sha256').update(m.envelope.attachment).digest('base64');
      if (known !== undefined && known !== digest) return { verdict: 'ignore', reason: 'attachment' };
      if (known === undefined) {
        if (!preparedBlockIs(b.prepared.hash, m.envelope.attachment, false)) return { verdict: 'ignore', reason: 'attachment' };
        prepared = { key: bytesToHex(b.prepared.hash), digest };
      }
    }
    let signed: Signed;
    this.recoveries++;
    try {
      signed = recoverSender(m);
    } catch (err) {
      throw new MessageError(`IBFT message: ${errorMessage(err)}`);
    }
    // The head's next block may add a candidate: its messages for the height after are a validator's.
    const member = this.ctx.isValidator(signed.sender) || (height === head + 2n && this.ctx.isJoining?.(signed.sender) === true);
    // One the head's block could have added and did not: a node a block behind relayed it in good faith.
    const unjoined = !member && height === head + 1n && this.ctx.wasJoining?.(signed.sender) === true;
    if (prepared !== undefined && b.type === MessageType.RoundChange && b.prepared !== undefined) {
      if (!member) {
        this.remember(key, t);
        return unjoined ? { verdict: 'ignore', reason: 'unjoined' } : { verdict: 'reject', reason: 'non-validator' };
      }
      if (!this.preparedByOneHonest(b.height, b.prepared)) {
        this.remember(key, t);
        return { verdict: 'ignore', reason: 'uncertified' };
      }
      this.rootsComputed++;
      if (!preparedBlockIs(b.prepared.hash, m.envelope.attachment)) return { verdict: 'ignore', reason: 'attachment' };
      this.preparedBlocks.set(prepared.key, { height: b.height, digest: prepared.digest });
      if (this.preparedBlocks.size > MAX_PREPARED_BLOCKS) this.preparedBlocks.delete(this.preparedBlocks.keys().next().value!);
    }
    this.remember(key, t);
    if (unjoined) return { verdict: 'ignore', reason: 'unjoined' };
    if (!member) return { verdict: 'reject', reason: 'non-validator' };
    if (b.type === MessageType.Preprepare && !this.firstProposal(signed, createHash('sha256').update(b.block).digest('base64'), head)) {
      return { verdict: 'ignore', reason: 'equivocation' };
    }
    return { verdict: 'accept', message: signed };
  }

  /**
   * Whether F+1 validators of the head's set (so at least one honest) signed PREPAREs of the
   * certificate's height, round and hash. Stops at the first entry that is not such a PREPARE (an
   * honest certificate holds none), so a forged certificate costs at most F+2 recoveries of small
   * messages. False is no one's fault: a certificate of the height after next may be of another set.
   */
  private preparedByOneHonest(height: bigint, pc: PreparedCert): boolean {
    const need = maxFaulty(this.ctx.validatorCount()) + 1;
    const signers = new Set<string>();
    for (const bytes of pc.prepares) {
      let p: Signed;
      this.recoveries++;
      try {
        p = openMessage(bytes, MAX_VOTE_BYTES);
      } catch {
        return false;
      }
      const b = p.body;
      if (b.type !== MessageType.Prepare || b.height !== height || b.round !== pc.round || !equalsBytes(b.hash, pc.hash)) return false;
      if (this.ctx.isValidator(p.sender)) signers.add(bytesToHex(p.sender));
      if (signers.size >= need) return true;
    }
    return false;
  }

  /**
   * The digest of the attachment verified for a prepared block (by its hex hash), if any; blocks at or
   * below the head are forgotten.
   */
  private preparedBlock(hash: string, head: bigint): string | undefined {
    if (this.preparedHead !== head) {
      this.preparedHead = head;
      for (const [k, p] of this.preparedBlocks) if (p.height <= head) this.preparedBlocks.delete(k);
    }
    return this.preparedBlocks.get(hash)?.digest;
  }

  /**
   * Whether `m` proposes the first block seen of its signer for its height and round (`digest`: of the
   * block alone). A different block is equivocation: not relayed (every validator executes one
   * proposal a round). No peer is blamed: an honest relayer may have seen the other one first. The
   * same block with another round-change certificate is not: a proposer restarted mid-round proposes
   * its locked block again with the certificate it gathered anew.
   */
  private firstProposal(m: Signed, digest: string, head: bigint): boolean {
    if (this.proposalsHead !== head) {
      this.proposalsHead = head;
      for (const [k, p] of this.proposals) if (p.height <= head) this.proposals.delete(k);
    }
    const slot = `${bytesToHex(m.sender)}/${m.body.height}/${m.body.round}`;
    const first = this.proposals.get(slot);
    if (first !== undefined) return first.body === digest;
    this.proposals.set(slot, { height: m.body.height, body: digest });
    if (this.proposals.size > MAX_SEEN) this.proposals.delete(this.proposals.keys().next().value!);
    return true;
  }

  /**
   * The size a message of its type may have with this validator set (else a MessageError); false for
   * an attachment on a message that has none.
   */
  private checkSize(m: Unopened): boolean {
    const b = m.body;
    const n = this.ctx.validatorCount();
    const fail = (what: string, limit: number): never => {
      throw new MessageError(`IBFT ${what} of ${m.bytes.length} bytes, more than ${limit}`);
    };
    // Only a ROUND-CHANGE with a prepared certificate carries an attachment (its prepared block; a
    // proposal's block is in its signed body): any other is junk added to a signed message, which a
    // node of the previous release relays.
    const none = m.envelope.attachment.length === 0;
    switch (b.type) {
      case MessageType.Prepare:
      case MessageType.Commit:
        if (m.bytes.length > MAX_VOTE_BYTES) fail(b.type === MessageType.Prepare ? 'PREPARE' : 'COMMIT', MAX_VOTE_BYTES);
        return none;
      case MessageType.RoundChange: {
        if (b.prepared === undefined) {
          if (m.envelope.attachment.length > 0) throw new MessageError('IBFT ROUND-CHANGE without a prepared certificate carries a block');
          if (m.bytes.length > MAX_VOTE_BYTES) fail('ROUND-CHANGE', MAX_VOTE_BYTES);
          return true;
        }
        if (b.prepared.prepares.length > n)
          throw new MessageError(`IBFT prepared certificate of ${b.prepared.prepares.length} PREPAREs, more than the ${n} validators`);
        const limit = MAX_VOTE_BYTES + n * PER_CERT_ENTRY_BYTES;
        if (m.envelope.body.length > limit) fail('ROUND-CHANGE certificate', limit);
        return true;
      }
      case MessageType.Preprepare: {
        if (b.roundChanges.length > n)
          throw new MessageError(`IBFT round-change certificate of ${b.roundChanges.length} messages, more than the ${n} validators`);
        if (b.roundChanges.some((rc) => rc.length > MAX_VOTE_BYTES + n * PER_CERT_ENTRY_BYTES))
          throw new MessageError('IBFT round-change certificate entry oversized');
        return none;
      }
    }
  }

  private remember(key: string, t: number): void {
    this.seen.delete(key);
    this.seen.set(key, t);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.keys().next().value!);
  }
}

/** Whether `bytes` is the prepared block `hash` names (checkPreparedBlock's MessageError: false). */
function preparedBlockIs(hash: Uint8Array, bytes: Uint8Array, transactions = true): boolean {
  try {
    checkPreparedBlock(hash, bytes, transactions);
    return true;
  } catch (err) {
    if (err instanceof CoreMessageError) return false;
    throw err;
  }
}
