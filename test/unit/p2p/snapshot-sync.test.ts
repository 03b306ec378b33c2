import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type PathLike,
  type RmOptions,
} from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import * as lp from 'it-length-prefixed';
import { multiaddr } from '@multiformats/multiaddr';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import type { Chain } from '../../../src/chain/chain.js';
import { serveStatus } from '../../../src/p2p/handshake.js';
import { createHost, type Host } from '../../../src/p2p/host.js';
import type { ChainStatus } from '../../../src/p2p/messages.js';
import { banKind } from '../../../src/p2p/bans.js';
import { fetchSnapshot, serveSnapshots, snapshotProtocol, SnapshotRefusedError } from '../../../src/sync/snapshot-protocol.js';
import type { SnapshotSyncProgress } from '../../../src/sync/sync-state.js';
import { installSnapshot, removeSnapshotSyncLeftovers, snapshotSync, snapshotSyncFolder } from '../../../src/sync/snapshot-sync.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { BasaltNode } from '../../../src/node/node.js';
import { silentLogger } from '../../../src/util/log.js';
import { STATE_SIZE_KEY, type StateSize } from '../../../src/storage/schema.js';
import { addressOf, createTestChain, openTestChain, sealNext, testGenesis } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { chainWithBlocks, SENDER } from '../archive/archive-fixture.js';
import { rebuildWithAlteredNode, rebuildWithBlock } from '../snapshot/tamper.js';
import { createBlockFromRLP } from '@ethereumjs/block';
import { createLegacyTx } from '@ethereumjs/tx';
import { blockWithHeader, headerOpts, headerWithExtraData } from '../../../src/chain/block-util.js';
import { decodeIbftExtra, encodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { committedSeal } from '../../../src/consensus/ibft/seal.js';
import { until, nodesStoppedAfterEach } from './net-fixture.js';

const { cleanup, node } = nodesStoppedAfterEach();
const NOBODY = 65534;

async function bareHost(): Promise<Host> {
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
  cleanup.push(() => Promise.resolve(host.stop()));
  return host;
}

async function snapshotBytes(chain: Chain, headersOnly = false, stateOrder: 'tree' | 'unique' = 'unique'): Promise<Uint8Array> {
  const snap = await createSnapshot(chain, { compression: 'zstd', headersOnly, stateOrder });
  const parts: Uint8Array[] = [];
  for await (const c of snap.chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** How an evil peer serves: its answer's announced size (default: the bytes' length), and a pause between messages. */
interface EvilServing {
  announce?: number;
  /** Send the first `bytes` at once, then one byte every `everyMs` (a trickle). */
  trickle?: { bytes: number; everyMs: number };
  /** End the stream cleanly (FIN, no reset) after this many of the bytes, or before the answer. */
  endAfter?: number | 'before the answer';
  /** The head it claims (default: 32 above `chain`'s, within what a snapshot may lag its claim: asked before an honest peer of `chain`). */
  head?: bigint;
}

/**
 * A peer that passes the handshake as a peer of `chain` 32 blocks past its head (or at `how.head`), and serves `bytes`
 * as its snapshot (protocol version 2, or `version`), or refuses.
 */
async function evilPeer(
  chain: Chain,
  bytes: Uint8Array | 'refuse',
  how: EvilServing = {},
  version: 1 | 2 | 3 | 4 | 5 = 2,
): Promise<{ addr: string; served: number }> {
  const host = await bareHost();
  const status = (): ChainStatus => ({
    chainId: chain.chainId,
    genesisHash: chain.genesisHash,
    headNumber: how.head ?? chain.head.number + 32n,
    headHash: new Uint8Array(32).fill(7),
  });
  await serveStatus(
    host,
    status,
    () => undefined,
    () => undefined,
  );
  const out = { addr: host.getMultiaddrs()[0]!.toString(), served: 0 };
  await host.handle(snapshotProtocol(chain.genesisHash, version), ({ stream }) => {
    out.served++;
    if (bytes === 'refuse') return void stream.sink(lp.encode([new Uint8Array([1, ...Buffer.from('busy')])])).catch(() => undefined);
    if (how.endAfter === 'before the answer') return void stream.sink(lp.encode([])).catch(() => undefined);
    const answer = new Uint8Array(version === 1 ? 1 : 9);
    if (version !== 1) new DataView(answer.buffer).setBigUint64(1, BigInt(how.announce ?? bytes.length));
    const data = how.endAfter === undefined ? bytes : bytes.subarray(0, how.endAfter);
    async function* body() {
      yield answer;
      const first = how.trickle ? how.trickle.bytes : data.length;
      for (let i = 0; i < first; i += 65536) yield data.subarray(i, Math.min(first, i + 65536));
      for (let i = first; i < data.length; i++) {
        await new Promise((r) => setTimeout(r, how.trickle!.everyMs));
        yield data.subarray(i, i + 1);
      }
    }
    void stream.sink(lp.encode(body())).catch(() => undefined);
  });
  return out;
}

const idOf = (addr: string) => addr.split('/p2p/')[1]!;

/** snapshotSync's options for node `b` restoring `src`'s chain: its own target, silent, peers awaited up to 10 s. */
function syncOpts(b: Awaited<ReturnType<typeof newNode>>, src: { genesis: Parameters<typeof openTestChain>[0]; chain: Chain }) {
  return {
    host: b.net.host,
    peers: b.net.peerManager,
    genesis: src.genesis,
    genesisHash: src.chain.genesisHash,
    target: join(tempDir(), 'restored'),
    log: silentLogger(),
    waitForPeersMs: 10_000,
  };
}

/** A new node: genesis only, block sync off, connected to `bootnodes`. */
async function newNode(genesis: Parameters<typeof openTestChain>[0], bootnodes: string[]) {
  const t = await openTestChain(genesis);
  cleanup.push(() => t.close());
  return node(t.chain, { bootnodes, blockSync: false });
}

describe('snapshot sync', () => {
  it('a new node restores from a peer and then has its head and state root', async () => {
    const src = await chainWithBlocks(6);
    cleanup.push(() => src.close());
    const a = await node(src.chain);
    const b = await newNode(src.genesis, [a.addr]);
    const target = join(tempDir(), 'restored');
    // What a snapshot sync killed mid-restore leaves behind: removed, not left to pile up.
    const leftover = join(target, '..', '.restored.restoring-999999');
    mkdirSync(join(leftover, 'blockchain'), { recursive: true });
    const r = await snapshotSync({
      ...syncOpts(b, src),
      target,
    });
    expect(existsSync(leftover)).toBe(false);
    expect(r).toBeDefined();
    expect(r!.peer).toBe(idOf(a.addr));
    expect(r!.head).toBe(6n);
    // Without history (snapshot protocol 3): the blocks below the head are back-filled from peers.
    expect(r!.historyGap).toEqual({ from: 1n, to: 5n });
    const restored = await openTestChain(src.genesis, target);
    cleanup.push(() => restored.close());
    expect(restored.chain.head.number).toBe(6n);
    expect(await restored.chain.store.historyGap()).toEqual({ from: 1n, to: 5n });
    expect(bytesToHex(restored.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    expect(bytesToHex(restored.chain.head.header.stateRoot)).toBe(bytesToHex(src.chain.head.header.stateRoot));
  }, 30_000);

  it('builds in the data dir, on its file system, measures that file system for the disk guard, and writes nothing next to it', async () => {
    const src = await chainWithBlocks(4);
    cleanup.push(() => src.close());
    const a = await node(src.chain);
    const b = await newNode(src.genesis, [a.addr]);
    const parent = tempDir();
    const dataDir = join(parent, 'node');
    await (await openTestChain(src.genesis, dataDir)).close(); // the genesis-only databases a snapshot sync replaces
    const built = snapshotSyncFolder(dataDir);
    expect(built.startsWith(dataDir + sep)).toBe(true);
    const measured: string[] = [];
    const r = await snapshotSync({
      ...syncOpts(b, src),
      target: built,
      minFreeBytes: 1,
      statfs: async (path) => {
        measured.push(path);
        return { bavail: 1e12, bsize: 1 };
      },
    });
    expect(r?.head).toBe(4n);
    expect(measured.length).toBeGreaterThan(0);
    expect(new Set(measured)).toEqual(new Set([dataDir]));
    expect(statSync(built).dev).toBe(statSync(dataDir).dev);
    expect(readdirSync(parent)).toEqual(['node']);
    installSnapshot(built, dataDir);
    expect(readdirSync(dataDir).sort()).toEqual(['blockchain', 'trie']);
    const opened = await openTestChain(src.genesis, dataDir);
    try {
      expect(bytesToHex(opened.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    } finally {
      await opened.close();
    }
  }, 30_000);

  it('a new node restores from a peer a chain whose genesis does not fit in a snapshot header (snapshot format version 2)', async () => {
    const accounts = Array.from({ length: 2_000 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}`);
    const src = await createTestChain(1, accounts);
    cleanup.push(() => src.close());
    await sealNext(src);
    const bytes = await snapshotBytes(src.chain);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint16(8)).toBe(2);
    const a = await node(src.chain);
    const b = await newNode(src.genesis, [a.addr]);
    const target = join(tempDir(), 'restored');
    const r = await snapshotSync({
      ...syncOpts(b, src),
      target,
    });
    expect(r!.peer).toBe(idOf(a.addr));
    expect(r!.headHash).toBe(bytesToHex(src.chain.head.hash));
    expect(JSON.parse(readFileSync(join(target, 'genesis.json'), 'utf8'))).toEqual(src.genesis);
  }, 30_000);

  it('a peer serving a tampered snapshot is banned and the node restores from the next peer', async () => {
    const src = await chainWithBlocks(4);
    cleanup.push(() => src.close());
    const tampered = await rebuildWithAlteredNode(await snapshotBytes(src.chain));
    // The evil peer claims the higher head, so it is asked first.
    const evil = await evilPeer(src.chain, tampered);
    const evilAddr = evil.addr;
    const good = await node(src.chain);
    const b = await newNode(src.genesis, [evilAddr, good.addr]);
    await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
    const target = join(tempDir(), 'restored');
    const r = await snapshotSync({
      ...syncOpts(b, src),
      target,
    });
    expect(evil.served).toBe(1);
    expect(b.net.peerManager.banned(idOf(evilAddr))!.reason).toMatch(/bad snapshot.*state is not the head's/);
    expect(r!.peer).toBe(idOf(good.addr));
    expect(r!.headHash).toBe(bytesToHex(src.chain.head.hash));
    expect(existsSync(join(target, 'blockchain'))).toBe(true);
  }, 30_000);

  it('a peer whose stream ends cleanly, halfway through its snapshot or before its answer, is not banned: the next peer serves', async () => {
    const src = await chainWithBlocks(4);
    cleanup.push(() => src.close());
    const bytes = await snapshotBytes(src.chain);
    // Both claim the higher head, so they are asked first; what each sent is right, only cut short.
    const half = await evilPeer(src.chain, bytes, { endAfter: Math.floor(bytes.length / 2) });
    const silent = await evilPeer(src.chain, bytes, { endAfter: 'before the answer' });
    const good = await node(src.chain);
    const b = await newNode(src.genesis, [half.addr, silent.addr, good.addr]);
    await until(() => b.net.peerManager.peers().length === 3, 'three peers ready');
    const target = join(tempDir(), 'restored');
    const r = await snapshotSync({ ...syncOpts(b, src), target });
    expect([half.served, silent.served]).toEqual([1, 1]);
    expect(b.net.peerManager.banned(idOf(half.addr))).toBeUndefined();
    expect(b.net.peerManager.banned(idOf(silent.addr))).toBeUndefined();
    expect(r!.peer).toBe(idOf(good.addr));
    const restored = await openTestChain(src.genesis, target);
    cleanup.push(() => restored.close());
    expect(bytesToHex(restored.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
  }, 30_000);

  it('a serving node that stops mid-stream (an operator restarting it: its streams close cleanly) is not banned', async () => {
    // A snapshot large enough to be stopped in the middle of (about 3 MB).
    const accounts = Array.from({ length: 60_000 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}`);
    const src = await createTestChain(1, accounts);
    cleanup.push(() => src.close());
    await sealNext(src);
    const a = await node(src.chain);
    const b = await newNode(src.genesis, [a.addr]);
    await until(() => b.net.peerManager.peers().length === 1, 'peer ready');
    let stoppedAt: SnapshotSyncProgress | undefined;
    const r = await snapshotSync({
      ...syncOpts(b, src),
      onProgress: (p) => {
        if (stoppedAt === undefined && p.bytesReceived > 200_000) {
          stoppedAt = p;
          void a.net.stop();
        }
      },
    });
    expect(stoppedAt!.bytesReceived).toBeLessThan(stoppedAt!.bytesAnnounced);
    expect(r).toBeUndefined();
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
  }, 120_000);

  it("a peer's snapshot has every seal checked: a stranger's committed seal on a block below the head gets its peer banned", async () => {
    const src = await chainWithBlocks(4);
    cleanup.push(() => src.close());
    const common = src.chain.commonAt(2n);
    // The same block 2 (its hash leaves the committed seals out) with a seal by a key of no validator.
    const tampered = await rebuildWithBlock(await snapshotBytes(src.chain), 2n, (rlp) => {
      const b = createBlockFromRLP(rlp, headerOpts(common));
      const extra = decodeIbftExtra(b.header.extraData);
      const h = headerWithExtraData(b.header, encodeIbftExtra({ ...extra, committedSeals: [committedSeal(b.header, new Uint8Array(32).fill(9))] }), common);
      return blockWithHeader(b, h, common).serialize();
    });
    const evil = await evilPeer(src.chain, tampered);
    const good = await node(src.chain);
    const b = await newNode(src.genesis, [evil.addr, good.addr]);
    await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
    const r = await snapshotSync({ ...syncOpts(b, src), target: join(tempDir(), 'restored') });
    expect(evil.served).toBe(1);
    expect(b.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/bad snapshot.*block 2 is invalid: committed seal by 0x[0-9a-f]{40}, not a validator/);
    expect(r!.peer).toBe(idOf(good.addr));
  }, 30_000);

  it('a snapshot of another chain is refused (the genesis file is the anchor), its peer banned, nothing left', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const other = await createTestChain(1, ['0x00000000000000000000000000000000000000aa']);
    cleanup.push(() => other.close());
    await sealNext(other);
    const evil = await evilPeer(src.chain, await snapshotBytes(other.chain));
    const b = await newNode(src.genesis, [evil.addr]);
    await until(() => b.net.peerManager.peers().length === 1, 'peer ready');
    const target = join(tempDir(), 'restored');
    const r = await snapshotSync({
      ...syncOpts(b, src),
      target,
    });
    expect(r).toBeUndefined();
    expect(b.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(/bad snapshot.*another chain/);
    expect(existsSync(target)).toBe(false);
  }, 30_000);

  it('a peer that refuses is not banned: the next peer serves, and alone it is asked three times, then block sync', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const busy = await evilPeer(src.chain, 'refuse');
    const good = await node(src.chain);
    const b = await newNode(src.genesis, [busy.addr, good.addr]);
    await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
    const opts = syncOpts(b, src);
    const r = await snapshotSync({ ...opts, target: join(tempDir(), 'restored') });
    expect(r!.peer).toBe(idOf(good.addr));
    expect(busy.served).toBe(1);
    await good.net.stop();
    await until(() => b.net.peerManager.peers().length === 1, 'good peer gone');
    const target = join(tempDir(), 'again');
    expect(await snapshotSync({ ...opts, target })).toBeUndefined();
    expect(busy.served).toBe(4);
    expect(b.net.peerManager.banned(idOf(busy.addr))).toBeUndefined();
    expect(existsSync(target)).toBe(false);
  }, 30_000);

  it('a snapshot that would take the disk below the floor is abandoned (when announced, or as it comes), the peer not banned, nothing left', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const a = await node(src.chain);
    const b = await newNode(src.genesis, [a.addr]);
    const target = join(tempDir(), 'restored');
    const opts = { ...syncOpts(b, src), target, minFreeBytes: 1024 * 1024 };
    // The announced size does not fit above the floor: declined before any byte.
    let measured = 0;
    expect(await snapshotSync({ ...opts, statfs: async () => (measured++, { bavail: 10, bsize: 4096 }) })).toBeUndefined();
    expect(measured).toBe(1);
    // It fits when announced, but the disk fills up meanwhile: abandoned at the first measure of the stream.
    measured = 0;
    expect(
      await snapshotSync({ ...opts, statfs: async () => (measured++ === 0 ? { bavail: 1e6, bsize: 4096 } : { bavail: 10, bsize: 4096 }) }),
    ).toBeUndefined();
    expect(measured).toBe(2);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(existsSync(target)).toBe(false);
  }, 30_000);

  it('a peer that sends more than it announced is banned, and the next peer serves', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const bytes = await snapshotBytes(src.chain);
    const evil = await evilPeer(src.chain, bytes, { announce: Math.floor(bytes.length / 2) });
    const good = await node(src.chain);
    const b = await newNode(src.genesis, [evil.addr, good.addr]);
    await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
    const r = await snapshotSync({
      ...syncOpts(b, src),
    });
    expect(r!.peer).toBe(idOf(good.addr));
    const ban = b.net.peerManager.banned(idOf(evil.addr))!;
    expect(ban.reason).toMatch(new RegExp(`bad snapshot: .*snapshot/2: the snapshot is longer than the ${Math.floor(bytes.length / 2)} bytes announced`));
    expect(banKind(ban.reason)).toBe('invalid-data');
  }, 30_000);

  it('version 5 announces an estimate: a peer that sends more than it estimated is not banned, its snapshot restores', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const bytes = await snapshotBytes(src.chain, true, 'tree');
    const low = await evilPeer(src.chain, bytes, { announce: Math.floor(bytes.length / 2) }, 5);
    const b = await newNode(src.genesis, [low.addr]);
    await until(() => b.net.peerManager.peers().length === 1, 'peer ready');
    const r = await snapshotSync({
      ...syncOpts(b, src),
    });
    expect(r!.peer).toBe(idOf(low.addr));
    expect(r!.headHash).toBe(bytesToHex(src.chain.head.hash));
    expect(b.net.peerManager.banned(idOf(low.addr))).toBeUndefined();
  }, 30_000);

  it('versions 5 and 4 promise the state in tree order: a peer serving each node once on them is banned, one of an earlier version (3) still restores', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // Each node once: what a client would have to check remembering every node (memory growing with the state).
    const unique = await snapshotBytes(src.chain, true, 'unique');
    for (const version of [5, 4] as const) {
      const evil = await evilPeer(src.chain, unique, {}, version);
      // A node of an earlier version, asked next: version 3 is served each node once.
      const older = await evilPeer(src.chain, unique, { head: src.chain.head.number + 16n }, 3);
      const b = await newNode(src.genesis, [evil.addr, older.addr]);
      await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
      const r = await snapshotSync({ ...syncOpts(b, src) });
      expect(evil.served).toBe(1);
      const ban = b.net.peerManager.banned(idOf(evil.addr))!;
      expect(ban.reason).toMatch(new RegExp(`^served a bad snapshot: .*snapshot/${version}: the snapshot's state order is not 'tree'`));
      expect(banKind(ban.reason)).toBe('invalid-data');
      expect(r!.peer).toBe(idOf(older.addr));
      expect(r!.headHash).toBe(bytesToHex(src.chain.head.hash));
      expect(b.net.peerManager.banned(idOf(older.addr))).toBeUndefined();
    }
  }, 60_000);

  it('versions 3 to 5 promise a snapshot without history: a peer serving whole blocks (format version 1) on them is banned, one of version 2 still restores', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // Whole blocks below the head, in tree order (what versions 4 and 5 also promise): format version 1.
    const whole = await snapshotBytes(src.chain, false, 'tree');
    expect(new DataView(whole.buffer, whole.byteOffset).getUint16(8)).toBe(1);
    for (const version of [5, 3] as const) {
      const evil = await evilPeer(src.chain, whole, {}, version);
      const older = await evilPeer(src.chain, await snapshotBytes(src.chain), { head: src.chain.head.number + 16n }, 2);
      const b = await newNode(src.genesis, [evil.addr, older.addr]);
      await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
      const r = await snapshotSync({ ...syncOpts(b, src) });
      expect(evil.served).toBe(1);
      const ban = b.net.peerManager.banned(idOf(evil.addr))!;
      expect(ban.reason).toMatch(
        new RegExp(
          `^served a bad snapshot: .*snapshot/${version}: the snapshot is of format version 1, not 3 \\(without history\\), which this protocol version promises$`,
        ),
      );
      expect(banKind(ban.reason)).toBe('invalid-data');
      expect(r!.peer).toBe(idOf(older.addr));
      expect(r!.headHash).toBe(bytesToHex(src.chain.head.hash));
    }
  }, 60_000);

  it("a peer that claims the highest head and serves an older (authentic) snapshot is banned: the node restores the honest peer's head", async () => {
    const src = await createTestChain(1);
    cleanup.push(() => src.close());
    await sealNext(src);
    await sealNext(src);
    const old = await snapshotBytes(src.chain, true, 'tree'); // of block 2: every seal good
    for (let i = 0; i < 70; i++) await sealNext(src);
    expect(src.chain.head.number).toBe(72n);
    const liar = await evilPeer(src.chain, old, { head: 1n << 40n }, 5);
    const good = await node(src.chain);
    const b = await newNode(src.genesis, [liar.addr, good.addr]);
    await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
    const r = await snapshotSync({ ...syncOpts(b, src) });
    expect(liar.served).toBe(1);
    expect(b.net.peerManager.banned(idOf(liar.addr))!.reason).toBe(
      `served a bad snapshot: the snapshot's head 2 is more than 64 blocks below the head ${1n << 40n} the peer claimed`,
    );
    expect(r!.peer).toBe(idOf(good.addr));
    expect(r!.head).toBe(72n);
    expect(r!.headHash).toBe(bytesToHex(src.chain.head.hash));
  }, 60_000);

  it('version 5 without a budget: a peer that trickles is still banned by the floor, one window after its answer', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // An estimate far above what comes: no budget to run out, only the floor.
    const evil = await evilPeer(
      src.chain,
      await snapshotBytes(src.chain, true, 'tree'),
      { announce: 10_000_000_000, trickle: { bytes: 600, everyMs: 200 } },
      5,
    );
    const b = await newNode(src.genesis, [evil.addr]);
    await until(() => b.net.peerManager.peers().length === 1, 'peer ready');
    const began = Date.now();
    const r = await snapshotSync({
      ...syncOpts(b, src),
      fetch: { pace: { minBytesPerSecond: 4096, windowMs: 500 } },
    });
    expect(r).toBeUndefined();
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(b.net.peerManager.banned(idOf(evil.addr))!.reason).toMatch(
      /^served a snapshot too slowly: .*snapshot\/5: \d+ bytes in the last 0\.5 s of waiting, below the floor/,
    );
  }, 30_000);

  it('a peer that trickles its snapshot is banned as slow one window after its answer, and the next peer serves; progress is told throughout', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // The snapshot's first 600 bytes (a valid start), then one byte every 200 ms: far below a 4 KiB/s floor.
    const evil = await evilPeer(src.chain, await snapshotBytes(src.chain), { trickle: { bytes: 600, everyMs: 200 } });
    const good = await node(src.chain);
    const b = await newNode(src.genesis, [evil.addr, good.addr]);
    await until(() => b.net.peerManager.peers().length === 2, 'both peers ready');
    const seen: SnapshotSyncProgress[] = [];
    const began = Date.now();
    const r = await snapshotSync({
      ...syncOpts(b, src),
      fetch: { pace: { minBytesPerSecond: 4096, windowMs: 500 } },
      onProgress: (p) => seen.push(p),
    });
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(r!.peer).toBe(idOf(good.addr));
    const ban = b.net.peerManager.banned(idOf(evil.addr))!;
    expect(ban.reason).toMatch(/^served a snapshot too slowly: .*snapshot\/2: \d+ bytes in the last 0\.5 s of waiting, below the floor of 4096 bytes\/s$/);
    expect(banKind(ban.reason)).toBe('slow-snapshot');
    // While the evil peer was asked: its claimed head; then the good peer's snapshot, to its end.
    expect(seen.find((p) => p.peer === idOf(evil.addr))!.highestBlock).toBe(src.chain.head.number + 32n);
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ peer: idOf(good.addr), currentBlock: 3n, highestBlock: 3n });
    expect(last.bytesReceived).toBeGreaterThan(0);
    expect(last.bytesAnnounced).toBeGreaterThanOrEqual(last.bytesReceived);
  }, 30_000);

  it('the phase has a bound: past --snapshot-sync-timeout the stream in progress is abandoned (its peer not banned) and block sync follows', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const slow = await evilPeer(src.chain, await snapshotBytes(src.chain), { trickle: { bytes: 600, everyMs: 100 } });
    const b = await newNode(src.genesis, [slow.addr]);
    await until(() => b.net.peerManager.peers().length === 1, 'peer ready');
    const target = join(tempDir(), 'restored');
    const began = Date.now();
    // A floor the trickle keeps (1 byte/s over 10 s), and a phase of 1.5 s.
    const r = await snapshotSync({
      ...syncOpts(b, src),
      target,
      fetch: { pace: { minBytesPerSecond: 1, windowMs: 10_000 } },
      timeoutMs: 1_500,
    });
    expect(r).toBeUndefined();
    expect(Date.now() - began).toBeLessThan(4_000);
    expect(b.net.peerManager.banned(idOf(slow.addr))).toBeUndefined();
    expect(existsSync(target)).toBe(false);
  }, 30_000);

  it("announces its estimate (version 5) or a bound at least the snapshot's length (versions 4 to 2), and still serves version 3 (each node once), version 2 (the whole history) and version 1 (OK alone) to nodes of earlier versions", async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const server = await bareHost();
    await serveSnapshots(server, src.chain.genesisHash, src.chain, { maxStreams: 2, isReady: () => true, onBadPeer: () => undefined });
    const client = await bareHost();
    await client.dial(server.getMultiaddrs()[0]!);
    // Version 5, what this node asks for: the snapshot without history, its state in tree order, its
    // size estimated from the genesis state's (the size kept when the genesis was written).
    const genesisRoot = (await src.chain.store.header(0n, src.chain.genesisHash))!.stateRoot;
    expect(await src.chain.store.stateSize()).toMatchObject({ root: genesisRoot });
    const withoutHistory = await snapshotBytes(src.chain, true, 'tree');
    await src.chain.store.writeStateSize({ root: genesisRoot, number: 0n, order: 'tree', nodes: 1, nodeBytes: 10, codes: 0, codeBytes: 0 });
    const announcedAs: { bytes: number; estimate: boolean }[] = [];
    const fetchAll = async () => {
      const got: Uint8Array[] = [];
      for await (const c of fetchSnapshot(client, server.peerId, src.chain.genesisHash, {
        onAnnounce: (bytes, how) => void announcedAs.push({ bytes, ...how }),
      }))
        got.push(c);
      return Buffer.concat(got);
    };
    expect((await fetchAll()).equals(withoutHistory)).toBe(true);
    expect(Buffer.from(withoutHistory).includes(Buffer.from('"stateOrder":"tree"'))).toBe(true);
    // Estimated from a kept size below the state's (the snapshot still came whole).
    expect(announcedAs[0]).toMatchObject({ estimate: true });
    // That stream listed the head's state whole and kept its size: the next estimate is a bound of it.
    expect(await src.chain.store.stateSize()).toMatchObject({ root: src.chain.head.header.stateRoot });
    expect((await fetchAll()).equals(withoutHistory)).toBe(true);
    expect(announcedAs[1]!.bytes).toBeGreaterThanOrEqual(withoutHistory.length);
    expect(announcedAs[0]!.bytes).toBeLessThan(announcedAs[1]!.bytes);
    expect(announcedAs[1]!.bytes).toBeLessThan(withoutHistory.length + 4096);
    // Version 4 (asked by nodes of the version before): the bound, from the sizes the streams before
    // listed of this very state (a walk where none did).
    const s4 = await client.dialProtocol(server.peerId, snapshotProtocol(src.chain.genesisHash, 4));
    await s4.sink(lp.encode([new Uint8Array([1])]));
    const v4: Uint8Array[] = [];
    for await (const m of lp.decode(s4.source, { maxDataLength: 1 << 20 })) v4.push(m.subarray());
    expect(Buffer.concat(v4.slice(1)).equals(withoutHistory)).toBe(true);
    expect(Number(new DataView(v4[0]!.buffer, v4[0]!.byteOffset, 9).getBigUint64(1))).toBe(announcedAs[1]!.bytes);
    // A kept size that cannot be read is a hint lost, not damage: this server's own count of the state
    // answers (where none, a walk: size-bound.test.ts), and the stream read to its end keeps it again.
    await src.chain.store.db.put(STATE_SIZE_KEY, new Uint8Array(5));
    expect(await src.chain.store.stateSize()).toBeUndefined();
    expect((await fetchAll()).equals(withoutHistory)).toBe(true);
    expect(announcedAs[2]!.bytes).toBe(announcedAs[1]!.bytes);
    expect(await src.chain.store.stateSize()).toMatchObject({ root: src.chain.head.header.stateRoot });
    // Version 3 (what nodes of the version before ask for): without history, each state node once.
    const s3 = await client.dialProtocol(server.peerId, snapshotProtocol(src.chain.genesisHash, 3));
    await s3.sink(lp.encode([new Uint8Array([1])]));
    const v3: Uint8Array[] = [];
    for await (const m of lp.decode(s3.source, { maxDataLength: 1 << 20 })) v3.push(m.subarray());
    expect(v3[0]![0]).toBe(0);
    const v3Bytes = Buffer.concat(v3.slice(1));
    expect(v3Bytes.equals(await snapshotBytes(src.chain, true, 'unique'))).toBe(true);
    expect(v3Bytes.includes(Buffer.from('stateOrder'))).toBe(false);
    expect(Number(new DataView(v3[0]!.buffer, v3[0]!.byteOffset, 9).getBigUint64(1))).toBeGreaterThanOrEqual(v3Bytes.length);
    // Version 2: the whole history, with its bound.
    const expected = await snapshotBytes(src.chain);
    const s2 = await client.dialProtocol(server.peerId, snapshotProtocol(src.chain.genesisHash, 2));
    await s2.sink(lp.encode([new Uint8Array([1])]));
    const v2: Uint8Array[] = [];
    for await (const m of lp.decode(s2.source, { maxDataLength: 1 << 20 })) v2.push(m.subarray());
    expect(v2[0]![0]).toBe(0);
    const bound2 = Number(new DataView(v2[0]!.buffer, v2[0]!.byteOffset, 9).getBigUint64(1));
    expect(Buffer.concat(v2.slice(1)).equals(expected)).toBe(true);
    expect(bound2).toBeGreaterThanOrEqual(expected.length);
    expect(bound2).toBeLessThan(expected.length + 4096);
    // Version 1: the request byte, then OK alone and the same bytes.
    const stream = await client.dialProtocol(server.peerId, snapshotProtocol(src.chain.genesisHash, 1));
    await stream.sink(lp.encode([new Uint8Array([1])]));
    const v1: Uint8Array[] = [];
    for await (const m of lp.decode(stream.source, { maxDataLength: 1 << 20 })) v1.push(m.subarray());
    expect([...v1[0]!]).toEqual([0]);
    expect(Buffer.concat(v1.slice(1)).equals(expected)).toBe(true);
  }, 30_000);

  it('sizing a snapshot before the answer: the walk stops when the peer hangs up, a slow one is answered, one stream per peer', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // Every state read takes a while: sizing the snapshot (a walk of the state) takes seconds.
    let reads = 0;
    let delayMs = 1_000;
    // No size kept (a data dir of an earlier version): version 5 measures it too, by a walk.
    let kept: StateSize | undefined;
    const source = Object.create(src.chain) as Chain;
    source.recordStateSize = async (size) => void (kept = size);
    source.openReadView = () => {
      const view = src.chain.openReadView();
      const state = {
        node: async (h: Uint8Array) => (reads++, await new Promise((r) => setTimeout(r, delayMs)), view.state.node(h)),
        code: (h: Uint8Array) => view.state.code(h),
      };
      const blocks = new Proxy(view.blocks, { get: (t, k) => (k === 'stateSize' ? async () => kept : Reflect.get(t, k, t)) });
      return { ...view, blocks, state };
    };
    const server = await bareHost();
    // Every peer counted by itself (as validators and kept peers are): all of these come from 127.0.0.1.
    await serveSnapshots(server, src.chain.genesisHash, source, { maxStreams: 1, isReady: () => true, onBadPeer: () => undefined, trusted: () => true });
    // A peer that asks and hangs up while the snapshot is sized: the walk stops, the slot is free again.
    const quitter = await bareHost();
    await quitter.dial(server.getMultiaddrs()[0]!);
    const abandoned = fetchSnapshot(quitter, server.peerId, src.chain.genesisHash, { answerTimeoutMs: 500 });
    await expect(abandoned.next()).rejects.toThrow(/did not answer within 500 ms/);
    await new Promise((r) => setTimeout(r, 1_500));
    const after = reads;
    await new Promise((r) => setTimeout(r, 2_000));
    expect(reads).toBe(after);
    delayMs = 200;
    const client = await bareHost();
    await client.dial(server.getMultiaddrs()[0]!);
    let announced = 0;
    const first = fetchSnapshot(client, server.peerId, src.chain.genesisHash, { onAnnounce: (n) => void (announced = n) });
    const firstChunk = first.next();
    await new Promise((r) => setTimeout(r, 200));
    await expect(fetchSnapshot(client, server.peerId, src.chain.genesisHash).next()).rejects.toThrow(/busy: already serving this peer a snapshot/);
    expect((await firstChunk).done).toBe(false);
    expect(announced).toBeGreaterThan(0);
    let bytes = (await firstChunk).value!.length;
    for await (const c of first) bytes += c.length;
    expect(bytes).toBeLessThanOrEqual(announced);
    // The walk kept the size: the next answer reads no state node before it.
    expect(kept).toBeDefined();
    const before = reads;
    let second = 0;
    const again = fetchSnapshot(client, server.peerId, src.chain.genesisHash, { onAnnounce: (n) => void (second = n) });
    expect((await again.next()).done).toBe(false);
    expect(reads).toBe(before);
    expect(second).toBe(announced);
    await again.return(undefined);
  }, 30_000);

  it('sizing walks on demand: a peer that asks and leaves after the answer is answered from the one walk of the same state, refused (busy, not banned) a new walk, and so is another identity at its address; other peers are served, one stream per address', async () => {
    const premine = [addressOf(SENDER), ...Array.from({ length: 2_000 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}`)];
    const src = await createTestChain(1, premine);
    cleanup.push(() => src.close());
    await sealNext(src);
    /** A transfer from SENDER: a block that changes the state. */
    const transfer = (nonce: bigint) =>
      createLegacyTx(
        { nonce, to: '0x000000000000000000000000000000000000beef', value: 1n, gasLimit: 21000n, gasPrice: 10n ** 10n },
        { common: src.chain.commonAt(0n) },
      ).sign(SENDER);
    // Every state node read, as review/walk.test.ts counted them; reads wait while `gate` is shut.
    let reads = 0;
    let gate: Promise<void> | undefined;
    let held = false;
    let failAt = Number.POSITIVE_INFINITY; // past this many reads, reading the state fails (this side's fault)
    const source = Object.create(src.chain) as Chain;
    source.openReadView = () => {
      const view = src.chain.openReadView();
      const state = Object.create(view.state) as typeof view.state;
      state.nodes = async (hashes: Uint8Array[]) => {
        if (gate !== undefined) {
          held = true;
          await gate;
        }
        reads += hashes.length;
        if (reads > failAt) throw new Error('a state node is missing (test)');
        return view.state.nodes!(hashes);
      };
      state.node = async (hash: Uint8Array) => (reads++, view.state.node(hash));
      return { ...view, state };
    };
    // Streams the test drives: a peer that takes the answer and hangs up pulls nothing after it, so
    // every read counted before the answer is the sizing's (over libp2p, how far the snapshot's own walk
    // got before the hang-up arrived would be a race).
    let handler: ((x: { stream: unknown; connection: unknown }) => void) | undefined;
    const host = { handle: async (_p: unknown, h: typeof handler) => void (handler = h) } as unknown as Host;
    const bad: string[] = [];
    const trusted = new Set(['validator']);
    await serveSnapshots(host, src.chain.genesisHash, source, {
      maxStreams: 2,
      isReady: () => true,
      onBadPeer: (p, why) => bad.push(`${p}: ${why}`),
      trusted: (p) => trusted.has(p.toString()),
    });
    // Each peer at an address of its own (as a multiaddr's IP part), but for those given one here; the
    // quitter on IPv6, where a host is given a whole /64.
    const addresses = new Map<string, string>([['quitter', '/ip6/2001:db8:1:2::1']]);
    const addressOfPeer = (peer: string) => {
      if (!addresses.has(peer)) addresses.set(peer, `/ip4/10.0.0.${addresses.size + 1}`);
      return addresses.get(peer)!;
    };
    /**
     * `peer` asks with `version`, takes `take` messages (the answer: 1), then hangs up: the messages it
     * took. With `leave`, it hangs up then too (its answer timeout), whatever it got.
     */
    const ask = (peer: string, version: 5 | 4 | 3, take = Number.POSITIVE_INFINITY, leave?: Promise<void>) =>
      new Promise<Uint8Array[]>((resolve) => {
        const got: Uint8Array[] = [];
        void leave?.then(() => {
          stream.status = 'aborted';
          resolve(got);
        });
        const ended = () => setTimeout(() => resolve(got), 50); // the server's side of the stream ends
        const stream = {
          protocol: snapshotProtocol(src.chain.genesisHash, version),
          status: 'open',
          source: (async function* () {
            yield* lp.encode([new Uint8Array([1])]);
          })(),
          sink: async (out: AsyncIterable<Uint8Array>) => {
            for await (const m of lp.decode(out, { maxDataLength: 1 << 21 })) {
              got.push(m.subarray());
              if (got.length >= take) break;
            }
            stream.status = 'closed';
            ended();
          },
          abort: () => {
            stream.status = 'aborted';
            ended();
          },
        };
        const remoteAddr = multiaddr(`${addressOfPeer(peer)}/tcp/4000`);
        handler!({ stream, connection: { remotePeer: { toString: () => peer }, remoteAddr } });
      });
    const refusal = (answer: Uint8Array[]) => (answer[0]![0] === 1 ? Buffer.from(answer[0]!.subarray(1)).toString() : undefined);
    // One walk for the first ask, none for the next two: answered (the same bound) from its sizes.
    const first = await ask('quitter', 4, 1);
    expect(refusal(first)).toBeUndefined();
    const walk = reads;
    expect(walk).toBeGreaterThan(2_000);
    for (let i = 0; i < 2; i++) {
      expect(await ask('quitter', 4, 1)).toEqual(first);
      expect(reads).toBe(walk);
    }
    // Another node asking at the same head is served without a walk before its answer.
    const whole = await ask('honest', 4);
    expect(refusal(whole)).toBeUndefined();
    expect(Buffer.concat(whole.slice(1)).equals(await snapshotBytes(src.chain, true, 'tree'))).toBe(true);
    expect(whole[0]).toEqual(first[0]);
    expect(Number(new DataView(whole[0]!.buffer, whole[0]!.byteOffset, 9).getBigUint64(1))).toBeGreaterThanOrEqual(Buffer.concat(whole.slice(1)).length);
    // The state changes: sizing it is a walk, which the peer that left is refused (busy) in any order...
    await sealNext(src, [transfer(0n)]);
    const atNewHead = reads;
    expect(refusal(await ask('quitter', 4, 1))).toMatch(/^busy: this peer left its last snapshot before reading it; ask again in \d+ s$/);
    expect(refusal(await ask('quitter', 3, 1))).toMatch(/^busy: this peer left its last snapshot before reading it/);
    expect(reads).toBe(atNewHead);
    // ...and so is another identity at its address (peer IDs cost nothing; an IPv6 host's /64), unless it is a validator or a kept peer...
    addresses.set('quitter2', '/ip6/2001:db8:1:2:ffff:ffff:ffff:ffff'); // another address of its /64
    addresses.set('validator', addressOfPeer('quitter'));
    expect(refusal(await ask('quitter2', 4, 1))).toMatch(/^busy: a peer at this address left its last snapshot before reading it; ask again in \d+ s$/);
    expect(reads).toBe(atNewHead);
    // ...while version 5, sized from the size kept without a walk, is still served to it.
    expect(refusal(await ask('quitter', 5, 1))).toBeUndefined();
    expect(reads).toBe(atNewHead);
    // Another peer's version 4 is: one walk of the new state (here, a validator's at the quitter's address).
    expect(refusal(await ask('validator', 4, 1))).toBeUndefined();
    const newWalk = reads - atNewHead;
    expect(newWalk).toBeGreaterThan(2_000);
    // Two peers asking at once at the next state: one walk (the second waits for the first, then takes its sizes).
    await sealNext(src, [transfer(1n)]);
    const atThirdHead = reads;
    // (A third at one's address, asking meanwhile, is refused: one stream per address.)
    addresses.set('three', addressOfPeer('one'));
    const asked = [ask('one', 4), ask('three', 4), ask('two', 4)];
    expect(refusal(await asked[1]!)).toBe('busy: already serving a snapshot to a peer at this address');
    const both = await Promise.all([asked[0]!, asked[2]!]);
    expect(both.map(refusal)).toEqual([undefined, undefined]);
    expect(both[1]![0]).toEqual(both[0]![0]);
    // One sizing walk and two streamed snapshots' walks: three, not four.
    expect(reads - atThirdHead).toBeLessThan(3.5 * newWalk);
    // A peer that gives up while queued behind another's sizing walk cost this node nothing: it is not
    // refused a walk later as one that left early.
    await sealNext(src, [transfer(2n)]);
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const walker = ask('walker', 4, 1);
    await until(() => held, "the walker's sizing walk under way");
    const patient = ask('patient', 4, 1, new Promise((r) => setTimeout(r, 200)));
    expect(await patient).toEqual([]);
    await new Promise((r) => setTimeout(r, 1_500)); // the server sees the hang-up (checked every second)
    gate = undefined;
    open();
    expect(refusal(await walker)).toBeUndefined();
    await sealNext(src, [transfer(3n)]);
    expect(refusal(await ask('patient', 4, 1))).toBeUndefined();
    // A snapshot that fails on this side after its sizing walk (a node missing while streaming): the
    // peer reading it did not leave early, and is not refused a walk later.
    await sealNext(src, [transfer(4n)]);
    failAt = reads + newWalk + 200;
    const cut = await ask('reader', 4);
    expect(refusal(cut)).toBeUndefined();
    expect(Buffer.concat(cut.slice(1)).length).toBeLessThan(Number(new DataView(cut[0]!.buffer, cut[0]!.byteOffset, 9).getBigUint64(1)));
    failAt = Number.POSITIVE_INFINITY;
    await sealNext(src, [transfer(5n)]);
    expect(refusal(await ask('reader', 4, 1))).toBeUndefined();
    expect(bad).toEqual([]);
  }, 60_000);

  it('--max-snapshot-streams: the next request gets a refusal, not a hang', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // Snapshots served from a view whose block reads wait on a gate: the first stream holds its slot
    // (it is sizing its snapshot, which reads the blocks, before it answers).
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let held = false;
    const source = Object.create(src.chain) as Chain;
    source.openReadView = () => {
      const view = src.chain.openReadView();
      const blocks = view.blocks;
      const storedBlocks = async function* (from: bigint, to: bigint) {
        held = true;
        await gate;
        yield* blocks.storedBlocks(from, to);
      };
      return { ...view, blocks: new Proxy(blocks, { get: (t, k) => (k === 'storedBlocks' ? storedBlocks : Reflect.get(t, k, t)) }) } as typeof view;
    };
    const server = await bareHost();
    const banned: string[] = [];
    await serveSnapshots(server, src.chain.genesisHash, source, {
      maxStreams: 1,
      isReady: () => true,
      onBadPeer: (p) => banned.push(p.toString()),
      trusted: () => true, // each peer counted by itself: both come from 127.0.0.1
    });
    const client = await bareHost();
    await client.dial(server.getMultiaddrs()[0]!);
    const first = fetchSnapshot(client, server.peerId, src.chain.genesisHash);
    const firstChunk = first.next();
    await until(() => held, 'the first stream being served');
    const other = await bareHost();
    await other.dial(server.getMultiaddrs()[0]!);
    await expect(fetchSnapshot(other, server.peerId, src.chain.genesisHash).next()).rejects.toThrow(SnapshotRefusedError);
    await expect(fetchSnapshot(other, server.peerId, src.chain.genesisHash).next()).rejects.toThrow(/busy: already serving 1 snapshot stream/);
    open();
    expect((await firstChunk).done).toBe(false);
    const rest: Uint8Array[] = [];
    for await (const c of first) rest.push(c);
    expect(rest.length).toBeGreaterThan(0);
    // The slot is free again.
    await until(async () => {
      try {
        for await (const _ of fetchSnapshot(client, server.peerId, src.chain.genesisHash)) void _;
        return true;
      } catch (err) {
        if (err instanceof SnapshotRefusedError) return false;
        throw err;
      }
    }, 'slot released');
    expect(banned).toEqual([]);
  }, 30_000);
});

/** Each [root, folder, text]: the folder made under root, holding a file `f` of that text. */
function writeFolders(folders: readonly (readonly [string, string, string])[]): void {
  for (const [root, sub, text] of folders) {
    mkdirSync(join(root, sub), { recursive: true });
    writeFileSync(join(root, sub, 'f'), text);
  }
}

describe('installSnapshot', () => {
  it('replaces blockchain/ and trie/ with the verified ones, keeps the keys, removes the build folder', () => {
    const dir = tempDir();
    const dataDir = join(dir, 'node');
    const built = snapshotSyncFolder(dataDir);
    writeFolders([
      [dataDir, 'blockchain', 'genesis-only'],
      [dataDir, 'trie', 'genesis-only'],
      [dataDir, 'keystore', 'libp2p key'],
      [dataDir, 'consensus', 'validator key'],
      [built, 'blockchain', 'restored'],
      [built, 'trie', 'restored'],
    ]);
    writeFileSync(join(built, 'genesis.json'), '{}');
    installSnapshot(built, dataDir);
    expect(readdirSync(dataDir).sort()).toEqual(['blockchain', 'consensus', 'keystore', 'trie']);
    expect(readFileSync(join(dataDir, 'blockchain', 'f'), 'utf8')).toBe('restored');
    expect(readFileSync(join(dataDir, 'trie', 'f'), 'utf8')).toBe('restored');
    expect(readFileSync(join(dataDir, 'keystore', 'f'), 'utf8')).toBe('libp2p key');
    expect(readFileSync(join(dataDir, 'consensus', 'f'), 'utf8')).toBe('validator key');
    expect(existsSync(built)).toBe(false);
  });

  it('a kill while it removes the old databases leaves a data dir that opens at the installed head; the next start removes what is left', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const dir = tempDir();
    const dataDir = join(dir, 'node');
    const built = snapshotSyncFolder(dataDir);
    await (await openTestChain(src.genesis, dataDir)).close(); // the genesis-only databases a snapshot sync replaces
    const bytes = await snapshotBytes(src.chain);
    await restoreSnapshot(
      (async function* () {
        yield bytes;
      })(),
      { dataDir: built, genesis: src.genesis },
    );
    // A recursive remove unlinks file by file: killed after a database's MANIFEST went, before its CURRENT.
    const killed = ((path: PathLike, opts?: RmOptions) => {
      const p = String(path);
      if (/blockchain(\.discard)?$/.test(p)) {
        for (const f of readdirSync(p)) if (f.startsWith('MANIFEST-')) unlinkSync(join(p, f));
        throw new Error('killed while removing the old blockchain/');
      }
      rmSync(p, opts);
    }) as typeof rmSync;
    expect(() => installSnapshot(built, dataDir, { rm: killed })).toThrow(/killed/);
    const opened = await openTestChain(src.genesis, dataDir);
    try {
      expect(opened.chain.head.number).toBe(3n);
      expect(bytesToHex(opened.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    } finally {
      await opened.close();
    }
    expect(readdirSync(dataDir).filter((n) => n.endsWith('.discard'))).not.toEqual([]);
    const node = await BasaltNode.start({ dataDir, genesis: src.genesis, seal: false, blockTimeMs: 1000, logger: silentLogger() });
    try {
      expect(node.chain.head.number).toBe(3n);
      expect(readdirSync(dataDir).filter((n) => n.endsWith('.discard'))).toEqual([]);
      expect(existsSync(built)).toBe(false);
    } finally {
      await node.stop();
    }
  }, 30_000);

  it('every node start removes what a snapshot sync killed part-way left, beside a data dir that already has a chain', async () => {
    const { genesis, keys } = testGenesis(1);
    const dataDir = join(tempDir(), 'node');
    const c = await openTestChain(genesis, dataDir);
    await sealNext({ chain: c.chain, keys });
    await c.close();
    const built = snapshotSyncFolder(dataDir);
    const restoring = join(dirname(built), `.${basename(built)}.restoring-999999`);
    // And what an earlier release's snapshot sync left next to the data dir.
    const former = `${dataDir}.snapshot-sync-tmp`;
    const formerRestoring = join(dirname(dataDir), `.${basename(former)}.restoring-999999`);
    for (const leftover of [built, restoring, former, formerRestoring]) {
      mkdirSync(join(leftover, 'blockchain'), { recursive: true });
      writeFileSync(join(leftover, 'blockchain', 'f'), 'a state left behind');
    }
    const node = await BasaltNode.start({ dataDir, genesis, seal: false, blockTimeMs: 1000, logger: silentLogger() });
    try {
      expect(node.chain.head.number).toBe(1n); // a full start, no snapshot sync: removed all the same
      for (const leftover of [built, restoring, former, formerRestoring]) expect(existsSync(leftover)).toBe(false);
    } finally {
      await node.stop();
    }
  }, 30_000);
});

describe('snapshot sync beside a data dir the node may not write next to', () => {
  it('snapshotSyncFolder(d) is inside d, on its file system', () => {
    const dataDir = join(tempDir(), 'node');
    mkdirSync(dataDir);
    const built = snapshotSyncFolder(dataDir);
    expect(dirname(built)).toBe(dataDir);
    mkdirSync(built);
    expect(statSync(built).dev).toBe(statSync(dataDir).dev);
  });

  it("restores and installs a snapshot when the data dir's parent is read-only (a service's /var/lib under ProtectSystem=strict)", async (ctx) => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    const bytes = await snapshotBytes(src.chain);
    const parent = tempDir();
    const dataDir = join(parent, 'node');
    await (await openTestChain(src.genesis, dataDir)).close(); // the genesis-only databases a snapshot sync replaces
    // root writes anywhere: the restore and install run as nobody, owning the data dir (as a service's user would).
    const root = process.getuid?.() === 0;
    if (root) {
      if (typeof process.seteuid !== 'function') return ctx.skip();
      for (const p of [dataDir, ...readdirSync(dataDir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name))])
        chownSync(p, NOBODY, NOBODY);
    }
    chmodSync(parent, 0o555);
    const built = snapshotSyncFolder(dataDir);
    try {
      if (root) process.seteuid!(NOBODY);
      try {
        const summary = await restoreSnapshot(
          (async function* () {
            yield bytes;
          })(),
          { dataDir: built, genesis: src.genesis },
        );
        expect(summary.head).toBe(3n);
        installSnapshot(built, dataDir);
      } finally {
        if (root) process.seteuid!(0);
      }
    } finally {
      chmodSync(parent, 0o755);
    }
    expect(readdirSync(parent)).toEqual(['node']);
    expect(readdirSync(dataDir).sort()).toEqual(['blockchain', 'trie']);
    const opened = await openTestChain(src.genesis, dataDir);
    try {
      expect(opened.chain.head.number).toBe(3n);
      expect(bytesToHex(opened.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    } finally {
      await opened.close();
    }
  }, 30_000);

  it("what an earlier release left next to a data dir whose parent is read-only is kept and told, not fatal; the data dir's own leftovers go", (ctx) => {
    const parent = tempDir();
    const dataDir = join(parent, 'node');
    mkdirSync(dataDir);
    const built = snapshotSyncFolder(dataDir);
    const former = `${dataDir}.snapshot-sync-tmp`;
    const formerRestoring = join(parent, `.${basename(former)}.restoring-999999`);
    for (const leftover of [built, former, formerRestoring]) mkdirSync(join(leftover, 'blockchain'), { recursive: true });
    const root = process.getuid?.() === 0;
    if (root) {
      if (typeof process.seteuid !== 'function') return ctx.skip();
      for (const p of [dataDir, built, join(built, 'blockchain')]) chownSync(p, NOBODY, NOBODY);
    }
    chmodSync(parent, 0o555);
    let left: ReturnType<typeof removeSnapshotSyncLeftovers>;
    try {
      if (root) process.seteuid!(NOBODY);
      try {
        left = removeSnapshotSyncLeftovers(dataDir);
      } finally {
        if (root) process.seteuid!(0);
      }
    } finally {
      chmodSync(parent, 0o755);
    }
    expect(left.removed).toEqual([built]);
    expect(left.kept.map((k) => k.path).sort()).toEqual([former, formerRestoring].sort());
    expect(existsSync(built)).toBe(false);
  });

  it('a build on another file system is refused before anything moves', (ctx) => {
    if (!existsSync('/dev/shm')) return ctx.skip();
    const elsewhere = mkdtempSync(join('/dev/shm', 'basalt-built-'));
    cleanup.push(async () => rmSync(elsewhere, { recursive: true, force: true }));
    const dataDir = join(tempDir(), 'node');
    mkdirSync(dataDir);
    if (statSync(elsewhere).dev === statSync(dataDir).dev) return ctx.skip();
    for (const [root, sub] of [
      [dataDir, 'blockchain'],
      [dataDir, 'trie'],
      [elsewhere, 'blockchain'],
      [elsewhere, 'trie'],
    ] as const)
      mkdirSync(join(root, sub));
    const renamed: string[] = [];
    const rename = ((from: PathLike, to: PathLike) => {
      renamed.push(String(from));
      renameSync(from, to);
    }) as typeof renameSync;
    expect(() => installSnapshot(elsewhere, dataDir, { rename })).toThrow(/not on the file system of the data dir/);
    expect(renamed).toEqual([]);
    expect(readdirSync(dataDir).sort()).toEqual(['blockchain', 'trie']);
  });

  it('a rename that fails (another file system: EXDEV) leaves the old databases in place, and the build for another try', () => {
    const dir = tempDir();
    const dataDir = join(dir, 'node');
    const built = snapshotSyncFolder(dataDir);
    writeFolders([
      [dataDir, 'blockchain', 'genesis-only'],
      [dataDir, 'trie', 'genesis-only'],
      [dataDir, 'keystore', 'libp2p key'],
      [built, 'blockchain', 'restored'],
      [built, 'trie', 'restored'],
    ]);
    for (const failing of ['trie', 'blockchain']) {
      const rename = ((from: PathLike, to: PathLike) => {
        if (String(from) === join(built, failing))
          throw Object.assign(new Error(`EXDEV: cross-device link not permitted, rename '${String(from)}'`), { code: 'EXDEV' });
        renameSync(from, to);
      }) as typeof renameSync;
      expect(() => installSnapshot(built, dataDir, { rename })).toThrow(/EXDEV/);
      expect(readdirSync(dataDir).sort()).toEqual(['.snapshot-sync-tmp', 'blockchain', 'keystore', 'trie']);
      expect(readFileSync(join(dataDir, 'blockchain', 'f'), 'utf8')).toBe('genesis-only');
      expect(readFileSync(join(dataDir, 'trie', 'f'), 'utf8')).toBe('genesis-only');
      expect(readdirSync(built).sort()).toEqual(['blockchain', 'trie']);
    }
    installSnapshot(built, dataDir);
    expect(readFileSync(join(dataDir, 'blockchain', 'f'), 'utf8')).toBe('restored');
    expect(readFileSync(join(dataDir, 'trie', 'f'), 'utf8')).toBe('restored');
  });
});

describe('serving a snapshot to a peer that reads too slowly', () => {
  /** A stream that asks for a snapshot and takes its messages with `pauseMs` between each (its sink pulls: yamux's flow control). */
  async function serveTo(chain: Chain, pauseMs: number): Promise<{ messages: number; aborted?: string }> {
    let handler: ((x: { stream: unknown; connection: unknown }) => void) | undefined;
    const host = { handle: async (_p: unknown, h: typeof handler) => void (handler = h) } as unknown as Host;
    await serveSnapshots(host, chain.genesisHash, chain, {
      maxStreams: 2,
      isReady: () => true,
      onBadPeer: () => undefined,
      minReadRate: 1_000_000,
      readRateWindowMs: 300,
    });
    const out: { messages: number; aborted?: string } = { messages: 0 };
    let stop = false;
    const done = new Promise<void>((resolve) => {
      const stream = {
        protocol: snapshotProtocol(chain.genesisHash, 5),
        status: 'open',
        source: (async function* () {
          yield* lp.encode([new Uint8Array([1])]);
        })(),
        sink: async (src: AsyncIterable<Uint8Array>) => {
          for await (const _ of src) {
            out.messages++;
            if (stop) break;
            await new Promise((r) => setTimeout(r, pauseMs));
          }
          resolve();
        },
        abort: (err: Error) => {
          out.aborted = err.message;
          stop = true;
          resolve();
        },
      };
      handler!({ stream, connection: { remotePeer: { toString: () => 'peer' }, remoteAddr: multiaddr('/ip4/10.0.0.1/tcp/4000') } });
    });
    await done;
    return out;
  }

  it('cuts the stream once a window passes with less read than the floor; a peer that reads keeps it', async () => {
    // a state of 5,000 accounts: a snapshot of several messages
    const premine = Array.from({ length: 5_000 }, (_, i) => `0x${(0x10000 + i).toString(16).padStart(40, '0')}`);
    const t = await createTestChain(1, premine);
    cleanup.push(() => t.close());
    await sealNext(t); // a genesis alone is not served
    const whole = await serveTo(t.chain, 0);
    expect(whole.aborted).toBeUndefined();
    expect(whole.messages).toBeGreaterThan(2);
    // a message every 400 ms: under 1 MB a second over the 300 ms window
    const slow = await serveTo(t.chain, 400);
    expect(slow.aborted).toMatch(/: peer reads too slowly: \d+ bytes in the last 0\.3 s of waiting, below the floor of 1000000 bytes\/s$/);
    expect(slow.messages).toBeLessThan(whole.messages);
  }, 30_000);
});
