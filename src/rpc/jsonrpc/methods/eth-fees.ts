import { bigIntToHex } from '@ethereumjs/util';
import { effectiveTip } from '../../../txpool/validation.js';
import { invalidParams } from '../errors.js';
import { blockTag, expectParams, hexQuantity } from '../params.js';
import { requireBlock, type RpcContext, type RpcMethods } from './context.js';

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
      const newest = await requireBlock(chain, blockTag(p[1]));
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
      const oldest = newest.header.number + 1n > count ? newest.header.number + 1n - count : 0n;
      const baseFees: string[] = [];
      const ratios: number[] = [];
      const rewards: string[][] = [];
      for (let n = oldest; n <= newest.header.number; n++) {
        const b = (await chain.blockByNumber(n))!;
        const baseFee = b.header.baseFeePerGas ?? 0n;
        baseFees.push(bigIntToHex(baseFee));
        ratios.push(Number(b.header.gasUsed) / Number(b.header.gasLimit));
        if (percentiles.length > 0) {
          const tips = b.transactions.map((tx) => effectiveTip(tx, baseFee)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
          rewards.push(
            (percentiles as number[]).map((pc) => bigIntToHex(tips.length === 0 ? 0n : tips[Math.min(tips.length - 1, Math.floor((pc / 100) * tips.length))]!)),
          );
        }
      }
      baseFees.push(bigIntToHex(newest.header.calcNextBaseFee()));
      return { oldestBlock: bigIntToHex(oldest), baseFeePerGas: baseFees, gasUsedRatio: ratios, ...(percentiles.length > 0 ? { reward: rewards } : {}) };
    },
  };
}
