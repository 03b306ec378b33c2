import { constants as http2 } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import type { ByteSink } from '../../backup/types.js';
import { UserError, errorMessage } from '../../util/errors.js';
import { formatDuration } from '../../util/duration.js';
import type { Logger } from '../../util/log.js';
import type { RateFloor } from '../../util/rate-floor.js';
import { toGrpcStatus } from './errors.js';

/**
 * The most bytes one `data` message carries, either way (export and snapshot events, import requests).
 * Producers hand over chunks of any size (a block record of up to 65 MiB; a snapshot's header with its
 * genesis records in one piece), and gRPC clients and servers take messages of at most 4 MiB by default.
 */
export const MAX_DATA_MESSAGE_BYTES = 1024 * 1024;

/** `chunk` in consecutive pieces of at most MAX_DATA_MESSAGE_BYTES (views, not copies). */
export function* dataPieces(chunk: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < chunk.length; i += MAX_DATA_MESSAGE_BYTES) yield chunk.subarray(i, i + MAX_DATA_MESSAGE_BYTES);
}

/**
 * A server stream of events, written in order, one at a time: the next event is sent only once
 * HTTP/2 has taken the previous one (its write callback), so a client that stops reading holds at
 * most one message and the stream's flow-control window in the node's memory, and the producer
 * waits. grpc-js's own buffer (16 messages before `write` returns false) would hold 4 MB per stalled
 * call, and anything written regardless of `drain` stays queued without limit.
 *
 * A write still waiting after `idleTimeoutMs` (0: never) means the client has stopped reading: the
 * call is reset (RST_STREAM CANCEL, which frees what is queued for it) and the write fails, so the
 * producer releases its LevelDB snapshots. A client that reads, but below `floor` (`--grpc-stream-min-rate`,
 * counted only while a write waits for it), fails the write the same way at the end of a window; its
 * call ends with RESOURCE_EXHAUSTED (endTooSlow).
 */
export class EventStream<E extends object> {
  /** Why writes fail from now on (the client cancelled, read nothing for too long, or too slowly). */
  private stopped: UserError | undefined;
  private idle = false;
  private slow = false;
  private queued: E[] = [];

  constructor(
    private readonly call: grpc.ServerWritableStream<unknown, E>,
    private readonly idleTimeoutMs: number,
    private readonly floor?: RateFloor,
  ) {
    call.on('cancelled', () => (this.stopped ??= new UserError('the client cancelled the call', { code: 'CANCELLED' })));
  }

  /** An event to send before the next write (from a synchronous callback). */
  queue(ev: E): void {
    this.queued.push(ev);
  }

  /**
   * A ByteSink whose chunks go out as `data` events of at most MAX_DATA_MESSAGE_BYTES, each chunk
   * followed by the latest progress event.
   */
  dataSink(data: (chunk: Uint8Array) => E, progress: () => E | undefined): ByteSink {
    return {
      write: async (chunk) => {
        for (const piece of dataPieces(chunk)) await this.send(data(piece), piece.length);
        const p = progress();
        if (p) await this.send(p);
      },
    };
  }

  async finish(last: E): Promise<void> {
    await this.send(last);
    this.call.end();
  }

  /** End the call with the error's status; a client that went away or was cut off gets nothing more. */
  fail(err: unknown, log: Logger, what: string): void {
    if (this.idle) {
      log.warn(
        { idleTimeout: formatDuration(this.idleTimeoutMs) },
        `${what} cancelled: the client read nothing for the stream idle timeout (--grpc-stream-idle-timeout)`,
      );
      return;
    }
    if (this.slow) {
      log.warn({ err: errorMessage(this.stopped) }, `${what} cut: the client reads below --grpc-stream-min-rate`);
      endTooSlow(this.call, this.stopped, this.idleTimeoutMs || this.floor!.limits.windowMs);
      return;
    }
    if (this.stopped) {
      log.warn(`${what} cancelled by the client`);
      return;
    }
    log.warn({ err: errorMessage(err) }, `${what} failed`);
    this.call.emit('error', toGrpcStatus(err)); // grpc-js sends this as the call's status
  }

  /** `ev`, after the events queued; `bytes`: the data it carries (what the rate floor counts). */
  private async send(ev: E, bytes = 0): Promise<void> {
    for (const q of this.queued.splice(0)) await this.write(q, 0);
    await this.write(ev, bytes);
  }

  private write(ev: E, bytes: number): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const settle = (err?: UserError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) this.floor?.stop();
        else this.floor?.arrived(bytes);
        this.call.off('cancelled', onCancel);
        if (err) reject(err);
        else resolve();
      };
      const onCancel = () => settle(this.stopped);
      this.call.once('cancelled', onCancel);
      if (this.idleTimeoutMs > 0) {
        timer = setTimeout(() => {
          this.idle = true;
          this.stopped ??= new UserError(`the client read nothing for ${formatDuration(this.idleTimeoutMs)}`, { code: 'CANCELLED' });
          resetCall(this.call);
          settle(this.stopped);
        }, this.idleTimeoutMs);
      }
      // The client's clock runs until HTTP/2 has taken the message (flow control: the client read).
      this.floor?.watch((why) => {
        this.slow = true;
        this.stopped ??= tooSlow('reads', why);
        settle(this.stopped);
      });
      this.call.write(ev, (err?: Error | null) =>
        settle(err ? (this.stopped ?? new UserError(`cannot send to the client: ${err.message}`, { code: 'CANCELLED' })) : undefined),
      );
    });
  }
}

/** Why a client below `--grpc-stream-min-rate` was cut (`does`: reads, sends). */
export function tooSlow(does: string, why: string): UserError {
  return new UserError(`the client ${does} too slowly: ${why} (--grpc-stream-min-rate); the call was ended to free its stream slot`, {
    code: 'RESOURCE_EXHAUSTED',
  });
}

/**
 * End a call cut for its rate with the error's status. The status follows what is already queued for
 * the client, which a client reading slowly still takes; one that stops reading altogether is reset
 * after `graceMs`, so a call cut holds its few queued bytes only that long.
 */
export function endTooSlow(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, err: unknown, graceMs: number): void {
  call.emit('error', toGrpcStatus(err)); // grpc-js sends this as the call's status
  const timer = setTimeout(() => call.cancelled || resetCall(call), graceMs);
  timer.unref();
  call.once('cancelled', () => clearTimeout(timer)); // ended: its status sent (grpc-js reports that too), or reset
}

/**
 * Abort a server call now. grpc-js has no public way to: its status (even a deadline's) is sent after
 * the data queued before it, which a client that does not read never takes. So this finds the call's
 * HTTP/2 stream (grpc-js 1.x keeps it at call.call[.nextCall…].stream) and resets it, which drops
 * that data; grpc-js then reports the call cancelled. Without it (another grpc-js layout), the call is
 * destroyed, which stops our writes but leaves the stream to the session's end.
 */
export function resetCall(call: object): void {
  let c: Record<string, unknown> | undefined = call as Record<string, unknown>;
  for (let depth = 0; depth < 8 && c; depth++) {
    const s = c.stream as { close?: (code: number) => void; rstCode?: unknown } | undefined;
    if (s && typeof s.close === 'function' && 'rstCode' in s) {
      s.close(http2.NGHTTP2_CANCEL);
      return;
    }
    c = (c.call ?? c.nextCall) as Record<string, unknown> | undefined;
  }
  (call as { destroy(): void }).destroy();
}
