import type { BlockHeader } from '@ethereumjs/block';
import { rmSync } from 'node:fs';
import { createFeeMarket1559Tx, createLegacyTx, type TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, createAddressFromString } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeIbftExtra, encodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { sealBlock } from '../../../src/consensus/ibft/seal.js';
import { mayFitLater } from '../../../src/chain/ethereumjs-errors.js';
import { addressOf, createTestChain, openTestChain, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { slowCall, slowGenesis } from '../../helpers/slow-contracts.js';

const senders = [testKey(30), testKey(31), testKey(32)];
const TO = '0x000000000000000000000000000000000000cafe';

/** The template of the block after `head`: proposed by the first validator, one second later, not sealed. */
function nextTemplate(head: BlockHeader) {
  const extra = decodeIbftExtra(head.extraData);
  return {
    coinbase: extra.validators[0]!,
    timestamp: head.timestamp + 1n,
    extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] }),
  };
}

describe('block building', () => {
  let t: TestChain | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('a build time limit stops taking transactions once spent (at least one is tried); the rest are neither included nor rejected', async () => {
    t = await createTestChain(1, senders.map(addressOf));
    const common = t.chain.commonAt(0n);
    const txs = Array.from({ length: 5 }, (_, n) =>
      createFeeMarket1559Tx(
        { nonce: BigInt(n), to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
        { common },
      ).sign(senders[0]!),
    );
    const head = t.chain.head.header;
    const template = nextTemplate(head);
    const spent = await t.chain.buildBlock(template, txs, 0);
    expect(spent.built.block.transactions.map((tx) => bytesToHex(tx.hash()))).toEqual([bytesToHex(txs[0]!.hash())]);
    expect(spent.built.rejected).toEqual([]);
    const unlimited = await t.chain.buildBlock(template, txs);
    expect(unlimited.built.block.transactions).toHaveLength(5);
  });

  it("a transaction that outlasts the build time is stopped there and left out ('too-slow'), its writes undone; the next block is built and re-executed elsewhere to the same root", async () => {
    const { genesis, keys } = slowGenesis(senders.map(addressOf));
    const opened = await openTestChain(genesis);
    const chain = opened.chain;
    try {
      const common = chain.commonAt(1n);
      const slow = slowCall(common, senders[0]!, 2_000_000n);
      const transfer = createFeeMarket1559Tx(
        { nonce: 0n, to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
        { common },
      ).sign(senders[1]!);
      const head = chain.head.header;
      const template = nextTemplate(head);
      // Unbounded, the slow transaction alone would run for tens of seconds (2M gas at ~0.05 Mgas/s).
      const spent = await chain.buildBlock(template, [slow, transfer], 300);
      expect(spent.built.rejected.map((r) => [bytesToHex(r.tx.hash()), r.kind])).toEqual([[bytesToHex(slow.hash()), 'too-slow']]);
      // The block's first transaction had twice the build time.
      expect(spent.built.rejected[0]!.reason).toMatch(/takes longer than the (59\d|600) ms a block's first transaction may/);
      expect(mayFitLater('too-slow')).toBe(false);
      expect(mayFitLater('out-of-time')).toBe(true);
      // The build time spent, the transfer waits; nothing of the slow one is in the state (its nonce, its gas, slot 0).
      expect(spent.built.block.transactions).toHaveLength(0);
      expect(bytesToHex(spent.built.block.header.stateRoot)).toBe(bytesToHex(head.stateRoot));
      // The executor is whole: the next block holds the transfer, and another node agrees on its root.
      const key = keys[0]!;
      const result = await chain.produceBlock(template, [transfer], async (built) => sealBlock(built.block, key, [key], common));
      expect(result!.block.transactions).toHaveLength(1);
      const other = await openTestChain(genesis);
      try {
        expect(await other.chain.importBlock(result!.block)).toBe('imported');
        expect(bytesToHex(other.chain.head.header.stateRoot)).toBe(bytesToHex(result!.block.header.stateRoot));
      } finally {
        await other.close();
        rmSync(other.dir, { recursive: true, force: true });
      }
    } finally {
      await opened.close();
      rmSync(opened.dir, { recursive: true, force: true });
    }
  });

  it("a proposal whose execution outlasts its check's time is refused, with nothing written; the same block committed is executed however long it takes", async () => {
    const { genesis, keys } = slowGenesis(senders.map(addressOf));
    const opened = await openTestChain(genesis);
    const chain = opened.chain;
    try {
      const common = chain.commonAt(1n);
      // ~60,000 gas of calls into CALLEE (about a second here); its loop ends out of gas, the transaction still mined.
      const slow = slowCall(common, senders[0]!, 60_000n);
      const head = chain.head.header;
      const built = await chain.buildBlock(nextTemplate(head), [slow]);
      expect(built.built.block.transactions).toHaveLength(1);
      const key = keys[0]!;
      const block = sealBlock(built.built.block, key, [key], common);
      await expect(chain.checkProposal(block, () => {}, 20)).rejects.toThrow(/execution took longer than the 20 ms a proposal's check may/);
      expect(chain.head.number).toBe(0n);
      expect(await chain.importBlock(block)).toBe('imported');
      expect(bytesToHex(chain.head.header.stateRoot)).toBe(bytesToHex(block.header.stateRoot));
      // And on disk, whole: the refused check left no checkpoint open to swallow the import's writes.
      await opened.close();
      const again = await openTestChain(genesis, opened.dir);
      try {
        const state = await again.chain.stateAt(again.chain.head.header);
        expect((await state.getAccount(createAddressFromString(addressOf(senders[0]!))))?.nonce).toBe(1n);
      } finally {
        await again.close();
      }
    } finally {
      await opened.close().catch(() => {});
      rmSync(opened.dir, { recursive: true, force: true });
    }
  });

  it("a block's trie writes grow with the accounts it changes, not with its transactions (the state is written once, at its end)", async () => {
    t = await createTestChain(1, senders.map(addressOf));
    const common = t.chain.commonAt(0n);
    const head = t.chain.head.header;
    const template = nextTemplate(head);
    const transfers = (rounds: bigint): TypedTransaction[] => {
      const txs: TypedTransaction[] = [];
      for (let n = 0n; n < rounds; n++) {
        for (const key of senders) {
          txs.push(
            createFeeMarket1559Tx(
              { nonce: n, to: TO, value: 1n, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
              { common },
            ).sign(key),
          );
        }
      }
      return txs;
    };
    // The same five accounts change in both blocks (three senders, the recipient, the fee recipient).
    const one = await t.chain.buildBlock(template, transfers(1n));
    const many = await t.chain.buildBlock(template, transfers(40n));
    expect(many.built.block.transactions).toHaveLength(120);
    expect(one.trieWrites.size).toBeGreaterThan(0);
    // Written per transaction, 120 transactions would write ~40 times the nodes of 3.
    expect(many.trieWrites.size).toBeLessThanOrEqual(one.trieWrites.size + 2);
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
    const key = t.keys[0]!;
    const result = await t.chain.produceBlock(nextTemplate(head), txs, async (built) => sealBlock(built.block, key, [key], common));
    const block = result!.block;
    expect(result!.built.rejected.map((r) => bytesToHex(r.tx.hash()))).toEqual([bytesToHex(gap.hash()), bytesToHex(broke.hash())]);
    // Classified where ethereumjs reports them: the gap may close, the transfer never pays.
    expect(result!.built.rejected.map((r) => r.kind)).toEqual(['nonce', 'invalid']);
    // The reason without the VM's context (whose "nonce=" and "baseFeePerGas=" once matched every error).
    expect(result!.built.rejected.map((r) => r.reason)).toEqual([
      "the tx doesn't have the correct nonce. account has nonce of: 4 tx has nonce of: 99",
      expect.stringMatching(/^sender doesn't have enough funds to send tx\. The upfront cost is: \d+ and the sender's account \(0x[0-9a-f]{40}\) only has: 0$/),
    ]);
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

  it("classifies what the builder leaves out from ethereumjs's own errors: a full block and a fee cap below the base fee may fit later", async () => {
    t = await createTestChain(1, senders.map(addressOf));
    const common = t.chain.commonAt(0n);
    const head = t.chain.head.header;
    const fee = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n };
    const first = createFeeMarket1559Tx({ nonce: 0n, to: TO, gasLimit: 21_000n, ...fee }, { common }).sign(senders[0]!);
    // The whole block's gas: it fits an empty block, not one with a transfer in it.
    const whole = createFeeMarket1559Tx({ nonce: 0n, to: TO, gasLimit: head.gasLimit, ...fee }, { common }).sign(senders[1]!);
    const cheap = createFeeMarket1559Tx({ nonce: 0n, to: TO, gasLimit: 21_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, chainId: 100n }, { common }).sign(
      senders[2]!,
    );
    const key = t.keys[0]!;
    const result = await t.chain.produceBlock(nextTemplate(head), [first, whole, cheap], async (built) => sealBlock(built.block, key, [key], common));
    expect(result!.built.rejected.map((r) => [bytesToHex(r.tx.hash()), r.kind])).toEqual([
      [bytesToHex(whole.hash()), 'block-full'],
      [bytesToHex(cheap.hash()), 'fee-below-base-fee'],
    ]);
    expect(result!.built.rejected.every((r) => mayFitLater(r.kind))).toBe(true);
    expect(mayFitLater('invalid')).toBe(false);
  });
});
