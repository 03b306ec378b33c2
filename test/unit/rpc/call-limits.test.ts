import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { GAS_RUNTIME, LOOP_RUNTIME } from '../../helpers/contracts.js';
import { deployer } from '../../helpers/evm-asm.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import type { RpcContext } from '../../../src/rpc/jsonrpc/methods/context.js';
import { TxPool } from '../../../src/txpool/txpool.js';

const KEY = testKey(51);
const FROM = addressOf(KEY);
const HUGE = '0xffffffffffffffff';
let t: TestChain;
let loop: string;
let gasReporter: string;

beforeAll(async () => {
  t = await createTestChain(1, [FROM]);
  const fees = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 1n, chainId: 100n, gasLimit: 200_000n };
  const deploy = (nonce: bigint, runtime: Uint8Array) =>
    createFeeMarket1559Tx({ nonce, data: deployer(runtime), ...fees }, { common: t.chain.commonAt(0n) }).sign(KEY);
  await sealNext(t, [deploy(0n, LOOP_RUNTIME), deploy(1n, GAS_RUNTIME)]);
  loop = bytesToHex(generateAddress(privateToAddress(KEY), new Uint8Array(0)));
  gasReporter = bytesToHex(generateAddress(privateToAddress(KEY), Uint8Array.of(1)));
});
afterAll(async () => {
  await t?.close();
});

const methods = (limits: Pick<RpcContext, 'rpcGasCap' | 'rpcEvmTimeoutMs'>) => ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), ...limits });

/** Run `fn` and count event-loop turns (setImmediate) and what else finished while it ran. */
async function whileRunning<T>(fn: () => Promise<T>, other: () => Promise<unknown>) {
  let turns = 0;
  let running = true;
  const spin = () => {
    turns++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  let otherDoneFirst: boolean | undefined;
  let done = false;
  const side = other().then(() => (otherDoneFirst ??= !done));
  const outcome = await fn().then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  done = true;
  running = false;
  await side;
  return { outcome, turns, otherDoneFirst };
}

describe('eth_call / eth_estimateGas limits', () => {
  it('aborts an endless call at the timeout while the event loop keeps turning and other requests are served', async () => {
    const m = methods({ rpcGasCap: 0n, rpcEvmTimeoutMs: 300 });
    const r = await whileRunning(
      async () => m.eth_call!([{ to: loop, gas: HUGE }]),
      async () => m.eth_getBalance!([FROM, 'latest']),
    );
    expect(r.outcome).toEqual({ error: expect.objectContaining({ code: -32000, message: 'execution aborted (timeout = 300ms)' }) });
    expect(r.otherDoneFirst).toBe(true);
    expect(r.turns).toBeGreaterThan(5); // it yielded to the loop over and over, not just once
  });

  it('stops eth_estimateGas at the deadline too', async () => {
    const m = methods({ rpcGasCap: 0n, rpcEvmTimeoutMs: 300 });
    const r = await whileRunning(
      async () => m.eth_estimateGas!([{ to: loop, gas: HUGE }]),
      async () => m.eth_blockNumber!([]),
    );
    expect(r.outcome).toEqual({ error: expect.objectContaining({ code: -32000, message: 'execution aborted (timeout = 300ms)' }) });
    expect(r.turns).toBeGreaterThan(5);
  });

  it('runs a call asking for more than the gas cap with the cap', async () => {
    const cap = 1_000_000n;
    const gasLeft = async (m: ReturnType<typeof methods>, gas?: string) =>
      BigInt((await m.eth_call!([{ to: gasReporter, ...(gas ? { gas } : {}) }])) as string);
    const capped = await gasLeft(methods({ rpcGasCap: cap, rpcEvmTimeoutMs: 0 }), HUGE);
    expect(capped).toBeLessThanOrEqual(cap - 21_000n);
    expect(capped).toBeGreaterThan(cap - 21_100n);
    // below the cap the request's gas stands; with cap 0 there is none
    expect(await gasLeft(methods({ rpcGasCap: cap, rpcEvmTimeoutMs: 0 }), '0x30d40')).toBeLessThanOrEqual(200_000n - 21_000n);
    expect(await gasLeft(methods({ rpcGasCap: 0n, rpcEvmTimeoutMs: 0 }), HUGE)).toBeGreaterThan(2n ** 63n);
    // the default cap is 50,000,000 (the test chain's block gas limit is 30,000,000)
    expect(await gasLeft(methods({}), HUGE)).toBeLessThanOrEqual(50_000_000n - 21_000n);
    expect(await gasLeft(methods({}), HUGE)).toBeGreaterThan(30_000_000n);
  });

  it('bounds eth_estimateGas by the cap: an endless call exhausts the cap, not the request', async () => {
    const m = methods({ rpcGasCap: 1_000_000n, rpcEvmTimeoutMs: 0 });
    await expect(m.eth_estimateGas!([{ to: loop, gas: HUGE }])).rejects.toMatchObject({ code: -32000, message: 'gas required exceeds allowance (1000000)' });
  });
});
