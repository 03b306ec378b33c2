import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, TxPool, TxPoolError } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const A = testKey(20);
const B = testKey(21);
const C = testKey(22); // not premined: funded by the tests that need a small balance
const TO: `0x${string}` = '0x000000000000000000000000000000000000beef';
const GWEI = 10n ** 9n;

describe('TxPool', () => {
  let t: TestChain | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const tx1559 = (key: Uint8Array, nonce: bigint, tip: bigint, maxFee = 10n ** 11n, value = 1n, to: `0x${string}` = TO) =>
    createFeeMarket1559Tx({ nonce, to, value, gasLimit: 21_000n, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip, chainId: 100n }, { common: t!.chain.common }).sign(key);

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
    const pool = new TxPool(t.chain, { ...DEFAULT_LIMITS, perAccount: 2, global: 3 });
    await pool.add(tx1559(A, 0n, 100n, 1000n * 10n ** 8n));
    await expect(pool.add(tx1559(A, 0n, 105n, 1050n * 10n ** 8n))).rejects.toThrow(/replacement transaction underpriced/);
    await expect(pool.add(tx1559(A, 0n, 200n, 1050n * 10n ** 8n))).rejects.toThrow(/replacement transaction underpriced/); // tip alone is not enough
    await pool.add(tx1559(A, 0n, 110n, 1100n * 10n ** 8n));
    expect(pool.size).toBe(1);
    await pool.add(tx1559(A, 1n, 1n));
    await expect(pool.add(tx1559(A, 2n, 1n))).rejects.toThrow(/txpool is full for this account/);
    await pool.add(tx1559(B, 0n, 1n));
    await expect(pool.add(tx1559(B, 1n, 1n))).rejects.toThrow(/txpool is full \(3 transactions\)/);
    await expect(pool.add(tx1559(B, 0n, 1n))).rejects.toThrow(/already known/);
  });

  it('refuses unsigned, underpriced and unaffordable transactions', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain);
    const unsigned = createFeeMarket1559Tx({ nonce: 0n, to: TO, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n }, { common: t.chain.common });
    await expect(pool.add(unsigned)).rejects.toThrow(/not signed/);
    await expect(pool.add(tx1559(A, 0n, 0n))).rejects.toThrow(/underpriced: tip 0 is below the pool's minimum 1/);
    await expect(pool.add(tx1559(A, 0n, 1n, GWEI / 2n))).rejects.toThrow(/underpriced: max fee per gas \d+ is below the base fee/);
    const legacy = createLegacyTx({ nonce: 0n, to: TO, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common: t.chain.common }).sign(B);
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
      { tx: a0, reason: 'tx has a higher gas limit than the remaining gas in the block' },
      { tx: b0, reason: "sender doesn't have enough funds to send tx" },
    ]);
    expect([...pool.pending()]).toEqual([a0]);
    expect(pool.has(b0.hash())).toBe(false);
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
    // filling the gap in time makes a transaction executable, and executable ones never expire
    await pool.add(tx1559(B, 0n, 1n));
    now = 10_000;
    await sealAndSettle(pool, []);
    expect(pool.has(tx1559(B, 0n, 1n).hash())).toBe(true);
    expect(pool.has(tx1559(A, 0n, 1n).hash())).toBe(true);
    expect(pool.has(tx1559(B, 5n, 1n).hash())).toBe(false);
  });

  it('is a TxPoolError for every refusal', async () => {
    t = await createTestChain(1, []);
    const pool = new TxPool(t.chain);
    await expect(pool.add(tx1559(A, 0n, 1n))).rejects.toBeInstanceOf(TxPoolError);
  });
});
