import type { Block, BlockHeader } from '@ethereumjs/block';
import { createVM, runTx, type VM } from '@ethereumjs/vm';
import { bytesToHex, bytesToUnprefixedHex, createZeroAddress } from '@ethereumjs/util';
import type { Chain } from './chain.js';
import { ExecutionGuard } from './exec-guard.js';
import { Simulator, type CallRequest } from './simulate.js';
import type { TxTracer } from './tracers.js';

/** The block's parent state is not on this node (pruned, or restored from a later block): Chain.stateUnavailable says why. */
export class StateUnavailable extends Error {
  constructor(
    readonly blockNumber: bigint,
    message: string,
  ) {
    super(message);
    this.name = 'StateUnavailable';
  }
}

/** Transactions replayed between two turns of the event loop. */
const YIELD_EVERY = 10;

/**
 * A VM over a throw-away copy of the state after `header`, with BLOCKHASH from the canonical chain,
 * running the EVM rules of block `rulesOf` (the block being re-executed, or the block a call runs in).
 */
export async function scratchVm(chain: Chain, header: BlockHeader, rulesOf: bigint, guard: ExecutionGuard): Promise<VM> {
  if (!(await chain.hasStateAt(header))) throw new StateUnavailable(header.number, await chain.stateUnavailable(header.number));
  const stateManager = await chain.scratchStateAt(header);
  const blockchain = {
    async getBlock(num: number) {
      const hash = (await chain.store.canonicalHash(BigInt(num))) ?? new Uint8Array(32);
      return { hash: () => hash };
    },
    shallowCopy() {
      return blockchain;
    },
    async putBlock() {},
  };
  const common = chain.commonAt(rulesOf);
  const vm = await createVM({ common, stateManager, blockchain: blockchain as never, evmOpts: guard.evmOpts(common) });
  guard.attach(vm.evm);
  return vm;
}

/**
 * Re-execute `block` on its parent's state (a scratch copy: nothing reaches the database) and trace
 * the transactions `trace` picks: the ones before are replayed untraced, the ones after are not run.
 * `deadline` (performance.now() time) bounds the whole replay; past it ExecutionTimeout is thrown.
 */
export async function traceBlock(
  chain: Chain,
  block: Block,
  pick: (index: number) => TxTracer | undefined,
  deadline = Infinity,
  last = block.transactions.length - 1,
): Promise<{ txHash: string; result: unknown }[]> {
  const parent = block.header.number === 0n ? undefined : await chain.store.canonicalHeader(block.header.number - 1n);
  if (!parent) return [];
  const guard = new ExecutionGuard(deadline);
  const vm = await scratchVm(chain, parent, block.header.number, guard);
  const out: { txHash: string; result: unknown }[] = [];
  let blockGasUsed = 0n;
  for (let i = 0; i <= last && i < block.transactions.length; i++) {
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await guard.check();
    const tx = block.transactions[i]!;
    const tracer = pick(i);
    const stop = tracer?.listen(vm.evm);
    try {
      const r = await runTx(vm, { tx, block, blockGasUsed, skipHardForkValidation: true, skipBlockGasLimitValidation: true });
      blockGasUsed += r.totalGasSpent;
      const err = r.execResult.exceptionError?.error;
      if (tracer)
        out.push({
          txHash: bytesToHex(tx.hash()),
          result: tracer.result({ gas: tx.gasLimit, gasUsed: r.totalGasSpent, returnValue: r.execResult.returnValue, ...(err ? { error: err } : {}) }),
        });
    } finally {
      stop?.();
    }
  }
  return out;
}

/**
 * Trace a call on the state after `block` (debug_traceCall), as eth_call runs it: no nonce or
 * balance checks, `gas` in all (intrinsic gas included), state thrown away afterwards.
 */
export async function traceCall(chain: Chain, block: Block, req: CallRequest, gas: bigint, tracer: TxTracer, deadline = Infinity): Promise<unknown> {
  const vm = await scratchVm(chain, block.header, block.header.number, new ExecutionGuard(deadline));
  const stop = tracer.listen(vm.evm);
  try {
    const r = await scratchCall(vm, block, req, gas);
    return tracer.result({ gas, gasUsed: r.gasUsed, returnValue: r.returnValue, ...(r.error ? { error: r.error } : {}) });
  } finally {
    stop();
  }
}

/**
 * Run a call as eth_call does, on `vm` (a scratch VM: its state is thrown away): no nonce or balance
 * checks, `gas` in all (intrinsic gas included), what a transaction finds warm warmed first.
 */
export async function scratchCall(vm: VM, block: Block, req: CallRequest, gas: bigint): Promise<{ gasUsed: bigint; returnValue: Uint8Array; error?: string }> {
  const intrinsic = Simulator.intrinsicGas(req);
  const caller = req.from ?? createZeroAddress();
  const journal = vm.evm.journal;
  journal.cleanJournal();
  for (const address of vm.evm.precompiles.keys()) journal.addAlwaysWarmAddress(address);
  for (const a of [caller, ...(req.to ? [req.to] : []), block.header.coinbase]) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(a.bytes));
  for (const item of req.accessList ?? []) {
    const address = bytesToUnprefixedHex(item.address);
    // Reported when an access list is being collected (eth_createAccessList keeps what it was given).
    journal.addAlwaysWarmAddress(address, true);
    for (const key of item.storageKeys) journal.addAlwaysWarmSlot(address, bytesToUnprefixedHex(key), true);
  }
  const res = await vm.evm.runCall({
    caller,
    origin: caller,
    ...(req.to ? { to: req.to } : {}),
    data: req.data,
    value: req.value,
    gasLimit: gas - intrinsic,
    gasPrice: req.gasPrice ?? 0n,
    block,
  });
  const err = res.execResult.exceptionError?.error;
  return { gasUsed: intrinsic + res.execResult.executionGasUsed, returnValue: res.execResult.returnValue, ...(err ? { error: err } : {}) };
}
