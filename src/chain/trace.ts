import type { Block } from '@ethereumjs/block';
import { runTx, type VM } from '@ethereumjs/vm';
import { bytesToHex } from '@ethereumjs/util';
import type { Chain } from './chain.js';
import { ExecutionGuard } from './exec-guard.js';
import type { StateOverrides } from './sim-context.js';
import { type Authorities, type CallRequest, type CallResult, Simulator, recoverAuthorities, runCall, scratchVm } from './simulate.js';
import type { TxTracer } from './tracers.js';

/** Transactions replayed between two turns of the event loop. */
const YIELD_EVERY = 10;

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
 * Trace a call on the state after `stateBlock` with `stateOverrides` written in, in the block context
 * `block` (`stateBlock` by default; its number's rules), as eth_call runs it (debug_traceCall): no nonce
 * or balance checks, `gas` in all (intrinsic gas included), state thrown away afterwards.
 */
export async function traceCall(
  chain: Chain,
  stateBlock: Block,
  req: CallRequest,
  gas: bigint,
  tracer: TxTracer,
  deadline = Infinity,
  opts: { block?: Block; stateOverrides?: StateOverrides } = {},
): Promise<unknown> {
  const block = opts.block ?? stateBlock;
  const guard = new ExecutionGuard(deadline);
  const vm = await scratchVm(chain, stateBlock.header, block.header.number, guard, opts.stateOverrides);
  const authorities = await recoveredFor(vm, req, guard);
  const stop = tracer.listen(vm.evm);
  try {
    const r = await scratchCall(vm, block, req, gas, guard, authorities);
    return tracer.result({ gas, gasUsed: r.gasUsed, returnValue: r.returnValue, ...(r.error ? { error: r.error } : {}) });
  } finally {
    stop();
  }
}

/** The authorities of `req`'s authorizationList (recoverAuthorities), if it has one. */
export async function recoveredFor(vm: VM, req: CallRequest, guard: ExecutionGuard): Promise<Authorities | undefined> {
  const list = req.authorizationList;
  return list && list.length > 0 ? recoverAuthorities(vm.common, list, guard) : undefined;
}

/** runCall with `gas` in all, the intrinsic gas included (and counted in gasUsed). */
export async function scratchCall(vm: VM, block: Block, req: CallRequest, gas: bigint, guard: ExecutionGuard, authorities?: Authorities): Promise<CallResult> {
  const intrinsic = Simulator.intrinsicGas(req);
  const r = await runCall(vm, block, req, gas - intrinsic, guard, authorities);
  return { ...r, gasUsed: intrinsic + r.gasUsed };
}
