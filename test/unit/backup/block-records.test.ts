import { createBlockFromRLP } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBlockRlp } from '../../../src/backup/block-records.js';
import { headerOpts } from '../../../src/chain/block-util.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { BackupFileError } from '../../../src/container/errors.js';
import {
  checkBlockRlp,
  MAX_BLOCK_ITEMS,
  MAX_BLOCK_RECEIPTS_BYTES,
  MAX_BLOCK_TX_BYTES,
  MAX_BLOCK_WITH_RECEIPTS_BYTES,
  MAX_HEADER_RLP_BYTES,
  txBlockItems,
} from '../../../src/util/rlp-bounds.js';
import { MessageType } from '../../../src/consensus/ibft/core/messages.js';
import { signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { MAX_IBFT_GOSSIP_BYTES } from '../../../src/p2p/messages.js';
import { rlpPrefix, rlpStringPair } from '../../../src/util/rlp-spans.js';
import { verifyContents } from '../../../src/backup/restore.js';
import { encodeReceipts } from '../../../src/storage/receipts.js';
import type { BuiltBlock } from '../../../src/chain/executor.js';
import { decodeIbftExtra, encodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const SENDER = testKey(9);
let t: TestChain;
let record: Uint8Array;
let hash: Uint8Array;

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(SENDER)]);
  const common = t.chain.commonAt(1n);
  const to = `0x${'ab'.repeat(20)}` as const;
  // One transaction of each encoding: a legacy one (a list in the block's transaction list) and a typed one (a string).
  const legacy = createLegacyTx({ nonce: 0n, to, value: 1n, gasLimit: 21000n, gasPrice: 10n ** 10n }, { common }).sign(SENDER);
  const typed = createFeeMarket1559Tx(
    { nonce: 1n, to, value: 2n, gasLimit: 30000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n, data: Uint8Array.of(1, 2, 3) },
    { common },
  ).sign(SENDER);
  const block = await sealNext(t, [legacy, typed]);
  record = block.serialize();
  hash = blockHash(block.header);
}, 60_000);

afterAll(() => t.close());

/** The block the chain builds on its head from `txs` (as a proposer does), not committed. */
async function buildOnly(txs: Parameters<TestChain['chain']['produceBlock']>[1]): Promise<BuiltBlock> {
  let built: BuiltBlock | undefined;
  const head = t.chain.head.header;
  await t.chain.produceBlock(
    {
      coinbase: head.coinbase.bytes,
      timestamp: head.timestamp + 1n,
      extraData: encodeIbftExtra({ ...decodeIbftExtra(head.extraData), proposerSeal: new Uint8Array(0), committedSeals: [] }),
    },
    txs,
    async (b) => {
      built = b;
      return undefined; // not committed
    },
  );
  return built!;
}

describe("a backup's block record, decoded", () => {
  it('gives the block createBlockFromRLP gives, which keeps nothing of the record', () => {
    const bytes = record.slice();
    const block = decodeBlockRlp(bytes, 1n, hash, t.chain.commonAt(1n), 'snapshot');
    const expected = createBlockFromRLP(record, headerOpts(t.chain.commonAt(1n)));
    expect(block.serialize()).toEqual(expected.serialize());
    expect(block.transactions.map((tx) => bytesToHex(tx.hash()))).toEqual(expected.transactions.map((tx) => bytesToHex(tx.hash())));
    // The values were read as views of the record; the block copied what it keeps.
    bytes.fill(0);
    expect(block.serialize()).toEqual(record);
    expect(bytesToHex(block.transactions[1]!.data)).toBe('0x010203');
  });

  it('refuses, in one line, a record that is not the block its hash names or not canonical RLP', () => {
    const common = t.chain.commonAt(1n);
    const [header, txs, uncles] = RLP.decode(record) as [Uint8Array[], unknown[], unknown[]];
    // The gas limit with a leading zero: a header that decodes, but whose bytes are not what the hash is of.
    const padded = RLP.encode([header.map((f, i) => (i === 9 ? Uint8Array.from([0, ...f]) : f)), txs, uncles] as never);
    expect(() => decodeBlockRlp(padded, 1n, hash, common, 'snapshot')).toThrow(BackupFileError);
    // Another block's hash stated.
    expect(() => decodeBlockRlp(record, 1n, new Uint8Array(32), common, 'backup')).toThrow(/block 1 hashes to 0x[0-9a-f]{64}, but its backup record states/);
    // A header field that is a list (@ethereumjs would read a list of bytes as one value).
    const listField = RLP.encode([header.map((f, i) => (i === 9 ? [f] : f)), txs, uncles] as never);
    expect(() => decodeBlockRlp(listField, 1n, hash, common, 'snapshot')).toThrow(/cannot be decoded: a header field is a list/);
    // A transaction list nested deeper than any block's.
    const deep = RLP.encode([header, [[[[Uint8Array.of(1)]]]], uncles] as never);
    expect(() => decodeBlockRlp(deep, 1n, hash, common, 'archive')).toThrow(/block 1 in the archive cannot be decoded: lists nested deeper than 3/);
    // The header's number (1) given a prefix, 0x81 0x01: RLP.decode refuses it, and so does this.
    const relist = (parts: Uint8Array[]) => {
      const payload = Uint8Array.from(parts.flatMap((p) => [...p]));
      return Uint8Array.from([...rlpPrefix(payload.length, true), ...payload]);
    };
    const fields = header.map((f) => RLP.encode(f));
    expect(fields[8]).toEqual(Uint8Array.of(0x01));
    fields[8] = Uint8Array.of(0x81, 0x01);
    const prefixed = relist([relist(fields), RLP.encode(txs as never), RLP.encode(uncles as never)]);
    expect(() => RLP.decode(prefixed)).toThrow(/single byte < 0x80/);
    expect(() => decodeBlockRlp(prefixed, 1n, hash, common, 'snapshot')).toThrow(/cannot be decoded: RLP prefixes a single byte under 0x80/);
    // The block's record cut short.
    expect(() => decodeBlockRlp(record.subarray(0, record.length - 1), 1n, hash, common, 'snapshot')).toThrow(/cannot be decoded/);
  });
});

/** An RLP list of `n` one-byte items (0x01): a few bytes an item, what a hostile peer or file sends to make a decoder build millions of objects. */
function manyItems(n: number, typedPrefix?: number): Uint8Array {
  const list = Uint8Array.from([...rlpPrefix(n, true), ...new Uint8Array(n).fill(1)]);
  if (typedPrefix === undefined) return list;
  // a typed transaction: a string of its type and a payload list
  const payload = Uint8Array.from([typedPrefix, ...list]);
  return Uint8Array.from([...rlpPrefix(payload.length, false), ...payload]);
}
const relist = (parts: Uint8Array[]) => {
  const payload = Uint8Array.from(parts.flatMap((p) => [...p]));
  return Uint8Array.from([...rlpPrefix(payload.length, true), ...payload]);
};

describe('blocks from outside: a bounded number of items, refused before they are made (issue #19, hostile inputs)', () => {
  it('refuses a block whose transaction list, or a typed transaction in it, holds more items than any block may, before decoding it', () => {
    const common = t.chain.commonAt(1n);
    const [header] = RLP.decode(record) as [Uint8Array[]];
    const headerRlp = RLP.encode(header);
    const items = MAX_BLOCK_ITEMS * 3; // 300 KB of one-byte items: ~30 MB of views if they were made
    const flat = relist([headerRlp, manyItems(items), Uint8Array.of(0xc0)]);
    expect(() => decodeBlockRlp(flat, 1n, hash, common, 'snapshot')).toThrow(/block 1 in the snapshot cannot be decoded: too many items/);
    const typed = relist([headerRlp, relist([manyItems(items, 2)]), Uint8Array.of(0xc0)]);
    expect(() => decodeBlockRlp(typed, 1n, hash, common, 'backup')).toThrow(/block 1 in the backup cannot be decoded: too many items/);
    // the block itself is well within it
    expect(() => checkBlockRlp(record)).not.toThrow();
  });

  it('reads a [block, receipts] pair by its spans: two strings and nothing else', () => {
    const pair = RLP.encode([record, Uint8Array.of(0xc0)]);
    const [b, r] = rlpStringPair(pair);
    expect(b).toEqual(record);
    expect(r).toEqual(Uint8Array.of(0xc0));
    pair.fill(0); // copies, not views of the message
    expect(b).toEqual(record);
    for (const bad of [
      RLP.encode([record]),
      RLP.encode([record, Uint8Array.of(1), Uint8Array.of(2)]),
      RLP.encode([record, [Uint8Array.of(1)]] as never),
      RLP.encode(record),
      manyItems(2_000_000),
    ]) {
      expect(() => rlpStringPair(bad)).toThrow(/not a list of two strings/);
    }
    expect(() => rlpStringPair(Uint8Array.from([...pair, 0]))).toThrow();
  });

  it("checks a block's receipts against the gas its header says was used, before decoding them", async () => {
    const block = decodeBlockRlp(record, 1n, hash, t.chain.commonAt(1n), 'snapshot');
    const stored = (await t.chain.receipts(1n, hash))!;
    expect(await verifyContents(block, encodeReceipts(stored))).toEqual(stored);
    // 2 transfers (42,000 gas): a few hundred items at most; a million one-byte items are refused unread
    await expect(verifyContents(block, manyItems(1_000_000))).rejects.toThrow(/block 1 in the snapshot: receipts cannot be decoded: too many items/);
  });

  it('builds no block of more items than every node decodes: a transaction past the limit waits for a later block', async () => {
    const common = t.chain.commonAt(2n);
    const to = `0x${'cd'.repeat(20)}` as const;
    const txs = Array.from({ length: 6 }, (_, i) =>
      createFeeMarket1559Tx(
        { nonce: 2n + BigInt(i), to, value: 1n, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
        { common },
      ).sign(SENDER),
    );
    const each = txBlockItems(txs[0]!.serialize(), true);
    const executor = (t.chain as unknown as { executor: { maxBlockItems: number } }).executor;
    const cap = 64 + 3 * each; // room for three
    executor.maxBlockItems = cap;
    let built: BuiltBlock | undefined;
    try {
      built = await buildOnly(txs);
    } finally {
      executor.maxBlockItems = MAX_BLOCK_ITEMS;
    }
    expect(built!.block.transactions).toHaveLength(3);
    expect(built!.rejected.map((r) => r.kind)).toEqual(['block-full', 'block-full', 'block-full']);
    // what it built, a reader with the same limit decodes: the builder's count bounds the readers'
    const used = checkBlockRlp(built!.block.serialize(), cap);
    expect(used).toBeGreaterThan(3 * each);
    expect(used).toBeLessThanOrEqual(64 + 3 * each);
  });

  it('builds no block whose receipts a backup cannot hold: a transaction starts only where every log its gas pays for still fits', async () => {
    // A block with its receipts is one record of every backup format: the receipts' share leaves room for the rest.
    expect(MAX_BLOCK_RECEIPTS_BYTES + MAX_BLOCK_TX_BYTES + MAX_HEADER_RLP_BYTES).toBeLessThan(MAX_BLOCK_WITH_RECEIPTS_BYTES);
    const common = t.chain.commonAt(2n);
    const to = `0x${'cd'.repeat(20)}` as const;
    const tx = (i: number, gasLimit: bigint) =>
      createFeeMarket1559Tx(
        { nonce: 2n + BigInt(i), to, value: 1n, gasLimit, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
        { common },
      ).sign(SENDER);
    const executor = (t.chain as unknown as { executor: { maxBlockReceiptBytes: number } }).executor;
    // 21,000 gas pays for 2,625 bytes of log data; a transfer's receipt counts 32 bytes: room for three
    executor.maxBlockReceiptBytes = 2_625 + 32 + 2 * 32;
    let built: BuiltBlock | undefined;
    try {
      built = await buildOnly([tx(0, 21_000n), tx(1, 21_000n), tx(2, 21_000n), tx(3, 21_000n), tx(4, 100_000n)]);
    } finally {
      executor.maxBlockReceiptBytes = MAX_BLOCK_RECEIPTS_BYTES;
    }
    expect(built!.block.transactions).toHaveLength(3);
    expect(built!.rejected.map((r) => [r.kind, r.reason])).toEqual([
      ['block-full', "the block's receipts hold 96 of their 2721 bytes"],
      ['invalid', "gas limit 100000 pays for more logs than a block's 2721 bytes of receipts may hold"],
    ]);
  });

  it('builds no block whose proposal the other validators cannot receive: at most 3 MiB of transactions, the rest wait', async () => {
    const common = t.chain.commonAt(2n);
    const to = `0x${'cd'.repeat(20)}` as const;
    // zero bytes cost 4 gas each: 40 transactions of ~128 KiB fit 30M gas and make 5.2 MB
    const data = new Uint8Array(130_000);
    const txs = Array.from({ length: 40 }, (_, i) =>
      createFeeMarket1559Tx(
        {
          nonce: 2n + BigInt(i),
          to,
          value: 1n,
          gasLimit: 21_000n + 4n * BigInt(data.length),
          maxFeePerGas: 10n ** 10n,
          maxPriorityFeePerGas: 1n,
          chainId: 100n,
          data,
        },
        { common },
      ).sign(SENDER),
    );
    const built = await buildOnly(txs);
    const each = txs[0]!.serialize().length;
    expect(built!.block.transactions).toHaveLength(Math.floor(MAX_BLOCK_TX_BYTES / each));
    expect(new Set(built!.rejected.map((r) => r.kind))).toEqual(new Set(['block-full']));
    // its proposal, with a round-change certificate of a hundred validators beside it, is one IBFT message
    const rcs = Array.from({ length: 100 }, () => new Uint8Array(110 + 70 * 150));
    const pp = signMessage({ type: MessageType.Preprepare, height: 2n, round: 1, block: built!.block.serialize(), roundChanges: rcs }, SENDER);
    expect(pp.length).toBeLessThanOrEqual(MAX_IBFT_GOSSIP_BYTES);
  });
});
