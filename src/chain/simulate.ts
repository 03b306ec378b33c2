import type { Block, BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { createVM, type VM } from '@ethereumjs/vm';
import {
  Account,
  bytesToBigInt,
  bytesToUnprefixedHex,
  concatBytes,
  createZeroAddress,
  equalsBytes,
  type Address,
  type EOACode7702AuthorizationListBytesItem,
} from '@ethereumjs/util';
import { authorityOf } from './authorities.js';
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

/**
 * A VM over a throw-away copy of the state after `header` with `stateOverrides` written in, BLOCKHASH
 * from the canonical chain, running the EVM rules of block `rulesOf` (the block being re-executed, or
 * the block a call runs in) under `guard`, which bounds the overrides' writes too (applyStateOverrides).
 */
export async function scratchVm(chain: Chain, header: BlockHeader, rulesOf: bigint, guard: ExecutionGuard, stateOverrides?: StateOverrides): Promise<VM> {
  if (!(await chain.hasStateAt(header))) throw new StateUnavailable(header.number, await chain.stateUnavailable(header.number));
  const stateManager = await chain.scratchStateAt(header);
  if (stateOverrides) await applyStateOverrides(stateManager, stateOverrides, guard);
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

/** The account each authorization of a list names (authorityOf), undefined for one the EVM skips whatever the state. */
export type Authorities = (Address | undefined)[];

/**
 * The authorities of an authorizationList on `common`'s chain, recovered once for all the runs of a
 * request (a signature each): the guard is checked before each, so a long list yields to the event loop
 * and stops at the deadline.
 */
export async function recoverAuthorities(common: Common, list: Uint8Array[][], guard: ExecutionGuard): Promise<Authorities> {
  if (!common.isActivatedEIP(7702)) throw new Error('authorizationList needs the prague fork, which this block has not reached');
  const out: Authorities = [];
  for (const item of list) {
    await guard.check();
    out.push(authorityOf(item as EOACode7702AuthorizationListBytesItem, common.chainId()));
  }
  return out;
}

/**
 * Run `req` as eth_call does on `vm`, a scratch VM (the caller reverts or throws away what it writes):
 * no nonce or balance checks, `gas` for the execution (the intrinsic gas left out), what a transaction
 * finds warm warmed first (EIP-2929, EIP-3651, EIP-2930; the access list reported when the journal
 * reports one), and the delegations of its authorizations (`authorities`: recoverAuthorities of its list)
 * set as a type-4 transaction sets them. eth_call, eth_estimateGas, eth_createAccessList and
 * debug_traceCall all run through it.
 */
export async function runCall(vm: VM, block: Block, req: CallRequest, gas: bigint, guard: ExecutionGuard, authorities?: Authorities): Promise<CallResult> {
  const caller = req.from ?? createZeroAddress();
  const journal = vm.evm.journal;
  // Nothing left warm from a previous run.
  journal.cleanJournal();
  for (const address of vm.evm.precompiles.keys()) journal.addAlwaysWarmAddress(address);
  for (const a of [caller, ...(req.to ? [req.to] : []), block.header.coinbase]) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(a.bytes));
  for (const item of req.accessList ?? []) {
    const address = bytesToUnprefixedHex(item.address);
    // Reported when an access list is being collected (eth_createAccessList keeps what it was given).
    journal.addAlwaysWarmAddress(address, true);
    for (const key of item.storageKeys) journal.addAlwaysWarmSlot(address, bytesToUnprefixedHex(key), true);
  }
  const list = req.authorizationList ?? [];
  if (list.length > 0) {
    if (authorities?.length !== list.length) throw new Error('runCall: the authorizations were not recovered');
    await applyAuthorizations(vm, caller, list, authorities, guard);
  }
  const res = await vm.evm.runCall({
    caller,
    origin: caller,
    ...(req.to ? { to: req.to } : {}),
    data: req.data,
    value: req.value,
    gasLimit: gas,
    gasPrice: req.gasPrice ?? 0n,
    block,
  });
  const err = res.execResult.exceptionError;
  return { returnValue: res.execResult.returnValue, gasUsed: res.execResult.executionGasUsed, ...(err ? { error: err.error } : {}) };
}

/**
 * Set the delegations a type-4 transaction would set before it runs (EIP-7702), skipping the
 * authorizations runTx skips. The sender's nonce is bumped first, as the transaction would.
 */
async function applyAuthorizations(vm: VM, caller: Address, list: Uint8Array[][], authorities: Authorities, guard: ExecutionGuard): Promise<void> {
  const sm = vm.stateManager;
  const sender = (await sm.getAccount(caller)) ?? new Account();
  sender.nonce += 1n;
  await sm.putAccount(caller, sender);
  for (let i = 0; i < list.length; i++) {
    await guard.check();
    const authority = authorities[i];
    if (!authority) continue;
    const [, address, nonce] = list[i]! as [Uint8Array, Uint8Array, Uint8Array];
    vm.evm.journal.addAlwaysWarmAddress(bytesToUnprefixedHex(authority.bytes));
    const account = (await sm.getAccount(authority)) ?? new Account();
    const code = await sm.getCode(authority);
    if (code.length > 0 && !equalsBytes(code.subarray(0, 3), DELEGATION_PREFIX)) continue;
    if (account.nonce !== bytesToBigInt(nonce)) continue;
    account.nonce += 1n;
    await sm.putAccount(authority, account);
    await sm.putCode(authority, bytesToBigInt(address) === 0n ? new Uint8Array(0) : concatBytes(DELEGATION_PREFIX, address));
  }
}

/**
 * Throw-away execution on the state after `stateBlock` in the block context `block` (eth_call,
 * eth_estimateGas), with the rules of `block`'s number and any state overrides. Runs on a scratch
 * view of the trie, so nothing it writes can reach the database or a block being built. Everything a
 * Simulator does, from its state overrides on, yields to the event loop as it goes, and shares one
 * deadline: past it, at(), call() and estimateGas() throw ExecutionTimeout and the Simulator must not be
 * used again.
 */
export class Simulator {
  /** The last authorizationList recovered, and its authorities: an estimate's runs recover them once. */
  private recovered?: { list: Uint8Array[][]; authorities: Authorities };

  private constructor(
    private readonly vm: VM,
    private readonly block: Block,
    private readonly guard: ExecutionGuard,
  ) {}

  /**
   * `block`: what the EVM sees (NUMBER, TIMESTAMP, COINBASE, …), `stateBlock`'s own block by default.
   * `deadline`: a performance.now() time after which execution is aborted; none by default.
   */
  static async at(chain: Chain, stateBlock: Block, opts: { block?: Block; deadline?: number; stateOverrides?: StateOverrides } = {}): Promise<Simulator> {
    const block = opts.block ?? stateBlock;
    const guard = new ExecutionGuard(opts.deadline);
    const vm = await scratchVm(chain, stateBlock.header, block.header.number, guard, opts.stateOverrides);
    return new Simulator(vm, block, guard);
  }

  /** Run the call; state changes are rolled back afterwards. */
  async call(req: CallRequest, gasLimit: bigint): Promise<CallResult> {
    const authorities = await this.authorities(req);
    const sm = this.vm.stateManager;
    await sm.checkpoint();
    try {
      return await runCall(this.vm, this.block, req, gasLimit, this.guard, authorities);
    } finally {
      await sm.revert();
      this.vm.evm.journal.cleanJournal();
      sm.originalStorageCache.clear();
    }
  }

  private async authorities(req: CallRequest): Promise<Authorities | undefined> {
    const list = req.authorizationList;
    if (!list || list.length === 0) return undefined;
    if (this.recovered?.list !== list) this.recovered = { list, authorities: await recoverAuthorities(this.vm.common, list, this.guard) };
    return this.recovered.authorities;
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
