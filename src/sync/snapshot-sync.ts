import { readdirSync, renameSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { PeerId } from '@libp2p/interface';
import type { GenesisFile } from '../chain/chain-config.js';
import { restoreSnapshot, restoringFolder, type RestoreSummary } from '../backup/restore.js';
import { BackupFileError } from '../container/errors.js';
import { fsyncDir } from '../keys/durable.js';
import { MessageError } from '../p2p/messages.js';
import type { PeerManager, ReadyPeer } from '../p2p/peers.js';
import type { Host } from '../p2p/host.js';
import type { Logger } from '../util/log.js';
import { fetchSnapshot, SnapshotRefusedError, type SnapshotFetchOptions } from './snapshot-protocol.js';

/** How long a node with `--sync snapshot` waits for a peer with blocks before it falls back to full sync. */
export const SNAPSHOT_PEER_WAIT_MS = 30_000;

/** A peer that refuses (busy) is asked again after this pause, up to MAX_REFUSALS times in all. */
const REFUSAL_RETRY_MS = 1_000;
const MAX_REFUSALS = 3;

export interface SnapshotSyncOptions {
  host: Host;
  peers: PeerManager;
  /** The operator's genesis file: the trust anchor every snapshot is verified against. */
  genesis: GenesisFile;
  genesisHash: Uint8Array;
  /** Where the verified chain is built (must not exist or be empty); see installSnapshot. */
  target: string;
  log: Logger;
  waitForPeersMs?: number;
  fetch?: SnapshotFetchOptions;
  /** Give up on a peer's snapshot when free space next to the target falls below this (0: never). */
  minFreeBytes?: number;
  statfs?: (path: string) => Promise<{ bavail: number; bsize: number }>;
}

/** How often (bytes received) a snapshot sync measures free disk space. */
const DISK_CHECK_BYTES = 16 * 1024 * 1024;

/**
 * Pass `source` through, measuring free space every DISK_CHECK_BYTES: a snapshot (honest and huge, or
 * padded by a peer) must not fill the disk. Not the peer's fault as such: the next one is asked.
 */
async function* watchDisk(source: AsyncIterable<Uint8Array>, dir: string, minFree: number, fs: NonNullable<SnapshotSyncOptions['statfs']>): AsyncGenerator<Uint8Array> {
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

/** The folder next to `dataDir` a snapshot sync builds in before installSnapshot moves it into place. */
export function snapshotSyncFolder(dataDir: string): string {
  return `${resolve(dataDir)}.snapshot-sync-tmp`;
}

async function waitForPeers(peers: PeerManager, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !peers.peers().some((p) => p.head > 0n)) await new Promise((r) => setTimeout(r, 100));
}

/**
 * Restore from a peer's snapshot: ask the ready peer with the highest head, stream its snapshot
 * through restoreSnapshot against the operator's genesis (every header and seal, roots, every state
 * node), and fall back to the next peer when one refuses, stalls or fails. A peer whose snapshot
 * fails verification (truncated, tampered, another chain, forged) or breaks the protocol is banned.
 * Returns undefined when no peer could serve one: the caller goes on with full sync.
 */
export async function snapshotSync(opts: SnapshotSyncOptions): Promise<SnapshotSyncResult | undefined> {
  const { peers, log } = opts;
  removeLeftovers(opts.target);
  await waitForPeers(peers, opts.waitForPeersMs ?? SNAPSHOT_PEER_WAIT_MS);
  const tried = new Set<string>();
  const refusals = new Map<string, number>();
  for (;;) {
    const next: ReadyPeer | undefined = peers
      .peers()
      .filter((p) => p.head > 0n && !tried.has(p.id.toString()))
      .sort((a, b) => (a.head === b.head ? 0 : a.head > b.head ? -1 : 1))[0];
    // Peers that refused (busy, or our handshake not yet recorded on their side): asked again once the others were.
    const again = [...refusals].filter(([id, n]) => n < MAX_REFUSALS && tried.has(id)).map(([id]) => id);
    if (next === undefined && again.length > 0) {
      await new Promise((r) => setTimeout(r, REFUSAL_RETRY_MS));
      for (const id of again) tried.delete(id);
      continue;
    }
    if (next === undefined) {
      log.warn({ tried: tried.size }, 'snapshot sync: no peer served a valid snapshot; syncing block by block');
      return undefined;
    }
    const id = next.id.toString();
    tried.add(id);
    log.info({ peer: id, peerHead: Number(next.head) }, 'snapshot sync: asking peer for a snapshot');
    rmSync(opts.target, { recursive: true, force: true });
    try {
      const bytes = watchDisk(fetchSnapshot(opts.host, next.id as PeerId, opts.genesisHash, opts.fetch), dirname(resolve(opts.target)), opts.minFreeBytes ?? 0, opts.statfs ?? statfs);
      const summary = await restoreSnapshot(bytes, { dataDir: opts.target, genesis: opts.genesis });
      log.info({ peer: id, head: Number(summary.head), headHash: summary.headHash, bytes: summary.bytes, durationMs: summary.durationMs }, 'snapshot sync: restored and verified the snapshot');
      return { ...summary, peer: id };
    } catch (err) {
      rmSync(opts.target, { recursive: true, force: true });
      if (err instanceof BackupFileError || err instanceof MessageError) {
        peers.punish(next.id, `served a bad snapshot: ${(err as Error).message}`);
      } else if (err instanceof SnapshotRefusedError) {
        const n = (refusals.get(id) ?? 0) + 1;
        refusals.set(id, n);
        log.info({ peer: id, reason: err.message, times: n }, n < MAX_REFUSALS ? 'snapshot sync: peer refused; will ask again' : 'snapshot sync: peer refused again; not asking it any more');
      } else {
        log.warn({ peer: id, err: (err as Error).message }, 'snapshot sync: peer failed; trying the next one');
      }
    }
  }
}

/**
 * A snapshot sync killed mid-restore leaves restoreSnapshot's working folder (`.<target>.restoring-PID`)
 * next to the target; the node holds its data dir's locks, so no other restore into it is running.
 */
function removeLeftovers(target: string): void {
  const prefix = basename(restoringFolder(resolve(target), 0)).replace(/0$/, '');
  for (const name of readdirSync(dirname(resolve(target)))) {
    if (name.startsWith(prefix)) rmSync(join(dirname(resolve(target)), name), { recursive: true, force: true });
  }
  rmSync(target, { recursive: true, force: true });
}

/**
 * Move a verified chain (blockchain/ and trie/ from `built`) into `dataDir`, replacing the
 * genesis-only databases there (closed by the caller) and keeping keystore/ and consensus/. trie/
 * moves first and blockchain/ last: until blockchain/ is in place the data dir opens at genesis at
 * worst (and snapshot sync starts over), never as a chain without its state.
 */
export function installSnapshot(built: string, dataDir: string): void {
  const root = resolve(dataDir);
  rmSync(join(root, 'blockchain'), { recursive: true, force: true });
  fsyncDir(root);
  rmSync(join(root, 'trie'), { recursive: true, force: true });
  renameSync(join(built, 'trie'), join(root, 'trie'));
  fsyncDir(root);
  renameSync(join(built, 'blockchain'), join(root, 'blockchain'));
  fsyncDir(root);
  rmSync(built, { recursive: true, force: true });
}

