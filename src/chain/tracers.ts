import type { EVMInterface, EVMResult, InterpreterStep, Message } from '@ethereumjs/evm';
import { bigIntToHex, bytesToHex, setLengthLeft, bigIntToBytes } from '@ethereumjs/util';

/** A trace grew past its bound (geth has none by default; Basalt must not run out of memory). */
export class TraceTooLarge extends Error {
  constructor(what: string) {
    super(`trace too large: ${what}; narrow it (disableStack, disableStorage, enableMemory: false, limit) or use callTracer`);
    this.name = 'TraceTooLarge';
  }
}

/** How the traced transaction or call ended. */
export interface TraceEnd {
  /** Gas available to the transaction (its gas limit). */
  gas: bigint;
  /** Gas it used, intrinsic gas included. */
  gasUsed: bigint;
  returnValue: Uint8Array;
  /** The EVM error of the top frame ('revert', 'out of gas', …), undefined on success. */
  error?: string;
}

/** Records one transaction's execution through the EVM's events. */
export interface TxTracer {
  /** Start listening to `evm`; returns a function that stops. */
  listen(evm: EVMInterface): () => void;
  /** The trace in geth's JSON shape. */
  result(end: TraceEnd): unknown;
}

/** geth's struct logger options (the default tracer). */
export interface StructLoggerOptions {
  disableStack?: boolean;
  disableStorage?: boolean;
  enableMemory?: boolean;
  enableReturnData?: boolean;
  /** Most struct logs kept (geth's `limit`); 0: the node's bound only. */
  limit?: number;
}

/** Bounds of one trace: its entries, and the heap its records take (of all of a block's traces together). */
export const MAX_STRUCT_LOGS = 500_000;
export const MAX_TRACE_BYTES = 64 * 1024 * 1024;

/**
 * The heap one answer's traces hold, against MAX_TRACE_BYTES: one per debug_trace* request, shared by
 * the tracers of all of a block's transactions (each alone within the bound, 100 of them would not be).
 */
export class TraceBudget {
  private used = 0;

  /** Count `bytes` more; past the bound, TraceTooLarge. */
  add(bytes: number): void {
    this.used += bytes;
    if (this.used > MAX_TRACE_BYTES) throw new TraceTooLarge(`more than ${MAX_TRACE_BYTES / 1024 / 1024} MiB`);
  }
}

/**
 * What V8 holds for a struct log's record (measured, 64-bit Node): an entry object ~120 bytes and its
 * stack array ~40; a string in an array its 8-byte slot plus, unless shared, ~24 bytes up to 12
 * characters and ~56 + its length beyond (a concatenation: a cons string over the hex digits).
 */
const LOG_HEAP = 120;
const ARRAY_HEAP = 40;
const SLOT_HEAP = 8;
const stringHeap = (s: string) => (s.length <= 12 ? 24 : 56 + s.length);
/** A memory word: its slot, a cons of "0x" and a slice of the step's hex copy, and its 64 digits there. */
const MEMORY_WORD_HEAP = 144;

/** Stack words below 1,024 (the bulk of most stacks: offsets, lengths, flags) as one shared string each. */
const SMALL_WORDS = Array.from({ length: 1024 }, (_, i) => `0x${i.toString(16)}`);

interface StructLog {
  pc: number;
  op: string;
  /** geth writes gas, gasCost and refund as JSON numbers. */
  gas: number;
  gasCost: number;
  depth: number;
  refund?: number;
  stack?: string[];
  memory?: string[];
  storage?: Record<string, string>;
}

/**
 * The default tracer (execution-apis' opcode tracer, as geth's struct logger): one entry per executed opcode (pc, op, gas, gasCost, depth, stack, and on
 * request memory; storage as seen by SLOAD / SSTORE of the running contract).
 */
export class StructLogger implements TxTracer {
  private readonly logs: StructLog[] = [];
  /** Storage seen per contract (address hex -> slot -> value), as geth accumulates it. */
  private readonly storage = new Map<string, Record<string, string>>();

  constructor(
    private readonly opts: StructLoggerOptions = {},
    private readonly budget = new TraceBudget(),
  ) {}

  listen(evm: EVMInterface): () => void {
    const onStep = (step: InterpreterStep, resolve?: (v?: unknown) => void) => {
      // A synchronous throw is what fails the EVM's await: a bound passed at the previous step stops execution here.
      if (this.failure) throw this.failure;
      this.onStep(step).then(
        () => resolve!(),
        (err: unknown) => {
          // The EVM awaits this promise: an error here must not leave it hanging; recorded and thrown after.
          this.failure ??= err as Error;
          resolve!();
        },
      );
    };
    evm.events!.on('step', onStep);
    return () => void evm.events!.off('step', onStep);
  }

  private failure?: Error;

  private async onStep(step: InterpreterStep): Promise<void> {
    if (this.failure) return;
    const limit = this.opts.limit && this.opts.limit > 0 ? Math.min(this.opts.limit, MAX_STRUCT_LOGS) : MAX_STRUCT_LOGS;
    if (this.logs.length >= limit) {
      if (this.opts.limit && this.opts.limit > 0) return; // the client's own limit: stop recording, as geth
      throw new TraceTooLarge(`more than ${MAX_STRUCT_LOGS} steps`);
    }
    const log: StructLog = {
      pc: step.pc,
      op: step.opcode.name,
      gas: Number(step.gasLeft),
      gasCost: Number(step.opcode.dynamicFee ?? BigInt(step.opcode.fee)),
      depth: step.depth + 1,
    };
    let size = LOG_HEAP;
    if (step.gasRefund > 0n) log.refund = Number(step.gasRefund);
    if (!this.opts.disableStack) {
      size += ARRAY_HEAP + step.stack.length * SLOT_HEAP;
      log.stack = step.stack.map((v) => {
        if (v < 1024n) return SMALL_WORDS[Number(v)]!;
        const s = bigIntToHex(v);
        size += stringHeap(s);
        return s;
      });
    }
    if (this.opts.enableMemory) {
      // Counted before the copy is made: a step may see megabytes of memory.
      const count = Math.ceil(step.memory.length / 32);
      this.budget.add(ARRAY_HEAP + count * MEMORY_WORD_HEAP);
      const hex = Buffer.from(step.memory.buffer, step.memory.byteOffset, step.memory.length).toString('hex');
      const words: string[] = [];
      for (let i = 0; i < hex.length; i += 64) words.push(`0x${hex.slice(i, i + 64)}`);
      log.memory = words;
    }
    if (
      !this.opts.disableStorage &&
      (step.opcode.name === 'SLOAD' || step.opcode.name === 'SSTORE') &&
      step.stack.length >= (step.opcode.name === 'SSTORE' ? 2 : 1)
    ) {
      const address = step.address.toString();
      let seen = this.storage.get(address);
      if (!seen) this.storage.set(address, (seen = {}));
      const top = step.stack[step.stack.length - 1]!;
      const slot = word(top);
      if (step.opcode.name === 'SSTORE') seen[slot] = word(step.stack[step.stack.length - 2]!);
      else seen[slot] = bytesToHex(setLengthLeft(await step.stateManager.getStorage(step.address, setLengthLeft(bigIntToBytes(top), 32)), 32));
      log.storage = { ...seen };
      size += Object.keys(seen).length * 138;
    }
    this.budget.add(size);
    this.logs.push(log);
  }

  result(end: TraceEnd): unknown {
    if (this.failure) throw this.failure;
    return {
      gas: Number(end.gasUsed),
      failed: end.error !== undefined,
      returnValue: bytesToHex(end.returnValue),
      structLogs: this.logs,
    };
  }
}

/** geth's callTracer options. */
export interface CallTracerOptions {
  onlyTopCall?: boolean;
  withLog?: boolean;
}

/** Most call frames one callTracer trace holds. */
export const MAX_CALL_FRAMES = 100_000;

interface CallFrame {
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
  calls?: CallFrame[];
  logs?: { address: string; topics: string[]; data: string; position: string }[];
}

const CALL_OPS = new Set(['CALL', 'CALLCODE', 'DELEGATECALL', 'STATICCALL', 'CREATE', 'CREATE2']);
/** What V8 holds for a call frame besides its input and output: the object, its addresses and quantities. */
const FRAME_HEAP = 400;

/**
 * geth's callTracer: the tree of calls (type, from, to, value, gas, gasUsed, input, output, error,
 * revertReason, calls), from the EVM's beforeMessage / afterMessage events. The opcode that made
 * each call is taken from the step that preceded it.
 */
export class CallTracer implements TxTracer {
  private readonly stack: CallFrame[] = [];
  private root?: CallFrame;
  private frames = 0;
  private pendingOp?: string;
  private failure?: Error;

  /** `budget`: what the frames, their inputs, outputs and logs hold (hex: two characters a byte). */
  constructor(
    private readonly opts: CallTracerOptions = {},
    private readonly budget = new TraceBudget(),
  ) {}

  listen(evm: EVMInterface): () => void {
    const events = evm.events!;
    const onStep = (step: InterpreterStep) => {
      if (CALL_OPS.has(step.opcode.name)) this.pendingOp = step.opcode.name;
      if (this.opts.withLog && step.opcode.name.startsWith('LOG')) this.onLog(step);
    };
    const onBefore = (m: Message) => this.onBefore(m); // a throw (too many frames) stops the execution
    const onAfter = (r: EVMResult) => this.guard(() => this.onAfter(r));
    // Without a call, steps are only needed to name the call's opcode or to collect logs.
    const needSteps = !this.opts.onlyTopCall || this.opts.withLog;
    if (needSteps) events.on('step', onStep);
    events.on('beforeMessage', onBefore);
    events.on('afterMessage', onAfter);
    return () => {
      if (needSteps) events.off('step', onStep);
      events.off('beforeMessage', onBefore);
      events.off('afterMessage', onAfter);
    };
  }

  private guard(f: () => void): void {
    if (this.failure) return;
    try {
      f();
    } catch (err) {
      this.failure = err as Error;
    }
  }

  private onBefore(m: Message): void {
    const type = m.depth === 0 ? (m.to ? 'CALL' : 'CREATE') : (this.pendingOp ?? (m.to ? 'CALL' : 'CREATE'));
    this.pendingOp = undefined;
    if (++this.frames > MAX_CALL_FRAMES) throw new TraceTooLarge(`more than ${MAX_CALL_FRAMES} calls`);
    this.budget.add(FRAME_HEAP);
    // A call's input is cheap in gas once the memory is paid for: 100,000 frames of 1 MiB each would be
    // gigabytes of hex, so the frames count against the same bound as the struct logger's steps.
    this.count(m.data.length);
    const frame: CallFrame = {
      type,
      from: m.caller.toString(),
      ...(m.to ? { to: m.to.toString() } : {}),
      ...(type === 'STATICCALL' ? {} : { value: bigIntToHex(m.value) }),
      gas: bigIntToHex(m.gasLimit),
      gasUsed: '0x0',
      input: bytesToHex(m.data),
    };
    if (this.stack.length > 0 && !this.opts.onlyTopCall) {
      const parent = this.stack[this.stack.length - 1]!;
      (parent.calls ??= []).push(frame);
    }
    if (this.stack.length === 0) this.root = frame;
    this.stack.push(frame);
  }

  private onAfter(r: EVMResult): void {
    const frame = this.stack.pop();
    if (!frame) return;
    const exec = r.execResult;
    frame.gasUsed = bigIntToHex(exec.executionGasUsed);
    if (r.createdAddress) frame.to = r.createdAddress.toString();
    this.count(exec.returnValue.length);
    frame.output = bytesToHex(exec.returnValue);
    const err = exec.exceptionError?.error;
    if (err) {
      frame.error = err === 'revert' ? 'execution reverted' : err;
      const reason = err === 'revert' ? revertReason(exec.returnValue) : undefined;
      if (reason !== undefined) frame.revertReason = reason;
      if (err !== 'revert') delete frame.output;
      if (frame.type.startsWith('CREATE') && err) delete frame.to;
    }
  }

  private count(bytes: number): void {
    this.budget.add(2 * bytes + 64);
  }

  private onLog(step: InterpreterStep): void {
    const frame = this.stack[this.stack.length - 1];
    if (!frame || (this.opts.onlyTopCall && this.stack.length > 1)) return;
    const n = Number(step.opcode.name.slice(3));
    const s = step.stack;
    if (s.length < 2 + n) return;
    const offset = Number(s[s.length - 1]!);
    const size = Number(s[s.length - 2]!);
    const topics = Array.from({ length: n }, (_, i) => bytesToHex(setLengthLeft(bigIntToBytes(s[s.length - 3 - i]!), 32)));
    const data = offset + size <= step.memory.length ? step.memory.subarray(offset, offset + size) : new Uint8Array(0);
    this.count(data.length + 32 * n);
    (frame.logs ??= []).push({ address: step.address.toString(), topics, data: bytesToHex(data), position: bigIntToHex(BigInt(frame.calls?.length ?? 0)) });
  }

  result(end: TraceEnd): unknown {
    if (this.failure) throw this.failure;
    const root = this.root;
    if (!root) return { type: 'CALL', from: '0x', gas: bigIntToHex(end.gas), gasUsed: bigIntToHex(end.gasUsed), input: '0x' };
    // The top frame counts the whole transaction: its gas limit and all the gas it used.
    root.gas = bigIntToHex(end.gas);
    root.gasUsed = bigIntToHex(end.gasUsed);
    return root;
  }
}

/** A 32-byte word as execution-apis writes struct-log memory and storage: 0x-prefixed, zero-padded. */
function word(v: bigint): string {
  return `0x${v.toString(16).padStart(64, '0')}`;
}

/** The string of an Error(string) revert, if that is what the data is. */
export function revertReason(data: Uint8Array): string | undefined {
  if (data.length < 68 || bytesToHex(data.subarray(0, 4)) !== '0x08c379a0') return undefined;
  const len = Number(BigInt(bytesToHex(data.subarray(36, 68))));
  if (len > data.length - 68) return undefined;
  return new TextDecoder().decode(data.subarray(68, 68 + len));
}
