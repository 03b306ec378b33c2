import { createBlockFromRLP } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBlockRlp } from '../../../src/backup/block-records.js';
import { headerOpts } from '../../../src/chain/block-util.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { BackupFileError } from '../../../src/container/errors.js';
import { rlpPrefix } from '../../../src/util/rlp-spans.js';
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
    expect(() => decodeBlockRlp(deep, 1n, hash, common, 'archive')).toThrow(/block 1 in the archive cannot be decoded: RLP lists nest too deep/);
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
