import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
import { AbiCoder, Interface, getCreate2Address, keccak256 } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ethMethods, type RpcMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { RpcError } from '../../../src/rpc/jsonrpc/errors.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { LOOP_RUNTIME, SET_TOPIC, STORAGE_INITCODE, word } from '../../helpers/contracts.js';
import { assemble, deployer } from '../../helpers/evm-asm.js';
import { compileSolidity } from '../../helpers/solc.js';

const SOURCE = `
pragma solidity ^0.8.0;
contract Inner {
  uint256 public v;
  event Set(uint256 v);
  function set(uint256 x) external { require(x != 0, "zero"); v = x; emit Set(x); }
  function get() external view returns (uint256) { return v; }
}
contract Outer {
  Inner public inner;
  constructor(Inner i) { inner = i; }
  function go(uint256 x) external returns (uint256) { inner.set(x); return inner.get(); }
  function tryGo(uint256 x) external returns (bool ok) { try inner.set(x) { ok = true; } catch { ok = false; } }
  function make() external returns (address) { return address(new Inner{salt: bytes32(0)}()); }
}`;

const KEY = testKey(50);
const SENDER = addressOf(KEY);
let t: TestChain;
let m: RpcMethods;
let nonce = 0n;
let inner: string;
let outer: string;
let storage: string;
let loop: string;
const iface = { inner: undefined as unknown as Interface, outer: undefined as unknown as Interface };
const hashes: Record<string, string> = {};
let innerCode: string;

const call = async <T>(method: string, ...params: unknown[]): Promise<T> => (await m[method]!(params)) as T;
const rpcError = async (method: string, ...params: unknown[]): Promise<RpcError> => {
  try {
    await m[method]!(params);
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error(`${method} succeeded`);
};
const tx = (data: string, to?: string, gasLimit = 1_000_000n) =>
  createFeeMarket1559Tx(
    {
      nonce: nonce++,
      ...(to ? { to: to as `0x${string}` } : {}),
      data: hexToBytes(data as `0x${string}`),
      gasLimit,
      maxFeePerGas: 10n ** 11n,
      maxPriorityFeePerGas: 1n,
      chainId: 100n,
    },
    { common: t.chain.commonAt(0n) },
  ).sign(KEY);
const created = (n: bigint) => bytesToHex(generateAddress(privateToAddress(KEY), n === 0n ? new Uint8Array(0) : Uint8Array.of(Number(n))));

type Frame = {
  type: string;
  from: string;
  to?: string;
  value?: string;
  gas: string;
  gasUsed: string;
  input: string;
  output?: string;
  error?: string;
  revertReason?: string;
  calls?: Frame[];
  logs?: { topics: string[] }[];
};
type StructLogs = {
  gas: number;
  failed: boolean;
  returnValue: string;
  structLogs: { pc: number; op: string; gas: number; gasCost: number; depth: number; stack?: string[]; memory?: string[]; storage?: Record<string, string> }[];
};

beforeAll(async () => {
  t = await createTestChain(1, [SENDER]);
  m = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), rpcEvmTimeoutMs: 2000 });
  const c = compileSolidity(SOURCE, { evmVersion: 'shanghai', optimize: true });
  iface.inner = new Interface(c.Inner!.abi as never);
  iface.outer = new Interface(c.Outer!.abi as never);
  innerCode = c.Inner!.bytecodeHex;
  inner = created(0n);
  outer = created(1n);
  storage = created(2n);
  loop = created(3n);
  await sealNext(t, [
    tx(c.Inner!.bytecodeHex),
    tx(c.Outer!.bytecodeHex + AbiCoder.defaultAbiCoder().encode(['address'], [inner]).slice(2)),
    tx(bytesToHex(STORAGE_INITCODE)),
    tx(bytesToHex(deployer(LOOP_RUNTIME))),
  ]);
  const txs = {
    go: tx(iface.outer.encodeFunctionData('go', [5n]), outer),
    tryZero: tx(iface.outer.encodeFunctionData('tryGo', [0n]), outer),
    make: tx(iface.outer.encodeFunctionData('make', []), outer),
    store: tx(word(7n), storage, 100_000n),
  };
  await sealNext(t, Object.values(txs));
  for (const [k, v] of Object.entries(txs)) hashes[k] = bytesToHex(v.hash());
});
afterAll(async () => {
  await t?.close();
});

describe('callTracer', () => {
  it('gives the call tree of a transaction with the opcode of each call, gas and output', async () => {
    const root = await call<Frame>('debug_traceTransaction', hashes.go, { tracer: 'callTracer' });
    const receipt = await call<{ gasUsed: string }>('eth_getTransactionReceipt', hashes.go);
    expect(root).toMatchObject({
      type: 'CALL',
      from: SENDER,
      to: outer,
      value: '0x0',
      gas: bigHex(1_000_000n),
      gasUsed: receipt.gasUsed,
      input: iface.outer.encodeFunctionData('go', [5n]),
      output: word(5n),
    });
    expect(root.error).toBeUndefined();
    expect(root.calls!.map((c) => [c.type, c.from, c.to, c.input.slice(0, 10)])).toEqual([
      ['CALL', outer, inner, iface.inner.getFunction('set')!.selector],
      ['STATICCALL', outer, inner, iface.inner.getFunction('get')!.selector],
    ]);
    expect(root.calls![1]!.value).toBeUndefined();
    expect(root.calls![1]!.output).toBe(word(5n));
    for (const c of root.calls!) expect(BigInt(c.gasUsed)).toBeLessThan(BigInt(c.gas));
  });

  it('reports a reverted inner call with its reason, and logs with withLog', async () => {
    const root = await call<Frame>('debug_traceTransaction', hashes.tryZero, { tracer: 'callTracer' });
    expect(root.error).toBeUndefined();
    expect(root.output).toBe(word(0n)); // tryGo returned false
    expect(root.calls).toHaveLength(1);
    expect(root.calls![0]).toMatchObject({ type: 'CALL', to: inner, error: 'execution reverted', revertReason: 'zero' });
    const withLog = await call<Frame>('debug_traceTransaction', hashes.go, { tracer: 'callTracer', tracerConfig: { withLog: true } });
    expect(withLog.calls![0]!.logs!.map((l) => l.topics[0])).toEqual([keccak256(new TextEncoder().encode('Set(uint256)'))]);
    const top = await call<Frame>('debug_traceTransaction', hashes.go, { tracer: 'callTracer', tracerConfig: { onlyTopCall: true } });
    expect(top.calls).toBeUndefined();
  });

  it('names CREATE2 frames with the created address', async () => {
    const root = await call<Frame>('debug_traceTransaction', hashes.make, { tracer: 'callTracer' });
    const address = getCreate2Address(outer, `0x${'00'.repeat(32)}`, keccak256(innerCode)).toLowerCase();
    expect(root.calls).toHaveLength(1);
    expect(root.calls![0]).toMatchObject({ type: 'CREATE2', from: outer, to: address, input: innerCode });
    expect(root.output).toBe(AbiCoder.defaultAbiCoder().encode(['address'], [address]));
  });

  it('traces a call on a block state (debug_traceCall)', async () => {
    const root = await call<Frame>('debug_traceCall', { from: SENDER, to: outer, data: iface.outer.encodeFunctionData('go', [9n]) }, 'latest', {
      tracer: 'callTracer',
    });
    expect(root.output).toBe(word(9n));
    expect(root.calls!.map((c) => c.type)).toEqual(['CALL', 'STATICCALL']);
    // The call changed nothing: the stored value is still 5.
    expect(await call('eth_call', { to: inner, data: iface.inner.encodeFunctionData('get', []) }, 'latest')).toBe(word(5n));
  });
});

describe('struct logger (the default tracer)', () => {
  it('logs every opcode with pc, gas, gasCost, depth, stack and the storage SSTORE writes', async () => {
    const r = await call<StructLogs>('debug_traceTransaction', hashes.store);
    const receipt = await call<{ gasUsed: string }>('eth_getTransactionReceipt', hashes.store);
    expect(r.failed).toBe(false);
    expect(r.gas).toBe(Number(receipt.gasUsed));
    // execution-apis' opcode tracer: '0x' when nothing is returned, 0x-prefixed 32-byte words in storage and memory.
    expect(r.returnValue).toBe('0x');
    const ops = r.structLogs.map((l) => l.op);
    expect(ops).toEqual([
      'CALLDATASIZE',
      'ISZERO',
      'PUSH2',
      'JUMPI',
      'PUSH1',
      'CALLDATALOAD',
      'DUP1',
      'ISZERO',
      'PUSH2',
      'JUMPI',
      'DUP1',
      'PUSH1',
      'SSTORE',
      'PUSH1',
      'MSTORE',
      'PUSH32',
      'PUSH1',
      'PUSH1',
      'LOG1',
      'STOP',
    ]);
    const intrinsic = 21_000n + 16n + 31n * 4n; // one non-zero calldata byte (7), 31 zero bytes
    expect(r.structLogs[0]).toMatchObject({ pc: 0, gas: Number(100_000n - intrinsic), gasCost: 2, depth: 1, stack: [] });
    // Gas goes down by each step's cost.
    for (let i = 1; i < r.structLogs.length; i++) expect(r.structLogs[i]!.gas).toBe(r.structLogs[i - 1]!.gas - r.structLogs[i - 1]!.gasCost);
    const sstore = r.structLogs[12]!;
    expect(sstore.stack).toEqual(['0x7', '0x7', '0x0']);
    expect(sstore.storage).toEqual({ [word(0n)]: word(7n) });
    expect(sstore.gasCost).toBe(22_100); // cold slot, zero to non-zero
    const log1 = r.structLogs[18]!;
    expect(log1.stack!.at(-3)).toBe(bytesToHex(SET_TOPIC).replace(/^0x0*/, '0x'));
    expect(r.structLogs[0]!.memory).toBeUndefined();
  });

  it('follows geth options: disableStack, enableMemory, disableStorage, limit', async () => {
    const r = await call<StructLogs>('debug_traceTransaction', hashes.store, { disableStack: true, enableMemory: true, disableStorage: true, limit: 16 });
    expect(r.structLogs).toHaveLength(16);
    expect(r.structLogs[0]!.stack).toBeUndefined();
    expect(r.structLogs[12]!.storage).toBeUndefined();
    const afterMstore = await call<StructLogs>('debug_traceTransaction', hashes.store, { enableMemory: true });
    expect(afterMstore.structLogs[15]!.memory).toEqual([word(7n)]);
  });

  it('traces every transaction of a block by number and by hash', async () => {
    const byNumber = await call<{ txHash: string; result: StructLogs }[]>('debug_traceBlockByNumber', '0x2');
    expect(byNumber.map((x) => x.txHash)).toEqual(Object.values(hashes));
    const block = await call<{ hash: string }>('eth_getBlockByNumber', '0x2', false);
    const byHash = await call<{ txHash: string; result: Frame }[]>('debug_traceBlockByHash', block.hash, { tracer: 'callTracer' });
    expect(byHash.map((x) => x.result.to)).toEqual([outer, outer, outer, storage]);
    expect(byHash[0]!.result).toEqual(await call('debug_traceTransaction', hashes.go, { tracer: 'callTracer' }));
  });
});

describe('trace bounds and refusals', () => {
  it('stops a struct log that grows past its size bound', async () => {
    // 1 MiB of memory, then a loop: each step with enableMemory would copy the whole megabyte.
    const bigMemoryLoop = bytesToHex(assemble([{ push: 1n }, { push: 0xfffe0n }, 'MSTORE', { label: 'top' }, { ref: 'top' }, 'JUMP']));
    const patient = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), rpcEvmTimeoutMs: 60_000 });
    const big = await Promise.resolve(patient.debug_traceCall!([{ data: bigMemoryLoop, gas: '0x2faf080' }, 'latest', { enableMemory: true }])).then(
      () => new Error('traced'),
      (err: Error) => err,
    ); // as init code
    expect(big.message).toMatch(/^trace too large: more than 64 MiB/);
  });

  it('stops a callTracer trace whose frames grow past the size bound (calls of 1 MiB inputs are cheap once memory is paid)', async () => {
    // 1 MiB of memory, then a loop of CALLs to the caller, each with the whole megabyte as its input.
    const bigCalls = bytesToHex(
      assemble([
        { push: 1n },
        { push: 0xfffe0n },
        'MSTORE',
        { label: 'top' },
        { push: 0n },
        { push: 0n },
        { push: 0x100000n },
        { push: 0n },
        { push: 0n },
        'CALLER',
        'GAS',
        'CALL',
        'POP',
        { ref: 'top' },
        'JUMP',
      ]),
    );
    const patient = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), rpcEvmTimeoutMs: 60_000 });
    const big = await Promise.resolve(patient.debug_traceCall!([{ data: bigCalls, gas: '0x2faf080' }, 'latest', { tracer: 'callTracer' }])).then(
      () => new Error('traced'),
      (err: Error) => err,
    );
    expect(big.message).toMatch(/^trace too large: more than 64 MiB/);
  });

  /** Init code that fills the stack with `depth` zeros (PUSH0), then passes `steps` JUMPDESTs with that stack. */
  const deepStack = (depth: number, steps: number) => bytesToHex(Uint8Array.from([...new Array(depth).fill(0x5f), ...new Array(steps).fill(0x5b), 0x00]));

  it('counts a struct log at the heap its records take, not the length of their text', async () => {
    // 9,500 steps each with a stack of 1,000 zeros: ~60 MiB as text ("0x0"), five times that as the strings
    // and arrays held (the review's: 843 MiB of RSS for four such answers); with the small words shared, ~78 MiB.
    const patient = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), rpcEvmTimeoutMs: 60_000 });
    const big = await Promise.resolve(patient.debug_traceCall!([{ data: deepStack(1000, 9500), gas: '0x2faf080' }, 'latest', {}])).then(
      () => new Error('traced'),
      (err: Error) => err,
    );
    expect(big.message).toMatch(/^trace too large: more than 64 MiB/);
    // a shorter one is traced whole, its words as before
    const r = (await patient.debug_traceCall!([{ data: deepStack(1000, 10), gas: '0x2faf080' }, 'latest', {}])) as StructLogs;
    expect(r.structLogs).toHaveLength(1011);
    expect(r.structLogs.at(-1)!.stack).toEqual(new Array(1000).fill('0x0'));
  });

  it("bounds a whole block's traces together: each transaction's fits, the block's do not", async () => {
    // four transactions of ~27 MiB of struct logs each
    await sealNext(
      t,
      Array.from({ length: 4 }, () => tx(deepStack(1000, 2800), undefined, 300_000n)),
    );
    const block = await call<{ number: string; transactions: string[] }>('eth_getBlockByNumber', 'latest', false);
    const patient = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), rpcEvmTimeoutMs: 60_000 });
    const each = (await patient.debug_traceTransaction!([block.transactions[3], {}])) as StructLogs;
    expect(each.structLogs).toHaveLength(3801);
    const whole = await Promise.resolve(patient.debug_traceBlockByNumber!([block.number, {}])).then(
      () => new Error('traced'),
      (err: Error) => err,
    );
    expect(whole.message).toMatch(/^trace too large: more than 64 MiB/);
  });

  it('stops a trace past the time limit', async () => {
    const e = await rpcError('debug_traceCall', { to: loop, gas: '0x2faf080' }, 'latest', { tracer: 'callTracer', timeout: '50ms' });
    expect(e.message).toBe('execution timeout: the trace took more than 50ms');
  });

  it('refuses unknown tracers and bad options with -32602, unknown transactions with -32000', async () => {
    expect((await rpcError('debug_traceTransaction', hashes.go, { tracer: 'prestateTracer' })).code).toBe(-32602);
    expect((await rpcError('debug_traceTransaction', hashes.go, { limit: -1 })).code).toBe(-32602);
    expect((await rpcError('debug_traceTransaction', hashes.go, { timeout: 'soon' })).code).toBe(-32602);
    expect((await rpcError('debug_traceTransaction', `0x${'ab'.repeat(32)}`)).message).toBe('transaction not found');
  });

  it('refuses to trace where the state is not held (a node restored from a snapshot)', async () => {
    const original = t.chain.hasStateAt.bind(t.chain);
    t.chain.hasStateAt = async () => false;
    try {
      const e = await rpcError('debug_traceTransaction', hashes.go, { tracer: 'callTracer' });
      expect(e.code).toBe(-32000);
      expect(e.message).toMatch(/^historical state for block 1 is not available on this node/);
    } finally {
      t.chain.hasStateAt = original;
    }
  });
});

function bigHex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
