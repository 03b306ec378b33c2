import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess, expectOneLineError, rpc, runCli, serverArgs, tempDir, freePort } from '../helpers/cli.js';
import { DEV_ADDRESS, DEV_KEY } from '../helpers/load.js';

const running: CliProcess[] = [];
function start(args: string[]): CliProcess {
  const p = new CliProcess(args);
  running.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
});

const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;

async function until(pred: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('server --sync snapshot', () => {
  it('a new node restores a peer snapshot, reaches the head with the same hashes, and refuses historical state like a restored node', async () => {
    const dir = tempDir();
    const init = runCli(['secrets', 'init', '--data-dir', join(dir, 'validator'), '--json']);
    expect(init.code, init.stderr).toBe(0);
    const v = JSON.parse(init.stdout) as { validatorAddress: string; nodeId: string };
    const port = await freePort();
    const bootnode = `/ip4/127.0.0.1/tcp/${port}/p2p/${v.nodeId}`;
    const genesis = join(dir, 'genesis.json');
    const g = runCli(['genesis', '--dir', genesis, '--ibft-validator', v.validatorAddress, '--premine', DEV_ADDRESS, '--bootnode', bootnode]);
    expect(g.code, g.stderr).toBe(0);
    const validator = start(serverArgs(join(dir, 'validator'), genesis, ['--seal', '--block-time', '0.5', '--libp2p', `127.0.0.1:${port}`]));
    const vUrl = await validator.rpcUrl();
    // Two transfers in different blocks: the state after the first is neither the genesis's nor the head's.
    const wallet = new Wallet(DEV_KEY);
    const mined: number[] = [];
    for (const nonce of [0, 1]) {
      const raw = await wallet.signTransaction({ type: 2, chainId: 100, nonce, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, gasLimit: 21_000, to: `0x${'44'.repeat(20)}`, value: 5n });
      const txHash = await rpc<string>(vUrl, 'eth_sendRawTransaction', [raw]);
      let receipt: { blockNumber: string } | null = null;
      await until(async () => (receipt = await rpc<{ blockNumber: string } | null>(vUrl, 'eth_getTransactionReceipt', [txHash])) !== null, 'transfer mined');
      mined.push(Number(BigInt(receipt!.blockNumber)));
    }
    const historical = `0x${mined[0]!.toString(16)}`;
    await validator.waitForBlock(8);

    const node = start(serverArgs(join(dir, 'new'), genesis, ['--sync', 'snapshot']));
    const restored = await node.waitForLog('snapshot sync: restored from peer');
    expect(restored.peer).toBe(v.nodeId);
    expect(restored.head as number).toBeGreaterThanOrEqual(8);
    const url = await node.rpcUrl();
    const vh = await head(vUrl);
    await until(async () => (await head(url)) >= vh, 'new node at the head');
    for (const n of [1, restored.head as number, vh]) expect(await hashAt(url, n)).toBe(await hashAt(vUrl, n));
    expect(await rpc(url, 'eth_getBalance', [DEV_ADDRESS, 'latest'])).toBe(await rpc(vUrl, 'eth_getBalance', [DEV_ADDRESS, `0x${(await head(url)).toString(16)}`]));
    // History is there, its state is not (as on a node restored from a snapshot): a clear refusal.
    expect(await rpc(vUrl, 'eth_getBalance', [DEV_ADDRESS, historical])).not.toBe(await rpc(vUrl, 'eth_getBalance', [DEV_ADDRESS, 'latest']));
    await expect(rpc(url, 'eth_getBalance', [DEV_ADDRESS, historical])).rejects.toThrow(new RegExp(`state of block ${mined[0]} is not available on this node`));
    // The data dir is the node's own: keys kept, no leftover build folder.
    expect(readdirSync(join(dir, 'new')).sort()).toEqual(expect.arrayContaining(['blockchain', 'consensus', 'keystore', 'trie']));
    expect(readdirSync(dir).filter((f) => f.includes('snapshot-sync'))).toEqual([]);

    // Restarted with --sync snapshot, it has a chain now: block sync from its head.
    expect((await node.stop('SIGINT')).code).toBe(0);
    const again = start(serverArgs(join(dir, 'new'), genesis, ['--sync', 'snapshot']));
    await again.waitForLog('--sync snapshot: the data dir already has a chain; syncing block by block from its head');
    const ua = await again.rpcUrl();
    const vh2 = await head(vUrl);
    await until(async () => (await head(ua)) >= vh2, 'caught up after restart');
    expect(await hashAt(ua, vh2)).toBe(await hashAt(vUrl, vh2));
  }, 60_000);

  it('refuses a bad --sync mode, and --sync snapshot without networking, with one error line', () => {
    const dir = join(tempDir(), 'node');
    expectOneLineError(runCli(['server', '--data-dir', dir, '--chain', join(dir, 'g.json'), '--sync', 'fast']), /^error: option '--sync <mode>' argument 'fast' is invalid\. "fast" is not full or snapshot$/);
    expectOneLineError(runCli(['server', '--data-dir', dir, '--chain', join(dir, 'g.json'), '--sync', 'snapshot', '--no-libp2p']), /^error: --sync snapshot restores from peers: it needs networking/);
  });
});
