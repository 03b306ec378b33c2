import { paramsEVM, type EVMInterface, type EVMOpts } from '@ethereumjs/evm';

/** JUMPDEST's gas, the same in every fork (EIP-1's parameters). */
const JUMPDEST_GAS = Number(paramsEVM[1]!.jumpdestGas);

/** A simulation ran past its deadline (geth: "execution aborted (timeout = 5s)"). */
export class ExecutionTimeout extends Error {
  constructor() {
    super('execution aborted: deadline passed');
    this.name = 'ExecutionTimeout';
  }
}

/**
 * Keeps an EVM simulation (eth_call, eth_estimateGas) from holding the event loop: it yields to the
 * loop every `sliceMs` of run time and throws ExecutionTimeout once the deadline passes.
 *
 * The checks run at every JUMPDEST (no loop, in or across frames, goes around without passing one)
 * and before every message (call fan-out). Both hooks run only in the simulator's own EVM, never in
 * block execution. A JUMPDEST check costs a clock read; the EVM's 'step' event would instead copy the
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
   * EVM options that install the JUMPDEST check (the opcode is otherwise unchanged: no effect, its gas
   * from the EVM's own parameter table). Not `common.param`: a Common knows the EVM parameters only
   * once an EVM has been created on it, which a freshly restored node's has not.
   */
  evmOpts(): EVMOpts {
    return {
      customOpcodes: [{ opcode: 0x5b, opcodeName: 'JUMPDEST', baseFee: JUMPDEST_GAS, logicFunction: () => this.check() }],
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
