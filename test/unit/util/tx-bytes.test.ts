import { createBlock } from '@ethereumjs/block';
import { createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { blockBytes, txBytes } from '../../../src/util/tx-bytes.js';
import { createTestChain, testKey } from '../../helpers/chain-fixture.js';

describe('txBytes and blockBytes', () => {
  it("are @ethereumjs's own encodings: typed and legacy transactions, an empty block, lists past 55 bytes", async () => {
    const t = await createTestChain(1);
    try {
      const common = t.chain.commonAt(0n);
      const typed = (nonce: bigint, data = new Uint8Array()) =>
        createFeeMarket1559Tx(
          {
            nonce,
            to: '0x000000000000000000000000000000000000cafe',
            gasLimit: 100_000n,
            maxFeePerGas: 10n ** 11n,
            maxPriorityFeePerGas: 1n,
            chainId: 100n,
            data,
          },
          { common },
        ).sign(testKey(50));
      const legacy = (nonce: bigint) =>
        createLegacyTx({ nonce, to: '0x000000000000000000000000000000000000cafe', gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common }).sign(testKey(51));
      const sets: TypedTransaction[][] = [
        [],
        [typed(0n)],
        [legacy(0n)],
        [legacy(0n), typed(0n), legacy(1n), typed(1n, new Uint8Array(70_000).fill(7))],
        Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? legacy(BigInt(i)) : typed(BigInt(i)))),
      ];
      for (const txs of sets) {
        for (const tx of txs) expect(bytesToHex(txBytes(tx))).toBe(bytesToHex(tx.serialize()));
        const block = createBlock(
          { header: { number: 1n, gasLimit: 30_000_000n, extraData: new Uint8Array(97) }, transactions: txs },
          { common, skipConsensusFormatValidation: true },
        );
        expect(bytesToHex(blockBytes(block))).toBe(bytesToHex(block.serialize()));
      }
    } finally {
      await t.close();
    }
  });

  it('encodes a transaction once', async () => {
    const t = await createTestChain(1);
    try {
      const tx = createFeeMarket1559Tx({ nonce: 0n, gasLimit: 21_000n, maxFeePerGas: 1n, chainId: 100n }, { common: t.chain.commonAt(0n) }).sign(testKey(52));
      expect(txBytes(tx)).toBe(txBytes(tx));
    } finally {
      await t.close();
    }
  });
});
