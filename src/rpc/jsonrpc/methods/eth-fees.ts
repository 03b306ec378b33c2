import { bigIntToHex } from '@ethereumjs/util';
import { effectiveTip } from '../../../txpool/validation.js';
import type { Chain } from '../../../chain/chain.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { blockTag, expectParams, hexQuantity } from '../params.js';
import { requireHeader, type RpcContext, type RpcMethods } from './context.js';

/** The tip Basalt suggests: IBFT validators order by tip but a dev chain has no fee market to speak of. */
export const SUGGESTED_TIP = 1_000_000_000n; // 1 gwei
const MAX_FEE_HISTORY_BLOCKS = 1024n;
const MAX_REWARD_PERCENTILES = 100;

export function feeMethods({ chain }: RpcContext): RpcMethods {
  return {
    eth_gasPrice: () => bigIntToHex(chain.head.header.calcNextBaseFee() + SUGGESTED_TIP),
    eth_maxPriorityFeePerGas: () => bigIntToHex(SUGGESTED_TIP),
    eth_feeHistory: async (p) => {
      expectParams(p, 2, 3);
      if (typeof p[0] === 'number' && !Number.isSafeInteger(p[0])) throw invalidParams('blockCount must be an integer');
      const count = typeof p[0] === 'number' ? BigInt(p[0]) : hexQuantity(p[0], 'blockCount');
      if (count < 1n || count > MAX_FEE_HISTORY_BLOCKS) throw invalidParams(`blockCount must be 1 to ${MAX_FEE_HISTORY_BLOCKS}`);
      const tag = blockTag(p[1]);
      const percentiles = (p[2] ?? []) as unknown;
      // At most 100, as geth: each is an answer per block, up to 1,024 blocks.
      if (Array.isArray(percentiles) && percentiles.length > MAX_REWARD_PERCENTILES)
        throw invalidParams(`rewardPercentiles: at most ${MAX_REWARD_PERCENTILES}`);
      if (
        !Array.isArray(percentiles) ||
        percentiles.some((x, i) => typeof x !== 'number' || x < 0 || x > 100 || (i > 0 && x < (percentiles[i - 1] as number)))
      ) {
        throw invalidParams('rewardPercentiles must be numbers from 0 to 100, in increasing order');
      }
      const newest = await requireHeader(chain, tag);
      const oldest = newest.number + 1n > count ? newest.number + 1n - count : 0n;
      const baseFees: string[] = [];
      const ratios: number[] = [];
      const rewards: string[][] = [];
      for (let n = oldest; n <= newest.number; n++) {
        // Without percentiles, the header is all it takes: no block is decoded.
        const header = n === newest.number ? newest : await chain.store.canonicalHeader(n);
        if (!header) throw new RpcError(RpcErrorCode.InvalidInput, `header not found: block ${n}`);
        baseFees.push(bigIntToHex(header.baseFeePerGas ?? 0n));
        ratios.push(Number(header.gasUsed) / Number(header.gasLimit));
        if (percentiles.length > 0) rewards.push((await blockRewards(chain, n, percentiles as number[])).map(bigIntToHex));
      }
      baseFees.push(bigIntToHex(newest.calcNextBaseFee()));
      return { oldestBlock: bigIntToHex(oldest), baseFeePerGas: baseFees, gasUsedRatio: ratios, ...(percentiles.length > 0 ? { reward: rewards } : {}) };
    },
  };
}

/**
 * The tips paid at `percentiles` of block `n`'s gas, as the execution-apis spec and geth have them:
 * its transactions sorted by effective tip, each weighing the gas it used (from its receipt), the tip
 * of the transaction within which the percentile of the block's gas used falls. 0 for an empty block.
 */
async function blockRewards(chain: Chain, n: bigint, percentiles: number[]): Promise<bigint[]> {
  const block = await chain.blockByNumber(n);
  const receipts = block && (await chain.receipts(n, chain.engine.blockHash(block.header)));
  if (!block || !receipts || receipts.length !== block.transactions.length)
    throw new RpcError(RpcErrorCode.InvalidInput, `block ${n}'s transactions or receipts are not on this node`);
  if (block.transactions.length === 0) return percentiles.map(() => 0n);
  const baseFee = block.header.baseFeePerGas ?? 0n;
  const txs = block.transactions
    .map((tx, i) => ({ tip: effectiveTip(tx, baseFee), gasUsed: receipts[i]!.cumulativeGasUsed - (i === 0 ? 0n : receipts[i - 1]!.cumulativeGasUsed) }))
    .sort((x, y) => (x.tip < y.tip ? -1 : x.tip > y.tip ? 1 : 0));
  let i = 0;
  let sumGasUsed = txs[0]!.gasUsed;
  return percentiles.map((pc) => {
    const threshold = BigInt(Math.floor((Number(block.header.gasUsed) * pc) / 100));
    while (sumGasUsed < threshold && i < txs.length - 1) sumGasUsed += txs[++i]!.gasUsed;
    return txs[i]!.tip;
  });
}
