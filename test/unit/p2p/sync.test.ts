import { afterEach, describe, expect, it } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import { openTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { chainWithBlocks } from '../archive/archive-fixture.js';
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
