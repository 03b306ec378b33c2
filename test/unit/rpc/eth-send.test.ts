import { createLegacyTx } from '@ethereumjs/tx';
import { RLP } from '@ethereumjs/rlp';
import { bigIntToUnpaddedBytes, bytesToHex, hexToBytes } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressOf, createTestChain, secp256k1, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { RpcError } from '../../../src/rpc/jsonrpc/errors.js';
import { TxPool } from '../../../src/txpool/txpool.js';

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
