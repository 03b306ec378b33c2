import { RLP } from '@ethereumjs/rlp';
import { describe, expect, it } from 'vitest';
import * as schema from '../../../src/storage/schema.js';
import { decodeReceipts, encodeReceipts, type StoredReceipt } from '../../../src/storage/receipts.js';

describe('storage schema', () => {
  it('encodes block numbers big-endian so keys sort by number', () => {
    const nums = [0n, 1n, 255n, 256n, 65_536n, 2n ** 40n, 2n ** 64n - 1n];
    for (const n of nums) expect(schema.decodeBlockNumber(schema.encodeBlockNumber(n))).toBe(n);
    const keys = nums.map((n) => Buffer.from(schema.canonicalHashKey(n)));
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted).toEqual(keys);
    expect(() => schema.encodeBlockNumber(-1n)).toThrow(RangeError);
    expect(() => schema.encodeBlockNumber(2n ** 64n)).toThrow(RangeError);
    expect(() => schema.decodeBlockNumber(new Uint8Array(7))).toThrow(/corrupt/);
  });

  it('gives every record kind its own prefix', () => {
    const hash = new Uint8Array(32).fill(9);
    const keys = [
      schema.headerKey(5n, hash),
      schema.bodyKey(5n, hash),
      schema.receiptsKey(5n, hash),
      schema.hashToNumberKey(hash),
      schema.canonicalHashKey(5n),
      schema.txLookupKey(hash),
    ];
    expect(new Set(keys.map((k) => k[0])).size).toBe(keys.length);
    expect(schema.headerKey(5n, hash)).toHaveLength(1 + 8 + 32);
  });

  it('round-trips a state size at the limits, and refuses one it could not read back', () => {
    const root = new Uint8Array(32).fill(3);
    const zero = { root, number: 0n, order: 'tree' as const, nodes: 0, nodeBytes: 0, codes: 0, codeBytes: 0 };
    for (const n of [0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      for (const order of ['tree', 'unique'] as const) {
        const size = { root, number: BigInt(n) * 3n, order, nodes: n, nodeBytes: n, codes: n, codeBytes: n };
        expect(schema.decodeStateSize(schema.encodeStateSize(size))).toEqual(size);
      }
    }
    expect(() => schema.encodeStateSize({ ...zero, nodes: -1 })).toThrow(/not a count/);
    expect(() => schema.encodeStateSize({ ...zero, codeBytes: 1.5 })).toThrow(/not a count/);
    expect(() => schema.encodeStateSize({ ...zero, root: new Uint8Array(31) })).toThrow(/root of 31 bytes/);
    expect(() => schema.decodeStateSize(new Uint8Array(64))).toThrow(/64 bytes, not 73/);
    const huge = new Uint8Array(73).fill(0xff);
    expect(() => schema.decodeStateSize(huge)).toThrow(/counts/);
    const order = schema.encodeStateSize(zero);
    order[72] = 2;
    expect(() => schema.decodeStateSize(order)).toThrow(/order 2/);
  });

  it('round-trips transaction lookups and receipts', () => {
    const l = { blockNumber: 123_456_789n, index: 77 };
    expect(schema.decodeTxLookup(schema.encodeTxLookup(l))).toEqual(l);
    expect(() => schema.decodeTxLookup(new Uint8Array(11))).toThrow(/corrupt/);
    const receipts: StoredReceipt[] = [
      { status: 1, cumulativeGasUsed: 21_000n, logs: [] },
      { status: 0, cumulativeGasUsed: 90_000n, logs: [[new Uint8Array(20).fill(1), [new Uint8Array(32).fill(2)], Uint8Array.of(1, 2, 3)]] },
    ];
    expect(decodeReceipts(encodeReceipts(receipts))).toEqual(receipts);
  });

  it('refuses receipts of another shape in one line (a peer or a file sends them): never a TypeError later', () => {
    const enc = (v: unknown) => RLP.encode(v as Uint8Array);
    const address = new Uint8Array(20);
    const cases: [unknown, RegExp][] = [
      [Uint8Array.of(1), /^receipts are not a list$/],
      [[[Uint8Array.of(1), Uint8Array.of(2)]], /^receipt 0 is not \[status, cumulativeGasUsed, logs\]$/],
      [[[Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(1)]], /^receipt 0 is not \[status, cumulativeGasUsed, logs\]$/],
      [[[Uint8Array.of(1, 1), Uint8Array.of(2), []]], /^receipt 0 is not/],
      [[[Uint8Array.of(1), new Uint8Array(33), []]], /^receipt 0 is not/],
      [[[Uint8Array.of(1), Uint8Array.of(2), [[new Uint8Array(19), [], new Uint8Array(0)]]]], /^a log of receipt 0 is not \[address, \[topic…\], data\]$/],
      [[[Uint8Array.of(1), Uint8Array.of(2), [[address, [new Uint8Array(31)], new Uint8Array(0)]]]], /^a log of receipt 0 is not/],
      [[[Uint8Array.of(1), Uint8Array.of(2), [[address, new Uint8Array(0), new Uint8Array(0)]]]], /^a log of receipt 0 is not/],
      [[[Uint8Array.of(1), Uint8Array.of(2), [[address, [], []]]]], /^a log of receipt 0 is not/],
    ];
    for (const [value, message] of cases) expect(() => decodeReceipts(enc(value))).toThrow(message);
  });
});
