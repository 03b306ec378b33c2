import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processesKilledAfterEach, rpc, runCli, serverArgs, tempDir } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

const start = processesKilledAfterEach();
const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;

describe('a validator restored from an old copy of its data dir', () => {
  it('catches up from its peers before it seals again, so it never forks the chain', async () => {
    const dir = tempDir();
    const vDir = join(dir, 'validator');
    const init = runCli(['secrets', 'init', '--data-dir', vDir, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const { validatorAddress } = JSON.parse(init.stdout) as { validatorAddress: string };
    const genesis = join(dir, 'genesis.json');
    expect(runCli(['genesis', '--dir', genesis, '--ibft-validator', validatorAddress]).code).toBe(0);

    // An old copy of the validator's data dir, at block 3 or so.
    const first = start(serverArgs(vDir, genesis, ['--seal', '--block-time', '0.3']));
    await first.waitForBlock(3);
    expect((await first.stop('SIGINT')).code).toBe(0);
    const oldDir = join(dir, 'validator-old');
    cpSync(vDir, oldDir, { recursive: true });

    // The validator runs on with a full node following it, then goes away.
    const v = start(serverArgs(vDir, genesis, ['--seal', '--block-time', '0.3']));
    const full = start(serverArgs(join(dir, 'full'), genesis, ['--bootnode', await v.p2pAddress()]));
    const fUrl = await full.rpcUrl();
    await until(async () => (await head(fUrl)) >= 12, 'full node at block 12');
    expect((await v.stop('SIGINT')).code).toBe(0);
    const reached = await head(fUrl);
    const hashes = new Map<number, string>();
    for (const n of [4, 8, reached]) hashes.set(n, await hashAt(fUrl, n));

    // The old copy comes back: it holds sealing, syncs, then seals on top of the real head.
    const old = start(serverArgs(oldDir, genesis, ['--seal', '--block-time', '0.3', '--bootnode', await full.p2pAddress()]));
    await old.waitForEvent('sealing.held');
    await old.waitForEvent('sealing.resumed');
    const oUrl = await old.rpcUrl();
    await until(async () => (await head(fUrl)) >= reached + 3, 'the full node follows the restored validator').catch((err: Error) => {
      // What each side did, for the log of a run where this did not happen (once, on a loaded CI machine).
      const seen = (p: typeof old) => p.logs.filter((l) => l.event !== 'block.sealed' || l.level > 30).slice(-25);
      throw new Error(`${err.message}; restored validator: ${JSON.stringify(seen(old))}; full node: ${JSON.stringify(seen(full))}`);
    });
    for (const [n, h] of hashes) {
      expect(await hashAt(oUrl, n)).toBe(h);
      expect(await hashAt(fUrl, n)).toBe(h);
    }
    expect(old.sealed().every((b) => b.number > reached)).toBe(true);
    expect(full.events('peer.banned')).toEqual([]);
  }, 150_000);
});
