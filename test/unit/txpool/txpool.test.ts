import { createEOACode7702Tx, createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { bigIntToBytes, bytesToBigInt, createAddressFromString, eoaCode7702SignAuthorization, SECP256K1_ORDER } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, SLOW_REFUSAL_MS, TxPool, TxPoolError } from '../../../src/txpool/txpool.js';
import { validateStateless } from '../../../src/txpool/validation.js';
import { MAX_POOLED_AUTHORIZATIONS } from '../../../src/txpool/set-code.js';
import { MAX_BLOCK_RECEIPTS_BYTES } from '../../../src/util/rlp-bounds.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { classifyBuildError } from '../../../src/chain/ethereumjs-errors.js';

const A = testKey(20);
const B = testKey(21);
const C = testKey(22); // not premined: funded by the tests that need a small balance
const [D, E, F] = [testKey(23), testKey(24), testKey(25)];
const TO: `0x${string}` = '0x000000000000000000000000000000000000beef';
const GWEI = 10n ** 9n;

describe('TxPool', () => {
  let t: TestChain | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const tx1559 = (key: Uint8Array, nonce: bigint, tip: bigint, maxFee = 10n ** 11n, value = 1n, to: `0x${string}` = TO) =>
    createFeeMarket1559Tx(
      { nonce, to, value, gasLimit: 21_000n, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip, chainId: 100n },
      { common: t!.chain.commonAt(0n) },
    ).sign(key);

  /** Seal a block (outside the pool) and wait until the pool has caught up with it. */
  const sealAndSettle = async (pool: TxPool, txs: Parameters<typeof sealNext>[1]) => {
    await sealNext(t!, txs);
    await pool.settled();
  };

  it('orders executable transactions by tip across senders and by nonce within one', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    const pool = new TxPool(t.chain);
    await pool.add(tx1559(A, 0n, 1n));
    await pool.add(tx1559(A, 1n, 50n));
    await pool.add(tx1559(B, 0n, 10n));
    await pool.add(tx1559(B, 2n, 99n)); // gap: nonce 1 missing
    const order = [...pool.pending()].map((tx) => `${tx.getSenderAddress().toString() === addressOf(A) ? 'A' : 'B'}${tx.nonce}`);
    expect(order).toEqual(['B0', 'A0', 'A1']);
  });

  it('with many senders and equal tips, takes the best tip first and ties in the order senders were first seen', async () => {
    const keys = [A, B, D, E, F];
    t = await createTestChain(1, keys.map(addressOf));
    const pool = new TxPool(t.chain);
    // Tips per sender, by nonce: ties across senders and within a sender's run.
    const tips = [[5n, 5n, 9n], [7n, 1n], [5n, 5n, 5n, 5n], [9n, 2n, 9n], [1n]];
    for (const [i, key] of keys.entries()) for (const [n, tip] of tips[i]!.entries()) await pool.add(tx1559(key, BigInt(n), tip));
    // The reference: scan every sender's next transaction, take the first with the highest tip.
    const heads = keys.map((_, i) => ({ i, n: 0 }));
    const expected: string[] = [];
    while (heads.length > 0) {
      let best = 0;
      for (let h = 1; h < heads.length; h++) if (tips[heads[h]!.i]![heads[h]!.n]! > tips[heads[best]!.i]![heads[best]!.n]!) best = h;
      const head = heads[best]!;
      expected.push(`${head.i}:${head.n}`);
      if (++head.n === tips[head.i]!.length) heads.splice(best, 1);
    }
    const index = new Map(keys.map((k, i) => [addressOf(k).toLowerCase(), i]));
    const order = [...pool.pending()].map((tx) => `${index.get(tx.getSenderAddress().toString().toLowerCase())}:${tx.nonce}`);
    expect(order).toEqual(expected);
    expect(order).toHaveLength(13);
  });

  it("reads a sender's account in the head state as a state reader, which a state pruner waits for", async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    const chain = t.chain;
    const readersSeen: number[] = [];
    const stateAt = chain.stateAt.bind(chain);
    chain.stateAt = (header) => {
      readersSeen.push(chain.readers.count);
      return stateAt(header);
    };
    expect(await pool.pendingNonce(createAddressFromString(addressOf(A)))).toBe(0n);
    await pool.add(tx1559(A, 0n, 1n));
    expect(readersSeen).toEqual([1, 1]);
    expect(chain.readers.count).toBe(0);
  });

  it('keeps nothing of a sender it refused with nothing in the pool (a stranger key per transaction does not grow it)', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    const accounts = () => (pool as unknown as { accounts: Map<string, unknown> }).accounts.size;
    for (let i = 0; i < 100; i++) {
      // a new, unfunded key each time: refused as unexecutable
      const stranger = Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? 0x42 : k === 1 ? i : 0x11));
      await expect(pool.add(tx1559(stranger, 0n, 1n))).rejects.toThrow(/insufficient funds/);
    }
    expect(accounts()).toBe(0);
    // a sender with a transaction in the pool keeps its entry when another of its transactions is refused
    await pool.add(tx1559(A, 0n, 5n));
    await expect(pool.add(tx1559(A, 0n, 5n, 10n ** 11n, 2n))).rejects.toThrow(/replacement transaction underpriced/);
    expect(accounts()).toBe(1);
    expect(pool.size).toBe(1);
  });

  it('drops included transactions on a new head and promotes the rest', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    await pool.add(tx1559(A, 0n, 1n));
    await pool.add(tx1559(A, 2n, 1n));
    await sealAndSettle(pool, [...pool.pending()]);
    expect(pool.size).toBe(1);
    expect([...pool.pending()]).toHaveLength(0);
    await pool.add(tx1559(A, 1n, 1n));
    expect([...pool.pending()].map((tx) => tx.nonce)).toEqual([1n, 2n]);
    expect(await pool.pendingNonce(tx1559(A, 0n, 1n).getSenderAddress())).toBe(3n);
    await expect(pool.add(tx1559(A, 0n, 5n))).rejects.toThrow(/nonce too low: next nonce 1, tx nonce 0/);
  });

  it('enforces replacement bumps and per-account and global limits', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountSlots: 2, globalSlots: 3, globalQueue: 0 });
    await pool.add(tx1559(A, 0n, 100n, 1000n * 10n ** 8n));
    await expect(pool.add(tx1559(A, 0n, 105n, 1050n * 10n ** 8n))).rejects.toThrow(/replacement transaction underpriced/);
    await expect(pool.add(tx1559(A, 0n, 200n, 1050n * 10n ** 8n))).rejects.toThrow(/replacement transaction underpriced/); // tip alone is not enough
    await pool.add(tx1559(A, 0n, 110n, 1100n * 10n ** 8n));
    expect(pool.size).toBe(1);
    await pool.add(tx1559(A, 1n, 1n));
    // A's 2 slots are a guarantee, not a cap: while the pool has room A may use it...
    await pool.add(tx1559(A, 2n, 1n));
    // ...and gives it back, from its last nonce, to an account within its guarantee.
    await pool.add(tx1559(B, 0n, 1n));
    expect(pool.has(tx1559(A, 2n, 1n).hash())).toBe(false);
    await expect(pool.add(tx1559(B, 1n, 1n))).rejects.toThrow(/txpool is full \(3 executable transactions\)/);
    await expect(pool.add(tx1559(B, 0n, 1n))).rejects.toThrow(/already known/);
  });

  it('refuses unsigned, underpriced and unaffordable transactions', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    const unsigned = createFeeMarket1559Tx(
      { nonce: 0n, to: TO, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: t.chain.commonAt(0n) },
    );
    await expect(pool.add(unsigned)).rejects.toThrow(/not signed/);
    await expect(pool.add(tx1559(A, 0n, 0n))).rejects.toThrow(/underpriced: tip 0 is below the pool's minimum 1/);
    await expect(pool.add(tx1559(A, 0n, 1n, GWEI / 2n))).rejects.toThrow(/underpriced: max fee per gas \d+ is below the base fee/);
    const legacy = createLegacyTx({ nonce: 0n, to: TO, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common: t.chain.commonAt(0n) }).sign(B);
    await expect(pool.add(legacy)).rejects.toThrow(/insufficient funds for gas \* price \+ value: balance 0/);
    expect(pool.size).toBe(0);
    const free = new TxPool(t.chain, { ...DEFAULT_LIMITS, minTip: 0n });
    await free.add(tx1559(A, 0n, 0n));
    expect(free.size).toBe(1);
  });

  it('makes an account afford all of its pool transactions together', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    const gasCost = 21_000n * 10n ** 11n; // one transfer at a max fee of 100 gwei
    const balance = (22n * gasCost) / 10n + 10n;
    await sealAndSettle(pool, [tx1559(A, 0n, 1n, 10n ** 11n, balance, addressOf(C) as `0x${string}`)]);
    await pool.add(tx1559(C, 0n, 1n, 10n ** 11n, 5n));
    await expect(pool.add(tx1559(C, 1n, 1n, 10n ** 11n, gasCost / 5n + 6n))).rejects.toThrow(/insufficient funds.*other pool transactions/);
    await pool.add(tx1559(C, 1n, 1n, 10n ** 11n, 5n));
    // A replacement is counted instead of the transaction it replaces, not on top of it.
    const replacement = tx1559(C, 1n, 2n, 11n * 10n ** 10n, 5n);
    await pool.add(replacement);
    expect(pool.has(replacement.hash())).toBe(true);
    await expect(pool.add(tx1559(C, 1n, 3n, 121n * 10n ** 9n, 5n))).rejects.toThrow(/insufficient funds/);
    expect(pool.size).toBe(2);
  });

  it('drops what a new head makes unpayable, keeps the rest queued', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    const pool = new TxPool(t.chain);
    const big = 10n ** 24n - 10n ** 23n;
    await pool.add(tx1559(A, 1n, 1n, 10n ** 11n, big)); // waits for nonce 0
    await pool.add(tx1559(B, 1n, 1n)); // waits for nonce 0 too
    expect(pool.size).toBe(2);
    await sealAndSettle(pool, [tx1559(A, 0n, 1n, 10n ** 11n, 2n * 10n ** 23n)]); // A0 spends elsewhere: A1 can no longer be paid
    expect(pool.size).toBe(1);
    expect([...pool.pending()]).toHaveLength(0);
    await pool.add(tx1559(B, 0n, 1n));
    expect([...pool.pending()].map((tx) => tx.nonce)).toEqual([0n, 1n]);
  });

  it('keeps what the block builder skipped for want of room, drops what it refused for good', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    const pool = new TxPool(t.chain);
    const a0 = tx1559(A, 0n, 1n);
    const b0 = tx1559(B, 0n, 1n);
    await pool.add(a0);
    await pool.add(b0);
    pool.onBlockSealed(await sealNext(t, []), [
      { tx: a0, ...classifyBuildError(new Error('tx has a higher gas limit than the remaining gas in the block')) },
      { tx: b0, ...classifyBuildError(new Error("sender doesn't have enough funds to send tx")) },
    ]);
    expect([...pool.pending()]).toEqual([a0]);
    expect(pool.has(b0.hash())).toBe(false);
  });

  it("a transaction too slow for a block's build time leaves the pool, and it and its sender's nonce are refused for a while (no one's fault)", async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    let now = 0;
    const pool = new TxPool(t.chain, DEFAULT_LIMITS, () => now);
    const a0 = tx1559(A, 0n, 1n);
    await pool.add(a0);
    await pool.add(tx1559(A, 1n, 1n));
    pool.onBlockSealed(await sealNext(t, []), [{ tx: a0, kind: 'too-slow', reason: "its execution takes longer than a block's build time (500 ms)" }]);
    expect(pool.has(a0.hash())).toBe(false);
    const refused = async (tx: ReturnType<typeof tx1559>, why: RegExp) => {
      const err = await pool.add(tx).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TxPoolError);
      expect((err as TxPoolError).message).toMatch(why);
      expect((err as TxPoolError).fault).toBeUndefined(); // a relayer could not know
      expect((err as TxPoolError).lasting).toBe(true); // the network's refused-lately cache skips it
    };
    await refused(a0, /execution takes longer than a block may take to build/);
    await refused(tx1559(A, 0n, 2n), /this sender's transaction of this nonce took longer to execute/); // a byte changed
    await pool.add(tx1559(B, 0n, 1n)); // others are not concerned
    expect(pool.has(tx1559(A, 1n, 1n).hash())).toBe(true); // nor the sender's other nonces
    now = SLOW_REFUSAL_MS;
    await pool.add(tx1559(A, 0n, 3n)); // the window is over
    expect(pool.has(tx1559(A, 0n, 3n).hash())).toBe(true);
  });

  it('drops a transaction held behind a nonce gap for longer than the queued lifetime, and only such', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    let now = 0;
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, queuedLifetimeMs: 1000 }, () => now);
    await pool.add(tx1559(A, 0n, 1n)); // executable
    await pool.add(tx1559(A, 2n, 1n)); // behind the gap at nonce 1
    await pool.add(tx1559(B, 3n, 1n)); // behind a gap from nonce 0
    now = 1000; // exactly the lifetime: kept
    await sealAndSettle(pool, []);
    expect(pool.size).toBe(3);
    now = 1500;
    await pool.add(tx1559(B, 5n, 1n)); // arrives later: younger than the lifetime
    now = 2001;
    await sealAndSettle(pool, []);
    // the gapped ones that arrived at 0 are gone; the executable one and the young one stay
    expect([...pool.pending()].map((tx) => tx.nonce)).toEqual([0n]);
    expect(pool.size).toBe(2);
    expect(pool.has(tx1559(B, 5n, 1n).hash())).toBe(true);
    expect(pool.has(tx1559(A, 2n, 1n).hash())).toBe(false);
    // filling the gap in time makes a transaction executable, and executable ones paying the base fee never expire
    await pool.add(tx1559(B, 0n, 1n));
    now = 10_000;
    await sealAndSettle(pool, []);
    expect(pool.has(tx1559(B, 0n, 1n).hash())).toBe(true);
    expect(pool.has(tx1559(A, 0n, 1n).hash())).toBe(true);
    expect(pool.has(tx1559(B, 5n, 1n).hash())).toBe(false);
  });

  it('drops an executable transaction whose max fee a rising base fee left below it, once past the lifetime', async () => {
    t = await createTestChain(1, [A, B, D, E].map(addressOf));
    let now = 0;
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, queuedLifetimeMs: 1000 }, () => now);
    const low = (GWEI * 9n) / 10n; // above the next base fee (0.875 gwei), below it after a full block (0.984)
    await pool.add(tx1559(A, 0n, 1n, low));
    await pool.add(tx1559(A, 1n, 1n)); // priced well, but behind A0
    await pool.add(tx1559(B, 0n, 1n));
    now = 1500;
    await pool.add(tx1559(E, 0n, 1n, low)); // as cheap, but younger than the lifetime
    // A creation that hits INVALID spends all its 30M gas: the block is full and the base fee rises 12.5%.
    const burn = (nonce: bigint) =>
      createFeeMarket1559Tx(
        { nonce, gasLimit: 30_000_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, data: '0xfe', chainId: 100n },
        { common: t!.chain.commonAt(0n) },
      ).sign(D);
    now = 2001;
    await sealAndSettle(pool, [burn(0n)]);
    expect(t.chain.head.header.calcNextBaseFee()).toBeGreaterThan(low);
    // A0 went, and A1, queued behind it since it arrived at 0, too; E0 waits out its lifetime
    expect(pendingNames(pool)).toBe('B0 E0');
    expect(pool.status()).toEqual({ pending: 2, queued: 0 });
    now = 2501;
    await sealAndSettle(pool, [burn(1n)]); // a block less than half full would lower the base fee again
    expect(pendingNames(pool)).toBe('B0');
  });

  /** Each sender's pool nonces in pending() order, as 'A0 A1 B0'. */
  const names = new Map([A, B, C, D, E, F].map((k, i) => [addressOf(k), 'ABCDEF'[i]!]));
  const pendingNames = (pool: TxPool) =>
    [...pool.pending()]
      .map((tx) => `${names.get(tx.getSenderAddress().toString())}${tx.nonce}`)
      .sort()
      .join(' ');
  const addAll = async (pool: TxPool, key: Uint8Array, nonces: number[], tip = 1n) => {
    for (const n of nonces) await pool.add(tx1559(key, BigInt(n), tip));
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('admits nonce 0 after nonces 1..64 filled the queue, and makes them all executable', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    await addAll(pool, A, range(1, 64));
    expect(pool.status()).toEqual({ pending: 0, queued: 64 });
    await pool.add(tx1559(A, 0n, 1n)); // was "txpool is full for this account", for 3 hours
    expect([...pool.pending()].map((tx) => Number(tx.nonce))).toEqual(range(0, 64));
    expect(pool.status()).toEqual({ pending: 65, queued: 0 });
    expect(await pool.pendingNonce(tx1559(A, 0n, 1n).getSenderAddress())).toBe(65n);
  });

  it('admits the nonce that fills the gap when executable room is short, and trims the promoted ones from the tail', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountSlots: 2, globalSlots: 6 });
    await addAll(pool, B, [0, 1]);
    await addAll(pool, A, range(1, 64));
    await pool.add(tx1559(A, 0n, 1n));
    // 6 executable slots: B keeps its 2, A gets 4, contiguous from 0; the rest of A's queue is gone
    expect(pendingNames(pool)).toBe('A0 A1 A2 A3 B0 B1');
    expect(pool.status()).toEqual({ pending: 6, queued: 0 });
  });

  it("lets an account's executable transactions go beyond its slots while the pool has room", async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain); // 16 slots per account, 4,096 in all
    await addAll(pool, A, range(0, 69));
    expect(pool.status()).toEqual({ pending: 70, queued: 0 });
  });

  it('caps the queue per account: nonces too far ahead are refused, the highest queued one gives way', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountSlots: 1, globalSlots: 2, accountQueue: 2 });
    await addAll(pool, A, [0, 1, 3, 4]); // A1 is beyond A's guarantee of 1; A3 and A4 wait for A2
    await expect(pool.add(tx1559(A, 5n, 1n))).rejects.toThrow(/nonce too high: next nonce 2, tx nonce 5 \(at most 2 ahead\)/);
    await pool.add(tx1559(B, 0n, 1n)); // executable set full: A1, the tail beyond A's guarantee, goes
    expect(pendingNames(pool)).toBe('A0 B0');
    // A's queue (A3, A4) is full and its gap is now at 1: A2 is nearer, so A4 gives way
    await pool.add(tx1559(A, 2n, 1n));
    expect(pool.has(tx1559(A, 4n, 1n).hash())).toBe(false);
    expect(pool.status()).toEqual({ pending: 2, queued: 2 });
  });

  it('trims a queue that a removal from the middle made too long', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountQueue: 1 });
    await addAll(pool, A, [0, 1, 2, 3]);
    pool.onBlockSealed(await sealNext(t, []), [{ tx: tx1559(A, 1n, 1n), ...classifyBuildError(new Error("sender doesn't have enough funds to send tx")) }]);
    expect(pool.has(tx1559(A, 2n, 1n).hash())).toBe(true);
    expect(pool.has(tx1559(A, 3n, 1n).hash())).toBe(false);
    expect(pool.status()).toEqual({ pending: 1, queued: 1 });
  });

  it('caps the queue in all: a nearer queued transaction evicts the farthest, a farther one is refused', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B), addressOf(D)]);
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, globalQueue: 2 });
    await pool.add(tx1559(A, 2n, 1n)); // 2 from A's gap
    await pool.add(tx1559(B, 1n, 1n)); // 1 from B's gap
    await expect(pool.add(tx1559(D, 3n, 1n))).rejects.toThrow(/txpool is full \(2 queued transactions\)/);
    await expect(pool.add(tx1559(D, 2n, 1n))).rejects.toThrow(/txpool is full \(2 queued transactions\)/); // as far as A2: no churn
    await pool.add(tx1559(D, 1n, 1n));
    expect(pool.has(tx1559(A, 2n, 1n).hash())).toBe(false);
    // executable transactions do not count against the queue
    await addAll(pool, A, [0, 1]);
    await pool.add(tx1559(B, 0n, 1n));
    expect(pendingNames(pool)).toBe('A0 A1 B0 B1');
    expect(pool.status()).toEqual({ pending: 4, queued: 1 });
  });

  it('when the executable set is full, evicts the cheapest last transaction of an account over its slots', async () => {
    t = await createTestChain(1, [A, B, C, D, E, F].map(addressOf));
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountSlots: 1, globalSlots: 5, globalQueue: 0 });
    await addAll(pool, A, [0, 1], 5n);
    await addAll(pool, B, [0, 1, 2], 3n);
    // A is over its slot too: it displaces only a cheaper tail, never its own, never opening a gap
    await expect(pool.add(tx1559(A, 2n, 3n))).rejects.toThrow(/txpool is full \(5 executable transactions\)/);
    await pool.add(tx1559(A, 2n, 4n));
    expect(pendingNames(pool)).toBe('A0 A1 A2 B0 B1');
    // within their slot, C, D and E always get in: the cheapest tail goes, B's before A's
    await pool.add(tx1559(C, 0n, 1n));
    expect(pendingNames(pool)).toBe('A0 A1 A2 B0 C0');
    await pool.add(tx1559(D, 0n, 1n));
    await pool.add(tx1559(E, 0n, 1n));
    expect(pendingNames(pool)).toBe('A0 B0 C0 D0 E0');
    // every account at its guarantee and no queue room: price decides. A tip no higher than the
    // cheapest (1) is refused; a higher one takes the place of the cheapest, C0 (the first met of three)
    await expect(pool.add(tx1559(F, 0n, 1n))).rejects.toThrow(/txpool is full \(5 executable transactions\)/);
    await pool.add(tx1559(F, 0n, 100n));
    expect(pendingNames(pool)).toBe('A0 B0 D0 E0 F0');
    expect(pool.size).toBe(5);
  });

  // Senders of one transaction each, premined.
  const many = Array.from({ length: 8 }, (_, i) => testKey(40 + i));

  it('when full of senders within their guarantee, admits a newcomer paying more than the cheapest, which goes', async () => {
    t = await createTestChain(1, many.map(addressOf));
    // scaled down from 4,096 + 1,024: 5,120 senders of one transaction at the minimum tip
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, globalSlots: 4, globalQueue: 2 });
    for (const key of many.slice(0, 6)) await pool.add(tx1559(key, 0n, 1n));
    expect(pool.status()).toEqual({ pending: 6, queued: 0 });
    await expect(pool.add(tx1559(many[6]!, 0n, 1n))).rejects.toThrow(/txpool is full/); // no more than the cheapest
    const rich = tx1559(many[6]!, 0n, 1_000_000n);
    await pool.add(rich); // was "txpool is full" until blocks drained the pool
    expect(pool.has(rich.hash())).toBe(true);
    expect(pool.has(tx1559(many[0]!, 0n, 1n).hash())).toBe(false); // the cheapest, first met
    expect(pool.status()).toEqual({ pending: 6, queued: 0 });
    expect([...pool.pending()][0]).toBe(rich);
  });

  it('a full pool remembers its scans for refused newcomers only until what it holds changes', async () => {
    t = await createTestChain(1, many.map(addressOf));
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountSlots: 1, globalSlots: 2, globalQueue: 0 });
    await pool.add(tx1559(many[0]!, 0n, 5n));
    const cheap = tx1559(many[1]!, 0n, 3n);
    await pool.add(cheap);
    await expect(pool.add(tx1559(many[2]!, 0n, 2n))).rejects.toThrow(/txpool is full/); // the cheapest pays 3
    const bumped = tx1559(many[1]!, 0n, 10n, 2n * 10n ** 11n); // the cheapest replaced: now 5 is
    await pool.add(bumped);
    await expect(pool.add(tx1559(many[2]!, 0n, 4n))).rejects.toThrow(/txpool is full/); // was taken against the 3 gone
    expect(pool.size).toBe(2);
    const rich = tx1559(many[2]!, 0n, 6n);
    await pool.add(rich);
    expect(pool.has(rich.hash())).toBe(true);
    expect(pool.has(tx1559(many[0]!, 0n, 5n).hash())).toBe(false);
    expect(pool.status()).toEqual({ pending: 2, queued: 0 });
    // A new head (the base fee moved) is not a change of what the pool holds: the scans still follow it.
    await sealAndSettle(pool, []);
    await expect(pool.add(tx1559(many[3]!, 0n, 5n))).rejects.toThrow(/txpool is full/);
    expect(pool.status()).toEqual({ pending: 2, queued: 0 });
  });

  it('evicts by price only the last transaction of an account, so that no nonce gap opens', async () => {
    t = await createTestChain(1, [A, B, D, E, F].map(addressOf));
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, globalSlots: 3, globalQueue: 1 });
    await pool.add(tx1559(A, 0n, 1n)); // the cheapest, but A1 is behind it
    await pool.add(tx1559(A, 1n, 5n));
    await pool.add(tx1559(B, 0n, 2n));
    await pool.add(tx1559(D, 0n, 3n));
    await pool.add(tx1559(F, 0n, 1_000_000n));
    expect(pendingNames(pool)).toBe('A0 A1 D0 F0'); // B0 (2), not A0 (1)
    await expect(pool.add(tx1559(E, 0n, 3n))).rejects.toThrow(/txpool is full/); // as cheap as D0: no churn
    await pool.add(tx1559(E, 0n, 4n));
    expect(pendingNames(pool)).toBe('A0 A1 E0 F0');
    await pool.add(tx1559(B, 0n, 6n)); // E0 (4) goes
    await pool.add(tx1559(D, 0n, 6n)); // A1 (5) goes: A0 is now A's last
    expect(pendingNames(pool)).toBe('A0 B0 D0 F0');
    await pool.add(tx1559(E, 0n, 2n));
    expect(pendingNames(pool)).toBe('B0 D0 E0 F0');
    expect(pool.status()).toEqual({ pending: 4, queued: 0 }); // no account was left with a gap
  });

  it('keeps the executable limit when a new head makes queued transactions executable', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B)]);
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountSlots: 1, globalSlots: 2 });
    await addAll(pool, A, [2, 3]); // wait for A0 and A1
    await pool.add(tx1559(B, 0n, 1n));
    await sealAndSettle(pool, [tx1559(A, 0n, 1n), tx1559(A, 1n, 1n)]); // A0 and A1 mined from elsewhere
    expect(pendingNames(pool)).toBe('A2 B0'); // A3, beyond A's slot, gave way
    expect(pool.status()).toEqual({ pending: 2, queued: 0 });
  });

  it('always admits a transaction that fills a gap, evicting the farthest queued one', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B), addressOf(D)]);
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, accountSlots: 1, globalSlots: 2, globalQueue: 2 });
    await pool.add(tx1559(A, 0n, 1n));
    await pool.add(tx1559(B, 0n, 1n));
    await pool.add(tx1559(A, 2n, 1n)); // waits for A1
    await pool.add(tx1559(D, 5n, 1n)); // waits for D0..D4
    // executable set full, every account at its guarantee, queue full: a plain next nonce is refused
    await expect(pool.add(tx1559(B, 1n, 1n))).rejects.toThrow(/txpool is full \(2 executable transactions\)/);
    // A1 fills A's gap: admitted; D5, the farthest from executable, goes
    await pool.add(tx1559(A, 1n, 1n));
    expect(pool.has(tx1559(D, 5n, 1n).hash())).toBe(false);
    // A2, promoted beyond A's slot with no executable room, is trimmed; A1 stays, over the executable
    // limit on room taken from the queue (the pool never holds more than 2 + 2)
    expect(pendingNames(pool)).toBe('A0 A1 B0');
    expect(pool.status()).toEqual({ pending: 3, queued: 0 });
  });

  it('holds the encoded bytes of its transactions to a budget: queued ones go first, then lower tips; the rest is refused', async () => {
    t = await createTestChain(1, [A, B, D, E, F].map(addressOf));
    // a transfer carrying `size` bytes of calldata
    const sized = (key: Uint8Array, nonce: bigint, tip: bigint, size: number, maxFee = 10n ** 11n) =>
      createFeeMarket1559Tx(
        {
          nonce,
          to: TO,
          value: 1n,
          gasLimit: 21_000n + 16n * BigInt(size),
          maxFeePerGas: maxFee,
          maxPriorityFeePerGas: tip,
          chainId: 100n,
          data: new Uint8Array(size).fill(1),
        },
        { common: t!.chain.commonAt(0n) },
      ).sign(key);
    const kb = sized(A, 0n, 5n, 1000).serialize().length; // ~1,120 bytes; a signature varies by a byte or two
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, globalBytes: 4 * kb + 100 });
    const held = () => pool.content().flatMap((a) => [...a.pending, ...a.queued]);
    const has = (...txs: ReturnType<typeof sized>[]) => txs.map((tx) => pool.has(tx.hash()));
    await pool.add(sized(A, 0n, 5n, 1000));
    await pool.add(sized(A, 1n, 1n, 1000)); // the cheapest, and A's last
    await pool.add(sized(B, 0n, 3n, 1000));
    await pool.add(sized(D, 5n, 100n, 1000)); // queued behind D0..D4: no block can take it now
    expect(pool.size).toBe(4);
    // 2 KB at tip 4: D5 goes first, whatever its tip, then A1
    await pool.add(sized(E, 0n, 4n, 2000));
    expect(has(sized(D, 5n, 100n, 1000), sized(A, 1n, 1n, 1000))).toEqual([false, false]);
    expect(pendingNames(pool)).toBe('A0 B0 E0');
    // 2 KB that B0 (3) alone does not make room for, and E0 pays as much: refused, nothing evicted
    await expect(pool.add(sized(F, 0n, 4n, 2000))).rejects.toThrow(/txpool is full \(\d+ bytes of transactions\)/);
    expect(pendingNames(pool)).toBe('A0 B0 E0');
    // a queued transaction never displaces an executable one, whatever its tip
    await expect(pool.add(sized(D, 5n, 1000n, 2000))).rejects.toThrow(/txpool is full \(\d+ bytes/);
    // more than the whole budget: refused, whatever its tip
    await expect(pool.add(sized(F, 0n, 1_000_000n, 5000))).rejects.toThrow(/txpool is full \(\d+ bytes/);
    expect(pool.size).toBe(3);
    await pool.add(sized(F, 0n, 6n, 2000)); // B0 (3) and E0 (4) go
    expect(pendingNames(pool)).toBe('A0 F0');
    expect(pool.status()).toEqual({ pending: 2, queued: 0 }); // no account left with a gap
    expect(pool.bytes).toBe(held().reduce((n, tx) => n + tx.serialize().length, 0));
    expect(pool.bytes).toBeLessThanOrEqual(4 * kb + 100);
    // a replacement counts for the one it replaces
    await pool.add(sized(A, 0n, 10n, 1200, 2n * 10n ** 11n));
    expect(pendingNames(pool)).toBe('A0 F0');
    expect(pool.bytes).toBe(held().reduce((n, tx) => n + tx.serialize().length, 0));
  });

  it('is a TxPoolError for every refusal', async () => {
    t = await createTestChain(1, []);
    const pool = new TxPool(t.chain);
    await expect(pool.add(tx1559(A, 0n, 1n))).rejects.toBeInstanceOf(TxPoolError);
  });

  it("tells a relayer's faults from refusals that are no one's fault, and checks gas and fees before it recovers a signature", async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    const fault = async (tx: ReturnType<typeof tx1559>) =>
      pool.add(tx).then(
        () => 'added',
        (err: TxPoolError) => `${err.fault ?? 'none'}: ${err.message}`,
      );
    // Cheapest failures first: no signature recovery for a transaction refused on its gas.
    let recoveries = 0;
    const common = t.chain.commonAt(0n).copy();
    const recover = common.customCrypto.ecrecover!;
    (common as { customCrypto: typeof common.customCrypto }).customCrypto = {
      ...common.customCrypto,
      ecrecover: (...a: Parameters<typeof recover>) => (recoveries++, recover(...a)),
    };
    const cheap = createFeeMarket1559Tx(
      { nonce: 0n, to: TO, gasLimit: 20_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common },
    ).sign(A);
    const tooBig = createFeeMarket1559Tx(
      { nonce: 0n, to: TO, gasLimit: 10n ** 9n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common },
    ).sign(A);
    recoveries = 0;
    expect(await fault(cheap)).toMatch(/^invalid: intrinsic gas too low/);
    expect(await fault(tooBig)).toMatch(/^invalid: exceeds block gas limit/);
    expect(recoveries).toBe(0);
    const fine = createFeeMarket1559Tx(
      { nonce: 5n, to: TO, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common },
    ).sign(A);
    await fault(fine);
    expect(recoveries).toBeGreaterThan(0); // the counter does count
    expect(await fault(tx1559(C, 0n, 1n))).toMatch(/^unexecutable: insufficient funds/); // C holds nothing
    expect(await fault(tx1559(A, 10_000n, 1n))).toMatch(/^unexecutable: nonce too high/);
    expect(await fault(tx1559(A, 0n, 1n))).toBe('added');
    expect(await fault(tx1559(A, 0n, 1n))).toMatch(/^none: already known/);
    expect(await fault(tx1559(A, 1n, 1n, GWEI / 10n))).toMatch(/^none: transaction underpriced/); // below the base fee: may do later
  });
});

describe('validateStateless', () => {
  it("refuses a transaction whose gas pays for more logs than a block's receipts may hold, as the builder would never start it", async () => {
    const t = await createTestChain(1);
    try {
      const common = t.chain.commonAt(0n);
      const limits = { chainId: 100n, blockGasLimit: 2n ** 40n, nextBaseFee: 1n, minTip: 0n };
      const tx = (gasLimit: bigint) =>
        createFeeMarket1559Tx({ nonce: 0n, to: TO, gasLimit, maxFeePerGas: 10n, maxPriorityFeePerGas: 1n, chainId: 100n }, { common }).sign(A);
      // 8 gas a log byte: 495M gas pays for more than the receipts' share of a backup record
      expect(() => validateStateless(tx(8n * BigInt(MAX_BLOCK_RECEIPTS_BYTES)), limits)).toThrow(
        /pays for more logs than a block's \d+ bytes of receipts may hold/,
      );
      expect(() => validateStateless(tx(8n * BigInt(MAX_BLOCK_RECEIPTS_BYTES - 64)), limits)).not.toThrow();
    } finally {
      await t.close();
    }
  });
});

describe('TxPool and EIP-7702 delegations (geth: ErrAuthorityReserved, ErrInflightTxLimitReached)', () => {
  let t: TestChain | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  const common = () => t!.chain.commonAt(t!.chain.head.number + 1n);
  const tx1559 = (key: Uint8Array, nonce: bigint) =>
    createFeeMarket1559Tx(
      { nonce, to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: common() },
    ).sign(key);
  /** A set-code transaction from `key` delegating each of `authorities` (at their nonce `authNonce`) to TO. */
  const setCode = (key: Uint8Array, nonce: bigint, authorities: Uint8Array[], authNonce = 0n) =>
    createEOACode7702Tx(
      {
        nonce,
        to: TO,
        gasLimit: 100_000n + 25_000n * BigInt(authorities.length),
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 1n,
        authorizationList: authorities.map((k) => eoaCode7702SignAuthorization({ chainId: '0x64', address: TO, nonce: `0x${authNonce.toString(16)}` }, k)),
      },
      { common: common() },
    ).sign(key);

  it('refuses a set-code transaction naming an account with transactions in the pool, and holds a named account to one transaction at its next nonce', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(B), addressOf(D)]);
    expect(common().isActivatedEIP(7702)).toBe(true);
    const pool = new TxPool(t.chain);
    await pool.add(tx1559(B, 0n));
    await pool.add(tx1559(B, 1n));
    await expect(pool.add(setCode(A, 0n, [B]))).rejects.toThrow(/^authority 0x[0-9a-f]{40} has transactions in the pool/);
    // D has none: A's transaction naming it enters, and D may then pool one transaction, at its next nonce
    const delegation = setCode(A, 0n, [D]);
    await pool.add(delegation);
    await expect(pool.add(tx1559(D, 1n))).rejects.toThrow(/^gapped nonce from a delegated account: next nonce 0, tx nonce 1/);
    await pool.add(tx1559(D, 0n));
    await expect(pool.add(tx1559(D, 1n))).rejects.toThrow(/^in-flight transaction limit reached for delegated accounts/);
    // once A's transaction is mined (it moved D's nonce: D's pooled transaction 0 now fails, the case the
    // rule keeps to one transaction), D is delegated at the head: still one at a time
    await sealNext(t, [delegation]);
    await pool.settled();
    expect(pool.size).toBe(2); // B's two; D's 0 went with its nonce
    await pool.add(tx1559(D, 1n));
    await expect(pool.add(tx1559(D, 2n))).rejects.toThrow(/^in-flight transaction limit reached for delegated accounts/);
  });

  it('keeps only the next transaction of an account delegated after its transactions came in', async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(D)]);
    const pool = new TxPool(t.chain);
    for (let n = 0n; n < 4n; n++) await pool.add(tx1559(D, n));
    expect(pool.size).toBe(4);
    // A delegation of D mined by another node's block (D signs it at nonce 0: D's transaction 0 is not in that block)
    await sealNext(t, [setCode(A, 0n, [D], 0n)]);
    await pool.settled();
    expect(pool.size).toBe(1); // D's transaction at its next nonce (1: the authorization bumped it) stays
    expect([...pool.pending()].map((x) => x.nonce)).toEqual([1n]);
  });

  it("names no account by an authorization the EVM would skip (another chain's, a y parity of 27, a high s), and refuses a gapped set-code transaction", async () => {
    t = await createTestChain(1, [addressOf(A), addressOf(D)]);
    const pool = new TxPool(t.chain);
    const signed = eoaCode7702SignAuthorization({ chainId: '0x64', address: TO, nonce: '0x0' }, D);
    const otherChain = eoaCode7702SignAuthorization({ chainId: '0x1', address: TO, nonce: '0x0' }, D);
    const N = SECP256K1_ORDER;
    const [c, a, n, y, r, sv] = signed;
    const highS = [c, a, n, bigIntToBytes(1n - bytesToBigInt(y)), r, bigIntToBytes(N - bytesToBigInt(sv))] as typeof signed;
    const parity27 = [c, a, n, bigIntToBytes(27n + bytesToBigInt(y)), r, sv] as typeof signed;
    const withList = (nonce: bigint, authorizationList: (typeof signed)[]) =>
      createEOACode7702Tx(
        { nonce, to: TO, gasLimit: 200_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, authorizationList },
        { common: common() },
      ).sign(A);
    await expect(pool.add(withList(1n, [signed]))).rejects.toThrow(/^gapped set-code transaction: next nonce 0, tx nonce 1/);
    await pool.add(withList(0n, [otherChain, highS, parity27]));
    // none of them names D: D may pool more than one transaction
    await pool.add(tx1559(D, 0n));
    await pool.add(tx1559(D, 1n));
    expect(pool.size).toBe(3);
  });

  it('refuses a set-code transaction of more than 64 authorizations before recovering any', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    const many = setCode(
      A,
      0n,
      Array.from({ length: MAX_POOLED_AUTHORIZATIONS + 1 }, (_, i) => testKey(100 + i)),
    );
    await expect(pool.add(many)).rejects.toThrow(/^set-code transaction with 65 authorizations: this pool holds at most 64/);
    await pool.add(
      setCode(
        A,
        0n,
        Array.from({ length: MAX_POOLED_AUTHORIZATIONS }, (_, i) => testKey(100 + i)),
      ),
    );
  });
});
