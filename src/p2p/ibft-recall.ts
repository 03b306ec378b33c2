import { bytesToHex } from '@ethereumjs/util';
import { MessageError as CoreMessageError } from '../consensus/ibft/core/messages.js';
import { openRecallAnswer, openRecallRequest, type RecallAnswer, type RecallRequest } from '../consensus/ibft/core/recall.js';
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

  constructor(
    private readonly ctx: RecallCheckContext,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws MessageError for a message nobody honest would relay (malformed, badly signed). */
  check(data: Uint8Array): RecallCheckResult {
    if (data.length > MAX_RECALL_GOSSIP_BYTES) throw new MessageError(`IBFT recall message of ${data.length} bytes, more than ${MAX_RECALL_GOSSIP_BYTES}`);
    const kind = data[0];
    const bytes = data.subarray(1);
    const head = this.ctx.head();
    const inWindow = (h: bigint) => h > head && h <= head + 2n;
    try {
      if (kind === RECALL_REQUEST) {
        const request = openRecallRequest(bytes);
        if (!inWindow(request.height)) return { verdict: 'ignore' };
        if (!this.ctx.isValidator(request.requester)) return { verdict: 'reject' };
        if (!this.fresh(`q${bytesToHex(request.requester)}`)) return { verdict: 'ignore' };
        return { verdict: 'accept', request: { bytes, request } };
      }
      if (kind === RECALL_ANSWER) {
        const answer = openRecallAnswer(bytes, MAX_RECALL_GOSSIP_BYTES);
        if (!inWindow(answer.height)) return { verdict: 'ignore' };
        if (!this.ctx.isValidator(answer.signer)) return { verdict: 'reject' };
        if (!this.fresh(`a${bytesToHex(answer.signer)}${bytesToHex(answer.requester)}`)) return { verdict: 'ignore' };
        return { verdict: 'accept', answer: { bytes, answer } };
      }
    } catch (err) {
      if (err instanceof CoreMessageError) throw new MessageError(`IBFT recall: ${err.message}`);
      throw err;
    }
    throw new MessageError(`IBFT recall: unknown kind ${kind}`);
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
