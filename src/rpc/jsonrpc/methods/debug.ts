import type { Block } from '@ethereumjs/block';
import { ExecutionRefused, ExecutionTimeout } from '../../../chain/exec-guard.js';
import { transactionByHash } from '../../../chain/lookup.js';
import { simulationBlock, type BlockOverrides, type StateOverrides } from '../../../chain/sim-context.js';
import { Simulator, StateUnavailable } from '../../../chain/simulate.js';
import { traceBlock, traceCall } from '../../../chain/trace.js';
import { CallTracer, StructLogger, TraceBudget, TraceTooLarge, type TxTracer } from '../../../chain/tracers.js';
import { MAX_TIMER_MS, formatDuration, parseDuration } from '../../../util/duration.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { blockTag, expectParams, hexData } from '../params.js';
import { DEFAULT_RPC_EVM_TIMEOUT_MS, DEFAULT_RPC_GAS_CAP, requireBlock, type RpcMethods, type SimulatingContext } from './context.js';
import { parseBlockOverrides, parseStateOverrides } from '../call-overrides.js';
import { callRequest, checkAuthorizationFork } from './eth-state.js';

/** A trace config: which tracer, its options, and the time it may take; for debug_traceCall, its overrides. */
interface TraceConfig {
  /** A tracer counting what it holds against `budget`: the request's, shared by all of a block's tracers. */
  make: (budget: TraceBudget) => TxTracer;
  timeoutMs: number;
  stateOverrides?: StateOverrides;
  blockOverrides?: BlockOverrides;
}

const STRUCT_LOGGER_OPTIONS = ['disableStack', 'disableStorage', 'enableMemory', 'enableReturnData'] as const;
/** geth's TraceConfig fields. `reexec` (how far back geth re-executes to rebuild a missing state) changes nothing here: a state is held or not. */
const TRACE_CONFIG_FIELDS = new Set<string>(['tracer', 'tracerConfig', 'timeout', 'limit', 'reexec', ...STRUCT_LOGGER_OPTIONS]);
/** debug_traceCall's config adds the overrides of eth_call (geth's TraceCallConfig). */
const TRACE_CALL_CONFIG_FIELDS = new Set<string>([...TRACE_CONFIG_FIELDS, 'stateOverrides', 'blockOverrides']);
/**
 * Fields geth knows that would change the trace and are not done here (chain-config `overrides`,
 * debug_traceCall's `txIndex`), and the overrides outside debug_traceCall: refused, never dropped.
 * Any other field is ignored, as geth ignores them (tools still send pre-1.11 names: disableMemory...).
 */
const TRACE_CONFIG_REFUSED = new Set<string>(['overrides', 'txIndex', 'stateOverrides', 'blockOverrides']);

/**
 * geth's TraceConfig: {tracer?, tracerConfig?, timeout?, disableStack?, disableStorage?, enableMemory?,
 * enableReturnData?, limit?, reexec?}; with `call` (debug_traceCall), also stateOverrides and
 * blockOverrides as eth_call's third and fourth parameters. Other fields are ignored as geth ignores
 * them, but those that would change the trace if dropped (TRACE_CONFIG_REFUSED) are refused.
 */
function traceConfig(v: unknown, maxTimeoutMs: number, call = false): TraceConfig {
  const o = (v === undefined || v === null ? {} : v) as Record<string, unknown>;
  if (typeof o !== 'object' || Array.isArray(o)) throw invalidParams('trace config must be an object');
  const fields = call ? TRACE_CALL_CONFIG_FIELDS : TRACE_CONFIG_FIELDS;
  for (const k of Object.keys(o)) {
    if (!fields.has(k) && TRACE_CONFIG_REFUSED.has(k))
      throw invalidParams(`trace config: ${JSON.stringify(k)} is not supported here (${[...fields].join(', ')})`);
  }
  const overrides = call ? callOverrides(o) : {};
  if (o.reexec !== undefined && (typeof o.reexec !== 'number' || !Number.isSafeInteger(o.reexec) || o.reexec < 0))
    throw invalidParams('reexec must be a non-negative integer');
  let timeoutMs = maxTimeoutMs;
  if (o.timeout !== undefined) {
    const ms = typeof o.timeout === 'string' ? parseDuration(o.timeout) : undefined;
    if (ms === undefined) throw invalidParams('timeout must be a duration like "5s" or "500ms"');
    // A client may ask for less time than the node allows, never more.
    if (ms > 0 && (maxTimeoutMs === 0 || ms < maxTimeoutMs)) timeoutMs = Math.min(ms, MAX_TIMER_MS); // a longer timer fires at once
  }
  if (o.tracer === undefined || o.tracer === null || o.tracer === '' || o.tracer === 'structLogger') {
    const opts: Record<string, boolean | number> = {};
    for (const k of STRUCT_LOGGER_OPTIONS) {
      if (o[k] === undefined) continue;
      if (typeof o[k] !== 'boolean') throw invalidParams(`${k} must be true or false`);
      opts[k] = o[k];
    }
    if (o.limit !== undefined) {
      if (typeof o.limit !== 'number' || !Number.isSafeInteger(o.limit) || o.limit < 0) throw invalidParams('limit must be a non-negative integer');
      opts.limit = o.limit;
    }
    return { make: (budget) => new StructLogger(opts, budget), timeoutMs, ...overrides };
  }
  if (o.tracer === 'callTracer') {
    const c = (o.tracerConfig ?? {}) as Record<string, unknown>;
    if (typeof c !== 'object' || Array.isArray(c)) throw invalidParams('tracerConfig must be an object');
    for (const k of ['onlyTopCall', 'withLog'])
      if (c[k] !== undefined && typeof c[k] !== 'boolean') throw invalidParams(`tracerConfig.${k} must be true or false`);
    return { make: (budget) => new CallTracer({ onlyTopCall: c.onlyTopCall === true, withLog: c.withLog === true }, budget), timeoutMs, ...overrides };
  }
  const name = typeof o.tracer === 'string' ? JSON.stringify(o.tracer.slice(0, 64)) : typeof o.tracer;
  throw invalidParams(`tracer ${name} is not supported: use "callTracer" or the default struct logger (no tracer)`);
}

/** debug_traceCall's stateOverrides and blockOverrides, checked and bounded as eth_call's. */
function callOverrides(o: Record<string, unknown>): Pick<TraceConfig, 'stateOverrides' | 'blockOverrides'> {
  const stateOverrides = parseStateOverrides(o.stateOverrides);
  const blockOverrides = parseBlockOverrides(o.blockOverrides);
  return { ...(stateOverrides ? { stateOverrides } : {}), ...(blockOverrides ? { blockOverrides } : {}) };
}

/** debug_traceTransaction, debug_traceBlockByNumber|ByHash, debug_traceCall (geth's struct logger and callTracer). */
export function debugMethods({
  chain,
  rpcGasCap = DEFAULT_RPC_GAS_CAP,
  rpcEvmTimeoutMs = DEFAULT_RPC_EVM_TIMEOUT_MS,
  simulations,
}: SimulatingContext): RpcMethods {
  /** Run a trace under its deadline, turning the chain's errors into RPC errors. */
  const run = async <T>(cfg: TraceConfig, f: (deadline: number) => Promise<T>): Promise<T> => {
    // A read of state under way: a state pruner waits for it before it deletes (Chain.readers).
    try {
      const deadline = cfg.timeoutMs > 0 ? performance.now() + cfg.timeoutMs : Infinity;
      return await simulations.run(deadline, () => chain.readers.during(() => f(deadline)));
    } catch (err) {
      if (err instanceof ExecutionTimeout)
        throw new RpcError(RpcErrorCode.InvalidInput, `execution timeout: the trace took more than ${formatDuration(cfg.timeoutMs)}`);
      if (err instanceof ExecutionRefused) throw new RpcError(RpcErrorCode.LimitExceeded, err.message);
      if (err instanceof TraceTooLarge || err instanceof StateUnavailable) throw new RpcError(RpcErrorCode.InvalidInput, err.message);
      throw err;
    }
  };
  const traceWholeBlock = async (block: Block, p: unknown[]) => {
    // No parent state to replay it on: an error, as execution-apis requires (not an empty list).
    if (block.header.number === 0n) throw new RpcError(RpcErrorCode.InvalidInput, 'genesis is not traceable');
    const cfg = traceConfig(p[1], rpcEvmTimeoutMs);
    const budget = new TraceBudget(); // one bound for the whole answer, not one per transaction
    return run(cfg, (deadline) => traceBlock(chain, block, () => cfg.make(budget), deadline));
  };
  return {
    debug_traceTransaction: async (p) => {
      expectParams(p, 1, 2);
      const hash = hexData(p[0], 'transaction hash', 32);
      const cfg = traceConfig(p[1], rpcEvmTimeoutMs);
      const located = await transactionByHash(chain, hash);
      if (!located) throw new RpcError(RpcErrorCode.InvalidInput, 'transaction not found');
      const tracer = cfg.make(new TraceBudget());
      const traced = await run(cfg, (deadline) => traceBlock(chain, located.block, (i) => (i === located.index ? tracer : undefined), deadline, located.index));
      return traced[0]!.result;
    },
    debug_traceBlockByNumber: async (p) => {
      expectParams(p, 1, 2);
      const tag = blockTag(p[0]);
      if (tag.kind === 'hash') throw invalidParams('block number or tag expected (use debug_traceBlockByHash for a hash)');
      return traceWholeBlock(await requireBlock(chain, tag), p);
    },
    debug_traceBlockByHash: async (p) => {
      expectParams(p, 1, 2);
      const block = await chain.blockByHash(hexData(p[0], 'block hash', 32));
      if (!block) throw new RpcError(RpcErrorCode.InvalidInput, 'block not found');
      return traceWholeBlock(block, p);
    },
    debug_traceCall: async (p) => {
      expectParams(p, 1, 3);
      const req = callRequest(p[0]);
      const state = await requireBlock(chain, p[1] === undefined || p[1] === null ? { kind: 'tag', tag: 'latest' } : blockTag(p[1]));
      const cfg = traceConfig(p[2], rpcEvmTimeoutMs, true);
      // In the named block's own context (as geth), with the block overrides on top.
      const block = cfg.blockOverrides ? simulationBlock(chain, state.header, cfg.blockOverrides) : state;
      checkAuthorizationFork(req, block);
      const asked = req.gas ?? block.header.gasLimit;
      const gas = rpcGasCap > 0n && asked > rpcGasCap ? rpcGasCap : asked;
      const intrinsic = Simulator.intrinsicGas(req);
      if (gas < intrinsic) throw new RpcError(RpcErrorCode.InvalidInput, `intrinsic gas too low: have ${gas}, want ${intrinsic}`);
      const opts = { block, ...(cfg.stateOverrides ? { stateOverrides: cfg.stateOverrides } : {}) };
      return run(cfg, (deadline) => traceCall(chain, state, req, gas, cfg.make(new TraceBudget()), deadline, opts));
    },
  };
}
