import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, createTxFromRLP } from '@ethereumjs/tx';
import { Wallet } from 'ethers';
import { bytesToHex, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ethMethods, type RpcMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { RpcError } from '../../../src/rpc/jsonrpc/errors.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { SET_TOPIC, STORAGE_INITCODE, word } from '../../helpers/contracts.js';
import * as S from '../../helpers/rpc-schemas.js';

const KEY = testKey(60);
const SENDER = addressOf(KEY);
const OTHER = `0x${'42'.repeat(20)}`;
let t: TestChain;
let m: RpcMethods;
let pool: TxPool;
let contract: string;
let nonce = 0n;
const h: Record<string, string> = {};

const call = async (method: string, ...params: unknown[]): Promise<unknown> => m[method]!(params);
const fee = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n };

beforeAll(async () => {
  t = await createTestChain(1, [SENDER]);
  pool = new TxPool(t.chain);
  m = ethMethods({ chain: t.chain, txpool: pool });
  contract = bytesToHex(generateAddress(privateToAddress(KEY), new Uint8Array(0)));
  const common = t.chain.common;
  const deploy = createFeeMarket1559Tx({ nonce: nonce++, data: STORAGE_INITCODE, gasLimit: 200_000n, ...fee }, { common }).sign(KEY);
  await sealNext(t, [deploy]);
  const set1559 = createFeeMarket1559Tx({ nonce: nonce++, to: contract as `0x${string}`, data: hexToBytes(word(5n) as `0x${string}`), gasLimit: 100_000n, ...fee }, { common }).sign(KEY);
  const set2930 = createAccessList2930Tx({ nonce: nonce++, to: contract as `0x${string}`, data: hexToBytes(word(6n) as `0x${string}`), gasLimit: 100_000n, gasPrice: 10n ** 11n, chainId: 100n, accessList: [{ address: contract as `0x${string}`, storageKeys: [word(0n) as `0x${string}`] }] }, { common }).sign(KEY);
  const legacy155 = createLegacyTx({ nonce: nonce++, to: OTHER as `0x${string}`, value: 1n, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common }).sign(KEY);
  // Signed without a chain ID (v = 27/28), as ethers does for chainId 0.
  const pre155Raw = await new Wallet(bytesToHex(KEY)).signTransaction({ type: 0, chainId: 0, nonce: Number(nonce++), to: OTHER, value: 2n, gasLimit: 21_000n, gasPrice: 10n ** 11n });
  const pre155 = createTxFromRLP(hexToBytes(pre155Raw as `0x${string}`), { common });
  const b2 = await sealNext(t, [set1559, set2930, legacy155, pre155]);
  expect(b2.transactions).toHaveLength(4);
  Object.assign(h, { deploy: bytesToHex(deploy.hash()), set1559: bytesToHex(set1559.hash()), set2930: bytesToHex(set2930.hash()), legacy155: bytesToHex(legacy155.hash()), pre155: bytesToHex(pre155.hash()) });
  // One executable and one queued transaction in the pool.
  const pending = createFeeMarket1559Tx({ nonce: nonce, to: OTHER as `0x${string}`, value: 3n, gasLimit: 21_000n, ...fee }, { common }).sign(KEY);
  const queued = createFeeMarket1559Tx({ nonce: nonce + 2n, to: OTHER as `0x${string}`, value: 4n, gasLimit: 21_000n, ...fee }, { common }).sign(KEY);
  h.pending = (await call('eth_sendRawTransaction', bytesToHex(pending.serialize()))) as string;
  await call('eth_sendRawTransaction', bytesToHex(queued.serialize()));
});
afterAll(async () => {
  await t?.close();
});

const filterId = S.uint;
const callObj = () => ({ from: SENDER, to: contract, data: word(9n) });

/** Every method Basalt serves over HTTP, with valid params and the schema of its result. */
const CASES: Record<string, () => [unknown[], z.ZodType][]> = {
  web3_clientVersion: () => [[[], z.string()]],
  net_version: () => [[[], z.string().regex(/^[0-9]+$/)]],
  net_listening: () => [[[], z.boolean()]],
  net_peerCount: () => [[[], S.uint]],
  eth_chainId: () => [[[], S.uint]],
  eth_blockNumber: () => [[[], S.uint]],
  eth_syncing: () => [[[], S.syncing]],
  eth_accounts: () => [[[], z.array(S.address)]],
  eth_getBlockByNumber: () => [[['0x2', false], S.block], [['0x2', true], S.block], [['latest', true], S.block], [['0x0', false], S.block], [['0x99', false], z.null()]],
  eth_getBlockByHash: () => [[[h.blockHash, true], S.block], [[`0x${'00'.repeat(32)}`, false], z.null()]],
  eth_getBlockTransactionCountByNumber: () => [[['0x2'], S.uint]],
  eth_getBlockTransactionCountByHash: () => [[[h.blockHash], S.uint]],
  eth_getTransactionByHash: () => [[[h.set1559], S.tx1559], [[h.set2930], S.tx2930], [[h.legacy155], S.legacyTx], [[h.pre155], S.legacyTx], [[h.pending], S.tx1559], [[`0x${'00'.repeat(32)}`], z.null()]],
  eth_getTransactionByBlockNumberAndIndex: () => [[['0x2', '0x0'], S.transaction]],
  eth_getTransactionByBlockHashAndIndex: () => [[[h.blockHash, '0x1'], S.transaction]],
  eth_getTransactionReceipt: () => [[[h.deploy], S.receipt], [[h.set1559], S.receipt], [[h.pre155], S.receipt]],
  eth_getBlockReceipts: () => [[['0x2'], z.array(S.receipt).length(4)], [['0x99'], z.null()]],
  eth_getRawTransactionByHash: () => [[[h.set2930], S.bytes], [[h.pending], S.bytes], [[`0x${'00'.repeat(32)}`], z.null()]],
  eth_sendRawTransaction: () => [],
  eth_getBalance: () => [[[SENDER, 'latest'], S.uint]],
  eth_getTransactionCount: () => [[[SENDER, 'latest'], S.uint], [[SENDER, 'pending'], S.uint]],
  eth_getCode: () => [[[contract, 'latest'], S.bytes]],
  eth_getStorageAt: () => [[[contract, '0x0', 'latest'], S.hash32]],
  eth_call: () => [[[callObj(), 'latest'], S.bytes]],
  eth_estimateGas: () => [[[callObj()], S.uint]],
  eth_createAccessList: () => [[[callObj(), 'latest'], S.accessListResult]],
  eth_getProof: () => [[[contract, [word(0n)], 'latest'], S.proof], [[OTHER, [], 'latest'], S.proof]],
  eth_gasPrice: () => [[[], S.uint]],
  eth_maxPriorityFeePerGas: () => [[[], S.uint]],
  eth_feeHistory: () => [[['0x2', 'latest', [50]], S.feeHistory]],
  eth_getLogs: () => [[[{ fromBlock: '0x0', toBlock: 'latest', address: contract }], z.array(S.log).length(2)]],
  eth_newFilter: () => [[[{ fromBlock: '0x0' }], filterId]],
  eth_newBlockFilter: () => [[[], filterId]],
  eth_newPendingTransactionFilter: () => [[[], filterId]],
  eth_getFilterChanges: () => [],
  eth_getFilterLogs: () => [],
  eth_uninstallFilter: () => [],
  debug_traceTransaction: () => [[[h.set1559], z.object({ gas: z.number(), failed: z.boolean(), returnValue: z.string(), structLogs: z.array(z.object({ pc: z.number(), op: z.string(), gas: z.number(), gasCost: z.number(), depth: z.number() })) })]],
  debug_traceBlockByNumber: () => [[['0x2', { tracer: 'callTracer' }], z.array(z.strictObject({ txHash: S.hash32, result: z.object({ type: z.string(), from: S.address }) })).length(4)]],
  debug_traceBlockByHash: () => [[[h.blockHash, { tracer: 'callTracer' }], z.array(z.object({ txHash: S.hash32 }))]],
  debug_traceCall: () => [[[callObj(), 'latest', { tracer: 'callTracer' }], z.object({ type: z.literal('CALL'), gasUsed: S.uint })]],
  txpool_status: () => [[[], S.txpoolStatus]],
  txpool_content: () => [[[], S.txpoolContent]],
  txpool_inspect: () => [[[], S.txpoolInspect]],
};

describe('every served method answers in the execution-apis shape', () => {
  it('has a case for each method served', () => {
    expect(Object.keys(m).filter((name) => !(name in CASES))).toEqual([]);
  });

  it.each(Object.keys(CASES))('%s', async (method) => {
    h.blockHash ??= ((await call('eth_getBlockByNumber', '0x2', false)) as { hash: string }).hash;
    for (const [params, schema] of CASES[method]!()) {
      const result = await call(method, ...params);
      const parsed = schema.safeParse(JSON.parse(JSON.stringify(result)));
      if (!parsed.success) throw new Error(`${method}(${JSON.stringify(params)}): ${z.prettifyError(parsed.error)}\n${JSON.stringify(result).slice(0, 800)}`);
    }
  });
});

describe('fixes found by the schemas', () => {
  it('transactions carry blockTimestamp; a pre-EIP-155 transaction carries no chainId', async () => {
    const mined = (await call('eth_getTransactionByHash', h.set1559)) as { blockTimestamp: string; blockNumber: string; chainId: string };
    const block = (await call('eth_getBlockByNumber', mined.blockNumber, false)) as { timestamp: string };
    expect(mined.blockTimestamp).toBe(block.timestamp);
    expect(mined.chainId).toBe('0x64');
    const pre = (await call('eth_getTransactionByHash', h.pre155)) as Record<string, unknown>;
    expect(pre.v === '0x1b' || pre.v === '0x1c').toBe(true);
    expect(JSON.parse(JSON.stringify(pre)).chainId).toBeUndefined();
    expect(((await call('eth_getTransactionByHash', h.legacy155)) as { chainId: string }).chainId).toBe('0x64');
  });

  it('filter IDs have no leading zero, and one written with a leading zero is still found', async () => {
    for (let i = 0; i < 64; i++) {
      const id = (await call('eth_newBlockFilter')) as string;
      expect(id).toMatch(/^0x[1-9a-f][0-9a-f]*$/);
      expect(await call('eth_getFilterChanges', `0x0${id.slice(2)}`)).toEqual([]);
    }
  });

  it('a transaction for another chain is refused in plain words', async () => {
    const foreign = await new Wallet(bytesToHex(KEY)).signTransaction({ type: 2, chainId: 5, nonce: 0, to: OTHER, gasLimit: 21_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n });
    const err = await Promise.resolve(call('eth_sendRawTransaction', foreign)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).message).toBe('invalid chain id for signer: this chain is 100');
  });

  it('txpool_* report the executable and the queued transaction', async () => {
    expect(await call('txpool_status')).toEqual({ pending: '0x1', queued: '0x1' });
    const inspect = (await call('txpool_inspect')) as { pending: Record<string, Record<string, string>>; queued: Record<string, Record<string, string>> };
    const [sender] = Object.keys(inspect.pending);
    expect(sender!.toLowerCase()).toBe(SENDER);
    expect(inspect.pending[sender!]).toEqual({ [String(nonce)]: `0x4242424242424242424242424242424242424242: 3 wei + 21000 gas × ${10n ** 11n} wei` });
    expect(Object.keys(inspect.queued[sender!]!)).toEqual([String(nonce + 2n)]);
  });

  it('eth_createAccessList lists the slots a call touches and its gas with them; eth_getProof proves the stored slot', async () => {
    const r = (await call('eth_createAccessList', { from: SENDER, to: contract, data: word(9n) }, 'latest')) as { accessList: unknown[]; gasUsed: string };
    // The recipient is left out (as geth), so nothing is listed for this contract.
    expect(r.accessList).toEqual([]);
    const proof = (await call('eth_getProof', contract, [word(0n)], 'latest')) as { storageProof: { value: string }[]; accountProof: string[] };
    expect(proof.storageProof[0]!.value).toBe('0x6');
    expect(proof.accountProof.length).toBeGreaterThan(0);
    expect(bytesToHex(SET_TOPIC)).toMatch(/^0x/);
  });
});
