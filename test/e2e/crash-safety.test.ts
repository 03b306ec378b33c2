import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliProcess, rpc, runCli, serverArgs, tempDir } from '../helpers/cli.js';

/**
 * kill -9 a sealing node at random moments, KILLS times in a row. After every kill the next start
 * must open the data dir and hold every block the node had reported sealed, with the same hash.
 * (BASALT_CRASH_KILLS raises the count for a longer stress run.)
 */
const KILLS = Number(process.env.BASALT_CRASH_KILLS ?? 20);

describe('crash safety', () => {
  it(`keeps every reported block across ${KILLS} kill -9s at random moments`, { timeout: 60_000 + KILLS * 8_000 }, async () => {
    const dir = tempDir();
    const dataDir = join(dir, 'node');
    const init = runCli(['secrets', 'init', '--data-dir', dataDir, '--json']);
    const validator = (JSON.parse(init.stdout) as { validatorAddress: string }).validatorAddress;
    const genesis = join(dir, 'genesis.json');
    expect(runCli(['genesis', '--dir', genesis, '--ibft-validator', validator]).code).toBe(0);

    const reported = new Map<number, string>(); // block number -> hash, as logged "sealed block"
    let killsMidRun = 0;
    for (let i = 0; i < KILLS; i++) {
      const node = new CliProcess(serverArgs(dataDir, genesis, ['--seal', '--block-time', '0.05']));
      const opened = await node.waitForEvent('chain.opened');
      const head = opened.head as number;
      const maxReported = Math.max(0, ...reported.keys());
      expect(head, `start ${i}: head ${head} < last reported block ${maxReported}`).toBeGreaterThanOrEqual(maxReported);
      // Kill without warning at a random moment: every other start 0-700 ms after start-up (which on a
      // loaded machine may come before its first block), the others 0-300 ms after its first block of
      // this run, so that half the kills at least land while it seals (a CI run on 2026-12-04: 6 of 20).
      await node.waitForEvent('node.started');
      if (i % 2 === 1) await node.waitFor(() => node.sealed().length > 0, `a block sealed in start ${i}`, 30_000);
      await new Promise((r) => setTimeout(r, Math.random() * (i % 2 === 1 ? 300 : 700)));
      node.child.kill('SIGKILL');
      const { signal } = await node.exited;
      expect(signal).toBe('SIGKILL');
      const sealedThisRun = node.sealed();
      if (sealedThisRun.length > 0) killsMidRun++;
      for (const b of sealedThisRun) reported.set(b.number, b.hash);
    }
    expect(killsMidRun, 'at least half the kills should land while the node is sealing').toBeGreaterThanOrEqual(Math.floor(KILLS / 2));

    // Every reported block is on the chain with the hash that was reported.
    const check = new CliProcess(serverArgs(dataDir, genesis));
    try {
      const url = await check.rpcUrl();
      for (const [number, hash] of reported) {
        const block = await rpc<{ hash: string } | null>(url, 'eth_getBlockByNumber', [`0x${number.toString(16)}`, false]);
        expect(block?.hash, `block ${number}`).toBe(hash);
      }
    } finally {
      expect((await check.stop()).code).toBe(0);
    }
  });
});
