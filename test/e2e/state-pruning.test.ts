import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliProcess, processesKilledAfterAll, rpc, runCliAsync, serverArgs, singleValidatorChain } from '../helpers/cli.js';
import { DEV_ADDRESS, transactionLoad } from '../helpers/load.js';
import { until } from '../helpers/until.js';

/**
 * Issue #22 with real processes: a validator that prunes after every block (`--state-history 4
 * --state-prune-interval 1`, a prune always under way) while it seals under a transfer load. What it
 * serves meanwhile (an export, a snapshot, a peer's snapshot sync) is consistent and restores whole,
 * and kill -9 at any moment of its prunes leaves every state it keeps complete (`db check --full`
 * walks each one).
 */
const chain = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
const running = processesKilledAfterAll({ thenRemove: () => chain.dir });
const start = (args: string[]): CliProcess => {
  const p = new CliProcess(args);
  running.push(p);
  return p;
};
const PRUNING = ['--seal', '--block-time', '0.1', '--state-history', '4', '--state-prune-interval', '1'];
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;
const headOf = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));

/** Wait for the node's `n`th prune, failing at once if the load stopped (a send refused or unanswered). */
const waitForPrunes = (node: CliProcess, load: { check(): void }, n: number) =>
  node.waitFor(
    () => {
      load.check();
      return node.events('state.pruned').length >= n;
    },
    `${n} prune${n > 1 ? 's' : ''}`,
    30_000,
  );

/**
 * The transfer load on a node just started, from its pending nonce once it has sealed a block: killed
 * mid-height, it first commits the block it had prepared (the IBFT journal's), which may carry
 * transfers the killed load sent, so a nonce read before then can be one that block uses (CI: "nonce
 * too low: next nonce 284, tx nonce 283").
 */
async function loadAfterStart(node: CliProcess) {
  const url = await node.rpcUrl();
  await node.waitFor(() => node.sealed().length > 0, 'its first block');
  return transactionLoad(url, 40, Number(BigInt(await rpc<string>(url, 'eth_getTransactionCount', [DEV_ADDRESS, 'pending']))));
}

interface Checked {
  ok: boolean;
  head: { number: number };
  state: { from: number; to: number; complete: number };
  problems: string[];
}
async function dbCheckFull(dataDir: string): Promise<Checked> {
  const r = await runCliAsync(['db', 'check', '--data-dir', dataDir, '--full', '--json', '--quiet']);
  const report = JSON.parse(r.stdout) as Checked;
  expect(report.problems).toEqual([]);
  expect(r.code, r.stderr).toBe(0);
  return report;
}

describe.sequential('a node pruning its states while it seals under load (issue #22)', () => {
  it('an export and a snapshot taken while it prunes restore whole, and a new node snapshot-syncs from it', { timeout: 90_000 }, async () => {
    const node = start(serverArgs(chain.node1, chain.genesis, PRUNING));
    const url = await node.rpcUrl();
    const load = transactionLoad(url);
    try {
      await waitForPrunes(node, load, 3);
      const grpc = await node.grpcAddress();
      const t0 = Date.now();
      const [snap, exp] = await Promise.all([
        runCliAsync(['snapshot', join(chain.dir, 'a.snap'), '--grpc-address', grpc, '--quiet', '--json']),
        runCliAsync(['export', join(chain.dir, 'a.bsa'), '--grpc-address', grpc, '--quiet', '--json']),
      ]);
      const t1 = Date.now();
      expect(snap.code, snap.stderr).toBe(0);
      expect(exp.code, exp.stderr).toBe(0);
      // The prunes went on while both ran (one after every block: a dozen in a second).
      expect(node.events('state.pruned').filter((e) => e.time >= t0 && e.time <= t1).length).toBeGreaterThan(0);

      // The snapshot restores, its state walked whole by the restore and again by db check.
      const restored = join(chain.dir, 'restored');
      const r = await runCliAsync(['restore', join(chain.dir, 'a.snap'), '--data-dir', restored, '--chain', chain.genesis, '--json', '--quiet']);
      expect(r.code, r.stderr).toBe(0);
      const snapHead = Number((JSON.parse(snap.stdout) as { head: string | number }).head);
      expect((await dbCheckFull(restored)).head.number).toBe(snapHead);

      // The export imports into a fresh data dir, every block executed again to the same state roots.
      const imported = join(chain.dir, 'imported');
      const i = await runCliAsync(['import', join(chain.dir, 'a.bsa'), '--data-dir', imported, '--chain', chain.genesis, '--json', '--quiet']);
      expect(i.code, i.stderr).toBe(0);
      const exportedTo = Number((JSON.parse(exp.stdout) as { endBlock: string }).endBlock);
      expect((await dbCheckFull(imported)).head.number).toBe(exportedTo);

      // A new node restores the pruning node's snapshot over libp2p and follows it.
      const synced = start(serverArgs(join(chain.dir, 'synced'), chain.genesis, ['--sync', 'snapshot', '--bootnode', await node.p2pAddress()]));
      const got = await synced.waitForEvent('snapshot-sync.restored', undefined, 30_000);
      const syncedUrl = await synced.rpcUrl();
      const target = (await headOf(url)) + 2;
      await until(async () => (await headOf(syncedUrl)) >= target, 'the synced node at the head', 30_000);
      for (const n of [got.head, target]) expect(await hashAt(syncedUrl, n)).toBe(await hashAt(url, n));
      expect((await synced.stop()).code).toBe(0);
      await dbCheckFull(join(chain.dir, 'synced'));
    } finally {
      await load.stop();
    }
    expect((await node.stop()).code).toBe(0);
  });

  it('kill -9 at any moment of its prunes leaves every state it keeps complete', { timeout: 90_000 }, async () => {
    let prunes = 0;
    for (const delayMs of [0, 70, 150]) {
      const node = start(serverArgs(chain.node1, chain.genesis, PRUNING));
      const load = await loadAfterStart(node);
      // Killed a little after a prune finished: the next one (the block after) is under way.
      await waitForPrunes(node, load, 3);
      await new Promise((r) => setTimeout(r, delayMs));
      await node.stop('SIGKILL');
      await load.stop().catch(() => undefined); // its node is gone
      prunes += node.events('state.pruned').length;
      const checked = await dbCheckFull(chain.node1);
      // Every state from the oldest kept to the head walked and complete (the window is 4 and a prune
      // may not have moved it since the last blocks).
      expect(checked.state.complete).toBe(checked.state.to - checked.state.from + 1);
      expect(checked.state.complete).toBeGreaterThanOrEqual(4);
    }
    expect(prunes).toBeGreaterThanOrEqual(9);
    // It starts again where it was and goes on pruning. Under load: on an idle chain every state below
    // the window is a kept one, and the pruner only moves its window (state.prune-skipped).
    const node = start(serverArgs(chain.node1, chain.genesis, PRUNING));
    const load = await loadAfterStart(node);
    try {
      await waitForPrunes(node, load, 1);
    } finally {
      await load.stop();
    }
    expect((await node.stop()).code).toBe(0);
  });
});
