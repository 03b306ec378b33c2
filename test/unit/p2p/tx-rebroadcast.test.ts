import { rmSync } from 'node:fs';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { createAddressFromPrivateKey } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import type { Chain } from '../../../src/chain/chain.js';
import { LocalTxRebroadcast } from '../../../src/p2p/tx-rebroadcast.js';
import { addressOf, openTestChain, testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { countTxMessages, nodesStoppedAfterEach, until } from './net-fixture.js';
import type { TxPoolLimits } from '../../../src/txpool/txpool.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TO = '0x000000000000000000000000000000000000beef';

describe('LocalTxRebroadcast', () => {
  function fixture(opts: { maxPerCheck?: number; maxBytesPerCheck?: number; maxTracked?: number; maxBackoff?: number } = {}) {
    let now = 1_000;
    const pool = new Map<string, Uint8Array | 'queued'>();
    const sent: string[] = [];
    let paused = false;
    const r = new LocalTxRebroadcast({
      lookup: (h) => pool.get(h),
      publish: (raw) => sent.push(Buffer.from(raw).toString()),
      paused: () => paused,
      now: () => now,
      afterMs: 100,
      ...opts,
    });
    const add = (h: string, raw: Uint8Array | 'queued' = Buffer.from(h)) => {
      pool.set(h, raw);
      r.track(h);
    };
    return { r, pool, sent, add, tick: (ms: number) => (now += ms), pause: (p: boolean) => (paused = p) };
  }

  it('publishes again, once per interval, what is still pooled and executable; forgets what left the pool; keeps what is queued', () => {
    const f = fixture();
    f.add('a');
    f.add('b');
    f.add('c', 'queued');
    expect(f.r.check()).toBe(0); // just published
    f.tick(99);
    expect(f.r.check()).toBe(0);
    f.tick(1);
    f.pool.delete('b'); // mined
    expect(f.r.check()).toBe(1);
    expect(f.sent).toEqual(['a']);
    expect(f.r.size).toBe(2); // b forgotten, c (queued) kept
    expect(f.r.check()).toBe(0); // a was just published again
    f.pool.set('c', Buffer.from('c')); // its gap filled
    f.tick(100);
    expect(f.r.check()).toBe(1); // c; a waits twice as long now
    expect(f.sent).toEqual(['a', 'c']);
    f.tick(100);
    expect(f.r.check()).toBe(1);
    expect(f.sent).toEqual(['a', 'c', 'a']);
    f.tick(100);
    expect(f.r.check()).toBe(1);
    expect(f.sent).toEqual(['a', 'c', 'a', 'c']);
  });

  it('waits twice as long after each publication, up to maxBackoff times the first wait: a peer refusing it by its own policy hears of it less and less', () => {
    const f = fixture({ maxBackoff: 8 });
    f.add('a');
    const times: number[] = [];
    for (let t = 0; t < 5_000; t += 50) {
      f.tick(50);
      if (f.r.check() > 0) times.push(t + 50);
    }
    // 100, then 200, 400, 800 after each, then 800 (8 x 100) for good
    expect(times.slice(0, 6)).toEqual([100, 300, 700, 1500, 2300, 3100]);
  });

  it('publishes nothing and forgets nothing while paused (catching up, pool closed)', () => {
    const f = fixture();
    f.add('a');
    f.tick(500);
    f.pool.delete('a');
    f.pause(true);
    expect(f.r.check()).toBe(0);
    expect(f.r.size).toBe(1);
    f.pause(false);
    expect(f.r.check()).toBe(0);
    expect(f.r.size).toBe(0);
  });

  it('publishes at most its count and bytes a check, oldest first; the rest at the next check', () => {
    const f = fixture({ maxPerCheck: 3, maxBytesPerCheck: 10 });
    for (const h of ['t1', 't2', 't3', 't4', 't5']) f.add(h); // 2 bytes each
    f.tick(100);
    expect(f.r.check()).toBe(3);
    expect(f.sent).toEqual(['t1', 't2', 't3']);
    expect(f.r.check()).toBe(2);
    expect(f.sent).toEqual(['t1', 't2', 't3', 't4', 't5']);
    const g = fixture({ maxBytesPerCheck: 5 });
    g.add('x', new Uint8Array(4));
    g.add('y', new Uint8Array(4));
    g.tick(100);
    expect(g.r.check()).toBe(1); // the second would pass 5 bytes
    const h = fixture({ maxBytesPerCheck: 5 });
    h.add('big', new Uint8Array(50));
    h.tick(100);
    expect(h.r.check()).toBe(1); // one larger than the bound still goes, alone
  });

  it('remembers at most maxTracked, dropping the oldest', () => {
    const f = fixture({ maxTracked: 2 });
    f.add('a');
    f.add('b');
    f.add('c');
    expect(f.r.size).toBe(2);
    f.tick(100);
    f.r.check();
    expect(f.sent).toEqual(['b', 'c']);
  });
});

describe('a transaction a peer dropped reaches it later', () => {
  const { cleanup, node } = nodesStoppedAfterEach();
  const KEY = testKey(20);

  const transfer = (chain: Chain, nonce: bigint) =>
    createFeeMarket1559Tx(
      { nonce, to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: chain.commonAt(0n) },
    ).sign(KEY);

  /** Two connected nodes over chains of one genesis funding KEY, publishing again on `rebroadcast`'s clock; `b` dials `a`. */
  async function pair(rebroadcast: { afterMs: number; checkMs: number }, bPool: Partial<TxPoolLimits> = {}) {
    const { genesis } = testGenesis(1, [addressOf(KEY)]);
    const chains = await Promise.all([openTestChain(genesis), openTestChain(genesis)]);
    for (const c of chains) cleanup.push(async () => (await c.close(), rmSync(c.dir, { recursive: true, force: true })));
    const a = await node(chains[0]!.chain, { discovery: false, rebroadcast });
    const b = await node(chains[1]!.chain, { bootnodes: [a.addr], discovery: false, rebroadcast, txpool: bPool });
    await until(() => a.net.peerCount() === 1 && b.net.peerCount() === 1, 'connected');
    await sleep(1500); // gossipsub meshes on its heartbeat (1 s)
    return { a, b, chain: chains[0]!.chain };
  }

  it('a client transaction a peer dropped (its pool closed then) is published again and taken once the peer can', async () => {
    const { a, b, chain } = await pair({ afterMs: 600, checkMs: 200 });
    b.txpool.close('restoring (test)');
    const messages = countTxMessages(b);
    const tx = transfer(chain, 0n);
    await a.txpool.add(tx); // a client of a sends it
    await until(() => messages.n > 0, 'b got the transaction, and dropped it');
    expect(b.txpool.has(tx.hash())).toBe(false);
    b.txpool.reopen();
    await until(() => b.txpool.has(tx.hash()), 'b took it when a published it again', 5_000);
    expect(await b.txpool.pendingNonce(createAddressFromPrivateKey(KEY))).toBe(1n);
  }, 30_000);

  it("what is published again is no more than a pool takes ahead of a sender's nonce (64): a peer lacking the nonces below would count the rest as faults", async () => {
    const { a, b, chain } = await pair({ afterMs: 300, checkMs: 100 });
    b.txpool.close('restoring (test)');
    const messages = countTxMessages(b);
    for (let n = 0n; n < 70n; n++) await a.txpool.add(transfer(chain, n));
    await until(() => messages.n > 0, 'b got the transactions, and dropped them');
    b.txpool.reopen();
    await until(() => b.txpool.size >= 64, 'b took what a published again', 5_000);
    const seen = messages.n;
    await until(() => messages.n >= seen + 2, 'a published again twice more', 5_000);
    expect(b.txpool.size).toBe(64); // nonces 64-69 held back: 64 above the sender's nonce at the head
    expect(b.net.peerManager.banned(a.addr.split('/p2p/')[1]!)).toBeUndefined();
  }, 30_000);

  it('a transaction a peer refused by its own policy (a tip below its price limit), published again, is dropped unread there for 10 minutes: not validated, not counted against the relayer', async () => {
    const { a, b, chain } = await pair({ afterMs: 200, checkMs: 100 }, { minTip: 10n ** 9n });
    let validated = 0;
    const add = b.txpool.add.bind(b.txpool);
    b.txpool.add = (t) => {
      validated++;
      return add(t);
    };
    const messages = countTxMessages(b);
    const cheap = transfer(chain, 0n); // a tip of 1 wei
    await a.txpool.add(cheap);
    await until(() => messages.n >= 4, 'a published it three times more', 10_000);
    expect(validated).toBe(1);
    expect(b.txpool.has(cheap.hash())).toBe(false);
  }, 30_000);
});
