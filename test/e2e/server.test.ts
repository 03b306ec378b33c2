import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processesKilledAfterEach, rpc, runCli, serverArgs, tempDir, expectOneLineError, singleValidatorChain } from '../helpers/cli.js';
import { Wallet } from 'ethers';
import { DEV_KEY } from '../helpers/load.js';

const startNode = processesKilledAfterEach();

/** A data dir with keys and a genesis (chain ID 777) naming its validator. */
function serverSetup() {
  const c = singleValidatorChain({ chainId: 777 });
  return { dir: c.dir, dataDir: c.node1, genesis: c.genesis, validator: c.validator };
}

describe('basalt server', () => {
  it('seals blocks as the only validator, answers JSON-RPC and gRPC status, and shuts down cleanly on SIGINT', async () => {
    const { dataDir, genesis, validator } = serverSetup();
    const node = startNode(serverArgs(dataDir, genesis, ['--seal', '--block-time', '0.3']));
    const url = await node.rpcUrl();
    await node.waitForBlock(3);

    expect(await rpc(url, 'eth_chainId')).toBe('0x309');
    const head = BigInt(await rpc<string>(url, 'eth_blockNumber'));
    expect(head).toBeGreaterThanOrEqual(3n);
    const block = await rpc<{ number: string; hash: string; miner: string; parentHash: string }>(url, 'eth_getBlockByNumber', ['0x2', false]);
    expect(block.number).toBe('0x2');
    expect(block.miner.toLowerCase()).toBe(validator.toLowerCase());
    expect(node.sealed().find((b) => b.number === 2)?.hash).toBe(block.hash);
    const b1 = await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', ['0x1', false]);
    expect(block.parentHash).toBe(b1.hash);
    expect(await rpc(url, 'eth_getBlockByNumber', ['0xffffff', false])).toBeNull();

    const status = runCli(['status', '--grpc-address', await node.grpcAddress(), '--json']);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as { chainId: number; number: number; validatorAddress: string; sealing: boolean };
    expect(s.chainId).toBe(777);
    expect(s.number).toBeGreaterThanOrEqual(3);
    expect(s.validatorAddress).toBe(validator);
    expect(s.sealing).toBe(true);

    const { code } = await node.stop('SIGINT');
    expect(code).toBe(0);
    const msgs = node.logs.map((l) => l.msg);
    for (const step of ['stopping sealer', 'closing JSON-RPC server', 'closing gRPC server', 'flushing and closing databases', 'node stopped']) {
      expect(msgs).toContain(step);
    }
    const lastSealed = Math.max(...node.sealed().map((b) => b.number));
    expect(node.events('node.stopped')[0]?.head).toBe(lastSealed);

    // The locks were released and every block is still there: a restart resumes from the same head.
    const again = startNode(serverArgs(dataDir, genesis));
    const opened = await again.waitForEvent('chain.opened');
    expect(opened.head).toBe(lastSealed);
    const url2 = await again.rpcUrl();
    const b2 = await rpc<{ hash: string }>(url2, 'eth_getBlockByNumber', ['0x2', false]);
    expect(b2.hash).toBe(block.hash);
    expect((await again.stop('SIGTERM')).code).toBe(0);
  });

  it('refuses a second node on a data dir in use with one line, and leaves the first running', async () => {
    const { dataDir, genesis } = serverSetup();
    const first = startNode(serverArgs(dataDir, genesis, ['--seal', '--block-time', '0.3']));
    await first.waitForBlock(1);
    const second = runCli(serverArgs(dataDir, genesis));
    expectOneLineError(second, /^error: data dir .* is locked by another running node/);
    const before = Math.max(...first.sealed().map((b) => b.number));
    await first.waitForBlock(before + 1);
    expect((await first.stop()).code).toBe(0);
  });

  it('refuses a genesis whose hash differs from the stored one, naming both hashes', async () => {
    const { dir, dataDir, genesis, validator } = serverSetup();
    const first = startNode(serverArgs(dataDir, genesis));
    const stored = (await first.waitForEvent('chain.opened')).genesis;
    expect((await first.stop()).code).toBe(0);

    const other = join(dir, 'other.json');
    expect(runCli(['genesis', '--dir', other, '--ibft-validator', validator, '--chain-id', '778']).code).toBe(0);
    const r = runCli(serverArgs(dataDir, other));
    expectOneLineError(r, /genesis/);
    expect(r.stderr).toContain(stored);
    expect(r.stderr.match(/0x[0-9a-f]{64}/g)?.length).toBe(2);
  });

  it('explains a missing or invalid genesis file in one line', () => {
    const { dir, dataDir } = serverSetup();
    expectOneLineError(runCli(serverArgs(dataDir, join(dir, 'missing.json'))), /genesis file .*missing\.json.* (not found|does not exist)/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"genesis": 5}');
    expectOneLineError(runCli(serverArgs(dataDir, bad)), /bad\.json/);
    writeFileSync(bad, '{ not json');
    expectOneLineError(runCli(serverArgs(dataDir, bad)), /bad\.json/);
    // nothing was created by the failed starts
    expect(existsSync(join(dataDir, 'blockchain'))).toBe(false);
  });

  it('rejects bad flags in one line', () => {
    const { dataDir, genesis } = serverSetup();
    expectOneLineError(runCli(serverArgs(dataDir, genesis, ['--block-time', 'soon'])), /block-time/);
    expectOneLineError(runCli(['server', '--data-dir', dataDir, '--chain', genesis, '--jsonrpc', 'nowhere']), /jsonrpc/);
    expectOneLineError(runCli(['server', '--data-dir', dataDir, '--chain', genesis, '--log-level', 'loud']), /log-level/);
    expectOneLineError(runCli(['server', '--data-dir', dataDir, '--chain', genesis, '--cache', 'lots']), /--cache.*"lots" is not a size/);
    expectOneLineError(runCli(['server', '--data-dir', dataDir, '--chain', genesis, '--cache', '2000000']), /--cache.*more than 1TiB/);
    expectOneLineError(runCli(serverArgs(dataDir, genesis, ['--rpc-evm-timeout', '5'])), /rpc-evm-timeout.*"5" is not a duration/);
    expectOneLineError(runCli(serverArgs(dataDir, genesis, ['--rpc-gas-cap', 'lots'])), /rpc-gas-cap.*"lots" is not a non-negative integer/);
    expectOneLineError(runCli(['server', '--chain', genesis]), /--data-dir is required/);
    expectOneLineError(runCli(['server', '--bogus']), /unknown option/);
  });

  it('does not seal when its key is not in the validator set, and says so (it follows the chain until voted in)', async () => {
    const { dir, genesis } = serverSetup();
    const outsider = join(dir, 'node2');
    const node = startNode(serverArgs(outsider, genesis, ['--seal', '--block-time', '0.2']));
    const outside = await node.waitForEvent('validator.outside-set');
    expect([outside.height, outside.validators]).toEqual([1, 1]);
    const url = await node.rpcUrl();
    await new Promise((r) => setTimeout(r, 600));
    expect(await rpc(url, 'eth_blockNumber')).toBe('0x0');
    // a new data dir gets its own keys, created 0600 by the server
    expect(existsSync(join(outsider, 'consensus/validator.key'))).toBe(true);
    expect((await node.stop()).code).toBe(0);
  });

  it('--dev starts a sealing single-validator chain in ./data with the dev account funded', async () => {
    const cwd = tempDir();
    const node = startNode(
      ['server', '--dev', '--block-time', '0.3', '--jsonrpc', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--grpc-address', '127.0.0.1:0', '--log-format', 'json'],
      { cwd },
    );
    const url = await node.rpcUrl();
    await node.waitForBlock(2);
    expect(await rpc(url, 'eth_chainId')).toBe('0x64');
    for (const f of ['data/genesis.json', 'data/keystore/libp2p.key', 'data/consensus/validator.key', 'data/blockchain/CURRENT', 'data/trie/CURRENT']) {
      expect(existsSync(join(cwd, f)), f).toBe(true);
    }
    const g = JSON.parse(readFileSync(join(cwd, 'data/genesis.json'), 'utf8'));
    expect(Object.keys(g.genesis.alloc).map((a) => a.toLowerCase())).toContain('0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266');
    expect((await node.stop()).code).toBe(0);

    // the second start reuses keys and genesis and continues the chain; --allow-unprotected-txs reaches JSON-RPC
    const again = startNode(
      [
        'server',
        '--dev',
        '--block-time',
        '0.3',
        '--jsonrpc',
        '127.0.0.1:0',
        '--ws',
        '127.0.0.1:0',
        '--grpc-address',
        '127.0.0.1:0',
        '--log-format',
        'json',
        '--allow-unprotected-txs',
      ],
      { cwd },
    );
    const opened = await again.waitForEvent('chain.opened');
    expect(opened.head as number).toBeGreaterThanOrEqual(2);
    expect(again.events('keys.created')).toEqual([]);
    const unprotected = await new Wallet(DEV_KEY).signTransaction({
      type: 0,
      chainId: 0,
      nonce: 0,
      gasPrice: 10n ** 10n,
      gasLimit: 21_000,
      to: `0x${'44'.repeat(20)}`,
      value: 1n,
    });
    expect(await rpc<string>(await again.rpcUrl(), 'eth_sendRawTransaction', [unprotected])).toMatch(/^0x[0-9a-f]{64}$/);
    expect((await again.stop()).code).toBe(0);
  });

  it('a second SIGINT forces exit', async () => {
    const { dataDir, genesis } = serverSetup();
    const node = startNode(serverArgs(dataDir, genesis));
    await node.waitForEvent('chain.opened');
    await node.rpcUrl();
    node.child.kill('SIGINT');
    node.child.kill('SIGINT');
    const { code } = await node.exited;
    // Either the graceful stop won the race (0) or the second signal forced exit (130).
    expect([0, 130]).toContain(code);
  });

  it('status explains when no node answers', () => {
    expectOneLineError(runCli(['status', '--grpc-address', '127.0.0.1:1']), /no node answers on 127\.0\.0\.1:1/);
  });
});
