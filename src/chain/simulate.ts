import type { Block } from '@ethereumjs/block';
import { createVM, type VM } from '@ethereumjs/vm';
import { bytesToUnprefixedHex, createZeroAddress, type Address } from '@ethereumjs/util';
import type { Chain } from './chain.js';
import { ExecutionGuard } from './exec-guard.js';
import { forkOpcodes } from './forks.js';
import { applyStateOverrides, type StateOverrides } from './sim-context.js';

export interface CallRequest {
  from?: Address;
  to?: Address;
  data: Uint8Array;
  value: bigint;
  gas?: bigint;
  gasPrice?: bigint;
  /** EIP-2930 access list: charged in the intrinsic gas, warm from the start. */
  accessList?: { address: Uint8Array; storageKeys: Uint8Array[] }[];
}

export interface CallResult {
  returnValue: Uint8Array;
  gasUsed: bigint;
  /** 'revert' for REVERT, another EVM error name otherwise; undefined on success. */
  error?: string;
}

/**
 * Throw-away execution on the state after `stateBlock` in the block context `block` (eth_call,
 * eth_estimateGas), with the rules of `block`'s number and any state overrides. Runs on a scratch
 * view of the trie, so nothing it writes can reach the database or a block being built. Execution
 * yields to the event loop as it goes and every run of one Simulator shares one deadline: past it,
 * call() and estimateGas() throw ExecutionTimeout and the Simulator must not be used again.
 */
export class Simulator {
  private constructor(
    private readonly vm: VM,
    private readonly block: Block,
  ) {}

  /**
   * `block`: what the EVM sees (NUMBER, TIMESTAMP, COINBASE, …), `stateBlock`'s own block by default.
   * `deadline`: a performance.now() time after which execution is aborted; none by default.
   */
  static async at(chain: Chain, stateBlock: Block, opts: { block?: Block; deadline?: number; stateOverrides?: StateOverrides } = {}): Promise<Simulator> {
    const block = opts.block ?? stateBlock;
    const stateManager = await chain.scratchStateAt(stateBlock.header);
    if (opts.stateOverrides) await applyStateOverrides(stateManager, opts.stateOverrides);
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
    const guard = new ExecutionGuard(opts.deadline);
    const common = chain.commonAt(block.header.number);
    const customOpcodes = [...forkOpcodes(common), ...(guard.evmOpts(common).customOpcodes ?? [])];
    const vm = await createVM({ common, stateManager, blockchain: blockchain as never, evmOpts: { customOpcodes } });
    guard.attach(vm.evm);
    return new Simulator(vm, block);
  }

  /** Run the call; state changes are rolled back afterwards. */
  async call(req: CallRequest, gasLimit: bigint): Promise<CallResult> {
    const sm = this.vm.stateManager;
    const journal = this.vm.evm.journal;
    await sm.checkpoint();
    try {
      const caller = req.from ?? createZeroAddress();
      // Warm what a transaction finds warm (EIP-2929, EIP-3651, EIP-2930), as runTx does, and
      // nothing left over from the previous run.
      journal.cleanJournal();
      for (const address of this.vm.evm.precompiles.keys()) journal.addAlwaysWarmAddress(address);
      for (const a of [caller, ...(req.to ? [req.to] : []), this.block.header.coinbase]) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(a.bytes));
      for (const item of req.accessList ?? []) {
        const address = bytesToUnprefixedHex(item.address);
        journal.addAlwaysWarmAddress(address);
        for (const key of item.storageKeys) journal.addAlwaysWarmSlot(address, bytesToUnprefixedHex(key));
      }
      const res = await this.vm.evm.runCall({
        caller,
        origin: caller,
        ...(req.to ? { to: req.to } : {}),
        data: req.data,
        value: req.value,
        gasLimit,
        gasPrice: req.gasPrice ?? 0n,
        block: this.block,
      });
      const err = res.execResult.exceptionError;
      return { returnValue: res.execResult.returnValue, gasUsed: res.execResult.executionGasUsed, ...(err ? { error: err.error } : {}) };
    } finally {
      await sm.revert();
      journal.cleanJournal();
      sm.originalStorageCache.clear();
    }
  }

  /** Intrinsic gas of a transaction with this request's shape (EIP-2028 calldata, EIP-3860 initcode). */
  static intrinsicGas(req: CallRequest): bigint {
    let gas = req.to ? 21_000n : 53_000n;
    for (const b of req.data) gas += b === 0 ? 4n : 16n;
    if (!req.to) gas += 2n * BigInt(Math.ceil(req.data.length / 32));
    for (const item of req.accessList ?? []) gas += 2400n + 1900n * BigInt(item.storageKeys.length);
    return gas;
  }

  /** Smallest gas limit with which the transaction succeeds (binary search, as geth does). */
  async estimateGas(req: CallRequest, cap: bigint): Promise<{ gas: bigint } | { failure: CallResult }> {
    const intrinsic = Simulator.intrinsicGas(req);
    if (cap < intrinsic) return { failure: { returnValue: new Uint8Array(0), gasUsed: 0n, error: `gas limit ${cap} is below the intrinsic gas ${intrinsic}` } };
    const top = await this.call(req, cap - intrinsic);
    if (top.error) return { failure: top };
    let lo = intrinsic + top.gasUsed - 1n;
    let hi = cap;
    // Most transactions succeed with exactly the gas they used: try that before searching.
    if (lo + 1n < hi) {
      if (!(await this.call(req, lo + 1n - intrinsic)).error) return { gas: lo + 1n };
      lo += 1n;
    }
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      const r = await this.call(req, mid - intrinsic);
      if (r.error) lo = mid;
      else hi = mid;
    }
    return { gas: hi };
  }
}

