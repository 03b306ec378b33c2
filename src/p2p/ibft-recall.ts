import { bytesToHex } from '@ethereumjs/util';
import { MessageError as CoreMessageError } from '../consensus/ibft/core/messages.js';
import {
  decodeRecallAnswer,
  decodeRecallRequest,
  recallAnswerSigner,
  recallRequester,
  type RecallAnswer,
  type RecallRequest,
} from '../consensus/ibft/core/recall.js';
import type { GossipVerdict } from './gossip.js';
import { MAX_IBFT_GOSSIP_BYTES, MessageError } from './messages.js';

/**
 * IBFT recall (consensus/ibft/core/recall.ts) over gossip, on the topic `/basalt/<genesis>/ibft-recall/1`,
 * so that a validator's request reaches every validator and their answers come back however the
 * network is linked (a validator need not be connected to the others directly). A gossip message is
 * one kind byte (0 request, 1 answer) and the recall message. Every node checks before it relays:
 * a request must be signed by a validator, an answer by a validator, both for the next two heights;
 * per asking validator (and answering one) one is relayed every RECALL_RELAY_INTERVAL_MS at most.
 */
export const RECALL_REQUEST = 0;
export const RECALL_ANSWER = 1;
/** Largest recall gossip message: an answer carrying one proposal (an IBFT message) and small ones. */
export const MAX_RECALL_GOSSIP_BYTES = MAX_IBFT_GOSSIP_BYTES + 1024 * 1024;
/** A validator asks once a second while it learns: relaying more often is a flood, not a request. */
export const RECALL_RELAY_INTERVAL_MS = 500;
/** Senders whose last relayed message time is remembered (bounded). */
const MAX_TRACKED = 4096;

export interface RecallCheckContext {
  head(): bigint;
  isValidator(address: Uint8Array): boolean;
}

export interface RecallCheckResult {
  verdict: GossipVerdict;
  /** The height of a message ignored for being outside the next two heights (how far is the caller's question). */
  outside?: bigint;
  request?: { bytes: Uint8Array; request: RecallRequest };
  answer?: { bytes: Uint8Array; answer: RecallAnswer };
}

export function recallGossip(kind: typeof RECALL_REQUEST | typeof RECALL_ANSWER, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = kind;
  out.set(bytes, 1);
  return out;
}

export class RecallRelay {
  private readonly last = new Map<string, number>();
  /** Signatures recovered (an answer's messages hashed with it): what the height window, checked first, spares. */
  recoveries = 0;

  constructor(
    private readonly ctx: RecallCheckContext,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Throws MessageError for a message nobody honest would relay (malformed, badly signed). Cheapest
   * first: the size, the decode and its fields, the height (one for another height is ignored, its
   * `outside` given, before an answer's messages are hashed or a signature recovered), then the signer.
   */
  check(data: Uint8Array): RecallCheckResult {
    if (data.length > MAX_RECALL_GOSSIP_BYTES) throw new MessageError(`IBFT recall message of ${data.length} bytes, more than ${MAX_RECALL_GOSSIP_BYTES}`);
    const kind = data[0];
    if (kind !== RECALL_REQUEST && kind !== RECALL_ANSWER) throw new MessageError(`IBFT recall: unknown kind ${kind}`);
    const bytes = data.subarray(1);
    const head = this.ctx.head();
    const outside = (height: bigint): RecallCheckResult | undefined =>
      height <= head || height > head + 2n ? { verdict: 'ignore', outside: height } : undefined;
    try {
      if (kind === RECALL_REQUEST) {
        const signed = decodeRecallRequest(bytes);
        const ignored = outside(signed.height);
        if (ignored) return ignored;
        this.recoveries++;
        const request = recallRequester(signed);
        if (!this.ctx.isValidator(request.requester)) return { verdict: 'reject' };
        if (!this.fresh(`q${bytesToHex(request.requester)}`)) return { verdict: 'ignore' };
        return { verdict: 'accept', request: { bytes, request } };
      }
      const signed = decodeRecallAnswer(bytes, MAX_RECALL_GOSSIP_BYTES);
      const ignored = outside(signed.height);
      if (ignored) return ignored;
      this.recoveries++;
      const answer = recallAnswerSigner(signed);
      if (!this.ctx.isValidator(answer.signer)) return { verdict: 'reject' };
      if (!this.fresh(`a${bytesToHex(answer.signer)}${bytesToHex(answer.requester)}`)) return { verdict: 'ignore' };
      return { verdict: 'accept', answer: { bytes, answer } };
    } catch (err) {
      if (err instanceof CoreMessageError) throw new MessageError(`IBFT recall: ${err.message}`);
      throw err;
    }
  }

  private fresh(key: string): boolean {
    const t = this.now();
    const prev = this.last.get(key);
    if (prev !== undefined && t - prev < RECALL_RELAY_INTERVAL_MS) return false;
    this.last.delete(key);
    this.last.set(key, t);
    if (this.last.size > MAX_TRACKED) this.last.delete(this.last.keys().next().value!);
    return true;
  }
}
