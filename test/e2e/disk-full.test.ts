import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, describe, expect, it } from 'vitest';
import { processesKilledAfterEach, rpc, runCli, serverArgs, singleValidatorChain, tempDir } from '../helpers/cli.js';

const startNode = processesKilledAfterEach();
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync('umount', ['-l', m]);
});

/** A small tmpfs of our own, so the test can fill a disk; undefined (and why) where mounting is not permitted. */
function smallDisk(sizeMiB: number): { dir: string } | { skip: string } {
  const dir = join(tempDir(), 'disk');
  mkdirSync(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { skip: `cannot mount a tmpfs here (${(r.stderr || r.error?.message || 'not permitted').trim()})` };
  mounts.push(dir);
  return { dir };
}

describe('disk almost full', () => {
  it('pauses sealing and refuses transactions below --min-free-disk, says so in status and /health, and resumes when space is freed', async (ctx) => {
    const disk = smallDisk(48);
    if ('skip' in disk) {
      console.log(`skipped: ${disk.skip}`);
      return ctx.skip(disk.skip);
    }
    const c = singleValidatorChain({ premine: [`${new Wallet(`0x${'11'.repeat(32)}`).address}:1000000000000000000`] });
    const dataDir = join(disk.dir, 'node1');
    cpSync(c.node1, dataDir, { recursive: true });
    const node = startNode(serverArgs(dataDir, c.genesis, ['--seal', '--block-time', '0.3', '--min-free-disk', '16MiB']));
    const url = await node.rpcUrl();
    await node.waitForBlock(2);
    const grpc = await node.grpcAddress();

    // Fill the disk to 8 MiB free: below the 16 MiB floor.
    const st = statfsSync(disk.dir);
    const filler = join(disk.dir, 'filler');
    writeFileSync(filler, Buffer.alloc(st.bavail * st.bsize - 8 * 1024 * 1024));
    await node.waitForEvent('disk.low');

    const status = JSON.parse(runCli(['status', '--grpc-address', grpc, '--json']).stdout) as {
      sealing: boolean;
      writable: boolean;
      notWritableReason?: string;
    };
    expect(status.sealing).toBe(false);
    expect(status.writable).toBe(false);
    expect(status.notWritableReason).toMatch(/disk almost full: .* below --min-free-disk 16\.0 MiB/);
    const health = await fetch(url.replace(/\/?$/, '/health'));
    expect(health.status).toBe(503);
    expect(((await health.json()) as { reason: string }).reason).toMatch(/disk almost full/);
    const wallet = new Wallet(`0x${'11'.repeat(32)}`);
    const raw = await wallet.signTransaction({
      to: wallet.address,
      value: 1n,
      nonce: 0,
      gasLimit: 21000n,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
      chainId: 100n,
      type: 2,
    });
    await expect(rpc(url, 'eth_sendRawTransaction', [raw])).rejects.toThrow(/node cannot accept transactions now: disk almost full/);
    const pausedAt = BigInt(await rpc<string>(url, 'eth_blockNumber'));
    await new Promise((r) => setTimeout(r, 1500)); // five block times
    expect(BigInt(await rpc<string>(url, 'eth_blockNumber'))).toBe(pausedAt);

    rmSync(filler);
    await node.waitForEvent('disk.recovered');
    await node.waitForBlock(Number(pausedAt) + 2);
    expect((await fetch(url.replace(/\/?$/, '/health'))).status).toBe(200);
    const after = JSON.parse(runCli(['status', '--grpc-address', grpc, '--json']).stdout) as { sealing: boolean; writable: boolean };
    expect([after.sealing, after.writable]).toEqual([true, true]);
    expect(await rpc(url, 'eth_sendRawTransaction', [raw])).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await node.stop('SIGTERM')).code).toBe(0);
  });

  it('rejects a malformed --min-free-disk with one line', () => {
    const r = runCli(['server', '--dev', '--min-free-disk', 'lots']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/"lots" is not a size like 256MB/);
  });
});
