import { createAccessList2930Tx, createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { STORAGE_INITCODE, word } from '../../helpers/contracts.js';
import { ethMethods, type RpcMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { TxPool } from '../../../src/txpool/txpool.js';

const KEY = testKey(50);
const FROM = addressOf(KEY);
let t: TestChain;
let m: RpcMethods;
let contract: `0x${string}`;
let nonce = 0n;
const fees = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n };

const estimate = async (req: Record<string, unknown>) => BigInt((await m.eth_estimateGas!([{ from: FROM, ...req }])) as string);
/** Seal one transaction and return its receipt's status and gas used. */
async function mined(tx: TypedTransaction) {
  const block = await sealNext(t, [tx]);
  const r = (await t.chain.receipts(block.header.number, t.chain.head.hash))![0]!;
  return { status: r.status, gasUsed: r.cumulativeGasUsed };
}
const write = (v: bigint, gasLimit: bigint) =>
  createFeeMarket1559Tx({ nonce: nonce++, to: contract, data: hexToBytes(word(v) as `0x${string}`), gasLimit, ...fees }, { common: t.chain.commonAt(0n) }).sign(
    KEY,
  );

beforeAll(async () => {
  t = await createTestChain(1, [FROM]);
  m = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain) });
  contract = bytesToHex(generateAddress(privateToAddress(KEY), new Uint8Array(0)));
  await sealNext(t, [
    createFeeMarket1559Tx({ nonce: nonce++, data: STORAGE_INITCODE, gasLimit: 500_000n, ...fees }, { common: t.chain.commonAt(0n) }).sign(KEY),
  ]);
  await sealNext(t, [write(42n, 100_000n)]);
});
afterAll(async () => {
  await t?.close();
});

describe('eth_estimateGas', () => {
  it('gives the exact gas a transaction needs: one less fails', async () => {
    const data = word(9n);
    const gas = await estimate({ to: contract, data });
    expect(await estimate({ to: contract, data })).toBe(gas); // nothing stays warm between runs
    expect(await mined(write(9n, gas - 1n))).toEqual({ status: 0, gasUsed: gas - 1n });
    expect(await estimate({ to: contract, data: word(10n) })).toBe(gas);
    expect(await mined(write(10n, gas))).toEqual({ status: 1, gasUsed: gas });
  });

  it('charges and warms an access list as the transaction will', async () => {
    const accessList = [{ address: contract, storageKeys: [word(0n)] }];
    const plain = await estimate({ to: contract, data: word(11n) });
    const gas = await estimate({ to: contract, data: word(11n), accessList });
    expect(gas - plain).toBe(2400n + 1900n - 2100n); // list cost, less the cold-slot surcharge of the SSTORE
    const tx = createAccessList2930Tx(
      {
        nonce: nonce++,
        to: contract,
        data: hexToBytes(word(11n) as `0x${string}`),
        gasLimit: gas,
        gasPrice: 10n ** 11n,
        chainId: 100n,
        accessList: [{ address: contract, storageKeys: [word(0n) as `0x${string}`] }],
      },
      { common: t.chain.commonAt(0n) },
    ).sign(KEY);
    expect(await mined(tx)).toEqual({ status: 1, gasUsed: gas });
  });

  it('estimates a plain transfer at 21,000 and refuses a malformed access list', async () => {
    expect(await estimate({ to: `0x${'12'.repeat(20)}`, value: '0x1' })).toBe(21_000n);
    await expect(m.eth_estimateGas!([{ to: contract, accessList: [{ address: '0x12' }] }])).rejects.toMatchObject({ code: -32602 });
  });
});
