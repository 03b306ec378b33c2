import type { Common } from '@ethereumjs/common';
import { getActivePrecompiles, paramsEVM, type EVMInterface, type PrecompileInput } from '@ethereumjs/evm';
import { bytesToBigInt, createAddressFromString } from '@ethereumjs/util';
import { MAX_TIMER_MS } from '../util/duration.js';
import { type ChainEvmOpts, chainEvmOpts } from './forks.js';

/** JUMPDEST's gas, the same in every fork (EIP-1's parameters). */
const JUMPDEST_GAS = Number(paramsEVM[1]!.jumpdestGas);

/** A simulation ran past its deadline (geth: "execution aborted (timeout = 5s)"). */
export class ExecutionTimeout extends Error {
  constructor(message = 'execution aborted: deadline passed') {
    super(message);
    this.name = 'ExecutionTimeout';
  }
}

/**
 * A simulation would hold the node longer than a simulation may (one precompile run past
 * MAX_PRECOMPILE_MS): refused before the work starts (JSON-RPC: -32005, limit exceeded).
 */
export class ExecutionRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutionRefused';
  }
}

/**
 * Most time one precompile run of a simulation may hold the event loop. A precompile runs to its end
 * in one go, out of reach of the JUMPDEST and message checks: its work is estimated from its input
 * before it starts (PRECOMPILE_COST) and a run estimated above this, or past the deadline, is not
 * started. geth has no such bound (its calls run on their own threads); here the loop is shared with
 * block production.
 */
export const MAX_PRECOMPILE_MS = 100;

/**
 * Estimated milliseconds of work of one run of the precompiles whose work the gas cap can make large
 * (under the default 50,000,000 gas: BLAKE2F ~4 s, MODEXP ~4 s, the BN254 pairing ~9 s, RIPEMD160
 * of a 4 MB input ~0.2 s), measured on 2 cores (bench:precompiles: the chain's own BLAKE2F and MODEXP,
 * precompiles.ts, and the WebAssembly BN254 of chainBn254), with a margin. 0 for an input the
 * precompile fails at once (its length, or gas it has not got). The others (ECRECOVER, IDENTITY,
 * ECADD, ECMUL) take a millisecond at most, and each call of them passes the message check.
 */
const PRECOMPILE_COST: Record<string, { name: string; ms: (input: PrecompileInput) => number }> = {
  // Hashes: SHA256 ~75 KB a millisecond, RIPEMD160 ~25 KB (the gas cap pays for inputs of ~4 MB).
  '02': { name: 'SHA256', ms: (input) => hashMs(input, 'sha256', 50_000) },
  '03': { name: 'RIPEMD160', ms: (input) => hashMs(input, 'ripemd160', 15_000) },
  // MODEXP: one loop turn per exponent bit, each a squaring and a multiplication modulo M (the chain's
  // MODEXP, precompiles.ts: linear in the exponent where @ethereumjs's expMod is quadratic).
  '05': { name: 'MODEXP', ms: modexpMs },
  // Pairing check: ~6 ms a pair and ~7 ms for the final exponentiation.
  '08': {
    name: 'BN254 pairing',
    ms: ({ data, gasLimit, common }) => {
      if (data.length % 192 !== 0 || data.length === 0) return 0;
      const pairs = data.length / 192;
      if (common.param('bn254PairingGas') + BigInt(pairs) * common.param('bn254PairingWordGas') > gasLimit) return 0;
      return 15 + 8 * pairs;
    },
  },
  // BLAKE2F: 11,000-13,000 rounds a millisecond.
  '09': {
    name: 'BLAKE2F',
    ms: ({ data, gasLimit, common }) => {
      if (data.length !== 213 || data[212]! > 1) return 0;
      const rounds = new DataView(data.buffer, data.byteOffset, 4).getUint32(0);
      if (BigInt(rounds) * common.param('blake2RoundGas') > gasLimit) return 0;
      return rounds / 8000;
    },
  },
};

function hashMs({ data, gasLimit, common }: PrecompileInput, hash: 'sha256' | 'ripemd160', bytesPerMs: number): number {
  if (common.param(`${hash}Gas`) + common.param(`${hash}WordGas`) * BigInt(Math.ceil(data.length / 32)) > gasLimit) return 0;
  return data.length / bytesPerMs;
}

function modexpMs({ data, gasLimit, common }: PrecompileInput): number {
  const word = (i: number) => bytesToBigInt(data.subarray(i * 32, i * 32 + 32)) << (8n * BigInt(Math.max(0, i * 32 + 32 - data.length)));
  const [bLen, eLen, mLen] = [word(0), word(1), word(2)];
  const eStart = 96n + bLen;
  const mStart = eStart + eLen;
  // The modulus' bytes past the input read as zeros: a modulus with none in the input, or only zero
  // bytes, is 0 and the precompile returns without exponentiating.
  if (mLen === 0n || mStart >= BigInt(data.length)) return 0;
  const m = data.subarray(Number(mStart), Number(mStart + mLen < BigInt(data.length) ? mStart + mLen : BigInt(data.length)));
  if (m.every((b) => b === 0)) return 0;
  // The base and the exponent lie wholly in the input.
  const e = data.subarray(Number(eStart), Number(mStart));
  const first = e.findIndex((b) => b !== 0);
  if (first < 0) return 0;
  const eBytes = e.length - first;
  const bits = eBytes * 8 - Math.clz32(e[first]!) + 24;
  // Its gas is at least this (EIP-2565's, the adjusted exponent length being at least bits - 256): with
  // less gas it fails at its gas check, before any work.
  const words = ((bLen > mLen ? bLen : mLen) + 7n) / 8n;
  const minGas = (BigInt(Math.max(1, bits - 256)) * words * words) / common.param('modexpGquaddivisorGas');
  if (minGas > gasLimit) return 0;
  const mWords = Number((mLen + 7n) / 8n);
  // Measured (bench:precompiles): ~90 ns a bit for a one-byte modulus, 5-30 ns a word² for large ones.
  return (bits * (150 + 30 * mWords * mWords)) / 1e6;
}

/**
 * Keeps an EVM simulation (eth_call, eth_estimateGas) from holding the event loop: it yields to the
 * loop every `sliceMs` of run time and throws ExecutionTimeout once the deadline passes.
 *
 * The checks run at every JUMPDEST (no loop, in or across frames, goes around without passing one),
 * before every message (call fan-out) and before every run of a precompile, whose work is bounded
 * by MAX_PRECOMPILE_MS (ExecutionRefused) and the deadline. The hooks run only in the simulator's
 * own EVM, never in block execution. A JUMPDEST check costs a clock read; the EVM's 'step' event would instead copy the
 * stack and memory on every opcode.
 */
export class ExecutionGuard {
  private lastYield = performance.now();

  /** `deadline`: a performance.now() time, Infinity for none. */
  constructor(
    readonly deadline = Infinity,
    private readonly sliceMs = 10,
  ) {}

  /** 'timeout', 'yield' or undefined (carry on). */
  private due(): 'timeout' | 'yield' | undefined {
    const now = performance.now();
    if (now >= this.deadline) return 'timeout';
    if (now - this.lastYield < this.sliceMs) return undefined;
    this.lastYield = now;
    return 'yield';
  }

  async check(): Promise<void> {
    const d = this.due();
    if (d === 'timeout') throw new ExecutionTimeout();
    if (d === 'yield') {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.lastYield = performance.now();
      if (this.lastYield >= this.deadline) throw new ExecutionTimeout();
    }
  }

  /**
   * EVM options for a simulation under `common`'s rules: the chain's (chainEvmOpts), with the JUMPDEST
   * check (the opcode is otherwise unchanged: no effect, its gas from the EVM's own parameter table;
   * not `common.param`: a Common knows the EVM parameters only once an EVM has been created on it,
   * which a freshly restored node's has not), and the costly precompiles, unchanged but for the check
   * of their estimated work first.
   */
  evmOpts(common: Common): ChainEvmOpts {
    const chain = chainEvmOpts(common);
    const active = getActivePrecompiles(common, chain.customPrecompiles);
    const customPrecompiles = chain.customPrecompiles.filter((p) => PRECOMPILE_COST[p.address.toString().slice(-2)] === undefined);
    for (const [at, cost] of Object.entries(PRECOMPILE_COST)) {
      const address = at.padStart(40, '0');
      const run = active.get(address);
      if (!run) continue;
      customPrecompiles.push({
        address: createAddressFromString(`0x${address}`),
        function: async (input) => {
          await this.check();
          const ms = cost.ms(input);
          if (ms > MAX_PRECOMPILE_MS) {
            throw new ExecutionRefused(
              `execution refused: a ${cost.name} precompile call would hold the node for about ${Math.round(ms)} ms, more than the ${MAX_PRECOMPILE_MS} ms a simulation's precompile call may`,
            );
          }
          if (performance.now() + ms >= this.deadline) throw new ExecutionTimeout();
          return run(input);
        },
      });
    }
    return {
      ...chain,
      customOpcodes: [...chain.customOpcodes, { opcode: 0x5b, opcodeName: 'JUMPDEST', baseFee: JUMPDEST_GAS, logicFunction: () => this.check() }],
      customPrecompiles,
    };
  }

  /** Check before each message too. The EVM awaits a two-argument listener; only a synchronous throw fails the call. */
  attach(evm: EVMInterface): void {
    if (!evm.events) throw new Error('the EVM emits no events: cannot guard the simulation');
    evm.events.on('beforeMessage', (_message: unknown, resolve?: (result?: unknown) => void) => {
      const d = this.due();
      if (d === 'timeout') throw new ExecutionTimeout();
      if (d === 'yield') setImmediate(() => resolve!());
      else resolve!();
    });
  }
}

/** Simulations running at once on a node, and waiting for a turn beyond those (SimulationSlots). */
export const MAX_RUNNING_SIMULATIONS = 4;
export const MAX_QUEUED_SIMULATIONS = 64;

/**
 * The node-wide bound on simulations (eth_call, eth_estimateGas, eth_createAccessList, debug_trace*)
 * of every client and transport: each takes ~10 ms slices of the event loop in turn with the others,
 * so without a bound their number alone would starve block production and push every one of them far
 * past its deadline. At most `maxRunning` run; up to `maxQueued` more wait in order, their time waiting
 * counting toward their own deadline; more are refused (ExecutionRefused).
 */
export class SimulationSlots {
  private running = 0;
  private readonly waiting: { grant: () => void }[] = [];

  constructor(
    readonly maxRunning = MAX_RUNNING_SIMULATIONS,
    readonly maxQueued = MAX_QUEUED_SIMULATIONS,
  ) {}

  /**
   * Run `f` in a slot, at once or after those waiting before it. ExecutionTimeout when `deadline` (a
   * performance.now() time, Infinity for none) passes first; ExecutionRefused when the queue is full.
   */
  async run<T>(deadline: number, f: () => Promise<T>): Promise<T> {
    if (this.running < this.maxRunning) this.running++;
    else await this.turn(deadline);
    try {
      return await f();
    } finally {
      // The slot passes straight to the next in line, or is freed.
      const next = this.waiting.shift();
      if (next) next.grant();
      else this.running--;
    }
  }

  private turn(deadline: number): Promise<void> {
    if (this.waiting.length >= this.maxQueued) {
      return Promise.reject(
        new ExecutionRefused(
          `too many simulations: ${this.maxRunning} running and ${this.maxQueued} waiting (eth_call, eth_estimateGas, eth_createAccessList, debug_trace*); try again later`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const entry = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const wait = deadline - performance.now();
      if (wait <= MAX_TIMER_MS) {
        timer = setTimeout(
          () => {
            this.waiting.splice(this.waiting.indexOf(entry), 1);
            reject(new ExecutionTimeout());
          },
          Math.max(0, wait),
        );
      }
      this.waiting.push(entry);
    });
  }
}
