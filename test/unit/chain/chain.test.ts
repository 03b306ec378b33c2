import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, createAddressFromString, hexToBytes } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { addressOf, createTestChain, openTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const sender = testKey(10);
const recipient = '0x000000000000000000000000000000000000beef';

function transfer(t: TestChain, nonce: bigint, value: bigint) {
  return createFeeMarket1559Tx(
    { nonce, to: recipient, value, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
    { common: t.chain.commonAt(0n) },
  ).sign(sender);
}

describe('Chain', () => {
  let t: TestChain | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('seals blocks with transfers and updates state and receipts', async () => {
    t = await createTestChain(1, [addressOf(sender)]);
    const tx = transfer(t, 0n, 12345n);
    const block = await sealNext(t, [tx]);
    expect(t.chain.head.number).toBe(1n);
    expect(bytesToHex(t.chain.head.hash)).toBe(bytesToHex(blockHash(block.header)));
    const state = await t.chain.stateAt(t.chain.head.header);
    const acct = await state.getAccount(createAddressFromString(recipient));
    expect(acct?.balance).toBe(12345n);
    const receipts = await t.chain.receipts(1n, t.chain.head.hash);
    expect(receipts).toHaveLength(1);
    expect(receipts![0]!.status).toBe(1);
    expect(receipts![0]!.cumulativeGasUsed).toBe(21000n);
    const lookup = await t.chain.store.txLookup(tx.hash());
    expect(lookup).toEqual({ blockNumber: 1n, index: 0 });
  });

  it('imports blocks sealed by a 4-validator network into a fresh node, and skips known ones', async () => {
    t = await createTestChain(4, [addressOf(sender)]);
    const blocks = [];
    for (let i = 0; i < 5; i++) blocks.push(await sealNext(t, i === 2 ? [transfer(t, 0n, 7n)] : []));
    const other = await openTestChain(t.genesis);
    try {
      for (const b of blocks) expect(await other.chain.importBlock(b)).toBe('imported');
      expect(bytesToHex(other.chain.head.hash)).toBe(bytesToHex(t.chain.head.hash));
      expect(bytesToHex(other.chain.head.header.stateRoot)).toBe(bytesToHex(t.chain.head.header.stateRoot));
      expect(await other.chain.importBlock(blocks[1]!)).toBe('known');
    } finally {
      await other.close();
    }
  });

  it('refuses a block whose state root is wrong, and writes nothing', async () => {
    t = await createTestChain(1, [addressOf(sender)]);
    const good = await sealNext(t, [transfer(t, 0n, 1n)]);
    const other = await openTestChain(t.genesis);
    try {
      // Re-seal the same body with a tampered state root: seals are valid, execution is not.
      const { createBlock } = await import('@ethereumjs/block');
      const { sealBlock } = await import('../../../src/consensus/ibft/seal.js');
      const json = good.header.toJSON();
      const tampered = createBlock(
        { header: { ...json, stateRoot: hexToBytes(`0x${'11'.repeat(32)}`) }, transactions: good.transactions },
        { common: t.chain.commonAt(0n), skipConsensusFormatValidation: true },
      );
      const sealed = sealBlock(tampered, t.keys[0]!, [t.keys[0]!], t.chain.commonAt(0n));
      await expect(other.chain.importBlock(sealed)).rejects.toThrow(/block 1 is invalid/);
      expect(other.chain.head.number).toBe(0n);
      expect(await other.chain.blockByNumber(1n)).toBeUndefined();
      expect(other.chain.trie.pendingCount).toBe(0);
      expect(await other.chain.importBlock(good)).toBe('imported');
    } finally {
      await other.close();
    }
  });

  it('reopens a data dir at the same head, and refuses a different genesis', async () => {
    t = await createTestChain(1);
    await sealNext(t);
    await sealNext(t);
    const head = bytesToHex(t.chain.head.hash);
    await t.chain.close();
    for (const db of t.dbs) await db.close();
    const reopened = await openTestChain(t.genesis, t.dir);
    expect(bytesToHex(reopened.chain.head.hash)).toBe(head);
    expect(reopened.chain.head.number).toBe(2n);
    await reopened.close();
    const otherGenesis = { ...t.genesis, genesis: { ...t.genesis.genesis, gasLimit: '0x1c9c381' } };
    await expect(openTestChain(otherGenesis, t.dir)).rejects.toThrow(/genesis mismatch.*0x[0-9a-f]{64}.*0x[0-9a-f]{64}/);
    t = { ...t, close: async () => {} };
  });
});
