import { createBlock } from '@ethereumjs/block';
import { createFeeMarket1559Tx, createTxFromRLP } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { transactionsRoot } from '../../../src/chain/block-util.js';
import { SenderCache } from '../../../src/chain/senders.js';
import { createTestChain, testKey } from '../../helpers/chain-fixture.js';

const TO = '0x000000000000000000000000000000000000cafe';

describe('SenderCache', () => {
  it('gives a transaction made again from the same bytes the sender already recovered, and forgets the oldest past its bound', async () => {
    const t = await createTestChain(1);
    try {
      const common = t.chain.commonAt(0n);
      const txs = [0n, 1n, 2n].map((nonce) =>
        createFeeMarket1559Tx({ nonce, to: TO, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n }, { common }).sign(
          testKey(40),
        ),
      );
      const cache = new SenderCache(2);
      for (const tx of txs) {
        tx.getSenderAddress();
        cache.remember(tx);
      }
      expect(cache.size).toBe(2);
      const again = txs.map((tx) => createTxFromRLP(tx.serialize(), { common }));
      cache.fill(again);
      expect(again.map((tx) => tx.cache.senderPubKey !== undefined)).toEqual([false, true, true]); // the first was forgotten
      expect(bytesToHex(again[2]!.cache.senderPubKey!)).toBe(bytesToHex(txs[2]!.getSenderPublicKey()));
      expect(again[2]!.getSenderAddress().toString()).toBe(txs[2]!.getSenderAddress().toString());
      // One never recovered is not remembered.
      const fresh = createTxFromRLP(txs[0]!.serialize(), { common });
      cache.remember(fresh);
      expect(cache.size).toBe(2);
    } finally {
      await t.close();
    }
  });
});

describe('transactionsRoot', () => {
  it("is the root @ethereumjs builds, and validateData still refuses a body that does not match the header's root", async () => {
    const t = await createTestChain(1);
    try {
      const common = t.chain.commonAt(0n);
      const txs = Array.from({ length: 200 }, (_, i) =>
        createFeeMarket1559Tx(
          { nonce: BigInt(i), to: TO, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
          { common },
        ).sign(testKey(41)),
      );
      const block = createBlock({ header: { number: 1n, gasLimit: 30_000_000n }, transactions: txs }, { common });
      const built = await (block as unknown as { genTxTrie(): Promise<Uint8Array> }).genTxTrie();
      expect(bytesToHex(transactionsRoot(block))).toBe(bytesToHex(built));
      // A header whose root is of another body: the sorted root is compared, and refused.
      const other = createBlock({ header: { number: 1n, gasLimit: 30_000_000n, transactionsTrie: built }, transactions: txs.slice(1) }, { common });
      transactionsRoot(other);
      await expect(other.validateData(false, false)).rejects.toThrow(/invalid transaction trie/);
      const same = createBlock({ header: { number: 1n, gasLimit: 30_000_000n, transactionsTrie: built }, transactions: txs }, { common });
      transactionsRoot(same);
      await expect(same.validateData(false, false)).resolves.toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
