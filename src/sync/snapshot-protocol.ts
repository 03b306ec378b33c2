import '../util/promise-with-resolvers.js';
import type { PeerId, Stream } from '@libp2p/interface';
import { bytesToHex, utf8ToBytes, bytesToUtf8 } from '@ethereumjs/util';
import * as lp from 'it-length-prefixed';
import { createSnapshot, HistorySizes, StateSizes, type SnapshotSource } from '../backup/snapshot.js';
import { addressKeyOf, type Host } from '../p2p/host.js';
import { MessageError } from '../p2p/messages.js';
import { RequestTimeoutError } from '../p2p/streams.js';
import type { Logger } from '../util/log.js';
import { DEFAULT_SNAPSHOT_PACE, SlowSnapshotError, SnapshotPace, type SnapshotPaceLimits } from './snapshot-pace.js';
import { errorMessage } from '../util/errors.js';
import { DEFAULT_SERVE_FLOOR, RateFloor } from '../util/rate-floor.js';

/**
 * Snapshot sync: a request (one byte) and, in answer, one status message — OK, or a refusal with its
 * reason — then, after OK, the snapshot file's bytes in messages of at most SNAPSHOT_CHUNK_BYTES. The
 * receiver trusts none of it: the bytes go through restoreSnapshot.
 *
 * Version 5 (this node asks for it first): a snapshot without history (format version 3: headers
 * below the head), whose receiver back-fills the bodies and receipts from its peers, with its state in
 * tree order (`stateOrder: 'tree'`: neither side remembers every node); its OK answer carries the
 * snapshot's size as the server estimates it without walking its state (u64, big-endian;
 * ChainSnapshot.sizeEstimate), for the receiver's disk check and progress. Version 4 (asked of peers
 * without version 5): the same, but the answer carries the most bytes the server will send
 * (snapshotSizeBound, measured by a walk of the state before the answer, or from the sizes of that very
 * state listed before), and the receiver holds the stream to that length and to a time budget. Versions 4
 * and 5 have always had their state in tree order: the receiver refuses (bans) one of theirs without it.
 * Version 3 (asked of peers without version 4): as 4, each state node once. Version 2 (asked of peers
 * without version 3): a snapshot with the whole history, as 3. Version 1 (OK alone) is still served, to
 * nodes of earlier versions.
 *
 * Why version 5 may announce an estimate: a hostile server chooses the number it announces (up to the
 * room the receiver's disk check leaves), so the number held it back little; what does is what the
 * bytes are. Every header is checked against its parent's validators from the genesis, every state node
 * against the reference that awaits it (tree order), an empty state record is refused, and codes given
 * ahead of their accounts are bounded in number and checked at the end; the pace floor, the disk guard
 * (`--min-free-disk`) and the phase's timeout bound the rest. A version 4 peer past its bound was
 * banned; a version 5 peer that pads is dropped by those, without a ban.
 */
export function snapshotProtocol(genesisHash: Uint8Array, version: 1 | 2 | 3 | 4 | 5 = 5): string {
  return `/basalt/${bytesToHex(genesisHash).slice(2, 18)}/snapshot/${version}`;
}

export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
export const DEFAULT_MAX_SNAPSHOT_STREAMS = 2;
/** A stream whose peer reads nothing for this long is cut (the server's side). */
export const SNAPSHOT_IDLE_TIMEOUT_MS = 60_000;
/**
 * How long the asking side waits for the answer. A server sizes its snapshot before it answers (a
 * walk of its head state: ~13,000 nodes/s on the reference machine), so this admits heads of up to a
 * few million state nodes; a peer that answers nothing in time is set aside (not banned).
 */
export const SNAPSHOT_ANSWER_TIMEOUT_MS = 5 * 60_000;
const REQUEST = new Uint8Array([1]);
const OK = 0x00;
const REFUSED = 0x01;
const MAX_REFUSAL_BYTES = 512;
/** A v2 OK answer: the status byte and the size bound. */
const OK_V2_BYTES = 9;

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
  /** The least a peer must read of a snapshot, in bytes a second over each window of waiting for it (SNAPSHOT_SERVE_MIN_RATE; tests). */
  minReadRate?: number;
  /** That window (SNAPSHOT_SERVE_RATE_WINDOW_MS; tests). */
  readRateWindowMs?: number;
  /** SNAPSHOT_SIZING_COOLDOWN_MS (tests). */
  sizingCooldownMs?: number;
  /**
   * Validators, bootnodes and added peers: served and cooled down by peer alone. Every other peer is by
   * its IP address too (one stream per address; a peer at an address whose peer left early is refused a
   * sizing walk). Without it, every peer is counted by address too.
   */
  trusted?(peer: PeerId): boolean;
  logger?: Logger;
}

/**
 * A peer whose last snapshot stream ended before it read the snapshot (it hung up while the snapshot
 * was sized, after the answer, or midway) is refused, as busy, any request that needs a walk of the state
 * to size it for this long after. Sizing walks the head's state (minutes on a large one) before the first
 * byte; asking and leaving cost a peer two bytes, so without this one peer had the node walk its state
 * again and again. Not a ban: an honest node leaves after the answer when the snapshot does not fit on
 * its disk, and one killed mid-restore asks again. A request sized without a walk (the state's sizes
 * known, version 5 from the size kept) is served meanwhile; a stream read to its end lifts it.
 *
 * Peer IDs cost nothing, so the cooldown also holds for the IP address of a peer that is neither a
 * validator, a bootnode nor an added peer (SnapshotServeOptions.trusted), as does the one stream per
 * peer: every other peer at that address is refused sizing walks for the cooldown (a stream read to its
 * end lifts the peer's own, not its address's), and is refused while one is served. By peer ID alone,
 * each fresh identity had the node walk its state again, and two identities reading at the floor held
 * both streams. The nodes of `basalt devnet` share 127.0.0.1, but are each other's bootnodes.
 */
export const SNAPSHOT_SIZING_COOLDOWN_MS = 10 * 60_000;
/** The peers remembered as having left early, at most (the oldest forgotten first). */
const MAX_LEFT_EARLY = 4096;

/**
 * A peer must read a snapshot at least this fast (bytes a second, over each window of
 * SNAPSHOT_SERVE_RATE_WINDOW_MS of waiting for it: RateFloor): the idle timeout alone let a peer that
 * read a piece a minute (4 KB/s) hold one of the few streams, and the LevelDB snapshots behind it, for
 * hours. 64 KiB/s streams a 214 MB snapshot (a million accounts) in under an hour. The operator API's
 * streams keep the same floor by default (`--grpc-stream-min-rate`).
 */
export const SNAPSHOT_SERVE_MIN_RATE = DEFAULT_SERVE_FLOOR.minBytesPerSecond;
export const SNAPSHOT_SERVE_RATE_WINDOW_MS = DEFAULT_SERVE_FLOOR.windowMs;

function refusal(reason: string): Uint8Array {
  return new Uint8Array([REFUSED, ...utf8ToBytes(reason.slice(0, MAX_REFUSAL_BYTES - 1))]);
}

function okAnswer(sizeBound: number): Uint8Array {
  const out = new Uint8Array(OK_V2_BYTES);
  out[0] = OK;
  new DataView(out.buffer).setBigUint64(1, BigInt(sizeBound));
  return out;
}

/** This node's snapshot outgrew the bound it announced: a bug, logged as an error. */
class OverBoundError extends Error {}

/** Split into messages of at most SNAPSHOT_CHUNK_BYTES. */
function* pieces(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += SNAPSHOT_CHUNK_BYTES) yield bytes.subarray(i, i + SNAPSHOT_CHUNK_BYTES);
}

/**
 * Serve snapshots of this node's head to ready peers, at most `maxStreams` at once. Each is read from
 * LevelDB snapshots (createSnapshot), so the node keeps sealing; the bytes are produced only as the
 * peer reads them (yamux flow control); a peer that stops reading is cut after the idle timeout, one
 * that reads below SNAPSHOT_SERVE_MIN_RATE at the end of a window of waiting for it (RateFloor).
 * A version 2 request is answered with the snapshot's size bound, measured first on the same view;
 * the stream never goes past it.
 *
 * Sizing walks (StateSizes): one at a time (another waits its turn), none for a state whose sizes a walk
 * or a stream to its end already listed (every peer asking at the same head state is answered from the
 * one walk), none for a peer that left its last stream early, or (unless trusted) one at the address of
 * such a peer, for SNAPSHOT_SIZING_COOLDOWN_MS (refused as busy, not banned). One stream per peer, and
 * (unless trusted) per address.
 */
export async function serveSnapshots(host: Host, genesisHash: Uint8Array, source: SnapshotSource, opts: SnapshotServeOptions): Promise<void> {
  let active = 0;
  // Peers being served now, and the addresses of those not trusted: one stream per peer and per
  // address (a version 2 request costs a state walk before its answer). Addresses as `ip <address>`.
  const serving = new Set<string>();
  const idleMs = opts.idleTimeoutMs ?? SNAPSHOT_IDLE_TIMEOUT_MS;
  const minRate = opts.minReadRate ?? SNAPSHOT_SERVE_MIN_RATE;
  const rateWindowMs = opts.readRateWindowMs ?? SNAPSHOT_SERVE_RATE_WINDOW_MS;
  const cooldownMs = opts.sizingCooldownMs ?? SNAPSHOT_SIZING_COOLDOWN_MS;
  // Peers whose last stream ended before they read the snapshot, and their addresses (as in `serving`), and when (the oldest first).
  const leftEarly = new Map<string, number>();
  const cooldownLeft = (id: string) => {
    const since = Date.now() - (leftEarly.get(id) ?? Number.NEGATIVE_INFINITY);
    if (since < cooldownMs) return cooldownMs - since;
    leftEarly.delete(id);
    return 0;
  };
  const noteLeftEarly = (id: string) => {
    leftEarly.delete(id); // the newest last
    leftEarly.set(id, Date.now());
    for (const [old, at] of leftEarly) {
      if (leftEarly.size <= MAX_LEFT_EARLY && Date.now() - at < cooldownMs) break;
      leftEarly.delete(old);
    }
  };
  const v5 = snapshotProtocol(genesisHash, 5);
  const v4 = snapshotProtocol(genesisHash, 4);
  const v3 = snapshotProtocol(genesisHash, 3);
  const v2 = snapshotProtocol(genesisHash, 2);
  // The block (and header) sizes of the last snapshot sized: the next one reads only the blocks added since.
  const history = new HistorySizes('blocks');
  const headers = new HistorySizes('headers');
  // The sizes of the states listed whole (walks, streams read to their end), and the gate of sizing walks.
  const stateSizes = new StateSizes();
  await host.handle(
    [v5, v4, v3, v2, snapshotProtocol(genesisHash, 1)],
    ({ stream, connection }) => {
      const peer = connection.remotePeer;
      const protocol = stream.protocol ?? v2;
      // Versions 3 to 5 ask for a snapshot without history (the asking node back-fills it from its
      // peers), versions 4 and 5 with its state in tree order; versions 2 to 4 are answered with the
      // size bound, version 5 with the size estimated.
      const headersOnly = protocol === v3 || protocol === v4 || protocol === v5;
      const stateOrder = protocol === v4 || protocol === v5 ? 'tree' : 'unique';
      const estimated = protocol === v5;
      const bounded = protocol !== snapshotProtocol(genesisHash, 1) && !estimated;
      let timer: NodeJS.Timeout | undefined;
      const floor = RateFloor.of({ minBytesPerSecond: minRate, windowMs: rateWindowMs });
      const touch = () => {
        clearTimeout(timer);
        timer = setTimeout(() => stream.abort(new RequestTimeoutError(`${protocol}: ${peer} idle for ${idleMs} ms`)), idleMs);
      };
      touch();
      let counted = false;
      // This node did work for the peer (a sizing walk began, or the answer went out); the peer read the snapshot to its end.
      let owed = false;
      let read = false;
      /** The snapshot failed on this side (a node missing, the bound): the peer did not leave early. */
      let failedHere = false;
      const id = peer.toString();
      // Its address's key in `serving` and `leftEarly` (an IPv6 peer's /64), unless it is trusted.
      let address: string | undefined;
      void (async () => {
        try {
          const first = await lp.decode(stream.source, { maxDataLength: 16 })[Symbol.asyncIterator]().next();
          if (first.done) return;
          const req = first.value.subarray();
          if (req.length !== 1 || req[0] !== REQUEST[0]) throw new MessageError(`${protocol}: malformed snapshot request`);
          if (!opts.isReady(peer)) return void (await stream.sink(lp.encode([refusal('not a ready peer')])));
          if (serving.has(id)) return void (await stream.sink(lp.encode([refusal('busy: already serving this peer a snapshot')])));
          if (!opts.trusted?.(peer)) address = `ip ${addressKeyOf(connection.remoteAddr)}`;
          if (address !== undefined && serving.has(address)) {
            return void (await stream.sink(lp.encode([refusal('busy: already serving a snapshot to a peer at this address')])));
          }
          if (active >= opts.maxStreams) {
            opts.logger?.info({ peer: peer.toString(), maxSnapshotStreams: opts.maxStreams }, 'snapshot request refused: too many snapshot streams');
            return void (await stream.sink(lp.encode([refusal(`busy: already serving ${opts.maxStreams} snapshot streams`)])));
          }
          active++;
          serving.add(id);
          if (address !== undefined) serving.add(address);
          counted = true;
          let snap;
          let bound = Number.MAX_SAFE_INTEGER;
          let announced = 0;
          // Version 5: whether the estimate came from a kept size (else a walk measured it, exactly).
          let fromKept = false;
          try {
            snap = await createSnapshot(source, {
              compression: 'zstd',
              headersOnly,
              stateOrder,
              stateSizes,
              beforeSizingWalk: () => {
                const waitMs = cooldownLeft(id);
                if (waitMs > 0) {
                  opts.logger?.info({ peer: id, waitMs }, 'snapshot request refused: the peer left its last snapshot early');
                  throw new Error(`busy: this peer left its last snapshot before reading it; ask again in ${Math.ceil(waitMs / 1000)} s`);
                }
                const addressWaitMs = address === undefined ? 0 : cooldownLeft(address);
                if (addressWaitMs > 0) {
                  opts.logger?.info({ peer: id, waitMs: addressWaitMs }, 'snapshot request refused: a peer at its address left its last snapshot early');
                  throw new Error(`busy: a peer at this address left its last snapshot before reading it; ask again in ${Math.ceil(addressWaitMs / 1000)} s`);
                }
              },
              // Owed once this node walks for it: a peer that gave up while queued behind another's walk
              // (its answer timeout) cost nothing.
              sizingWalkStarts: () => {
                owed = true;
              },
            });
            if (bounded || estimated) {
              // Sizing is this side's work: the peer is not idle meanwhile; if it hangs up, a walk stops.
              clearTimeout(timer);
              const gone = new AbortController();
              const watch = setInterval(() => stream.status !== 'open' && gone.abort(new Error('the peer closed the stream')), 1000);
              try {
                if (estimated) ({ bytes: announced, estimated: fromKept } = await snap.sizeEstimate(headers, gone.signal));
                else bound = announced = await snap.sizeBound(headersOnly ? headers : history, gone.signal);
              } finally {
                clearInterval(watch);
              }
              touch();
            }
          } catch (err) {
            await snap?.close();
            if (stream.status !== 'open') return;
            return void (await stream.sink(lp.encode([refusal(errorMessage(err))])));
          }
          opts.logger?.info(
            {
              peer: peer.toString(),
              head: Number(snap.header.head.number),
              history: !headersOnly,
              ...(bounded ? { sizeBound: bound } : estimated ? { sizeEstimate: announced, measured: !fromKept } : {}),
            },
            'serving a snapshot',
          );
          const chunks = snap.chunks;
          // Counted from the answer on, only while the sink holds a piece (yamux's flow control waiting
          // for the peer to read), never while this node produces the next.
          const taken = (piece: Uint8Array) => {
            floor?.watch((why) => stream.abort(new RequestTimeoutError(`${protocol}: ${peer} reads too slowly: ${why}`)));
            return piece;
          };
          async function* body(): AsyncGenerator<Uint8Array> {
            try {
              owed = true;
              yield taken(bounded || estimated ? okAnswer(announced) : new Uint8Array([OK]));
              floor?.arrived(0);
              let sent = 0;
              for await (const c of chunks) {
                for (const p of pieces(c)) {
                  sent += p.length;
                  // The peer bans a server that sends more than it announced: never do. (A bug in the bound.)
                  if (sent > bound) throw new OverBoundError(`snapshot is longer than the ${bound} bytes announced (a bug in snapshotSizeBound): stream cut`);
                  touch(); // the peer read the last one: flow control let the sink ask for more
                  yield taken(p);
                  floor?.arrived(p.length);
                }
              }
              read = true;
            } catch (err) {
              failedHere = true; // thrown here, not by the peer's leaving (which ends the generator by return)
              throw err;
            } finally {
              floor?.stop();
              await snap!.close();
            }
          }
          await stream.sink(lp.encode(body()));
        } catch (err) {
          if (err instanceof MessageError) opts.onBadPeer(peer, err.message);
          else if (err instanceof OverBoundError) opts.logger?.error({ peer: peer.toString(), err: errorMessage(err) }, 'snapshot stream cut');
          stream.abort(err as Error);
        } finally {
          if (counted) {
            active--;
            serving.delete(id);
            if (address !== undefined) serving.delete(address);
            if (read) leftEarly.delete(id);
            else if (owed && !failedHere) {
              noteLeftEarly(id);
              if (address !== undefined) noteLeftEarly(address);
            }
          }
          clearTimeout(timer);
          floor?.stop();
        }
      })();
    },
    // One more than the limit per connection, so the limit's refusal is a message, not a reset.
    { maxInboundStreams: opts.maxStreams + 1, maxOutboundStreams: opts.maxStreams + 1 },
  );
}

export interface SnapshotFetchOptions {
  /** Wait this long for the answer (default SNAPSHOT_ANSWER_TIMEOUT_MS). */
  answerTimeoutMs?: number;
  /** The floor the stream must keep (default DEFAULT_SNAPSHOT_PACE). */
  pace?: SnapshotPaceLimits;
  /**
   * Told the announced size before any byte (`estimate`: the server's estimate, version 5, else the
   * most it will send); may throw (or reject) to decline the snapshot. `protocol`: the version the peer
   * answers; `treeOrder`: whether that version's snapshot has its state in tree order (`stateOrder:
   * 'tree'`), which its servers always send (versions 4 and 5); `withoutHistory`: whether it is a
   * snapshot without history (format version 3), which its servers always send (versions 3 to 5).
   */
  onAnnounce?: (bytes: number, how: { estimate: boolean; treeOrder: boolean; withoutHistory: boolean; protocol: string }) => void | Promise<void>;
  /** Abort the stream (the caller's own deadline): its reason is thrown. */
  signal?: AbortSignal;
}

/**
 * Ask `peer` for a snapshot (protocol version 5, 4 or 3, without history; version 2, with it, from a
 * peer of an earlier version): the snapshot file's bytes, as they arrive. Throws
 * SnapshotRefusedError when the peer refuses, MessageError when it breaks the protocol (a malformed
 * answer, a message too large, more bytes than it announced as its bound), SlowSnapshotError when it
 * serves below the floor or past the budget its announced bound gives (SnapshotPace),
 * RequestTimeoutError when it does not answer in time. A stream that ends cleanly is no violation: a
 * plain Error before the answer, and after it the iteration simply ends (the snapshot's reader finds it
 * truncated). Abandoning the iteration closes the stream.
 */
export async function* fetchSnapshot(host: Host, peer: PeerId, genesisHash: Uint8Array, opts: SnapshotFetchOptions = {}): AsyncGenerator<Uint8Array> {
  const asked = [snapshotProtocol(genesisHash, 5), snapshotProtocol(genesisHash, 4), snapshotProtocol(genesisHash, 3), snapshotProtocol(genesisHash, 2)];
  let protocol = asked.join(' or ');
  const answerMs = opts.answerTimeoutMs ?? SNAPSHOT_ANSWER_TIMEOUT_MS;
  let stream: Stream | undefined;
  // Why this side cut the stream, thrown instead of whatever the aborted stream throws.
  let cut: Error | undefined;
  const abort = (err: Error) => {
    cut ??= err;
    stream?.abort(err);
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(
    () => abort(new RequestTimeoutError(`${protocol}: ${peer} did not answer within ${answerMs} ms`)),
    answerMs,
  );
  const onAbort = () => abort(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error('snapshot sync aborted'));
  opts.signal?.addEventListener('abort', onAbort);
  try {
    opts.signal?.throwIfAborted();
    // Without history (version 5, else 4, else 3) where the peer serves it; a peer of an earlier version, with it.
    stream = await host.dialProtocol(peer, asked, { signal: AbortSignal.timeout(answerMs) });
    protocol = stream.protocol ?? protocol;
    if (cut) throw cut;
    await stream.sink(lp.encode([REQUEST]));
    const messages = lp.decode(stream.source, { maxDataLength: SNAPSHOT_CHUNK_BYTES + 1 })[Symbol.asyncIterator]();
    const answer = await messages.next();
    clearTimeout(timer);
    // A stream closed cleanly before the answer is what an honest peer's stop (or a connection pruned on
    // either side) looks like, so it breaks no rule: this peer failed, nothing more.
    if (answer.done) throw new Error(`${protocol}: the peer closed the stream without an answer`);
    const a = answer.value.subarray();
    if (a[0] === REFUSED && a.length <= MAX_REFUSAL_BYTES) throw new SnapshotRefusedError(`peer refused the snapshot: ${bytesToUtf8(a.subarray(1))}`);
    if (a.length !== OK_V2_BYTES || a[0] !== OK) throw new MessageError(`${protocol}: malformed snapshot answer`);
    const announcedBig = new DataView(a.buffer, a.byteOffset, a.byteLength).getBigUint64(1);
    if (announcedBig === 0n || announcedBig > BigInt(Number.MAX_SAFE_INTEGER))
      throw new MessageError(`${protocol}: snapshot answer announces ${announcedBig} bytes`);
    const announced = Number(announcedBig);
    // Version 5 announces an estimate: no length to hold the stream to, nor a budget from it (the floor
    // holds). Only a peer known to speak 2 to 4 is held to its number as a bound.
    const estimate = !asked.slice(1).includes(protocol);
    // Every server of versions 4 and 5 (since each came) lists the state in tree order; 3 and 2 each node once.
    const treeOrder = asked.slice(0, 2).includes(protocol);
    // Every server of versions 3 to 5 (since 3 came) sends a snapshot without history (format version 3).
    const withoutHistory = asked.slice(0, 3).includes(protocol);
    await opts.onAnnounce?.(announced, { estimate, treeOrder, withoutHistory, protocol });
    const pace = new SnapshotPace(estimate ? undefined : announced, opts.pace ?? DEFAULT_SNAPSHOT_PACE);
    let total = 0;
    for (;;) {
      // The restore asked for more (the generator resumed): the peer's clock runs until it sends.
      pace.wait();
      const arm = () => {
        timer = setTimeout(
          () => {
            const why = pace.breach();
            if (why) abort(new SlowSnapshotError(`${protocol}: ${why}`));
            else arm(); // a timer a little early
          },
          Math.max(1, Math.ceil(pace.msUntilBreach())),
        );
      };
      arm();
      const m = await messages.next();
      clearTimeout(timer);
      if (m.done) break;
      const b = m.value.subarray();
      pace.arrived(b.length);
      if (b.length > SNAPSHOT_CHUNK_BYTES) throw new MessageError(`${protocol}: a snapshot message over ${SNAPSHOT_CHUNK_BYTES} bytes`);
      total += b.length;
      if (!estimate && total > announced) throw new MessageError(`${protocol}: the snapshot is longer than the ${announced} bytes announced`);
      const why = pace.breach();
      if (why) throw new SlowSnapshotError(`${protocol}: ${why}`);
      yield b;
    }
  } catch (err) {
    if (cut) throw cut;
    if (/^Invalid(Data|Message)Length/.test((err as Error)?.name ?? '')) throw new MessageError(`${protocol}: ${errorMessage(err)}`);
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    if (stream && stream.status === 'open') stream.abort(new Error('done'));
  }
}
