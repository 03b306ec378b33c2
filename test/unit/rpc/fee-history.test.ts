import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ethMethods, type RpcMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { STORAGE_INITCODE, word } from '../../helpers/contracts.js';

const KEY = testKey(80);
const GWEI = 1_000_000_000n;
let t: TestChain;
let m: RpcMethods;
/** The gas each transaction of the priced block used: [1 gwei transfer, 2 gwei storage write, 3 gwei transfer]. */
let gasUsed: bigint[];

type FeeHistory = { oldestBlock: string; baseFeePerGas: string[]; gasUsedRatio: number[]; reward?: string[][] };
const history = async (...p: unknown[]) => (await m.eth_feeHistory!(p)) as FeeHistory;

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(KEY)]);
  m = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain) });
  const tx = (nonce: bigint, tipGwei: bigint, o: { to?: string; data?: string; gasLimit?: bigint }) =>
    createFeeMarket1559Tx(
      {
        nonce,
        ...(o.to ? { to: o.to as `0x${string}` } : {}),
        data: o.data ? hexToBytes(o.data as `0x${string}`) : new Uint8Array(0),
        value: o.data ? 0n : 1n,
        gasLimit: o.gasLimit ?? 200_000n,
        maxFeePerGas: 100n * GWEI,
        maxPriorityFeePerGas: tipGwei * GWEI,
        chainId: 100n,
      },
      { common: t.chain.commonAt(1n) },
    ).sign(KEY);
  await sealNext(t, [tx(0n, 1n, { data: bytesToHex(STORAGE_INITCODE), gasLimit: 500_000n })]);
  const contract = bytesToHex(generateAddress(privateToAddress(KEY), new Uint8Array(0)));
  const other = `0x${'12'.repeat(20)}`;
  const priced = await sealNext(t, [tx(1n, 1n, { to: other }), tx(2n, 2n, { to: contract, data: word(9n) }), tx(3n, 3n, { to: other })]);
  const receipts = (await t.chain.receipts(priced.header.number, t.chain.engine.blockHash(priced.header)))!;
  gasUsed = receipts.map((r, i) => r.cumulativeGasUsed - (i === 0 ? 0n : receipts[i - 1]!.cumulativeGasUsed));
});
afterAll(async () => {
  await t?.close();
});

describe('eth_feeHistory', () => {
  it('weighs the reward percentiles by gas used, as the execution-apis spec and geth do', async () => {
    // The block: transfers of 21,000 gas at 1 and 3 gwei around a storage write of ~44,000 at 2 gwei.
    const [a, b, c] = gasUsed as [bigint, bigint, bigint];
    expect([a, c]).toEqual([21_000n, 21_000n]);
    const total = Number(a + b + c);
    // Sorted by tip, the 1 gwei transaction holds the gas up to ~24%, the 2 gwei one up to ~76%.
    expect(Number(a) / total).toBeLessThan(0.3);
    expect(Number(a + b) / total).toBeGreaterThan(0.7);
    expect(Number(a + b) / total).toBeLessThan(0.9);
    const h = await history('0x1', 'latest', [0, 20, 30, 70, 90, 100]);
    // By gas: 1, 1, 2, 2, 3, 3 gwei (counted by transactions it was 1, 1, 1, 3, 3, 3).
    expect(h.reward).toEqual([[1n, 1n, 2n, 2n, 3n, 3n].map((g) => `0x${(g * GWEI).toString(16)}`)]);
    expect(h.gasUsedRatio).toEqual([total / 30_000_000]);
    // Blocks 1 (the deployment, 1 gwei), 2 (the median of its gas: 2 gwei) and 3, empty: 0.
    await sealNext(t, []);
    const gwei = (g: bigint) => `0x${(g * GWEI).toString(16)}`;
    expect(await history('0x3', 'latest', [50])).toMatchObject({ oldestBlock: '0x1', reward: [[gwei(1n)], [gwei(2n)], ['0x0']] });
  });

  it('reads only headers when no reward percentiles are asked for', async () => {
    const blocks = vi.spyOn(t.chain, 'blockByNumber');
    const decoded = vi.spyOn(t.chain.store, 'canonicalBlock');
    try {
      const h = await history('0x400', 'latest');
      expect(h.baseFeePerGas).toHaveLength(Number(t.chain.head.number) + 2);
      expect(h.reward).toBeUndefined();
      expect(blocks).not.toHaveBeenCalled();
      expect(decoded).not.toHaveBeenCalled();
    } finally {
      blocks.mockRestore();
      decoded.mockRestore();
    }
  });
});
