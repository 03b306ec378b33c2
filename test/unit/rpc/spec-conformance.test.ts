import { createAccessList2930Tx, createEOACode7702Tx, createFeeMarket1559Tx, createLegacyTx, createTxFromRLP } from '@ethereumjs/tx';
import { Wallet } from 'ethers';
import { bytesToHex, eoaCode7702SignAuthorization, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
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
  const common = t.chain.commonAt(0n);
  const deploy = createFeeMarket1559Tx({ nonce: nonce++, data: STORAGE_INITCODE, gasLimit: 200_000n, ...fee }, { common }).sign(KEY);
  await sealNext(t, [deploy]);
  const set1559 = createFeeMarket1559Tx(
    { nonce: nonce++, to: contract as `0x${string}`, data: hexToBytes(word(5n) as `0x${string}`), gasLimit: 100_000n, ...fee },
    { common },
  ).sign(KEY);
  const set2930 = createAccessList2930Tx(
    {
      nonce: nonce++,
      to: contract as `0x${string}`,
      data: hexToBytes(word(6n) as `0x${string}`),
      gasLimit: 100_000n,
      gasPrice: 10n ** 11n,
      chainId: 100n,
      accessList: [{ address: contract as `0x${string}`, storageKeys: [word(0n) as `0x${string}`] }],
    },
    { common },
  ).sign(KEY);
  const legacy155 = createLegacyTx({ nonce: nonce++, to: OTHER as `0x${string}`, value: 1n, gasLimit: 21_000n, gasPrice: 10n ** 11n }, { common }).sign(KEY);
  // Signed without a chain ID (v = 27/28), as ethers does for chainId 0.
  const pre155Raw = await new Wallet(bytesToHex(KEY)).signTransaction({
    type: 0,
    chainId: 0,
    nonce: Number(nonce++),
    to: OTHER,
    value: 2n,
    gasLimit: 21_000n,
    gasPrice: 10n ** 11n,
  });
  const pre155 = createTxFromRLP(hexToBytes(pre155Raw as `0x${string}`), { common });
  // A set-code transaction whose authorization has chain ID 0 and nonce 0 (both zero quantities).
  const authorization = eoaCode7702SignAuthorization({ chainId: '0x0', address: contract as `0x${string}`, nonce: '0x0' }, testKey(61));
  const setCode = createEOACode7702Tx(
    { nonce: nonce++, to: OTHER as `0x${string}`, gasLimit: 100_000n, authorizationList: [authorization], ...fee },
    { common },
  ).sign(KEY);
  const b2 = await sealNext(t, [set1559, set2930, legacy155, pre155, setCode]);
  expect(b2.transactions).toHaveLength(5);
  Object.assign(h, {
    deploy: bytesToHex(deploy.hash()),
    set1559: bytesToHex(set1559.hash()),
    set2930: bytesToHex(set2930.hash()),
    legacy155: bytesToHex(legacy155.hash()),
    pre155: bytesToHex(pre155.hash()),
    setCode: bytesToHex(setCode.hash()),
  });
  // One executable and one queued transaction in the pool.
  const pending = createFeeMarket1559Tx({ nonce: nonce, to: OTHER as `0x${string}`, value: 3n, gasLimit: 21_000n, ...fee }, { common }).sign(KEY);
  const queued = createFeeMarket1559Tx({ nonce: nonce + 2n, to: OTHER as `0x${string}`, value: 4n, gasLimit: 21_000n, ...fee }, { common }).sign(KEY);
  h.pending = (await call('eth_sendRawTransaction', bytesToHex(pending.serialize()))) as string;
  h.queued = (await call('eth_sendRawTransaction', bytesToHex(queued.serialize()))) as string;
  h.logFilter = (await call('eth_newFilter', { fromBlock: '0x0', address: contract })) as string;
  h.blockFilter = (await call('eth_newBlockFilter')) as string;
  h.doomedFilter = (await call('eth_newBlockFilter')) as string;
});
afterAll(async () => {
  await t?.close();
});

const filterId = S.uint;
const filterResults = z.union([z.array(S.hash32), z.array(S.log)]);
const callObj = () => ({ from: SENDER, to: contract, data: word(9n) });

/** Every method Basalt serves over HTTP, with valid params and the schema of its result (execution-apis' where it defines the method). */
const CASES: Record<string, () => [unknown[], z.ZodType][]> = {
  web3_clientVersion: () => [[[], z.string()]],
  net_version: () => [[[], S.uintDecimal]],
  net_listening: () => [[[], z.boolean()]],
  net_peerCount: () => [[[], S.uint]],
  eth_chainId: () => [[[], S.uint]],
  eth_blockNumber: () => [[[], S.uint]],
  eth_syncing: () => [[[], S.syncing]],
  eth_accounts: () => [[[], z.array(S.address)]],
  eth_getBlockByNumber: () => [
    [['0x2', false], S.block],
    [['0x2', true], S.block],
    [['latest', true], S.block],
    [['0x0', false], S.block],
    [['0x99', false], S.notFound],
  ],
  eth_getBlockByHash: () => [
    [[h.blockHash, true], S.block],
    [[h.blockHash, false], S.block],
    [[`0x${'00'.repeat(32)}`, false], S.notFound],
  ],
  eth_getBlockTransactionCountByNumber: () => [
    [['0x2'], S.uint],
    [['0x99'], S.notFound],
  ],
  eth_getBlockTransactionCountByHash: () => [
    [[h.blockHash], S.uint],
    [[`0x${'00'.repeat(32)}`], S.notFound],
  ],
  eth_getTransactionByHash: () => [
    [[h.deploy], S.tx1559],
    [[h.set1559], S.tx1559],
    [[h.set2930], S.tx2930],
    [[h.legacy155], S.legacyTx],
    [[h.pre155], S.legacyTx],
    [[h.setCode], S.tx7702],
    [[h.pending], S.pendingTransaction],
    [[`0x${'00'.repeat(32)}`], S.notFound],
  ],
  eth_getTransactionByBlockNumberAndIndex: () => [
    ...[0, 1, 2, 3, 4].map((i): [unknown[], z.ZodType] => [['0x2', `0x${i}`], S.transaction]),
    [['0x2', '0x5'], S.notFound],
  ],
  eth_getTransactionByBlockHashAndIndex: () => [
    [[h.blockHash, '0x1'], S.transaction],
    [[h.blockHash, '0x4'], S.tx7702],
  ],
  eth_getTransactionReceipt: () => [
    [[h.deploy], S.receipt],
    [[h.set1559], S.receipt],
    [[h.pre155], S.receipt],
    [[h.setCode], S.receipt],
    [[`0x${'00'.repeat(32)}`], S.notFound],
  ],
  eth_getBlockReceipts: () => [
    [['0x2'], z.array(S.receipt).length(5)],
    [[h.blockHash], z.array(S.receipt).length(5)],
    [['0x99'], S.notFound],
  ],
  // Not in execution-apis (geth's): the signed transaction's bytes.
  eth_getRawTransactionByHash: () => [
    [[h.set2930], S.bytes],
    [[h.pending], S.bytes],
    [[`0x${'00'.repeat(32)}`], z.null()],
  ],
  eth_sendRawTransaction: () => [], // called in beforeAll; its answers are checked in 'fixes found by the schemas'
  eth_getBalance: () => [[[SENDER, 'latest'], S.uint]],
  eth_getTransactionCount: () => [
    [[SENDER, 'latest'], S.uint],
    [[SENDER, 'pending'], S.uint],
  ],
  eth_getCode: () => [[[contract, 'latest'], S.bytes]],
  eth_getStorageAt: () => [[[contract, '0x0', 'latest'], S.bytes]],
  eth_call: () => [[[callObj(), 'latest'], S.bytes]],
  eth_estimateGas: () => [[[callObj()], S.uint]],
  eth_createAccessList: () => [[[callObj(), 'latest'], S.accessListResult]],
  eth_getProof: () => [
    [[contract, [word(0n), '0x1'], 'latest'], S.proof],
    [[OTHER, [], 'latest'], S.proof],
  ],
  eth_gasPrice: () => [[[], S.uint]],
  eth_maxPriorityFeePerGas: () => [[[], S.uint]],
  eth_feeHistory: () => [
    [['0x2', 'latest', [50]], S.feeHistory],
    [['0x3', 'latest', []], S.feeHistory],
  ],
  eth_getLogs: () => [[[{ fromBlock: '0x0', toBlock: 'latest', address: contract }], z.array(S.minedLog).length(2)]],
  eth_newFilter: () => [[[{ fromBlock: '0x0' }], filterId]],
  eth_newBlockFilter: () => [[[], filterId]],
  eth_newPendingTransactionFilter: () => [[[], filterId]],
  eth_getFilterChanges: () => [
    [[h.logFilter], filterResults],
    [[h.blockFilter], filterResults],
  ],
  eth_getFilterLogs: () => [[[h.logFilter], z.array(S.minedLog).length(2)]],
  eth_uninstallFilter: () => [
    [[h.doomedFilter], z.literal(true)],
    [[h.doomedFilter], z.literal(false)],
  ],
  debug_traceTransaction: () => [
    [[h.set1559], S.opcodeTrace],
    [[h.set1559, { enableMemory: true, enableReturnData: true }], S.opcodeTrace],
    [[h.set1559, { tracer: 'callTracer' }], S.callFrame],
  ],
  debug_traceBlockByNumber: () => [
    [['0x2'], z.array(S.blockTraceEntry(S.opcodeTrace)).length(5)],
    [['0x2', { tracer: 'callTracer', tracerConfig: { withLog: true } }], z.array(S.blockTraceEntry(S.callFrame)).length(5)],
  ],
  debug_traceBlockByHash: () => [
    [[h.blockHash, { enableMemory: true }], z.array(S.blockTraceEntry(S.opcodeTrace)).length(5)],
    [[h.blockHash, { tracer: 'callTracer' }], z.array(S.blockTraceEntry(S.callFrame))],
  ],
  // Not in execution-apis (geth's): a call traced as eth_call runs it.
  debug_traceCall: () => [
    [[callObj(), 'latest', { tracer: 'callTracer' }], S.callFrame],
    [[callObj(), 'latest'], S.opcodeTrace],
  ],
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

  it('eth_sendRawTransaction answers with the transaction hash (hash32)', () => {
    expect(S.hash32.parse(h.pending)).toBe(h.pending);
    expect(S.hash32.parse(h.queued)).toBe(h.queued);
  });

  it("an EIP-7702 authorization's numbers are quantities: 0x0 for a zero chain ID and nonce, not 0x", async () => {
    const tx = (await call('eth_getTransactionByHash', h.setCode)) as { authorizationList: Record<string, string>[] };
    const [auth] = tx.authorizationList;
    expect(auth).toMatchObject({ chainId: '0x0', nonce: '0x0', address: contract });
    expect(['0x0', '0x1']).toContain(auth!.yParity);
    expect(auth!.r).toMatch(/^0x[1-9a-f][0-9a-f]*$/);
    expect(auth!.s).toMatch(/^0x[1-9a-f][0-9a-f]*$/);
  });

  it('logs carry blockTimestamp, in eth_getLogs, filters and receipts alike', async () => {
    const block = (await call('eth_getBlockByNumber', '0x2', false)) as { timestamp: string };
    const logs = (await call('eth_getLogs', { fromBlock: '0x2', toBlock: '0x2', address: contract })) as { blockTimestamp: string }[];
    const receipt = (await call('eth_getTransactionReceipt', h.set1559)) as { logs: { blockTimestamp: string }[] };
    const filtered = (await call('eth_getFilterLogs', h.logFilter)) as { blockNumber: string; blockTimestamp: string }[];
    expect(logs.length).toBeGreaterThan(0);
    for (const l of [...logs, ...receipt.logs, ...filtered.filter((f) => f.blockNumber === '0x2')]) expect(l.blockTimestamp).toBe(block.timestamp);
    expect(receipt.logs).toHaveLength(1);
  });

  it('the genesis block cannot be traced: an error, not an empty list', async () => {
    const genesis = (await call('eth_getBlockByNumber', '0x0', false)) as { hash: string };
    for (const [method, id] of [
      ['debug_traceBlockByNumber', '0x0'],
      ['debug_traceBlockByNumber', 'earliest'],
      ['debug_traceBlockByHash', genesis.hash],
    ] as const) {
      const err = await Promise.resolve(call(method, id)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RpcError);
      expect((err as RpcError).message).toBe('genesis is not traceable');
    }
  });

  it('filter IDs have no leading zero, and one written with a leading zero is still found', async () => {
    for (let i = 0; i < 64; i++) {
      const id = (await call('eth_newBlockFilter')) as string;
      expect(id).toMatch(/^0x[1-9a-f][0-9a-f]*$/);
      expect(await call('eth_getFilterChanges', `0x0${id.slice(2)}`)).toEqual([]);
    }
  });

  it('a transaction for another chain is refused in plain words', async () => {
    const foreign = await new Wallet(bytesToHex(KEY)).signTransaction({
      type: 2,
      chainId: 5,
      nonce: 0,
      to: OTHER,
      gasLimit: 21_000n,
      maxFeePerGas: 10n ** 11n,
      maxPriorityFeePerGas: 1n,
    });
    const err = await Promise.resolve(call('eth_sendRawTransaction', foreign)).then(
      () => undefined,
      (e: unknown) => e,
    );
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
