import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, processesKilledAfterAll, runCli, runCliAsync, serverArgs, singleValidatorChain } from '../helpers/cli.js';
import { DEV_ADDRESS, DEV_KEY } from '../helpers/load.js';

const running = processesKilledAfterAll();

describe('basalt loadtest', () => {
  let url: string;
  let dir: string;
  let keyFile: string;
  beforeAll(async () => {
    const c = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    dir = c.dir;
    const node = new CliProcess(serverArgs(c.node1, c.genesis, ['--seal', '--block-time', '0.5']));
    running.push(node);
    url = await node.rpcUrl();
    keyFile = join(dir, 'funder.key');
    writeFileSync(keyFile, `${DEV_KEY}\n`, { mode: 0o600 });
  }, 60_000);

  it('funds generated accounts, sends transfers at the rate, and reports what was mined with its latency', async () => {
    const r = await runCliAsync(['loadtest', '--rpc', url, '--key-file', keyFile, '--tps', '40', '--duration', '3s', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      accounts: number;
      sent: number;
      mined: number;
      failed: number;
      sentPerSecond: number;
      latencyP50Ms: number;
      latencyP99Ms: number;
      blocks: number;
    };
    expect(out.sent).toBeGreaterThanOrEqual(100); // 40/s for 3 s, less what the first tick lags
    expect(out.sent).toBeLessThanOrEqual(120);
    expect(out.failed).toBe(0);
    expect(out.mined).toBe(out.sent);
    expect(out.accounts).toBe(8);
    expect(out.latencyP50Ms).toBeGreaterThan(0);
    expect(out.latencyP99Ms).toBeGreaterThanOrEqual(out.latencyP50Ms);
    expect(out.latencyP99Ms).toBeLessThan(10_000);
    // Not a TTY: plain progress lines, and never the key.
    expect(r.stderr).not.toContain(DEV_KEY.slice(2, 20));
  }, 60_000);

  it('erc20 and swap: deploys the contracts, and every token transfer and swap is mined without a revert, with its gas', async () => {
    const run = async (mode: string) => {
      const r = await runCliAsync([
        'loadtest',
        '--rpc',
        url,
        '--key-file',
        keyFile,
        '--tps',
        '30',
        '--duration',
        '2s',
        '--accounts',
        '4',
        '--mode',
        mode,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as {
        mode: string;
        contracts: Record<string, string>;
        sent: number;
        mined: number;
        reverted: number;
        gasUsed: number;
        mgasPerSecond: number;
      };
    };
    const call = async (to: string, data: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_call', params: [{ to, data }, 'latest'] }),
      });
      return ((await res.json()) as { result: string }).result;
    };
    const erc20 = await run('erc20');
    expect(erc20.mode).toBe('erc20');
    expect(erc20.sent).toBeGreaterThanOrEqual(50);
    expect(erc20.mined).toBe(erc20.sent);
    expect(erc20.reverted).toBe(0);
    // An ERC-20 transfer between two holders: two balance writes and a log, more than a plain transfer.
    const perErc20 = erc20.gasUsed / erc20.mined;
    expect(perErc20).toBeGreaterThan(28_000);
    expect(perErc20).toBeLessThan(60_000);
    expect(erc20.mgasPerSecond).toBeGreaterThan(0);
    // The token's supply went to the funder and from it to the four senders: balanceOf answers through eth_call.
    expect(BigInt(await call(erc20.contracts.token!, '0x18160ddd'))).toBeGreaterThan(0n);

    const swap = await run('swap');
    expect(Object.keys(swap.contracts).sort()).toEqual(['pool', 'tokenA', 'tokenB']);
    expect(swap.mined).toBe(swap.sent);
    expect(swap.reverted).toBe(0);
    expect(swap.gasUsed / swap.mined).toBeGreaterThan(perErc20);
    // The pool's reserves moved with the swaps, and its constant product grew by the 0.3% fees.
    const reserves = await call(swap.contracts.pool!, '0x0902f1ac');
    const r0 = BigInt(`0x${reserves.slice(2, 66)}`);
    const r1 = BigInt(`0x${reserves.slice(66, 130)}`);
    const initial = 10n ** 27n;
    expect(r0).not.toBe(initial);
    expect(r0 * r1).toBeGreaterThan(initial * initial);
  }, 90_000);

  it('refuses bad flags, a bad or missing key and an account without funds in one line, never echoing a key', async () => {
    const oneLine = (r: { code: number | null; stderr: string }, re: RegExp) => {
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
    };
    oneLine(runCli(['loadtest', '--rpc', 'nowhere', '--key-file', keyFile]), /--rpc.*is not a URL/);
    oneLine(runCli(['loadtest', '--rpc', 'ftp://x', '--key-file', keyFile]), /not an http/);
    oneLine(runCli(['loadtest', '--rpc', url, '--key-file', keyFile, '--tps', '0']), /--tps/);
    oneLine(runCli(['loadtest', '--rpc', url, '--key-file', keyFile, '--mode', 'nft']), /--mode.*nft.*transfer, erc20, swap/);
    oneLine(runCli(['loadtest', '--rpc', url], { env: { BASALT_LOADTEST_KEY: '' } }), /not 32 bytes of hex/);
    oneLine(runCli(['loadtest', '--rpc', url, '--key-file', join(dir, 'missing')]), /^error: cannot read --key-file/);
    const junk = join(dir, 'junk.key');
    writeFileSync(junk, 'deadbeefcafe-secret-material');
    const bad = runCli(['loadtest', '--rpc', url, '--key-file', junk]);
    oneLine(bad, /not 32 bytes of hex/);
    expect(bad.stderr).not.toContain('secret-material');
    const zero = join(dir, 'zero.key');
    writeFileSync(zero, `0x${'00'.repeat(32)}`);
    oneLine(runCli(['loadtest', '--rpc', url, '--key-file', zero]), /not a valid secp256k1 private key/);
    const empty = join(dir, 'empty.key');
    writeFileSync(empty, `0x${'42'.repeat(32)}`);
    oneLine(
      await runCliAsync(['loadtest', '--rpc', url, '--key-file', empty, '--tps', '5', '--duration', '1s']),
      /^error: the funding account 0x[0-9a-fA-F]{40} holds 0 wei; .* need \d+/,
    );
    oneLine(runCli(['loadtest', '--rpc', 'http://127.0.0.1:1', '--key-file', keyFile]), /^error: http:\/\/127\.0\.0\.1:1\/: eth_chainId failed/);
  }, 60_000);
});
