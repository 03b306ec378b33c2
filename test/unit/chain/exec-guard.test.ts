import { describe, expect, it } from 'vitest';
import { blockExecution, ExecutionGuard, ExecutionTimeout } from '../../../src/chain/exec-guard.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('simulations beside a block executing under a deadline', () => {
  it("a simulation's yield waits while a block executes, then goes on (its own deadline still counts)", async () => {
    const guard = new ExecutionGuard(Number.POSITIVE_INFINITY, 0); // yields at every check
    let blockDone = false;
    const block = blockExecution.during(async () => {
      await sleep(150);
      blockDone = true;
    });
    await guard.check();
    // The yield came back only once the block's execution was over.
    expect(blockDone).toBe(true);
    await block;
    expect(blockExecution.running).toBeUndefined();
  });

  it('a simulation past its deadline while it waited times out; the block execution is not held by it', async () => {
    const guard = new ExecutionGuard(performance.now() + 50, 0);
    const block = blockExecution.during(() => sleep(120));
    await expect(guard.check()).rejects.toBeInstanceOf(ExecutionTimeout);
    await block;
  });

  it('with no block executing, a yield goes on at the next turn of the event loop', async () => {
    const guard = new ExecutionGuard(Number.POSITIVE_INFINITY, 0);
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    await guard.check();
    expect(turned).toBe(true);
    expect(blockExecution.running).toBeUndefined();
  });
});
