import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { PeerId } from '@libp2p/interface';
import type { GenesisFile } from '../chain/chain-config.js';
import type { Genesis } from '../chain/genesis-source.js';
import { removeStaleRestores, restoreSnapshot, type RestoreSummary } from '../backup/restore.js';
import { BackupFileError } from '../container/errors.js';
import { fsyncDir } from '../util/durable.js';
import { MessageError } from '../p2p/messages.js';
import type { PeerManager, ReadyPeer } from '../p2p/peers.js';
import type { Host } from '../p2p/host.js';
import type { Logger } from '../util/log.js';
import { SlowSnapshotError } from './snapshot-pace.js';
import { fetchSnapshot, SnapshotRefusedError, type SnapshotFetchOptions } from './snapshot-protocol.js';
import type { SnapshotSyncProgress } from './sync-state.js';
import { errorMessage } from '../util/errors.js';
import { event } from '../util/events.js';

/** How long a node with `--sync snapshot` waits for a peer with blocks before it falls back to full sync. */
export const SNAPSHOT_PEER_WAIT_MS = 30_000;
/**
 * The whole of snapshot sync, from the wait for peers on: past it the node gives up (the stream in
 * progress too) and syncs block by block. However many peers (fresh identities) each use up their
 * own limits one after the other, the node is held no longer. Two hours leave room for a snapshot of
 * about a gigabyte from a peer that only just keeps the floor (68 min of waiting) verified by a slow
 * machine (restore runs at 0.3 MB/s and up on the reference machine); an honest peer is usually far
 * faster than the floor. Larger chains raise it (--snapshot-sync-timeout).
 */
export const DEFAULT_SNAPSHOT_SYNC_TIMEOUT_MS = 2 * 3_600_000;

/** A peer that refuses (busy) is asked again after this pause, up to MAX_REFUSALS times in all. */
const REFUSAL_RETRY_MS = 1_000;
const MAX_REFUSALS = 3;

export interface SnapshotSyncOptions {
  host: Host;
  peers: PeerManager;
  /** The operator's genesis file: the trust anchor every snapshot is verified against. */
  genesis: GenesisFile | Genesis;
  genesisHash: Uint8Array;
  /** The state root of `genesis` (this node's own genesis block's): a restore need not compute it. */
  genesisStateRoot?: Uint8Array;
  /** Where the verified chain is built (must not exist or be empty); see installSnapshot. */
  target: string;
  log: Logger;
  waitForPeersMs?: number;
  fetch?: Pick<SnapshotFetchOptions, 'answerTimeoutMs' | 'pace'>;
  /** The whole phase (default DEFAULT_SNAPSHOT_SYNC_TIMEOUT_MS): past it, undefined (block sync). */
  timeoutMs?: number;
  /** Give up on a peer's snapshot when free space in the target's folder (the data dir's, for snapshotSyncFolder) falls below this (0: never). */
  minFreeBytes?: number;
  statfs?: (path: string) => Promise<{ bavail: number; bsize: number }>;
  /** Told of the progress (what eth_syncing shows meanwhile), on every block and state record. */
  onProgress?: (p: SnapshotSyncProgress) => void;
  /** Aborted when the node is told to stop: the phase ends at once (undefined, its peer not blamed). */
  signal?: AbortSignal;
}

/** The phase's own deadline passed: not a peer's fault. */
class SnapshotSyncTimeoutError extends Error {}
/** The node is stopping: not a peer's fault. */
class SnapshotSyncStoppedError extends Error {}
/** The snapshot a peer announced cannot fit on this disk: not the peer's fault; the next is asked. */
class SnapshotTooLargeError extends Error {}

/** How often (bytes received) a snapshot sync measures free disk space. */
const DISK_CHECK_BYTES = 16 * 1024 * 1024;

/**
 * Pass `source` through, measuring free space every DISK_CHECK_BYTES: a snapshot (honest and huge, or
 * padded by a peer) must not fill the disk. Not the peer's fault as such: the next one is asked.
 */
async function* watchDisk(
  source: AsyncIterable<Uint8Array>,
  dir: string,
  minFree: number,
  fs: NonNullable<SnapshotSyncOptions['statfs']>,
): AsyncGenerator<Uint8Array> {
  let sinceCheck = Number.POSITIVE_INFINITY;
  let total = 0;
  for await (const chunk of source) {
    if (minFree > 0 && sinceCheck >= DISK_CHECK_BYTES) {
      const st = await fs(dir);
      if (st.bavail * st.bsize < minFree) throw new Error(`disk almost full after ${total} bytes of the snapshot: less than ${minFree} bytes free in ${dir}`);
      sinceCheck = 0;
    }
    sinceCheck += chunk.length;
    total += chunk.length;
    yield chunk;
  }
}

export interface SnapshotSyncResult extends RestoreSummary {
  peer: string;
}

/**
 * The hidden folder inside `dataDir` a snapshot sync builds in before installSnapshot moves it into
 * place (restoreSnapshot's working folder, `..snapshot-sync-tmp.restoring-PID`, is inside the data dir
 * too): on the data dir's file system, so installSnapshot only renames within one, and written only where
 * the node may write (a service may write nowhere but its data dir: docs/deploy/basalt.service).
 */
export function snapshotSyncFolder(dataDir: string): string {
  return join(resolve(dataDir), '.snapshot-sync-tmp');
}

/** Where earlier releases built it: next to the data dir (removeSnapshotSyncLeftovers removes what they left there, when it can). */
function formerSnapshotSyncFolder(dataDir: string): string {
  return `${resolve(dataDir)}.snapshot-sync-tmp`;
}

async function waitForPeers(peers: PeerManager, ms: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !signal.aborted && !peers.peers().some((p) => p.head > 0n)) await sleep(100, signal);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * Restore from a peer's snapshot: ask the ready peer with the highest head, stream its snapshot
 * through restoreSnapshot against the operator's genesis (every header and seal, roots, every state
 * node), and fall back to the next peer when one refuses, stalls or fails. A peer whose snapshot
 * fails verification (tampered, another chain, forged), breaks the protocol (more bytes
 * than it announced) or is served below the floor (fetchSnapshot's pace) is banned; one whose stream
 * just ends early (truncated: a stop, a hang-up) is not. Returns undefined
 * when no peer could serve one, or when the phase's timeout passed: the caller goes on with full sync.
 */
export async function snapshotSync(opts: SnapshotSyncOptions): Promise<SnapshotSyncResult | undefined> {
  const { peers, log } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_SNAPSHOT_SYNC_TIMEOUT_MS;
  const phase = new AbortController();
  const phaseTimer = setTimeout(() => phase.abort(new SnapshotSyncTimeoutError(`snapshot sync did not finish within ${timeoutMs} ms`)), timeoutMs);
  const stop = () => phase.abort(new SnapshotSyncStoppedError('the node is stopping'));
  if (opts.signal?.aborted) stop();
  opts.signal?.addEventListener('abort', stop, { once: true });
  const ended = (tried: number) => {
    if (phase.signal.reason instanceof SnapshotSyncStoppedError) return void log.info({ tried }, 'snapshot sync: stopped (the node is stopping)');
    return timedOut(log, timeoutMs, tried);
  };
  const bestHead = () => peers.peers().reduce((h, p) => (p.head > h ? p.head : h), 0n);
  let progress: SnapshotSyncProgress = { currentBlock: 0n, highestBlock: 0n, bytesReceived: 0, bytesAnnounced: 0 };
  const report = (p: Partial<SnapshotSyncProgress>) => opts.onProgress?.((progress = { ...progress, ...p }));
  try {
    removeLeftovers(opts.target);
    await waitForPeers(peers, opts.waitForPeersMs ?? SNAPSHOT_PEER_WAIT_MS, phase.signal);
    const tried = new Set<string>();
    const refusals = new Map<string, number>();
    for (;;) {
      if (phase.signal.aborted) return ended(tried.size);
      const next: ReadyPeer | undefined = peers
        .peers()
        .filter((p) => p.head > 0n && !tried.has(p.id.toString()))
        .sort((a, b) => (a.head === b.head ? 0 : a.head > b.head ? -1 : 1))[0];
      // Peers that refused (busy, or our handshake not yet recorded on their side): asked again once the others were.
      const again = [...refusals].filter(([id, n]) => n < MAX_REFUSALS && tried.has(id)).map(([id]) => id);
      if (next === undefined && again.length > 0) {
        await sleep(REFUSAL_RETRY_MS, phase.signal);
        for (const id of again) tried.delete(id);
        continue;
      }
      if (next === undefined) {
        log.warn(event('snapshot-sync.fallback', { tried: tried.size }), 'snapshot sync: no peer served a valid snapshot; syncing block by block');
        return undefined;
      }
      const id = next.id.toString();
      tried.add(id);
      log.info(event('snapshot-sync.asking', { peer: id, peerHead: Number(next.head) }), 'snapshot sync: asking peer for a snapshot');
      report({ peer: id, currentBlock: 0n, highestBlock: bestHead(), bytesReceived: 0, bytesAnnounced: 0 });
      rmSync(opts.target, { recursive: true, force: true });
      const began = Date.now();
      try {
        const dir = dirname(resolve(opts.target));
        const fs = opts.statfs ?? statfs;
        // What the peer's protocol version promises of its snapshot's header (told with the answer, before the header).
        let promised: { treeOrder: boolean; protocol: string } | undefined;
        const onAnnounce = async (bytes: number, how: { estimate: boolean; treeOrder: boolean; protocol: string }) => {
          promised = how;
          log.info(event('snapshot-sync.announced', { peer: id, announcedBytes: bytes, estimate: how.estimate }), 'snapshot sync: peer announced its snapshot');
          report({ bytesAnnounced: bytes });
          const minFree = opts.minFreeBytes ?? 0;
          if (minFree <= 0) return;
          const st = await fs(dir);
          const room = st.bavail * st.bsize - minFree;
          if (bytes > room)
            throw new SnapshotTooLargeError(
              `the snapshot's announced ${how.estimate ? 'estimated ' : ''}${bytes} bytes do not fit: ${Math.max(0, room)} bytes free in ${dir} above --min-free-disk`,
            );
        };
        const stream = fetchSnapshot(opts.host, next.id as PeerId, opts.genesisHash, { ...opts.fetch, onAnnounce, signal: phase.signal });
        const bytes = watchDisk(stream, dir, opts.minFreeBytes ?? 0, fs);
        const summary = await restoreSnapshot(bytes, {
          dataDir: opts.target,
          genesis: opts.genesis,
          // A peer's snapshot: every seal, since this node stores and serves them (restore.ts, seals).
          seals: 'every',
          // A snapshot of versions 4 and 5 lists its state in tree order, which this side checks without
          // remembering every node; a peer that says otherwise would have it remember every one (memory
          // growing with the state): a protocol violation (older versions' each-node-once order stays theirs).
          checkHeader: (h) => {
            if (promised?.treeOrder && h.stateOrder !== 'tree')
              throw new MessageError(
                `${promised.protocol}: the snapshot's state order is not 'tree' (its header has no stateOrder 'tree'), which this protocol version promises`,
              );
          },
          ...(opts.genesisStateRoot ? { genesisStateRoot: opts.genesisStateRoot } : {}),
          onProgress: (p) => report({ currentBlock: p.blocksDone, highestBlock: p.blocksTotal, bytesReceived: p.bytesRead }),
        });
        log.info(
          { peer: id, head: Number(summary.head), headHash: summary.headHash, bytes: summary.bytes, durationMs: summary.durationMs },
          'snapshot sync: restored and verified the snapshot',
        );
        return { ...summary, peer: id };
      } catch (err) {
        rmSync(opts.target, { recursive: true, force: true });
        if (phase.signal.aborted) return ended(tried.size);
        if (err instanceof BackupFileError && err.code === 'TRUNCATED') {
          // The stream ended cleanly before the snapshot did: what an honest peer's stop, a connection
          // either side pruned, or our own hang-up looks like. Not blamed; a peer that cuts its snapshot
          // on purpose is tried no more in this phase and gains nothing (what it sent was checked).
          log.info({ peer: id, err: errorMessage(err) }, "snapshot sync: the peer's stream ended before its snapshot did; trying the next peer");
        } else if (err instanceof BackupFileError || err instanceof MessageError) {
          peers.punish(next.id, `served a bad snapshot: ${errorMessage(err)}`);
        } else if (err instanceof SlowSnapshotError) {
          peers.punish(next.id, `served a snapshot too slowly: ${err.message}`);
          log.info({ peer: id, afterMs: Date.now() - began }, 'snapshot sync: abandoned a slow snapshot; trying the next peer');
        } else if (err instanceof SnapshotRefusedError) {
          const n = (refusals.get(id) ?? 0) + 1;
          refusals.set(id, n);
          log.info(
            { peer: id, reason: err.message, times: n },
            n < MAX_REFUSALS ? 'snapshot sync: peer refused; will ask again' : 'snapshot sync: peer refused again; not asking it any more',
          );
        } else {
          log.warn({ peer: id, err: errorMessage(err) }, 'snapshot sync: peer failed; trying the next one');
        }
      }
    }
  } finally {
    clearTimeout(phaseTimer);
    opts.signal?.removeEventListener('abort', stop);
  }
}

function timedOut(log: Logger, timeoutMs: number, tried: number): undefined {
  log.warn({ timeoutMs, tried }, 'snapshot sync: no snapshot restored within the timeout (--snapshot-sync-timeout); syncing block by block');
  return undefined;
}

/**
 * A snapshot sync killed mid-restore leaves restoreSnapshot's working folder (`.<target>.restoring-PID`)
 * next to the target, and one killed after its restore the target itself; the caller holds the data
 * dir's locks, so no other restore into it is running (a folder of a process still running is kept all
 * the same: removeStaleTemps).
 */
function removeLeftovers(target: string): string[] {
  const t = resolve(target);
  const removed = removeStaleRestores(t).removed.map((r) => r.path);
  if (existsSync(t)) removed.push(t);
  rmSync(t, { recursive: true, force: true });
  return removed;
}

/** The databases installSnapshot replaces. */
const DATABASES = ['blockchain', 'trie'] as const;

/** Where installSnapshot moves the data dir's database `name` out of the way before it removes it. */
function discardFolder(root: string, name: (typeof DATABASES)[number]): string {
  return join(root, `.${name}.discard`);
}

/** Remove installSnapshot's discarded databases in `root`, one killed mid-removal included. */
function removeDiscarded(root: string, rm: typeof rmSync): string[] {
  const there = DATABASES.map((name) => discardFolder(root, name)).filter((path) => existsSync(path));
  for (const path of there) rm(path, { recursive: true, force: true });
  return there;
}

/**
 * What a snapshot sync of `dataDir` killed part-way leaves behind (the restore's working folder, the
 * built chain, the databases installSnapshot discarded, each up to a whole state's size): removed at
 * every start of the node once it holds the data dir's locks, whatever its sync mode and head, since
 * none of it is ever needed again (installSnapshot's renames leave the data dir whole). Earlier
 * releases built next to the data dir: what they left there is removed too, or, where the node may not
 * write (a service's read-only /var/lib), kept and returned for the caller to tell the operator.
 * Returns the paths removed and those kept.
 */
export function removeSnapshotSyncLeftovers(dataDir: string): { removed: string[]; kept: { path: string; error: string }[] } {
  const removed = [...removeLeftovers(snapshotSyncFolder(dataDir)), ...removeDiscarded(resolve(dataDir), rmSync)];
  const former = formerSnapshotSyncFolder(dataDir);
  const stale = removeStaleRestores(former);
  removed.push(...stale.removed.map((r) => r.path));
  const kept = stale.kept.map(({ path, error }) => ({ path, error }));
  if (existsSync(former)) {
    try {
      rmSync(former, { recursive: true, force: true });
      removed.push(former);
    } catch (err) {
      kept.push({ path: former, error: errorMessage(err) });
    }
  }
  return { removed, kept };
}

/**
 * Move a verified chain (blockchain/ and trie/ from `built`, snapshotSyncFolder(dataDir)) into
 * `dataDir`, replacing the genesis-only databases there (closed by the caller) and keeping keystore/ and
 * consensus/. Only renames change the data dir, each made durable before the next: the old databases
 * are first moved out of the way whole (a recursive remove unlinks file by file, and a kill between a
 * LevelDB's MANIFEST and its CURRENT left a database that no longer opens), then trie/ moves in, and
 * blockchain/ last: until blockchain/ is in place the data dir opens at genesis at worst (without a
 * blockchain/, a new one is made: snapshot sync starts over), never as a chain without its state. A
 * `built` on another file system (a rename cannot cross one) is refused before anything moves; a rename
 * that fails all the same is undone, step by step in reverse, so the old databases are back in place.
 * The discarded databases are removed last; a kill during that leaves them to
 * removeSnapshotSyncLeftovers. `io`: how they are removed and folders renamed (tests interrupt them).
 */
export function installSnapshot(built: string, dataDir: string, io: { rm?: typeof rmSync; rename?: typeof renameSync } = {}): void {
  const { rm = rmSync, rename = renameSync } = io;
  const root = resolve(dataDir);
  if (statSync(built).dev !== statSync(root).dev)
    throw new Error(`cannot install the snapshot built in ${built}: it is not on the file system of the data dir ${root}, and a rename cannot cross one`);
  removeDiscarded(root, rm); // an earlier install's, killed before it removed them: their names are needed
  const moved: [from: string, to: string][] = [];
  const move = (from: string, to: string) => {
    rename(from, to);
    moved.push([from, to]);
    fsyncDir(root);
  };
  try {
    for (const name of DATABASES) move(join(root, name), discardFolder(root, name));
    move(join(built, 'trie'), join(root, 'trie'));
    move(join(built, 'blockchain'), join(root, 'blockchain'));
  } catch (err) {
    // Back through the states the moves went through (each one opens), to the old databases.
    try {
      for (const [from, to] of moved.reverse()) {
        rename(to, from);
        fsyncDir(root);
      }
    } catch {
      // Left in one of those states, as a kill there would: the install's own error is the one to tell.
    }
    throw err;
  }
  removeDiscarded(root, rm);
  rmSync(built, { recursive: true, force: true });
}
