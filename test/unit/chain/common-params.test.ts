import { Common, createCustomCommon, Mainnet } from '@ethereumjs/common';
import { createBlockHeader, paramsBlock } from '@ethereumjs/block';
import { createFeeMarket1559Tx, paramsTx } from '@ethereumjs/tx';
import { paramsVM } from '@ethereumjs/vm';
import { paramsEVM } from '@ethereumjs/evm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChainRules, SCHEDULED_FORKS } from '../../../src/chain/forks.js';

const rules = () =>
  new ChainRules(
    't',
    100,
    { gasLimit: '0x1c9c380', difficulty: '0x1', nonce: '0x0000000000000000', extraData: '0x', baseFeePerGas: '0x3b9aca00' },
    { cancun: 0n, prague: 0n },
  );
const NAMES = ['txGas', 'txDataNonZeroGas', 'txCreationGas', 'initialBaseFee', 'baseFeeMaxChangeDenominator', 'elasticityMultiplier', 'callGas'];

describe('Commons with the parameter tables merged once', () => {
  afterEach(() => vi.restoreAllMocks());

  it('transactions and headers see the same parameters as with a plain Common, for every rule set', () => {
    const r = rules();
    for (const fork of ['london', ...SCHEDULED_FORKS] as const) {
      const ours = r.commonFor(fork);
      const plain = createCustomCommon({ chainId: 100 }, Mainnet, { hardfork: fork });
      for (const t of [paramsTx, paramsBlock, paramsEVM, paramsVM]) plain.updateParams(t as never);
      const tx = createFeeMarket1559Tx({ gasLimit: 21_000n, maxFeePerGas: 1n, chainId: 100n }, { common: ours });
      const header = createBlockHeader({ number: 1n, gasLimit: 30_000_000n }, { common: ours, skipConsensusFormatValidation: true });
      for (const name of NAMES) {
        const want = plain.param(name);
        expect(tx.common.param(name), `${fork} ${name}`).toBe(want);
        expect(header.common.param(name), `${fork} ${name}`).toBe(want);
      }
    }
  });

  it('building transactions and headers merges no table again', () => {
    const common = rules().commonFor('prague');
    // The merge's cost is the cache rebuild it ends with.
    const rebuilds = vi.spyOn(Common.prototype as unknown as { _buildParamsCache(): void }, '_buildParamsCache');
    for (let i = 0; i < 20; i++) {
      createFeeMarket1559Tx({ nonce: BigInt(i), gasLimit: 21_000n, maxFeePerGas: 1n, chainId: 100n }, { common });
      createBlockHeader({ number: BigInt(i + 1), gasLimit: 30_000_000n }, { common, skipConsensusFormatValidation: true });
    }
    expect(rebuilds).not.toHaveBeenCalled();
    // A table it was not given is merged as before, and takes effect.
    const copy = common.copy();
    copy.updateParams({ 1559: { elasticityMultiplier: 7 } } as never);
    expect(rebuilds).toHaveBeenCalledTimes(1);
    expect(copy.param('elasticityMultiplier')).toBe(7n);
  });
});
