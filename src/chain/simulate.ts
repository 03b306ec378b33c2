import type { Block } from '@ethereumjs/block';
import { createVM, type VM } from '@ethereumjs/vm';
import {
  Account,
  MAX_UINT64,
  SECP256K1_ORDER_DIV_2,
  bytesToBigInt,
  bytesToUnprefixedHex,
  concatBytes,
  createZeroAddress,
  eoaCode7702RecoverAuthority,
  equalsBytes,
  type Address,
} from '@ethereumjs/util';
import type { Chain } from './chain.js';
import { ExecutionGuard } from './exec-guard.js';
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
  /** EIP-7702 authorizations, as in a type-4 transaction: [chainId, address, nonce, yParity, r, s]. */
  authorizationList?: Uint8Array[][];
}

/** Intrinsic gas of one EIP-7702 authorization (PER_EMPTY_ACCOUNT_COST; the refund for existing accounts is not counted). */
const PER_AUTH_GAS = 25_000n;
const DELEGATION_PREFIX = new Uint8Array([0xef, 0x01, 0x00]);

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
    const vm = await createVM({ common, stateManager, blockchain: blockchain as never, evmOpts: guard.evmOpts(common) });
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
      if (req.authorizationList && req.authorizationList.length > 0) await this.applyAuthorizations(caller, req.authorizationList);
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

  /**
   * Set the delegations a type-4 transaction would set before it runs (EIP-7702), skipping invalid
   * authorizations as runTx does. The sender's nonce is bumped first, as the transaction would.
   */
  private async applyAuthorizations(caller: Address, list: Uint8Array[][]): Promise<void> {
    const sm = this.vm.stateManager;
    const common = this.vm.common;
    if (!common.isActivatedEIP(7702)) throw new Error('authorizationList needs the prague fork, which this block has not reached');
    const sender = (await sm.getAccount(caller)) ?? new Account();
    sender.nonce += 1n;
    await sm.putAccount(caller, sender);
    for (const auth of list) {
      const [chainId, address, nonce, yParity, , s] = auth as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
      const id = bytesToBigInt(chainId);
      if (
        (id !== 0n && id !== common.chainId()) ||
        bytesToBigInt(nonce) >= MAX_UINT64 ||
        bytesToBigInt(s) > SECP256K1_ORDER_DIV_2 ||
        bytesToBigInt(yParity) > 1n
      )
        continue;
      let authority: Address;
      try {
        authority = eoaCode7702RecoverAuthority(auth as never);
      } catch {
        continue;
      }
      this.vm.evm.journal.addAlwaysWarmAddress(bytesToUnprefixedHex(authority.bytes));
      const account = (await sm.getAccount(authority)) ?? new Account();
      const code = await sm.getCode(authority);
      if (code.length > 0 && !equalsBytes(code.subarray(0, 3), DELEGATION_PREFIX)) continue;
      if (account.nonce !== bytesToBigInt(nonce)) continue;
      account.nonce += 1n;
      await sm.putAccount(authority, account);
      await sm.putCode(authority, bytesToBigInt(address) === 0n ? new Uint8Array(0) : concatBytes(DELEGATION_PREFIX, address));
    }
  }

  /** Intrinsic gas of a transaction with this request's shape (EIP-2028 calldata, EIP-3860 initcode). */
  static intrinsicGas(req: CallRequest): bigint {
    let gas = req.to ? 21_000n : 53_000n;
    for (const b of req.data) gas += b === 0 ? 4n : 16n;
    if (!req.to) gas += 2n * BigInt(Math.ceil(req.data.length / 32));
    for (const item of req.accessList ?? []) gas += 2400n + 1900n * BigInt(item.storageKeys.length);
    gas += PER_AUTH_GAS * BigInt(req.authorizationList?.length ?? 0);
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
