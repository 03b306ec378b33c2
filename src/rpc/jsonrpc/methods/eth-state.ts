import type { Block } from '@ethereumjs/block';
import { Address, bigIntToHex, bigIntToUnpaddedBytes, bytesToHex, setLengthLeft } from '@ethereumjs/util';
import { ExecutionRefused, ExecutionTimeout } from '../../../chain/exec-guard.js';
import { nextBlockContext, simulationBlock, type StateOverrides } from '../../../chain/sim-context.js';
import { Simulator, StateUnavailable, type CallRequest } from '../../../chain/simulate.js';
import { parseBlockOverrides, parseStateOverrides } from '../call-overrides.js';
import { MAX_POOLED_AUTHORIZATIONS } from '../../../txpool/set-code.js';
import { formatDuration } from '../../../util/duration.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { blockTag, expectParams, hexData, hexQuantity, type BlockTag } from '../params.js';
import {
  DEFAULT_RPC_EVM_TIMEOUT_MS,
  DEFAULT_RPC_GAS_CAP,
  requireBlock,
  stateAfter,
  withStateErrors,
  type RpcMethods,
  type SimulatingContext,
} from './context.js';

interface SimContext {
  /** The block whose post-state the call runs on. */
  state: Block;
  /** The block the EVM sees. */
  block: Block;
  stateOverrides?: StateOverrides;
}

export function address(v: unknown, name = 'address'): Address {
  return new Address(hexData(v, name, 20));
}

function tagOrLatest(v: unknown): BlockTag {
  return v === undefined ? { kind: 'tag', tag: 'latest' } : blockTag(v);
}

/** The call object of eth_call / eth_estimateGas. */
export function callRequest(v: unknown): CallRequest {
  if (v === null || typeof v !== 'object') throw invalidParams('transaction call object expected');
  const o = v as Record<string, unknown>;
  const data = o.input ?? o.data;
  const req: CallRequest = {
    data: data === undefined || data === null ? new Uint8Array(0) : hexData(data, 'input'),
    value: o.value === undefined || o.value === null ? 0n : hexQuantity(o.value, 'value'),
  };
  if (o.from !== undefined && o.from !== null) req.from = address(o.from, 'from');
  if (o.to !== undefined && o.to !== null) req.to = address(o.to, 'to');
  if (o.gas !== undefined && o.gas !== null) req.gas = hexQuantity(o.gas, 'gas');
  const price = o.gasPrice ?? o.maxFeePerGas;
  if (price !== undefined && price !== null) req.gasPrice = hexQuantity(price, 'gasPrice');
  if (o.accessList !== undefined && o.accessList !== null) req.accessList = accessList(o.accessList);
  if (o.authorizationList !== undefined && o.authorizationList !== null) req.authorizationList = authorizationList(o.authorizationList);
  return req;
}

/**
 * Most EIP-7702 authorizations one call may carry: as many as a set-code transaction this node's pool
 * takes (each is a signature to recover; a transaction with more could not be sent here).
 */
export const MAX_CALL_AUTHORIZATIONS = MAX_POOLED_AUTHORIZATIONS;

function authorizationList(v: unknown): NonNullable<CallRequest['authorizationList']> {
  if (!Array.isArray(v)) throw invalidParams('authorizationList must be an array of {chainId, address, nonce, yParity, r, s}');
  if (v.length > MAX_CALL_AUTHORIZATIONS) throw invalidParams(`authorizationList has ${v.length} entries, at most ${MAX_CALL_AUTHORIZATIONS} allowed`);
  return v.map((item: unknown) => {
    const o = (item ?? {}) as Record<string, unknown>;
    const q = (x: unknown, name: string) => bigIntToUnpaddedBytes(hexQuantity(x, `authorization ${name}`));
    return [
      q(o.chainId, 'chainId'),
      hexData(o.address, 'authorization address', 20),
      q(o.nonce, 'nonce'),
      q(o.yParity ?? o.v, 'yParity'),
      q(o.r, 'r'),
      q(o.s, 's'),
    ];
  });
}

function accessList(v: unknown): NonNullable<CallRequest['accessList']> {
  if (!Array.isArray(v)) throw invalidParams('accessList must be an array of {address, storageKeys}');
  return v.map((item: unknown) => {
    const o = (item ?? {}) as { address?: unknown; storageKeys?: unknown };
    if (o.storageKeys !== undefined && !Array.isArray(o.storageKeys)) throw invalidParams('accessList storageKeys must be an array');
    return {
      address: hexData(o.address, 'accessList address', 20),
      storageKeys: ((o.storageKeys ?? []) as unknown[]).map((k) => hexData(k, 'storage key', 32)),
    };
  });
}

/** A call with an authorizationList runs only in a block of the prague fork (EIP-7702). */
export function checkAuthorizationFork(req: CallRequest, block: Block): void {
  if (req.authorizationList && !block.common.isActivatedEIP(7702)) {
    throw new RpcError(RpcErrorCode.InvalidInput, `authorizationList needs the prague fork, which block ${block.header.number} has not reached`);
  }
}

/** Geth's revert error: code 3, "execution reverted[: reason]", data = the revert bytes. */
export function revertError(returnValue: Uint8Array): RpcError {
  let reason = '';
  // Error(string) selector 0x08c379a0
  if (returnValue.length >= 68 && bytesToHex(returnValue.subarray(0, 4)) === '0x08c379a0') {
    const len = Number(BigInt(bytesToHex(returnValue.subarray(36, 68))));
    reason = new TextDecoder().decode(returnValue.subarray(68, 68 + Math.min(len, returnValue.length - 68)));
  }
  return new RpcError(RpcErrorCode.ExecutionReverted, reason ? `execution reverted: ${reason}` : 'execution reverted', bytesToHex(returnValue));
}

export function stateMethods({
  chain,
  txpool,
  rpcGasCap = DEFAULT_RPC_GAS_CAP,
  rpcEvmTimeoutMs = DEFAULT_RPC_EVM_TIMEOUT_MS,
  blockTimeMs = 0,
  simulations,
}: SimulatingContext): RpcMethods {
  /** The gas a call may have: what it asks for (or the block gas limit), at most the cap (as geth). */
  const capped = (gas: bigint) => (rpcGasCap > 0n && gas > rpcGasCap ? rpcGasCap : gas);
  /**
   * A simulator for one request whose runs all share one deadline; a run past it becomes geth's
   * "execution aborted (timeout = 5s)".
   */
  const simulate = async <T>(ctx: SimContext, run: (sim: Simulator) => Promise<T>): Promise<T> => {
    const deadline = rpcEvmTimeoutMs > 0 ? performance.now() + rpcEvmTimeoutMs : Infinity;
    try {
      return await simulations.run(deadline, async () =>
        run(await Simulator.at(chain, ctx.state, { block: ctx.block, deadline, ...(ctx.stateOverrides ? { stateOverrides: ctx.stateOverrides } : {}) })),
      );
    } catch (err) {
      if (err instanceof ExecutionTimeout) throw new RpcError(RpcErrorCode.InvalidInput, `execution aborted (timeout = ${formatDuration(rpcEvmTimeoutMs)})`);
      if (err instanceof ExecutionRefused) throw new RpcError(RpcErrorCode.LimitExceeded, err.message);
      if (err instanceof StateUnavailable) throw new RpcError(RpcErrorCode.InvalidInput, err.message); // pruned since simContext looked
      throw err;
    }
  };
  /**
   * Where a call runs: on the state after the named block. At `latest` and `pending` (the default) it
   * runs in the block a transaction sent now would go into (number + 1, next base fee, next proposer,
   * the sealer's timestamp), so an estimate takes the path the mined transaction will take; at an
   * older block, in that block's own context (as geth). Overrides apply on top.
   */
  const simContext = async (p: unknown[], req: CallRequest): Promise<SimContext> => {
    const tag = tagOrLatest(p[1]);
    const stateOverrides = parseStateOverrides(p[2]);
    const blockOverrides = parseBlockOverrides(p[3]);
    const state = await requireBlock(chain, tag);
    await stateAfter(chain, state);
    const next = tag.kind === 'tag' && (tag.tag === 'latest' || tag.tag === 'pending');
    const block = simulationBlock(chain, next ? nextBlockContext(chain.engine, state.header, blockTimeMs) : state.header, blockOverrides);
    checkAuthorizationFork(req, block);
    return { state, block, ...(stateOverrides ? { stateOverrides } : {}) };
  };
  return withStateErrors(chain, {
    eth_getBalance: async (p) => {
      expectParams(p, 1, 2);
      const a = address(p[0]);
      const state = await stateAfter(chain, await requireBlock(chain, tagOrLatest(p[1])));
      return bigIntToHex((await state.getAccount(a))?.balance ?? 0n);
    },
    eth_getTransactionCount: async (p) => {
      expectParams(p, 1, 2);
      const a = address(p[0]);
      const tag = tagOrLatest(p[1]);
      if (tag.kind === 'tag' && tag.tag === 'pending') return bigIntToHex(await txpool.pendingNonce(a));
      const state = await stateAfter(chain, await requireBlock(chain, tag));
      return bigIntToHex((await state.getAccount(a))?.nonce ?? 0n);
    },
    eth_getCode: async (p) => {
      expectParams(p, 1, 2);
      const a = address(p[0]);
      const state = await stateAfter(chain, await requireBlock(chain, tagOrLatest(p[1])));
      return bytesToHex(await state.getCode(a));
    },
    eth_getStorageAt: async (p) => {
      expectParams(p, 2, 3);
      const a = address(p[0]);
      const raw = hexData(typeof p[1] === 'string' && p[1].length % 2 === 1 ? `0x0${p[1].slice(2)}` : p[1], 'slot');
      if (raw.length > 32) throw invalidParams('slot must be at most 32 bytes'); // setLengthLeft would throw first
      const slot = setLengthLeft(raw, 32);
      const state = await stateAfter(chain, await requireBlock(chain, tagOrLatest(p[2])));
      const account = await state.getAccount(a);
      const value = account ? await state.getStorage(a, slot) : new Uint8Array(0);
      return bytesToHex(setLengthLeft(value, 32));
    },
    eth_call: async (p) => {
      expectParams(p, 1, 4);
      const req = callRequest(p[0]);
      const ctx = await simContext(p, req);
      const gas = capped(req.gas ?? ctx.block.header.gasLimit);
      const intrinsic = Simulator.intrinsicGas(req);
      if (gas < intrinsic) throw new RpcError(RpcErrorCode.InvalidInput, `intrinsic gas too low: have ${gas}, want ${intrinsic}`);
      const r = await simulate(ctx, (sim) => sim.call(req, gas - intrinsic));
      if (r.error === 'revert') throw revertError(r.returnValue);
      if (r.error) throw new RpcError(RpcErrorCode.InvalidInput, r.error);
      return bytesToHex(r.returnValue);
    },
    eth_estimateGas: async (p) => {
      expectParams(p, 1, 4);
      const req = callRequest(p[0]);
      const ctx = await simContext(p, req);
      const cap = capped(req.gas ?? ctx.block.header.gasLimit);
      const r = await simulate(ctx, (sim) => sim.estimateGas(req, cap));
      if ('gas' in r) return bigIntToHex(r.gas);
      if (r.failure.error === 'revert') throw revertError(r.failure.returnValue);
      throw new RpcError(
        RpcErrorCode.InvalidInput,
        r.failure.error === 'out of gas' ? `gas required exceeds allowance (${cap})` : (r.failure.error ?? 'execution failed'),
      );
    },
  });
}
