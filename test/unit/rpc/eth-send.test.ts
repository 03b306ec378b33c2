import { createLegacyTx } from '@ethereumjs/tx';
import { RLP } from '@ethereumjs/rlp';
import { bigIntToUnpaddedBytes, bytesToHex, hexToBytes } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addressOf, createTestChain, secp256k1, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { RpcError } from '../../../src/rpc/jsonrpc/errors.js';
import { TxPool } from '../../../src/txpool/txpool.js';

// Counts the decoder's calls: a transaction refused on its bounds must never reach it.
const decoded = vi.hoisted(() => ({ calls: 0 }));
vi.mock('../../../src/chain/ethereumjs-errors.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../src/chain/ethereumjs-errors.js')>();
  return { ...original, decodeTransaction: (...a: Parameters<typeof original.decodeTransaction>) => (decoded.calls++, original.decodeTransaction(...a)) };
});

const KEY = testKey(50);
let t: TestChain;

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(KEY)]);
});
afterAll(async () => {
  await t?.close();
});

/** A legacy transfer signed the pre-EIP-155 way: v = 27/28, no chain ID in the signed bytes. */
function unprotectedTransfer(nonce: bigint): string {
  const fields = [nonce, 10n ** 10n, 21_000n].map(bigIntToUnpaddedBytes);
  const to = hexToBytes(`0x${'33'.repeat(20)}`);
  const unsigned = [...fields, to, bigIntToUnpaddedBytes(1n), new Uint8Array(0)];
  const sig = secp256k1.sign(keccak256(RLP.encode(unsigned)), KEY);
  const tx = createLegacyTx(
    { nonce, gasPrice: 10n ** 10n, gasLimit: 21_000n, to, value: 1n, v: BigInt(27 + sig.recovery), r: sig.r, s: sig.s },
    { common: t.chain.commonAt(0n) },
  );
  expect(bytesToHex(tx.getSenderAddress().bytes)).toBe(addressOf(KEY).toLowerCase()); // a valid signature
  return bytesToHex(tx.serialize());
}

describe('eth_sendRawTransaction and replay protection', () => {
  it('refuses a legacy transaction without EIP-155 replay protection, naming the flag that allows it', async () => {
    const m = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain) });
    const err = await Promise.resolve(m.eth_sendRawTransaction!([unprotectedTransfer(0n)])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).message).toMatch(/only replay-protected \(EIP-155\) transactions allowed over RPC.*--allow-unprotected-txs/);
  });

  it('accepts it when the node allows unprotected transactions', async () => {
    const pool = new TxPool(t.chain);
    const m = ethMethods({ chain: t.chain, txpool: pool, allowUnprotectedTxs: true });
    const hash = (await m.eth_sendRawTransaction!([unprotectedTransfer(0n)])) as string;
    expect(pool.has(hexToBytes(hash as `0x${string}`))).toBe(true);
  });
});

/** The RLP header of a list whose payload is `length` bytes. */
function listHeader(length: number): number[] {
  if (length < 56) return [0xc0 + length];
  const digits: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) digits.unshift(n % 256);
  return [0xf7 + digits.length, ...digits];
}

/** A typed (0x02) envelope around a list of `items` one-byte items. */
function flatList(items: number): Uint8Array {
  const header = [2, ...listHeader(items)];
  const raw = new Uint8Array(header.length + items).fill(1);
  raw.set(header);
  return raw;
}

/** A typed (0x02) envelope around `depth` lists, each holding the next. */
function nestedLists(depth: number): Uint8Array {
  const headers: number[][] = [];
  for (let i = 0, inner = 0; i < depth; i++) {
    headers.push(listHeader(inner));
    inner += headers[i]!.length;
  }
  return Uint8Array.from([2, ...headers.reverse().flat()]);
}

describe('eth_sendRawTransaction and the bounds of a raw transaction', () => {
  const send = (raw: Uint8Array) =>
    Promise.resolve(ethMethods({ chain: t.chain, txpool: new TxPool(t.chain) }).eth_sendRawTransaction!([bytesToHex(raw)])).catch((e: unknown) => e);

  it('refuses a transaction over 128 KiB, as the pool words it, without decoding it', async () => {
    // 0x02 and a list of 2.5M one-byte items: the decoder spent 1.4 s making them before it refused the list
    decoded.calls = 0;
    const err = await send(flatList(2_500_000));
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).message).toBe('oversized data: transaction is larger than 131072 bytes');
    expect(decoded.calls).toBe(0);
  });

  it('refuses one within 128 KiB holding too many RLP items or lists nested too deep, without decoding it', async () => {
    decoded.calls = 0;
    const many = await send(flatList(100_000)); // no transaction holds more than ~34,000 items
    expect((many as RpcError).message).toBe('rlp: cannot decode transaction: more than 40000 RLP items');
    const deep = await send(nestedLists(20_000)); // 60 KB: the decoder overflowed its stack after 0.5 s
    expect(nestedLists(20_000).length).toBeLessThan(128 * 1024);
    expect((deep as RpcError).message).toBe('rlp: cannot decode transaction: lists nested deeper than 4');
    expect(decoded.calls).toBe(0);
    // the counter counts: a transaction within the bounds is decoded
    await send(hexToBytes(unprotectedTransfer(0n) as `0x${string}`));
    expect(decoded.calls).toBe(1);
  });
});
