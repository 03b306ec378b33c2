import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import * as lp from 'it-length-prefixed';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import type { Chain } from '../../../src/chain/chain.js';
import { serveStatus } from '../../../src/p2p/handshake.js';
import { createHost, type Host } from '../../../src/p2p/host.js';
import type { ChainStatus } from '../../../src/p2p/messages.js';
import { fetchSnapshot, serveSnapshots, snapshotProtocol, SnapshotRefusedError } from '../../../src/sync/snapshot-protocol.js';
import { installSnapshot, snapshotSync } from '../../../src/sync/snapshot-sync.js';
import { silentLogger } from '../../../src/util/log.js';
import { createTestChain, openTestChain, sealNext } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { chainWithBlocks } from '../archive/archive-fixture.js';
import { rebuildWithAlteredNode } from '../snapshot/tamper.js';
import { startNode, until, type TestNode } from './net-fixture.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
});

async function node(chain: Chain, opts: Parameters<typeof startNode>[1] = {}): Promise<TestNode> {
  const n = await startNode(chain, opts);
  cleanup.push(() => n.net.stop());
  return n;
}

async function bareHost(): Promise<Host> {
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
  cleanup.push(() => Promise.resolve(host.stop()));
  return host;
}

async function snapshotBytes(chain: Chain): Promise<Uint8Array> {
  const snap = await createSnapshot(chain, { compression: 'zstd' });
  const parts: Uint8Array[] = [];
  for await (const c of snap.chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** A peer that passes the handshake as a peer of `chain` at head 100, and serves `bytes` as its snapshot (or refuses). */
async function evilPeer(chain: Chain, bytes: Uint8Array | 'refuse'): Promise<{ addr: string; served: number }> {
  const host = await bareHost();
  const status = (): ChainStatus => ({ chainId: chain.chainId, genesisHash: chain.genesisHash, headNumber: 100n, headHash: new Uint8Array(32).fill(7) });
  await serveStatus(host, status, () => undefined, () => undefined);
  const out = { addr: host.getMultiaddrs()[0]!.toString(), served: 0 };
  await host.handle(snapshotProtocol(chain.genesisHash), ({ stream }) => {
    out.served++;
    if (bytes === 'refuse') return void stream.sink(lp.encode([new Uint8Array([1, ...Buffer.from('busy')])])).catch(() => undefined);
    const chunks = [];
    for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
    void stream.sink(lp.encode([new Uint8Array([0]), ...chunks])).catch(() => undefined);
  });
  return out;
}

const idOf = (addr: string) => addr.split('/p2p/')[1]!;

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
    const r = await snapshotSync({ host: b.net.host, peers: b.net.peerManager, genesis: src.genesis, genesisHash: src.chain.genesisHash, target, log: silentLogger(), waitForPeersMs: 10_000 });
    expect(existsSync(leftover)).toBe(false);
    expect(r).toBeDefined();
    expect(r!.peer).toBe(idOf(a.addr));
    expect(r!.head).toBe(6n);
    const restored = await openTestChain(src.genesis, target);
    cleanup.push(() => restored.close());
    expect(restored.chain.head.number).toBe(6n);
    expect(bytesToHex(restored.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    expect(bytesToHex(restored.chain.head.header.stateRoot)).toBe(bytesToHex(src.chain.head.header.stateRoot));
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
    const r = await snapshotSync({ host: b.net.host, peers: b.net.peerManager, genesis: src.genesis, genesisHash: src.chain.genesisHash, target, log: silentLogger(), waitForPeersMs: 10_000 });
    expect(evil.served).toBe(1);
    expect(b.net.peerManager.banned(idOf(evilAddr))!.reason).toMatch(/bad snapshot.*incomplete/);
    expect(r!.peer).toBe(idOf(good.addr));
    expect(r!.headHash).toBe(bytesToHex(src.chain.head.hash));
    expect(existsSync(join(target, 'blockchain'))).toBe(true);
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
    const r = await snapshotSync({ host: b.net.host, peers: b.net.peerManager, genesis: src.genesis, genesisHash: src.chain.genesisHash, target, log: silentLogger(), waitForPeersMs: 10_000 });
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
    const opts = { host: b.net.host, peers: b.net.peerManager, genesis: src.genesis, genesisHash: src.chain.genesisHash, log: silentLogger(), waitForPeersMs: 10_000 };
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

  it('a snapshot that would take the disk below the floor is abandoned, the peer not banned, nothing left', async () => {
    const src = await chainWithBlocks(2);
    cleanup.push(() => src.close());
    const a = await node(src.chain);
    const b = await newNode(src.genesis, [a.addr]);
    const target = join(tempDir(), 'restored');
    let measured = 0;
    const statfs = async () => (measured++, { bavail: 10, bsize: 4096 });
    const r = await snapshotSync({ host: b.net.host, peers: b.net.peerManager, genesis: src.genesis, genesisHash: src.chain.genesisHash, target, log: silentLogger(), waitForPeersMs: 10_000, minFreeBytes: 1024 * 1024, statfs });
    expect(r).toBeUndefined();
    expect(measured).toBe(1);
    expect(b.net.peerManager.banned(idOf(a.addr))).toBeUndefined();
    expect(existsSync(target)).toBe(false);
  }, 30_000);

  it('--max-snapshot-streams: the next request gets a refusal, not a hang', async () => {
    const src = await chainWithBlocks(3);
    cleanup.push(() => src.close());
    // Snapshots served from a view whose block reads wait on a gate: the first stream holds its slot.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const source = Object.create(src.chain) as Chain;
    source.openReadView = () => {
      const view = src.chain.openReadView();
      const blocks = view.blocks;
      return { ...view, blocks: new Proxy(blocks, { get: (t, k) => (k === 'storedBlock' ? async (n: bigint) => (await gate, t.storedBlock(n)) : Reflect.get(t, k, t)) }) } as typeof view;
    };
    const server = await bareHost();
    const banned: string[] = [];
    await serveSnapshots(server, src.chain.genesisHash, source, { maxStreams: 1, isReady: () => true, onBadPeer: (p) => banned.push(p.toString()) });
    const client = await bareHost();
    await client.dial(server.getMultiaddrs()[0]!);
    const first = fetchSnapshot(client, server.peerId, src.chain.genesisHash);
    expect((await first.next()).done).toBe(false); // the snapshot's header: the stream is being served
    await expect(fetchSnapshot(client, server.peerId, src.chain.genesisHash).next()).rejects.toThrow(SnapshotRefusedError);
    await expect(fetchSnapshot(client, server.peerId, src.chain.genesisHash).next()).rejects.toThrow(/busy: already serving 1 snapshot stream/);
    open();
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

describe('installSnapshot', () => {
  it('replaces blockchain/ and trie/ with the verified ones, keeps the keys, removes the build folder', () => {
    const dir = tempDir();
    const dataDir = join(dir, 'node');
    const built = join(dir, 'node.snapshot-sync-tmp');
    for (const [root, sub, text] of [
      [dataDir, 'blockchain', 'genesis-only'],
      [dataDir, 'trie', 'genesis-only'],
      [dataDir, 'keystore', 'libp2p key'],
      [dataDir, 'consensus', 'validator key'],
      [built, 'blockchain', 'restored'],
      [built, 'trie', 'restored'],
    ] as const) {
      mkdirSync(join(root, sub), { recursive: true });
      writeFileSync(join(root, sub, 'f'), text);
    }
    writeFileSync(join(built, 'genesis.json'), '{}');
    installSnapshot(built, dataDir);
    expect(readdirSync(dataDir).sort()).toEqual(['blockchain', 'consensus', 'keystore', 'trie']);
    expect(readFileSync(join(dataDir, 'blockchain', 'f'), 'utf8')).toBe('restored');
    expect(readFileSync(join(dataDir, 'trie', 'f'), 'utf8')).toBe('restored');
    expect(readFileSync(join(dataDir, 'keystore', 'f'), 'utf8')).toBe('libp2p key');
    expect(readFileSync(join(dataDir, 'consensus', 'f'), 'utf8')).toBe('validator key');
    expect(existsSync(built)).toBe(false);
  });
});
