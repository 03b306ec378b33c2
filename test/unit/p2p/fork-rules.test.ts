import { rmSync } from 'node:fs';
import { createEOACode7702Tx, createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, eoaCode7702SignAuthorization } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import type { P2pMetrics } from '../../../src/node/network.js';
import { addressOf, openTestChain, sealNext, testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { startNode, until } from './net-fixture.js';

const SENDER = testKey(20);
const TO = '0x000000000000000000000000000000000000beef';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
});

/** What a node refused and banned, by reason. */
function recorder(): P2pMetrics & { rejectedReasons: string[]; bans: string[] } {
  const r = { rejectedReasons: [] as string[], bans: [] as string[] };
  return { ...r, rejected: (reason) => void r.rejectedReasons.push(reason), banned: (reason) => void r.bans.push(reason) };
}

describe('rules by height across a fork scheduled after genesis (prague at block 3)', () => {
  it('block sync and transaction gossip decode set-code (type 4) transactions after the fork; the honest peer is not punished', async () => {
    const { genesis, keys } = testGenesis(1, [addressOf(SENDER)]);
    genesis.params.forks = { ...genesis.params.forks, cancun: 3, prague: 3 };
    const src = await openTestChain(genesis);
    const dst = await openTestChain(genesis);
    for (const c of [src, dst]) cleanup.push(async () => (await c.close(), rmSync(c.dir, { recursive: true, force: true })));
    const t = { chain: src.chain, keys };
    const prague = src.chain.commonAt(3n);
    expect(src.chain.commonAt(2n).isActivatedEIP(7702)).toBe(false);
    expect(prague.isActivatedEIP(7702)).toBe(true);
    const setCode = (nonce: bigint, authNonce: bigint) =>
      createEOACode7702Tx(
        {
          nonce,
          to: TO,
          gasLimit: 100_000n,
          maxFeePerGas: 10n ** 11n,
          maxPriorityFeePerGas: 1n,
          authorizationList: [eoaCode7702SignAuthorization({ chainId: '0x64', address: TO, nonce: `0x${authNonce.toString(16)}` }, testKey(21))],
        },
        { common: prague },
      ).sign(SENDER);
    // Blocks 1-2 before the fork (one with a type-2 transaction), 3-4 after it, 4 with a set-code transaction.
    await sealNext(t);
    await sealNext(t, [
      createFeeMarket1559Tx(
        { nonce: 0n, to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
        { common: src.chain.commonAt(2n) },
      ).sign(SENDER),
    ]);
    await sealNext(t);
    const b4 = await sealNext(t, [setCode(1n, 0n)]);
    expect(b4.transactions.map((x) => x.type)).toEqual([4]);

    const dstMetrics = recorder();
    const a = await startNode(src.chain);
    cleanup.push(() => a.net.stop());
    const b = await startNode(dst.chain, { bootnodes: [a.addr], metrics: dstMetrics });
    cleanup.push(() => b.net.stop());
    await until(() => dst.chain.head.number === 4n, 'block sync across the fork');
    expect(bytesToHex(dst.chain.head.hash)).toBe(bytesToHex(src.chain.head.hash));
    expect((await dst.chain.blockByNumber(4n))!.transactions.map((x) => x.type)).toEqual([4]);

    // A set-code transaction gossiped for block 5 (after the fork) reaches the peer's pool.
    await new Promise((r) => setTimeout(r, 1500)); // gossipsub meshes on its heartbeat (1 s)
    const next = setCode(2n, 1n);
    await a.txpool.add(next);
    await until(() => b.txpool.has(next.hash()), 'set-code transaction gossiped');
    expect(dstMetrics.rejectedReasons).toEqual([]);
    expect(dstMetrics.bans).toEqual([]);
    expect(b.net.peerCount()).toBe(1);
  }, 60_000);
});
