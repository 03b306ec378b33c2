import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { GAS_RUNTIME, LOOP_RUNTIME } from '../../helpers/contracts.js';
import { deployer } from '../../helpers/evm-asm.js';
import { MAX_OVERRIDE_SLOTS } from '../../../src/rpc/jsonrpc/call-overrides.js';
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

describe('state overrides (hostile clients)', () => {
  const AT = `0x${'c0'.repeat(20)}`;
  const slots = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`0x${word(BigInt(i + 1))}`, `0x${word(1n)}`]));
  const overridden = async (m: ReturnType<typeof methods>, n = MAX_OVERRIDE_SLOTS) => m.eth_call!([{ to: AT }, 'latest', { [AT]: { stateDiff: slots(n) } }]);

  it('writes override slots in slices (~0.5 ms a slot: 10,000 hold ~5 s), the event loop turning and other requests served between them', async () => {
    const r = await whileRunning(
      async () => overridden(methods({ rpcEvmTimeoutMs: 0 }), 600),
      async () => methods({}).eth_getBalance!([FROM, 'latest']),
    );
    expect(r.outcome).toEqual({ value: '0x' });
    expect(r.otherDoneFirst).toBe(true);
    expect(r.turns).toBeGreaterThan(10); // 4 when they were written in one go
  });

  it('stops writing them at --rpc-evm-timeout', async () => {
    let writes = 0;
    const scratch = t.chain.scratchStateAt.bind(t.chain);
    const spy = vi.spyOn(t.chain, 'scratchStateAt').mockImplementation(async (header) => {
      const state = await scratch(header);
      const put = state.putStorage.bind(state);
      state.putStorage = (...args) => {
        writes++;
        return put(...args);
      };
      return state;
    });
    try {
      await expect(overridden(methods({ rpcEvmTimeoutMs: 20 }))).rejects.toMatchObject({ code: -32000, message: 'execution aborted (timeout = 20ms)' });
    } finally {
      spy.mockRestore();
    }
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThan(MAX_OVERRIDE_SLOTS);
  });
});

/** Run `fn` with a 10 ms timer going; the longest the timer was late (the event loop held). */
async function maxTimerLag<T>(fn: () => Promise<T>): Promise<{ result: T; lagMs: number }> {
  let lagMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    lagMs = Math.max(lagMs, now - last - 10);
    last = now;
  }, 10);
  try {
    const result = await fn();
    await new Promise((r) => setTimeout(r, 20));
    return { result, lagMs };
  } finally {
    clearInterval(timer);
  }
}

const hex = (b: Uint8Array) => bytesToHex(b);
const word = (n: bigint) => n.toString(16).padStart(64, '0');
const precompile = (n: number) => `0x${n.toString(16).padStart(40, '0')}`;
/** BLAKE2F's input (EIP-152): rounds, h, m, t, final flag. */
function blake2fInput(rounds: number, body = new Uint8Array(208)): string {
  const input = new Uint8Array(213);
  new DataView(input.buffer).setUint32(0, rounds);
  input.set(body, 4);
  input[212] = 1;
  return hex(input);
}
/** MODEXP's input: the three lengths, then base, exponent and modulus. */
function modexpInput(base: Uint8Array, exp: Uint8Array, mod: Uint8Array): string {
  return `0x${word(BigInt(base.length))}${word(BigInt(exp.length))}${word(BigInt(mod.length))}${hex(base).slice(2)}${hex(exp).slice(2)}${hex(mod).slice(2)}`;
}
// The BN254 generators (EIP-197) and -G1.
const P = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const G1 = `${word(1n)}${word(2n)}`;
const NEG_G1 = `${word(1n)}${word(P - 2n)}`;
const G2 =
  '198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c21800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed' +
  '090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa';

describe('precompile calls in simulations', () => {
  const GAS = '0x2faf080'; // 50,000,000: the default cap

  it('refuses (-32005) a BLAKE2F call whose rounds would hold the event loop, in every kind of simulation, and the loop keeps turning', async () => {
    const m = methods({}); // the defaults: 50,000,000 gas, 5 s
    const call = { to: precompile(9), data: blake2fInput(2_000_000), gas: GAS };
    const { result, lagMs } = await maxTimerLag(() =>
      Promise.all(
        [
          () => m.eth_call!([call]),
          () => m.eth_estimateGas!([call]),
          () => m.debug_traceCall!([call, 'latest', { tracer: 'callTracer' }]),
          () => m.eth_createAccessList!([call, 'latest']),
        ].map(async (f) => {
          try {
            await f();
            return 'ran';
          } catch (e) {
            return e;
          }
        }),
      ),
    );
    for (const r of result)
      expect(r).toMatchObject({
        code: -32005,
        message: expect.stringMatching(/^execution refused: a BLAKE2F precompile call would hold the node for about \d+ ms, more than the 100 ms/),
      });
    expect(lagMs).toBeLessThan(1000); // 0.2 s a call without the bound (4 s with the 49,900,000 rounds the cap pays for)
  });

  it('refuses a MODEXP with a long exponent and a pairing of many pairs; light calls of each run as before', async () => {
    const m = methods({});
    // MODEXP: 3^(100,000 bytes of 0xff) mod 0xfd costs 267,000 gas and takes ~0.1 s (a squaring a bit;
    // @ethereumjs's own, which shifts the whole exponent a bit, took ~7 s)
    await expect(
      m.eth_call!([{ to: precompile(5), data: modexpInput(Uint8Array.of(3), new Uint8Array(100_000).fill(0xff), Uint8Array.of(0xfd)), gas: GAS }]),
    ).rejects.toMatchObject({
      code: -32005,
      message: expect.stringContaining('MODEXP'),
    });
    // a pairing check of 20 pairs: ~0.13 s
    await expect(m.eth_call!([{ to: precompile(8), data: `0x${`${G1}${G2}`.repeat(20)}`, gas: GAS }])).rejects.toMatchObject({
      code: -32005,
      message: expect.stringContaining('BN254 pairing'),
    });
    // RIPEMD160 of 2 MB: ~0.1 s
    await expect(m.eth_call!([{ to: precompile(3), data: hex(new Uint8Array(2_000_000)), gas: GAS }])).rejects.toMatchObject({
      code: -32005,
      message: expect.stringContaining('RIPEMD160'),
    });
    // a run that fits the bound but not the time left is not started either
    await expect(methods({ rpcEvmTimeoutMs: 50 }).eth_call!([{ to: precompile(9), data: blake2fInput(500_000), gas: GAS }])).rejects.toMatchObject({
      code: -32000,
      message: 'execution aborted (timeout = 50ms)',
    });
    // EIP-152's test vector 5: 12 rounds
    const h = '48c9bdf267e6096a3ba7ca8485ae67bb2bf894fe72f36e3cf1361d5f3af54fa5d182e6ad7f520e511f6c3e2b8c68059b6bbd41fbabd9831f79217e1319cde05b';
    const body = Uint8Array.from(Buffer.from(`${h}${'616263'.padEnd(256, '0')}${'03'.padEnd(32, '0')}`, 'hex'));
    expect(await m.eth_call!([{ to: precompile(9), data: blake2fInput(12, body) }])).toBe(
      '0xba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923',
    );
    // e(G1, G2) * e(-G1, G2) = 1 (a Groth16 verification takes 4 pairs)
    expect(await m.eth_call!([{ to: precompile(8), data: `0x${G1}${G2}${NEG_G1}${G2}` }])).toBe(`0x${word(1n)}`);
    // an RSA-2048 signature check: s^65537 mod n
    const n = (1n << 2047n) + 12345n;
    const s = 0xabcdefn;
    let r = 1n;
    let b = s;
    for (let e = 65537n; e > 0n; e >>= 1n, b = (b * b) % n) if (e & 1n) r = (r * b) % n;
    const nBytes = Uint8Array.from(Buffer.from(n.toString(16).padStart(512, '0'), 'hex'));
    expect(await m.eth_call!([{ to: precompile(5), data: modexpInput(Uint8Array.of(0xab, 0xcd, 0xef), Uint8Array.of(1, 0, 1), nBytes) }])).toBe(
      `0x${r.toString(16).padStart(512, '0')}`,
    );
  });
});

describe('simulations at once', () => {
  it('runs 4 at once node-wide, queues 64 whose wait counts toward their deadline, refuses the rest (-32005), and the loop keeps turning', async () => {
    const m = methods({ rpcGasCap: 0n, rpcEvmTimeoutMs: 1000 });
    const endless = { to: loop, gas: HUGE };
    const kinds = [
      () => m.eth_call!([endless]),
      () => m.eth_estimateGas!([endless]),
      () => m.debug_traceCall!([endless, 'latest', { tracer: 'callTracer', tracerConfig: { onlyTopCall: true } }]),
      () => m.eth_createAccessList!([endless, 'latest']),
    ];
    const started = performance.now();
    const { result, lagMs } = await maxTimerLag(() =>
      Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          try {
            await kinds[i % kinds.length]!();
            return { code: 0, message: 'ran', ms: 0 };
          } catch (e) {
            const { code, message } = e as { code: number; message: string };
            return { code, message, ms: performance.now() - started };
          }
        }),
      ),
    );
    const refused = result.filter((r) => r.code === -32005);
    expect(refused).toHaveLength(100 - 4 - 64);
    for (const r of refused) expect(r.message).toMatch(/^too many simulations: 4 running and 64 waiting/);
    const timedOut = result.filter((r) => r.code === -32000);
    expect(timedOut).toHaveLength(68);
    for (const r of timedOut) expect(r.message).toMatch(/^execution (aborted \(timeout = 1s\)|timeout: the trace took more than 1s)$/);
    // Those queued gave up at their own deadline, not 1 s after they got a turn (17 turns of 1 s).
    expect(Math.max(...timedOut.map((r) => r.ms))).toBeLessThan(3000);
    expect(lagMs).toBeLessThan(1000); // 2 s for 100 endless calls at once without the bound
  });
});
