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

  it('refuses bad flags, a bad or missing key and an account without funds in one line, never echoing a key', async () => {
    const oneLine = (r: { code: number | null; stderr: string }, re: RegExp) => {
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
    };
    oneLine(runCli(['loadtest', '--rpc', 'nowhere', '--key-file', keyFile]), /--rpc.*is not a URL/);
    oneLine(runCli(['loadtest', '--rpc', 'ftp://x', '--key-file', keyFile]), /not an http/);
    oneLine(runCli(['loadtest', '--rpc', url, '--key-file', keyFile, '--tps', '0']), /--tps/);
    oneLine(runCli(['loadtest', '--rpc', url, '--key-file', keyFile, '--mode', 'swap']), /--mode.*swap.*transfer/);
    oneLine(runCli(['loadtest', '--rpc', url], { env: { BASALT_LOADTEST_KEY: '' } }), /not 32 bytes of hex/);
    oneLine(runCli(['loadtest', '--rpc', url, '--key-file', join(dir, 'missing')]), /^error: cannot read --key-file/);
    const junk = join(dir, 'junk.key');
    writeFileSync(junk, 'deadbeefcafe-secret-material');
    const bad = runCli(['loadtest', '--rpc', url, '--key-file', junk]);
    oneLine(bad, /not 32 bytes of hex/);
    expect(bad.stderr).not.toContain('secret-material');
    const empty = join(dir, 'empty.key');
    writeFileSync(empty, `0x${'42'.repeat(32)}`);
    oneLine(
      await runCliAsync(['loadtest', '--rpc', url, '--key-file', empty, '--tps', '5', '--duration', '1s']),
      /^error: the funding account 0x[0-9a-fA-F]{40} holds 0 wei; .* need \d+/,
    );
    oneLine(runCli(['loadtest', '--rpc', 'http://127.0.0.1:1', '--key-file', keyFile]), /^error: http:\/\/127\.0\.0\.1:1\/: eth_chainId failed/);
  }, 60_000);
});
