import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { afterEach, describe, expect, it } from 'vitest';
import { TxPool, TxPoolError } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const A = testKey(20);
const B = testKey(21);
const TO = '0x000000000000000000000000000000000000beef';

describe('TxPool', () => {
  let t: TestChain | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const tx1559 = (key: Uint8Array, nonce: bigint, tip: bigint, maxFee = 10n ** 11n) =>
    createFeeMarket1559Tx({ nonce, to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: maxFee, maxPriorityFeePerGas: tip, chainId: 100n }, { common: t!.chain.common }).sign(key);

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
    await sealNext(t, [...pool.pending()]);
    await new Promise((r) => setTimeout(r, 20)); // resync runs on the head event
    expect(pool.size).toBe(1);
    expect([...pool.pending()]).toHaveLength(0);
    await pool.add(tx1559(A, 1n, 1n));
    expect([...pool.pending()].map((tx) => tx.nonce)).toEqual([1n, 2n]);
    expect(await pool.pendingNonce(tx1559(A, 0n, 1n).getSenderAddress())).toBe(3n);
  });

  it('enforces replacement bumps and limits', async () => {
    t = await createTestChain(1, [addressOf(A)]);
    const pool = new TxPool(t.chain, { perAccount: 2, global: 10, priceBumpPercent: 10n });
    await pool.add(tx1559(A, 0n, 100n, 1000n * 10n ** 8n));
    await expect(pool.add(tx1559(A, 0n, 105n, 1050n * 10n ** 8n))).rejects.toThrow(/replacement transaction underpriced/);
    await pool.add(tx1559(A, 0n, 110n, 1100n * 10n ** 8n));
    expect(pool.size).toBe(1);
    await pool.add(tx1559(A, 1n, 1n));
    await expect(pool.add(tx1559(A, 2n, 1n))).rejects.toThrow(/txpool is full for this account/);
    const legacy = createLegacyTx({ nonce: 0n, to: TO, gasLimit: 21_000n, gasPrice: 1n }, { common: t.chain.common }).sign(B);
    await expect(pool.add(legacy)).rejects.toBeInstanceOf(TxPoolError);
  });
});
