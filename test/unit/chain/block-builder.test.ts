import { rmSync } from 'node:fs';
import { createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeIbftExtra, encodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { sealBlock } from '../../../src/consensus/ibft/seal.js';
import { addressOf, createTestChain, openTestChain, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const senders = [testKey(30), testKey(31), testKey(32)];
const TO = '0x000000000000000000000000000000000000cafe';

describe('block building', () => {
  let t: TestChain | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('builds a block of many transactions, skips the ones that fail, and a fresh node re-executes it to the same roots', async () => {
    t = await createTestChain(1, senders.map(addressOf));
    const common = t.chain.commonAt(0n);
    const txs: TypedTransaction[] = [];
    for (let n = 0n; n < 10n; n++) {
      for (const [i, key] of senders.entries()) {
        txs.push(
          createFeeMarket1559Tx(
            { nonce: n, to: TO, value: n + 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: BigInt(i), chainId: 100n },
            { common },
          ).sign(key),
        );
      }
    }
    // In the middle: a nonce from the future and a transfer of more than the sender owns.
    const gap = createLegacyTx({ nonce: 99n, to: TO, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common }).sign(senders[0]!);
    const broke = createLegacyTx({ nonce: 0n, to: TO, value: 10n ** 30n, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common }).sign(testKey(33));
    txs.splice(12, 0, gap, broke);

    const head = t.chain.head.header;
    const extra = decodeIbftExtra(head.extraData);
    const key = t.keys[0]!;
    const result = await t.chain.produceBlock(
      {
        coinbase: extra.validators[0]!,
        timestamp: head.timestamp + 1n,
        extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] }),
      },
      txs,
      async (built) => sealBlock(built.block, key, [key], common),
    );
    const block = result!.block;
    expect(result!.built.rejected.map((r) => bytesToHex(r.tx.hash()))).toEqual([bytesToHex(gap.hash()), bytesToHex(broke.hash())]);
    const expected = txs.filter((tx) => tx !== gap && tx !== broke).map((tx) => bytesToHex(tx.hash()));
    expect(block.transactions.map((tx) => bytesToHex(tx.hash()))).toEqual(expected);
    expect(block.header.gasUsed).toBe(21_000n * 30n);
    const receipts = await t.chain.receipts(1n, t.chain.head.hash);
    expect(receipts!.map((r) => r.cumulativeGasUsed)).toEqual(expected.map((_, i) => 21_000n * BigInt(i + 1)));

    const other = await openTestChain(t.genesis);
    try {
      expect(await other.chain.importBlock(block)).toBe('imported'); // re-executes: state, receipts and tx roots must agree
      expect(bytesToHex(other.chain.head.header.stateRoot)).toBe(bytesToHex(block.header.stateRoot));
    } finally {
      await other.close();
      rmSync(other.dir, { recursive: true, force: true });
    }
  });
});
