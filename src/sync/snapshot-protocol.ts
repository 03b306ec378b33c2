import '../util/promise-with-resolvers.js';
import type { PeerId, Stream } from '@libp2p/interface';
import { bytesToHex, utf8ToBytes, bytesToUtf8 } from '@ethereumjs/util';
import * as lp from 'it-length-prefixed';
import { createSnapshot, type SnapshotSource } from '../backup/snapshot.js';
import type { Host } from '../p2p/host.js';
import { MessageError } from '../p2p/messages.js';
import { RequestTimeoutError } from '../p2p/streams.js';
import type { Logger } from '../util/log.js';

/**
 * Snapshot sync: a request (one byte, the version) and, in answer, one status message — OK, or a
 * refusal with its reason — then, after OK, the snapshot file's bytes in messages of at most
 * SNAPSHOT_CHUNK_BYTES. The receiver trusts none of it: the bytes go through restoreSnapshot.
 */
export function snapshotProtocol(genesisHash: Uint8Array): string {
  return `/basalt/${bytesToHex(genesisHash).slice(2, 18)}/snapshot/1`;
}

export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
export const DEFAULT_MAX_SNAPSHOT_STREAMS = 2;
/** A stream whose other side sends or reads nothing for this long is cut. */
export const SNAPSHOT_IDLE_TIMEOUT_MS = 60_000;
const REQUEST = new Uint8Array([1]);
const OK = 0x00;
const REFUSED = 0x01;
const MAX_REFUSAL_BYTES = 512;

/** The peer answered, but will not serve a snapshot now (busy, nothing to snapshot, not ready). */
export class SnapshotRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotRefusedError';
  }
}

export interface SnapshotServeOptions {
  /** Snapshots streamed at once (to all peers together); the next request gets a refusal. */
  maxStreams: number;
  isReady(peer: PeerId): boolean;
  onBadPeer(peer: PeerId, reason: string): void;
  idleTimeoutMs?: number;
  logger?: Logger;
}

function refusal(reason: string): Uint8Array {
  return new Uint8Array([REFUSED, ...utf8ToBytes(reason.slice(0, MAX_REFUSAL_BYTES - 1))]);
}

/** Split into messages of at most SNAPSHOT_CHUNK_BYTES. */
function* pieces(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += SNAPSHOT_CHUNK_BYTES) yield bytes.subarray(i, i + SNAPSHOT_CHUNK_BYTES);
}

/**
 * Serve snapshots of this node's head to ready peers, at most `maxStreams` at once. Each is read from
 * LevelDB snapshots (createSnapshot), so the node keeps sealing; the bytes are produced only as the
 * peer reads them (yamux flow control), and a peer that stops reading is cut after the idle timeout.
 */
export async function serveSnapshots(host: Host, genesisHash: Uint8Array, source: SnapshotSource, opts: SnapshotServeOptions): Promise<void> {
  let active = 0;
  const idleMs = opts.idleTimeoutMs ?? SNAPSHOT_IDLE_TIMEOUT_MS;
  const protocol = snapshotProtocol(genesisHash);
  await host.handle(
    protocol,
    ({ stream, connection }) => {
      const peer = connection.remotePeer;
      let timer: NodeJS.Timeout | undefined;
      const touch = () => {
        clearTimeout(timer);
        timer = setTimeout(() => stream.abort(new RequestTimeoutError(`${protocol}: ${peer} idle for ${idleMs} ms`)), idleMs);
      };
      touch();
      let counted = false;
      void (async () => {
        try {
          const first = await lp.decode(stream.source, { maxDataLength: 16 })[Symbol.asyncIterator]().next();
          if (first.done) return;
          const req = first.value.subarray();
          if (req.length !== 1 || req[0] !== REQUEST[0]) throw new MessageError(`${protocol}: malformed snapshot request`);
          if (!opts.isReady(peer)) return void (await stream.sink(lp.encode([refusal('not a ready peer')])));
          if (active >= opts.maxStreams) {
            opts.logger?.info({ peer: peer.toString(), maxSnapshotStreams: opts.maxStreams }, 'snapshot request refused: too many snapshot streams');
            return void (await stream.sink(lp.encode([refusal(`busy: already serving ${opts.maxStreams} snapshot streams`)])));
          }
          active++;
          counted = true;
          let snap;
          try {
            snap = await createSnapshot(source, { compression: 'zstd' });
          } catch (err) {
            return void (await stream.sink(lp.encode([refusal((err as Error).message)])));
          }
          opts.logger?.info({ peer: peer.toString(), head: Number(snap.header.head.number) }, 'serving a snapshot');
          const chunks = snap.chunks;
          async function* body(): AsyncGenerator<Uint8Array> {
            try {
              yield new Uint8Array([OK]);
              for await (const c of chunks) {
                for (const p of pieces(c)) {
                  touch(); // the peer read the last one: flow control let the sink ask for more
                  yield p;
                }
              }
            } finally {
              await snap!.close();
            }
          }
          await stream.sink(lp.encode(body()));
        } catch (err) {
          if (err instanceof MessageError) opts.onBadPeer(peer, err.message);
          stream.abort(err as Error);
        } finally {
          if (counted) active--;
          clearTimeout(timer);
        }
      })();
    },
    // One more than the limit per connection, so the limit's refusal is a message, not a reset.
    { maxInboundStreams: opts.maxStreams + 1, maxOutboundStreams: opts.maxStreams + 1 },
  );
}

export interface SnapshotFetchOptions {
  /** Cut the stream when no bytes arrive for this long. */
  idleTimeoutMs?: number;
  /** Most bytes in all (a bound on what a peer can make us write). */
  maxBytes?: number;
}

/**
 * Ask `peer` for a snapshot: the snapshot file's bytes, as they arrive. Throws SnapshotRefusedError
 * when the peer refuses, MessageError when it breaks the framing, RequestTimeoutError when it stalls.
 * Abandoning the iteration closes the stream.
 */
export async function* fetchSnapshot(host: Host, peer: PeerId, genesisHash: Uint8Array, opts: SnapshotFetchOptions = {}): AsyncGenerator<Uint8Array> {
  const protocol = snapshotProtocol(genesisHash);
  const idleMs = opts.idleTimeoutMs ?? SNAPSHOT_IDLE_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
  let stream: Stream | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      stream?.abort(new RequestTimeoutError(`${protocol}: ${peer} sent nothing for ${idleMs} ms`));
    }, idleMs);
  };
  touch();
  try {
    stream = await host.dialProtocol(peer, protocol, { signal: AbortSignal.timeout(idleMs) });
    await stream.sink(lp.encode([REQUEST]));
    let first = true;
    let total = 0;
    for await (const m of lp.decode(stream.source, { maxDataLength: SNAPSHOT_CHUNK_BYTES + 1 })) {
      touch();
      const b = m.subarray();
      if (first) {
        first = false;
        if (b[0] === REFUSED && b.length <= MAX_REFUSAL_BYTES) throw new SnapshotRefusedError(`peer refused the snapshot: ${bytesToUtf8(b.subarray(1))}`);
        if (b.length !== 1 || b[0] !== OK) throw new MessageError(`${protocol}: malformed snapshot answer`);
        continue;
      }
      if (b.length > SNAPSHOT_CHUNK_BYTES) throw new MessageError(`${protocol}: a snapshot message over ${SNAPSHOT_CHUNK_BYTES} bytes`);
      total += b.length;
      if (total > maxBytes) throw new MessageError(`${protocol}: snapshot over ${maxBytes} bytes`);
      yield b;
    }
    if (first) throw new MessageError(`${protocol}: the peer closed the stream without an answer`);
  } catch (err) {
    if (timedOut) throw new RequestTimeoutError(`${protocol}: ${peer} sent nothing for ${idleMs} ms`);
    if (/^Invalid(Data|Message)Length/.test((err as Error)?.name ?? '')) throw new MessageError(`${protocol}: ${(err as Error).message}`);
    throw err;
  } finally {
    clearTimeout(timer);
    if (stream && stream.status === 'open') stream.abort(new Error('done'));
  }
}
