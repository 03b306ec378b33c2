import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
import { type Hex, type SignedAuthorization, createPublicClient, formatTransactionRequest, http, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { MAX_CALL_AUTHORIZATIONS } from '../../../src/rpc/jsonrpc/methods/eth-state.js';
import { JsonRpcServer } from '../../../src/rpc/jsonrpc/server.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { silentLogger } from '../../../src/util/log.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { assemble, deployer } from '../../helpers/evm-asm.js';

/** Every authorization the node recovers, counted (the real recovery runs). */
const recoveries = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../../src/chain/authorities.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/chain/authorities.js')>();
  return {
    authorityOf: (...args: Parameters<typeof real.authorityOf>) => {
      recoveries.count++;
      return real.authorityOf(...args);
    },
  };
});

const KEY = testKey(70);
const FROM = addressOf(KEY) as Hex;
const AUTHORITY_KEY = testKey(71);
const AUTHORITY = addressOf(AUTHORITY_KEY) as Hex;
/** What the delegated code reads: its balance makes it part of the call's access list. */
const PROBED = `0x${'0b'.repeat(20)}` as Hex;
const AT = `0x${'c0'.repeat(20)}` as Hex;
const word = (n: bigint) => `0x${n.toString(16).padStart(64, '0')}` as Hex;
/** Code that returns the word `pre` leaves on the stack. */
const returning = (...pre: Parameters<typeof assemble>[0]) => bytesToHex(assemble([...pre, { push: 0n }, 'MSTORE', { push: 32n }, { push: 0n }, 'RETURN']));

let t: TestChain;
let server: JsonRpcServer;
let client: PublicClient;
let delegate: Hex;
let auth: SignedAuthorization;

beforeAll(async () => {
  t = await createTestChain(1, [FROM]);
  const runtime = assemble([{ push: hexToBytes(PROBED) }, 'BALANCE', 'POP', { push: 42n }, { push: 0n }, 'MSTORE', { push: 32n }, { push: 0n }, 'RETURN']);
  await sealNext(t, [
    createFeeMarket1559Tx(
      { nonce: 0n, data: deployer(runtime), gasLimit: 200_000n, maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: t.chain.commonAt(1n) },
    ).sign(KEY),
  ]);
  delegate = bytesToHex(generateAddress(privateToAddress(KEY), new Uint8Array(0))) as Hex;
  server = new JsonRpcServer({ methods: ethMethods({ chain: t.chain, txpool: new TxPool(t.chain) }), logger: silentLogger() });
  client = createPublicClient({ transport: http(`http://127.0.0.1:${(await server.listen('127.0.0.1', 0)).port}`) });
  auth = await privateKeyToAccount(bytesToHex(AUTHORITY_KEY) as Hex).signAuthorization({ address: delegate, chainId: 100, nonce: 0 });
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

/** A call object as viem sends it, with the authorization: from FROM to the authority (which has no code of its own). */
const delegatedCall = () => formatTransactionRequest({ from: FROM, to: AUTHORITY, authorizationList: [auth] });
// biome-ignore lint/suspicious/noExplicitAny: the node's answer, of the method's own shape
const request = (method: string, params: unknown[]) => client.request({ method, params } as any) as Promise<any>;

describe('EIP-7702 authorizations in every kind of simulation', () => {
  it('eth_call, debug_traceCall and eth_createAccessList run the code the authority delegates to', async () => {
    expect((await client.call({ account: FROM, to: AUTHORITY, authorizationList: [auth] })).data).toBe(word(42n));
    // The call tracer's output: the delegated code ran (without the delegation: 0x, the authority has no code).
    const trace = await request('debug_traceCall', [delegatedCall(), 'latest', { tracer: 'callTracer' }]);
    expect(trace.output).toBe(word(42n));
    // The access list: what the delegated code touched.
    const list = await request('eth_createAccessList', [delegatedCall(), 'latest']);
    expect(list.accessList).toEqual([{ address: PROBED, storageKeys: [] }]);
  });

  it('recovers an authorization once a request, however many runs the request takes', async () => {
    recoveries.count = 0;
    await request('eth_estimateGas', [delegatedCall()]); // a binary search: several runs
    expect(recoveries.count).toBe(1);
    recoveries.count = 0;
    await request('eth_createAccessList', [delegatedCall(), 'latest']); // runs until the list stops changing: two runs here
    expect(recoveries.count).toBe(1);
  });

  it(`refuses more than ${MAX_CALL_AUTHORIZATIONS} authorizations (as many as the pool takes) before recovering any`, async () => {
    expect(MAX_CALL_AUTHORIZATIONS).toBe(64);
    recoveries.count = 0;
    const call = { ...delegatedCall(), authorizationList: Array.from({ length: 65 }, () => delegatedCall().authorizationList![0]) };
    await expect(request('eth_call', [call, 'latest'])).rejects.toMatchObject({ code: -32602, details: expect.stringMatching(/at most 64 allowed/) });
    expect(recoveries.count).toBe(0);
  });
});

describe('debug_traceCall overrides (geth: stateOverrides, blockOverrides)', () => {
  /** The output of a call to AT, which runs `code`, traced with `config` (its stateOverrides on top of AT's code). */
  const traced = async (code: string, config: { stateOverrides?: Record<string, unknown>; blockOverrides?: Record<string, unknown> } = {}) => {
    const stateOverrides = { [AT]: { code }, ...config.stateOverrides };
    return BigInt((await request('debug_traceCall', [{ to: AT }, 'latest', { tracer: 'callTracer', ...config, stateOverrides }])).output);
  };

  it('traces the call on the overridden state and in the overridden block', async () => {
    const sload0 = returning({ push: 0n }, 'SLOAD');
    expect(await traced(sload0, { stateOverrides: { [AT]: { code: sload0, stateDiff: { [word(0n)]: word(5n) } } } })).toBe(5n);
    expect(await traced(sload0)).toBe(0n);
    expect(await traced(returning('NUMBER'), { blockOverrides: { number: '0x77' } })).toBe(0x77n);
    expect(await traced(returning('NUMBER'))).toBe(t.chain.head.number); // in the named block's own context, as geth
  });

  it('ignores a config field it does not know, as geth does, but refuses one that would change the trace if dropped', async () => {
    // pre-1.11 names some tools still send
    await expect(request('debug_traceCall', [{ to: AT }, 'latest', { disableMemory: true, fullStorage: false }])).resolves.toBeDefined();
    await expect(request('debug_traceCall', [{ to: AT }, 'latest', { tracer: 'callTracer', txIndex: '0x1' }])).rejects.toMatchObject({
      code: -32602,
      details: expect.stringMatching(/^trace config: "txIndex" is not supported here/),
    });
    await expect(request('debug_traceCall', [{ to: AT }, 'latest', { overrides: {} }])).rejects.toMatchObject({ code: -32602 });
    await expect(request('debug_traceCall', [{ to: AT }, 'latest', { stateOverrides: { [AT]: { balanse: '0x1' } } }])).rejects.toMatchObject({
      code: -32602,
      details: expect.stringMatching(/unknown field "balanse"/),
    });
    // the overrides belong to debug_traceCall: a block's trace is of what happened
    await expect(request('debug_traceBlockByNumber', ['0x1', { stateOverrides: {} }])).rejects.toMatchObject({ code: -32602 });
  });
});
