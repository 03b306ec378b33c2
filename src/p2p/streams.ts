import '../util/promise-with-resolvers.js';
import type { PeerId, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import { addressKeyOf, type Host } from './host.js';
import { MessageError } from './messages.js';
import type { Semaphore } from '../util/mutex.js';
import { errorMessage } from '../util/errors.js';

/** A request that got no (complete) answer in time: the peer stalls; ask another. */
export class RequestTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestTimeoutError';
  }
}

export interface ResponseLimits {
  timeoutMs: number;
  /** Largest single message. */
  maxMessageBytes: number;
  /** Most messages in the response. */
  maxMessages: number;
  /** Most bytes in all. */
  maxTotalBytes: number;
  /** The caller's own end (a part stopping): the request is abandoned with RequestAbortedError. */
  signal?: AbortSignal;
}

/** A request abandoned because its caller's signal aborted (not the peer's fault). */
export class RequestAbortedError extends Error {}

/** A response message over `maxMessageBytes`, refused from its length prefix before its bytes are read. */
export class OversizedMessageError extends MessageError {}

/** it-length-prefixed's errors for a bad length prefix or an oversized message. */
function isFramingError(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  return /^Invalid(Data|Message)Length/.test(name) || name === 'InvalidDataLengthLengthError';
}

/**
 * One request, its response messages. Every bound is enforced while reading: a message over
 * `maxMessageBytes` is refused from its length prefix, before its bytes arrive.
 * Throws MessageError (the peer broke the protocol), RequestTimeoutError, or a connection error.
 */
export async function request(host: Host, peer: PeerId, protocol: string, req: Uint8Array, limits: ResponseLimits): Promise<Uint8Array[]> {
  return (await requestNegotiated(host, peer, [protocol], () => req, limits)).response;
}

/**
 * A request over the first of `protocols` (best first) that the peer supports: the request is made
 * for the protocol negotiated, which is returned with the response. Same bounds and errors as request.
 */
export async function requestNegotiated(
  host: Host,
  peer: PeerId,
  protocols: string[],
  req: (protocol: string) => Uint8Array,
  limits: ResponseLimits,
): Promise<{ protocol: string; response: Uint8Array[] }> {
  // The request's own deadline, and the caller's signal (listened to for this request only).
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), limits.timeoutMs);
  timer.unref();
  const onCallerAbort = () => controller.abort();
  limits.signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (limits.signal?.aborted) controller.abort();
  const signal = controller.signal;
  let stream: Stream | undefined;
  let protocol = protocols.join(' or ');
  const ended = () =>
    limits.signal?.aborted
      ? new RequestAbortedError(`${protocol}: request to ${peer} abandoned`)
      : new RequestTimeoutError(`${protocol}: no answer from ${peer} within ${limits.timeoutMs} ms`);
  const onAbort = () => stream?.abort(ended());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    stream = await host.dialProtocol(peer, protocols, { signal });
    protocol = stream.protocol ?? protocols[0]!;
    await stream.sink(lp.encode([req(protocol)]));
    const out: Uint8Array[] = [];
    let total = 0;
    for await (const m of lp.decode(stream.source, { maxDataLength: limits.maxMessageBytes })) {
      total += m.byteLength;
      if (out.length >= limits.maxMessages) throw new MessageError(`${protocol}: more than ${limits.maxMessages} messages in a response`);
      if (total > limits.maxTotalBytes) throw new MessageError(`${protocol}: response over ${limits.maxTotalBytes} bytes`);
      out.push(m.subarray());
    }
    return { protocol, response: out };
  } catch (err) {
    if (signal.aborted) throw ended();
    if (isFramingError(err)) {
      const Failure = (err as Error).name === 'InvalidDataLengthError' ? OversizedMessageError : MessageError;
      throw new Failure(`${protocol}: ${errorMessage(err)}`);
    }
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    clearTimeout(timer);
    limits.signal?.removeEventListener('abort', onCallerAbort);
    if (stream && stream.status === 'open') stream.abort(new Error('done'));
  }
}

export interface ServeOptions {
  maxRequestBytes: number;
  /** Time for the whole exchange: reading the request and the peer reading the response. */
  timeoutMs: number;
  /** Concurrent requests per connection (more are refused by libp2p). */
  maxConcurrent: number;
  /**
   * Answers built and sent at once over every connection (and every protocol given the same one): a
   * request read waits for a place, within its timeout, and holds it until its answer is sent. The
   * places are taken by peer (the Semaphore's key), so a peer may hold no more than its `perKey` of
   * them; a peer that `trusted` does not vouch for takes them by its IP address too (the group), so the
   * peers of one address hold no more than `perGroup`, and such peers together no more than `grouped`.
   */
  answering?: Semaphore;
  /**
   * Peers whose places are counted by peer alone and may take those kept for them (validators, bootnodes
   * and added peers: a devnet's nodes share 127.0.0.1). Without it, every peer is counted by address too.
   */
  trusted?(peer: PeerId): boolean;
  /**
   * An answer the peer takes none of for this long (its reader stalls, the stream's window stays
   * shut) is abandoned, its place given back, without waiting for `timeoutMs`. Default SEND_STALL_MS.
   */
  stallMs?: number;
  /** The peer broke the protocol (MessageError): ban it. */
  onBadPeer(peer: PeerId, reason: string): void;
}

/** How long serve() lets an answer's asker take none of it before the answer is abandoned. */
export const SEND_STALL_MS = 3_000;
/** An answer is sent in pieces of at most this, each taken by the stream a sign that the asker reads. */
const SEND_PIECE_BYTES = 64 * 1024;

/**
 * `source` in pieces of at most SEND_PIECE_BYTES, calling `offered` as each is offered to the stream
 * and `taken` when the stream asks for the next (the one before is sent): time spent building the
 * answer is not the asker's.
 */
async function* inPieces(source: AsyncIterable<Uint8Array>, offered: () => void, taken: () => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    for (let i = 0; i < chunk.byteLength; i += SEND_PIECE_BYTES) {
      offered();
      yield chunk.subarray(i, i + SEND_PIECE_BYTES);
      taken();
    }
  }
}

/**
 * Serve a request/response protocol: read one request (bounded), answer with the handler's messages.
 * A handler may throw MessageError to refuse a malformed request (the peer is reported).
 */
export async function serve(
  host: Host,
  protocol: string,
  handler: (req: Uint8Array, peer: PeerId) => Promise<AsyncIterable<Uint8Array> | Iterable<Uint8Array>>,
  opts: ServeOptions,
): Promise<void> {
  await host.handle(
    protocol,
    ({ stream, connection }) => {
      const peer = connection.remotePeer;
      const expired = new AbortController();
      const timer = setTimeout(() => {
        const err = new RequestTimeoutError(`${protocol}: exchange with ${peer} took over ${opts.timeoutMs} ms`);
        expired.abort(err);
        stream.abort(err);
      }, opts.timeoutMs);
      let holding = false;
      const key = peer.toString();
      let group: string | undefined;
      let stall: ReturnType<typeof setTimeout> | undefined;
      const stallMs = opts.stallMs ?? SEND_STALL_MS;
      const offered = () => {
        stall = setTimeout(() => {
          const err = new RequestTimeoutError(`${protocol}: ${peer} took none of an answer for ${stallMs} ms`);
          expired.abort(err);
          stream.abort(err);
        }, stallMs);
      };
      const taken = () => clearTimeout(stall);
      void (async () => {
        try {
          const it = lp.decode(stream.source, { maxDataLength: opts.maxRequestBytes })[Symbol.asyncIterator]();
          const first = await it.next();
          if (first.done) throw new Error(`${protocol}: stream closed without a request`); // a cancelled request: not malice
          if (opts.answering) {
            group = opts.trusted?.(peer) ? undefined : addressKeyOf(connection.remoteAddr);
            await opts.answering.acquire(expired.signal, key, group);
            holding = true;
            if (stream.status !== 'open') return; // its asker gave up meanwhile
          }
          const responses = await handler(first.value.subarray(), peer);
          await stream.sink(inPieces(lp.encode(responses), offered, taken));
        } catch (err) {
          if (err instanceof MessageError) opts.onBadPeer(peer, err.message);
          else if (isFramingError(err)) opts.onBadPeer(peer, `${protocol}: ${errorMessage(err)}`);
          stream.abort(err as Error);
        } finally {
          clearTimeout(timer);
          clearTimeout(stall);
          if (holding) opts.answering!.release(key, group);
        }
      })();
    },
    { maxInboundStreams: opts.maxConcurrent, maxOutboundStreams: opts.maxConcurrent },
  );
}
