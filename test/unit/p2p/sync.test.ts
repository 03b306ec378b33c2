import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import { openTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { chainWithBlocks } from '../archive/archive-fixture.js';
import { randomBytes } from 'node:crypto';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { libp2pPeerId } from '../../../src/keys/node-id.js';
import { createHost } from '../../../src/p2p/host.js';
import { SENDER, chunked, exportBytes } from '../archive/archive-fixture.js';
import { importArchive } from '../../../src/backup/import.js';
import { startNode, until, type TestNode } from './net-fixture.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
});

async function node(chain: TestChain['chain'], bootnodes: string[] = []): Promise<TestNode> {
  const n = await startNode(chain, { bootnodes });
  cleanup.push(() => n.net.stop());
  return n;
}

describe('block sync between two hosts', () => {
  it('a new node syncs a 150-block chain from its bootnode and follows new blocks', async () => {
    const src = await chainWithBlocks(150);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const a = await node(src.chain);
    const b = await node(dst.chain, [a.addr]);
    await until(() => dst.chain.head.number === 150n, 'sync to 150');
    expect(bytesToHex(dst.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    expect(b.net.peerCount()).toBe(1);
    await sealNext(src);
    await until(() => dst.chain.head.number === 151n, 'follow block 151');
    expect(b.net.syncing()).toBe(false);
  }, 60_000);
});

describe('after an archive import', () => {
  it('a node that imported part of the chain from an archive syncs the rest from a peer', async () => {
    const src = await chainWithBlocks(40);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const summary = await importArchive(dst.chain, chunked(await exportBytes(src.chain, { end: 25n })));
    expect(summary.imported).toBe(25n);
    const a = await node(src.chain);
    await node(dst.chain, [a.addr]);
    await until(() => dst.chain.head.number === 40n, 'synced the rest');
    expect(bytesToHex(dst.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
  }, 30_000);
});

describe('identity', () => {
  it("the libp2p peer ID of the node's key is the node ID `secrets init` prints", async () => {
    for (let i = 0; i < 3; i++) {
      const key = randomBytes(32);
      const host = await createHost({ key, host: '127.0.0.1', port: 0, maxPeers: 1, isBanned: () => false });
      try {
        expect(host.peerId.toString()).toBe(libp2pPeerId(key));
        expect(host.getMultiaddrs()[0]!.toString()).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${libp2pPeerId(key)}$`));
      } finally {
        await host.stop();
      }
    }
  });
});

describe('bootnodes', () => {
  it('a node skips its own address in the bootnode list and keeps the others', async () => {
    const t = await chainWithBlocks(0);
    cleanup.push(() => t.close());
    const key = randomBytes(32);
    const self = `/ip4/127.0.0.1/tcp/1/p2p/${libp2pPeerId(key)}`;
    const alone = await startNode(t.chain, { key, bootnodes: [self] });
    cleanup.push(() => alone.net.stop());
    expect(alone.net.hasPeersToDial()).toBe(false);
    await expect(alone.net.add(self)).rejects.toThrow(/is this node/);
    await expect(alone.net.add('/ip4/127.0.0.1/tcp/1')).rejects.toThrow(/does not name its peer/);
    const other = `/ip4/127.0.0.1/tcp/1/p2p/${libp2pPeerId(randomBytes(32))}`;
    const withOther = await startNode(t.chain, { bootnodes: [self, other] });
    cleanup.push(() => withOther.net.stop());
    expect(withOther.net.hasPeersToDial()).toBe(true);
  });

  it('refuses a bootnode that is not a multiaddr naming its peer', async () => {
    const t = await chainWithBlocks(0);
    cleanup.push(() => t.close());
    await expect(startNode(t.chain, { bootnodes: ['/ip4/127.0.0.1/tcp/1'] })).rejects.toThrow(/does not name its peer/);
    await expect(startNode(t.chain, { bootnodes: ['nonsense'] })).rejects.toThrow(/is not a multiaddr/);
  });
});

describe('transaction gossip', () => {
  it("a transaction added to one node's pool reaches its peer's pool once", async () => {
    const src = await chainWithBlocks(1);
    cleanup.push(() => src.close());
    const dst = await openTestChain(src.genesis);
    cleanup.push(() => dst.close());
    const a = await node(src.chain);
    const b = await node(dst.chain, [a.addr]);
    await until(() => dst.chain.head.number === 1n, 'sync');
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
    const nonce = 0n; // block 1 of chainWithBlocks has no transactions
    const tx = createFeeMarket1559Tx(
      {
        nonce,
        to: '0x000000000000000000000000000000000000beef',
        value: 1n,
        gasLimit: 21000n,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
      },
      { common: src.chain.commonAt(0n) },
    ).sign(SENDER);
    let added = 0;
    b.txpool.onAdded(() => added++);
    await a.txpool.add(tx);
    await until(() => b.txpool.has(tx.hash()), 'tx gossiped');
    await expect(b.txpool.add(tx)).rejects.toThrow('already known');
    expect(added).toBe(1);
    expect(a.txpool.size).toBe(1);
  }, 30_000);
});
