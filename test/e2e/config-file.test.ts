import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliProcess, processesKilledAfterAll, rpc, runCli, singleValidatorChain, tempDir } from '../helpers/cli.js';

const running = processesKilledAfterAll();

describe('basalt server --config', () => {
  const dir = tempDir();
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const dump = (args: string[]) => {
    const r = runCli(['server', ...args, '--dump-config']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };
  const oneLine = (args: string[], re: RegExp) => {
    const r = runCli(['server', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(re);
  };

  it('takes every flag from the file, flags on the command line override it, and --dump-config reads back to the same flags', () => {
    const cfg = file(
      'validator.toml',
      [
        'data-dir = "/var/lib/basalt"',
        'chain = "/etc/basalt/genesis.json"',
        'seal = true',
        'block-time = 1',
        'jsonrpc = false',
        'ws = "127.0.0.1:9546"',
        'bootnode = ["/ip4/10.0.0.2/tcp/1478/p2p/16Uiu2HAkv2S684Kbu9tr994y3NTnJ47HdbRzEadWsUXW4bRV1p82"]',
        'cache = "1GiB"',
        'rpc-evm-timeout = "2s"',
        'state-history = "all"',
        'jsonrpc-api = "eth,net,web3,ibft"',
        'max-peers = 12',
        'discovery = false',
        'log-level = "warn"',
        '',
      ].join('\n'),
    );
    const out = dump(['--config', cfg, '--block-time', '3', '--log-level', 'debug']);
    expect(out).toContain('data-dir = "/var/lib/basalt"');
    expect(out).toContain('seal = true');
    expect(out).toContain('jsonrpc = false');
    expect(out).toContain('ws = "127.0.0.1:9546"');
    expect(out).toContain('cache = 1024'); // MiB
    expect(out).toContain('rpc-evm-timeout = "2s"');
    expect(out).toContain('state-history = "all"');
    expect(out).toContain('jsonrpc-api = "eth,net,web3,ibft"');
    expect(out).toContain('max-peers = 12');
    expect(out).toContain('discovery = false'); // a lone --no-… flag, under its positive name
    expect(out).toMatch(/bootnode = \[ "\/ip4\/10\.0\.0\.2\/tcp\/1478\/p2p\/16Uiu2HA[^"]+" \]/);
    // The command line wins over the file.
    expect(out).toContain('block-time = 3');
    expect(out).toContain('log-level = "debug"');
    // Defaults are in the dump too.
    expect(out).toContain('grpc-address = "127.0.0.1:9632"');
    expect(out).toContain('min-free-disk = 268435456');
    expect(out).not.toMatch(/^(dump-config|config) =/m);
    // What it prints, read back, is the same configuration.
    const again = file('dumped.toml', out);
    expect(dump(['--config', again])).toBe(out);
    // Without a file: the defaults alone, and they read back too.
    const defaults = dump([]);
    expect(defaults).toContain('block-time = 2');
    expect(defaults).toContain('discovery = true');
    expect(dump(['--no-discovery'])).toContain('discovery = false');
    expect(dump(['--config', file('defaults.toml', defaults)])).toBe(defaults);
  });

  it('refuses an unknown key, a wrong type, a table, bad TOML and a missing file in one line naming the problem', () => {
    oneLine(['--config', file('unknown.toml', 'data-dir = "x"\nblock-tme = 1\n')], /^error: .*unknown\.toml: unknown key "block-tme"/);
    oneLine(['--config', file('no.toml', 'no-jsonrpc = true\n')], /unknown key "no-jsonrpc" \(write jsonrpc = false\)/);
    oneLine(['--config', file('type.toml', 'block-time = "fast"\n')], /^error: .*type\.toml: block-time: "fast" is not a positive number$/);
    // timers: longer than a timer can wait would fire at once; less than a millisecond, never wait
    oneLine(
      ['--config', file('long.toml', 'backup-interval = "720h"\n')],
      /backup-interval: "720h" is longer than 596h31m23\.647s, the longest a timer can wait$/,
    );
    oneLine(['--block-time', '100000'], /"100000" is more than 86400 seconds \(a day\)/);
    oneLine(['--ibft-base-timeout', '0.0004'], /"0\.0004" is less than a millisecond/);
    oneLine(['--config', file('bool.toml', 'seal = "yes"\n')], /seal: must be true or false, not "yes"/);
    oneLine(['--config', file('table.toml', '[p2p]\nmax-peers = 3\n')], /p2p: is a table; the config file is flat/);
    oneLine(['--config', file('list.toml', 'block-time = [1, 2]\n')], /block-time: takes one value, not a list/);
    oneLine(['--config', file('port.toml', 'jsonrpc = "localhost"\n')], /jsonrpc: "localhost" is not host:port/);
    oneLine(['--config', file('bad.toml', 'seal = true\nblock-time = [1,\n')], /bad\.toml: not valid TOML at line 3/);
    oneLine(['--config', join(dir, 'missing.toml')], /^error: cannot read --config .*missing\.toml/);
    oneLine(['--config', dir], /is not a file/);
    // A statement true of one start, which a file would repeat at the next restore of the data dir.
    oneLine(
      ['--config', file('once.toml', 'seal = true\nseal-without-journal = 3\n')],
      /^error: .*once\.toml: seal-without-journal: not taken from a config file: .*: give it on the command line$/,
    );
    expect(dump(['--seal-without-journal', '3'])).not.toContain('seal-without-journal');
  });

  it("the README's production config is read as printed", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const toml = /```toml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(toml).toBeDefined();
    const out = dump(['--config', file('readme.toml', toml!)]);
    expect(out).toContain('backup-repository = true');
    expect(out).toContain('backup-interval = "10m0s"');
    expect(out).toContain('min-free-disk = 2147483648');
    expect(out).toContain('state-history = 128');
  });

  it('starts a node from the file alone', async () => {
    const c = singleValidatorChain();
    const cfg = file(
      'node.toml',
      [
        `data-dir = ${JSON.stringify(c.node1)}`,
        `chain = ${JSON.stringify(c.genesis)}`,
        'seal = true',
        'block-time = 0.5',
        'jsonrpc = "127.0.0.1:0"',
        'ws = false',
        'grpc-address = false',
        'libp2p = false',
        'log-format = "json"',
        '',
      ].join('\n'),
    );
    const node = new CliProcess(['server', '--config', cfg]);
    running.push(node);
    const url = await node.rpcUrl();
    expect(await rpc(url, 'eth_chainId')).toBe('0x64');
    await node.waitFor(() => node.logs.some((l) => (l as { event?: string }).event === 'block.sealed'), 'a sealed block');
    // No gRPC and no WebSocket server: the file said so.
    expect(node.logs.some((l) => ['grpc.listening', 'ws.listening'].includes((l as { event?: string }).event ?? ''))).toBe(false);
  }, 60_000);
});
