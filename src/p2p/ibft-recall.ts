import type { PeerId } from '@libp2p/interface';
import { bytesToHex } from '@ethereumjs/util';
import { MessageError as CoreMessageError } from '../consensus/ibft/core/messages.js';
import { MAX_RECALL_REQUEST_BYTES } from '../consensus/ibft/core/recall.js';
import type { Logger } from '../util/log.js';
import type { Host } from './host.js';
import { MAX_IBFT_GOSSIP_BYTES, MessageError } from './messages.js';
import { request, serve } from './streams.js';

/**
 * The IBFT recall protocol (consensus/ibft/core/recall.ts) between validators: one request, one
 * signed answer. A validator unsure of what its key signed at a height asks every ready peer; the
 * validators among them answer (a full node has no key and answers nothing).
 */
export function recallProtocol(genesisHash: Uint8Array): string {
  return `/basalt/${bytesToHex(genesisHash).slice(2, 18)}/ibft-recall/1`;
}

export const RECALL_TIMEOUT_MS = 5_000;
/** Largest answer read: one proposal (a gossiped IBFT message) and the small messages around it. */
export const MAX_RECALL_ANSWER_WIRE_BYTES = MAX_IBFT_GOSSIP_BYTES + 1024 * 1024;
/** A peer asks at most this often; more often gets no answer (the asker retries every second). */
export const MIN_RECALL_INTERVAL_MS = 250;
/** Peers whose last request time is remembered (the rate limit's memory is bounded). */
const MAX_TRACKED = 1024;

export interface RecallServerOptions {
  /** This validator's signed answer, or undefined when it is not a validator taking part now. */
  answer(request: Uint8Array): Uint8Array | undefined;
  isReady(peer: PeerId): boolean;
  onBadPeer(peer: PeerId, reason: string): void;
  now?: () => number;
}

export async function serveRecall(host: Host, genesisHash: Uint8Array, opts: RecallServerOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  const last = new Map<string, number>();
  await serve(
    host,
    recallProtocol(genesisHash),
    async (req, peer) => {
      if (!opts.isReady(peer)) return [];
      const id = peer.toString();
      const t = now();
      const prev = last.get(id);
      if (prev !== undefined && t - prev < MIN_RECALL_INTERVAL_MS) return [];
      last.delete(id);
      last.set(id, t);
      if (last.size > MAX_TRACKED) last.delete(last.keys().next().value!);
      let answer: Uint8Array | undefined;
      try {
        answer = opts.answer(req);
      } catch (err) {
        if (err instanceof CoreMessageError) throw new MessageError(`recall request: ${err.message}`);
        throw err;
      }
      return answer === undefined ? [] : [answer];
    },
    { maxRequestBytes: MAX_RECALL_REQUEST_BYTES, timeoutMs: RECALL_TIMEOUT_MS, maxConcurrent: 1, onBadPeer: opts.onBadPeer },
  );
}

/**
 * Send `req` to each of `peers` (one request in flight per peer) and hand every answer to `onAnswer`.
 * A peer that does not answer, or answers nothing, is simply not counted by the asker.
 */
export class RecallClient {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly host: Host,
    private readonly protocol: string,
    private readonly log: Logger,
  ) {}

  ask(peers: PeerId[], req: Uint8Array, onAnswer: (answer: Uint8Array) => void): void {
    for (const peer of peers) {
      const id = peer.toString();
      if (this.inFlight.has(id)) continue;
      this.inFlight.add(id);
      request(this.host, peer, this.protocol, req, {
        timeoutMs: RECALL_TIMEOUT_MS,
        maxMessageBytes: MAX_RECALL_ANSWER_WIRE_BYTES,
        maxMessages: 1,
        maxTotalBytes: MAX_RECALL_ANSWER_WIRE_BYTES,
      })
        .then(([answer]) => {
          if (answer !== undefined) onAnswer(answer);
        })
        .catch((err: Error) => this.log.debug({ peer: id, err: err.message }, 'recall request failed'))
        .finally(() => this.inFlight.delete(id));
    }
  }
}
