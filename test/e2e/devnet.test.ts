import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPublicClient, createWalletClient, http, parseEther } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { CLI, reservedPort, rpc, runCli, tempDir } from '../helpers/cli.js';
import { DEV_KEY } from '../helpers/load.js';

/** `basalt devnet` as a user runs it, its output collected. */
class Devnet {
  readonly child: ChildProcess;
  out = '';
  readonly exited: Promise<number | null>;
  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, 'devnet', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }
  async waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (this.child.exitCode !== null) throw new Error(`devnet exited: ${this.out.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}: ${this.out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  /** The node pids of its table. */
  pids(): number[] {
    return [...this.out.matchAll(/^(?:v|f)\d+\s+(?:validator|full)\s+(\d+)\s/gm)].map((m) => Number(m[1]));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const waitGone = async (pids: number[], ms: number) => {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(alive);
};

describe('basalt devnet', () => {
  const dir = join(tempDir(), 'devnet');
  const started: Devnet[] = [];
  afterAll(async () => {
    for (const d of started) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await waitGone(
      started.flatMap((d) => d.pids()),
      10_000,
    );
  });

  it('starts four validators and a full node, carries a transaction, and CTRL-C stops every node and frees the folder', async () => {
    const base = await reservedPort();
    const d = new Devnet(['--validators', '4', '--full-nodes', '1', '--dir', dir, '--base-port', String(base), '--block-time', '1']);
    started.push(d);
    await d.waitFor(/^f1\s+full\s+\d+\s/m, 30_000);
    expect(d.out).toMatch(
      new RegExp(`^v1\\s+validator\\s+\\d+\\s+http://127\\.0\\.0\\.1:${base}\\s+ws://127\\.0\\.0\\.1:${base + 1}\\s+127\\.0\\.0\\.1:${base + 2}\\s`, 'm'),
    );
    expect(d.pids()).toHaveLength(5);
    const full = `http://127.0.0.1:${base + 40}`;
    // Blocks sealed by the four, followed by the full node.
    const deadline = Date.now() + 60_000;
    while (Number(await rpc<string>(full, 'eth_blockNumber').catch(() => '0x0')) < 2) {
      if (Date.now() > deadline) throw new Error(`no blocks: ${d.out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // A transaction sent to one validator, its receipt read from the full node.
    const account = privateKeyToAccount(DEV_KEY);
    const chain = { id: 100, name: 'devnet', nativeCurrency: { name: 'ETH', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [] } } } as const;
    const wallet = createWalletClient({ account, chain, transport: http(`http://127.0.0.1:${base + 10}`) });
    const hash = await wallet.sendTransaction({ to: '0x000000000000000000000000000000000000dEaD', value: parseEther('1') });
    const receipt = await createPublicClient({ chain, transport: http(full) }).waitForTransactionReceipt({ hash, timeout: 30_000, pollingInterval: 250 });
    expect(receipt.status).toBe('success');
    // Every node's log lines, each after its name.
    for (const name of ['v1', 'v2', 'v3', 'v4', 'f1']) expect(d.out).toMatch(new RegExp(`^${name}\\s*\\| .*(sealed|imported|started)`, 'm'));
    expect(readFileSync(join(dir, 'devnet.pid'), 'utf8').trim()).toBe(String(d.child.pid));
    // A second devnet on the same folder is refused while this one runs.
    const twice = runCli(['devnet', '--dir', dir]);
    expect(twice.code).not.toBe(0);
    expect(twice.stderr.trim()).toMatch(/^error: a devnet already runs in .* \(pid \d+\)/);

    const pids = d.pids();
    d.child.kill('SIGINT');
    expect(await d.exited).toBe(0);
    expect(await waitGone(pids, 5_000)).toEqual([]);
    expect(d.out).toMatch(/devnet: every node stopped/);
    expect(existsSync(join(dir, 'devnet.pid'))).toBe(false);
    // No LevelDB lock is left: each data dir opens.
    const check = runCli(['db', 'check', '--data-dir', join(dir, 'v1'), '--json']);
    expect(check.code, check.stderr).toBe(0);
  }, 150_000);

  it('a second run reuses the folder; kill -9 of devnet leaves no node running', async () => {
    const d = new Devnet(['--dir', dir]);
    started.push(d);
    await d.waitFor(/^devnet .* \(reused\): 4 validators, 1 full nodes/m, 30_000);
    await d.waitFor(/^f1\s+full\s+\d+\s/m, 10_000);
    const pids = d.pids();
    await d.waitFor(/^v1\s*\| .*node started/m, 30_000);
    d.child.kill('SIGKILL');
    // Each node sees its IPC channel close and stops by itself.
    expect(await waitGone(pids, 30_000)).toEqual([]);
  }, 90_000);

  it('a node whose supervisor is gone before it has loaded (its IPC channel closed already) stops by itself', async () => {
    // What devnet's kill -9 does to a node still loading on a busy machine: the 'disconnect' event
    // came before the node listened for it.
    const child = spawn(
      process.execPath,
      [CLI, 'server', '--dev', '--data-dir', join(tempDir(), 'early'), '--no-libp2p', '--jsonrpc', '127.0.0.1:0', '--no-ws', '--no-grpc-address'],
      { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
    );
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.disconnect();
    const code = await Promise.race([
      new Promise<number | null>((r) => child.on('exit', (c) => r(c))),
      new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000)),
    ]);
    if (code === 'running') child.kill('SIGKILL');
    expect(code, err).toBe(0);
  }, 40_000);

  it('refuses a port in use and bad flags in one line', async () => {
    const holder = createServer();
    const port = await reservedPort();
    await new Promise<void>((r) => holder.listen(port + 3, '127.0.0.1', () => r()));
    try {
      const r = runCli(['devnet', '--validators', '1', '--dir', join(tempDir(), 'busy'), '--base-port', String(port)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toBe(
        `error: port ${port + 3} (v1's libp2p) is in use: stop what holds it, or start the devnet in a new --dir with another --base-port`,
      );
    } finally {
      holder.close();
    }
    const bad = runCli(['devnet', '--validators', '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toMatch(/--validators.*positive integer/);
    const other = runCli(['devnet', '--dir', dir, '--validators', '2']);
    expect(other.stderr.trim()).toMatch(/^error: .* holds a devnet of 4 validators and 1 full nodes/);
  }, 30_000);
});
