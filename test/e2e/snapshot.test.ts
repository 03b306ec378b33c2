import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processesKilledAfterEach, rpc, runCli, serverArgs, expectOneLineError, singleValidatorChain, runCliAsync } from '../helpers/cli.js';
import { JsonRpcProvider, Wallet, hexlify } from 'ethers';
import { STORAGE_INITCODE, word } from '../helpers/contracts.js';
import { DEV_ADDRESS, transactionLoad } from '../helpers/load.js';

const SECOND_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'; // Hardhat #1, public

const start = processesKilledAfterEach();

const blockAt = (url: string, tag: string) => rpc<{ number: string; hash: string; stateRoot: string }>(url, 'eth_getBlockByNumber', [tag, false]);

describe('snapshot and restore', () => {
  it('snapshots a sealing node under load; the restored node serves the same head and state and, with its keys, keeps sealing', {
    timeout: 120_000,
  }, async () => {
    const deployer = new Wallet(SECOND_KEY);
    const { dir, node1, genesis } = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`, `${deployer.address}:${10n ** 21n}`] });
    const source = start(serverArgs(node1, genesis, ['--seal', '--block-time', '0.1']));
    const url1 = await source.rpcUrl();
    const grpc1 = await source.grpcAddress();
    const load = transactionLoad(url1);
    // A contract with storage, so that eth_call on the restored head reads restored contract state.
    const provider = new JsonRpcProvider(url1, undefined, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 }); // see jsonrpc.test.ts
    const wallet = deployer.connect(provider);
    const contract = (await (await wallet.sendTransaction({ data: hexlify(STORAGE_INITCODE) })).wait())!.contractAddress!;
    await (await wallet.sendTransaction({ to: contract, data: word(4242n) })).wait();
    provider.destroy();
    await source.waitForBlock(30);

    const file = join(dir, 'node.bsn');
    const snap = await runCliAsync(['snapshot', file, '--grpc-address', grpc1, '--json']); // the load goes on meanwhile
    expect(snap.code, snap.stderr).toBe(0);
    const s = JSON.parse(snap.stdout) as { head: string; nodes: string; digest: string };
    expect(Number(s.head)).toBeGreaterThanOrEqual(30);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
    await source.waitForBlock(Number(s.head) + 3); // the node kept sealing meanwhile
    await load.stop();
    expect(load.sent()).toBeGreaterThan(10);

    const restoredDir = join(dir, 'restored');
    const r = runCli(['restore', file, '--data-dir', restoredDir, '--chain', genesis, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ head: s.head });
    expect(JSON.parse(r.stdout).backfill).toBeUndefined();

    // --history headers (from the running node): the headers below the head; its restore
    // records them as the gap the node back-fills from its peers, and says so.
    const headersFile = join(dir, 'headers.bsn');
    const hs = await runCliAsync(['snapshot', headersFile, '--grpc-address', grpc1, '--history', 'headers']);
    expect(hs.code, hs.stderr).toBe(0);
    const headsAt = /^Snapshot of block (\d+):/m.exec(hs.stderr)?.[1];
    expect(hs.stderr).toMatch(new RegExp(`^blocks 1-${Number(headsAt) - 1}: headers only; a node restored from it back-fills`, 'm'));
    const hr = runCli(['restore', headersFile, '--data-dir', join(dir, 'restored-headers'), '--chain', genesis, '--json']);
    expect(hr.code, hr.stderr).toBe(0);
    expect(JSON.parse(hr.stdout)).toMatchObject({ head: headsAt, backfill: { from: '1', to: String(Number(headsAt) - 1) } });
    const hh = runCli(['restore', headersFile, '--data-dir', join(dir, 'restored-headers-2'), '--chain', genesis]);
    expect(hh.stderr).toMatch(
      new RegExp(`^Blocks 1-${Number(headsAt) - 1}: headers verified; the node back-fills their bodies and receipts from its peers`, 'm'),
    );

    // Stop the original and move its keys to the restored node through an encrypted key backup.
    expect((await source.stop()).code).toBe(0);
    const passFile = join(dir, 'pass.txt');
    writeFileSync(passFile, 'snapshot test passphrase\n');
    const keys = join(dir, 'keys.bkb');
    expect(runCli(['secrets', 'backup', keys, '--data-dir', node1, '--passphrase-file', passFile]).code).toBe(0);
    const kr = runCli(['secrets', 'restore', keys, '--data-dir', restoredDir, '--passphrase-file', passFile]);
    expect(kr.code, kr.stderr).toBe(0);

    // The original, read-only, as the reference for the snapshot's head.
    const reference = start(serverArgs(node1, genesis, []));
    const urlRef = await reference.rpcUrl();
    const headTag = `0x${Number(s.head).toString(16)}`;
    const want = await blockAt(urlRef, headTag);
    const balanceWant = await rpc(urlRef, 'eth_getBalance', [DEV_ADDRESS, headTag]);
    const callWant = await rpc<string>(urlRef, 'eth_call', [{ to: contract }, headTag]);
    expect(BigInt(callWant)).toBe(4242n);
    const codeWant = await rpc<string>(urlRef, 'eth_getCode', [contract, headTag]);
    expect(codeWant.length).toBeGreaterThan(2);
    expect((await reference.stop()).code).toBe(0);

    // The only validator, restored without its sign journal and with no peer to catch up with: the
    // operator's word that the original sealed nothing anyone will see above the snapshot's head (its
    // later blocks go with its data dir, which no node follows) lets it seal.
    const restored = start(
      serverArgs(restoredDir, join(restoredDir, 'genesis.json'), ['--seal', '--seal-without-journal', String(s.head), '--block-time', '0.2']),
    );
    const opened = await restored.waitForEvent('chain.opened');
    expect(opened.head).toBe(Number(s.head));
    const url2 = await restored.rpcUrl();
    const got = await blockAt(url2, headTag);
    expect(got.hash).toBe(want.hash);
    expect(got.stateRoot).toBe(want.stateRoot);
    expect(await rpc(url2, 'eth_getBalance', [DEV_ADDRESS, headTag])).toBe(balanceWant);
    expect(await rpc(url2, 'eth_call', [{ to: contract }, headTag])).toBe(callWant);
    expect(await rpc(url2, 'eth_getCode', [contract, headTag])).toBe(codeWant);
    // history below the head was not in the snapshot: said plainly, not answered wrongly
    const older = `0x${(Number(s.head) - 3).toString(16)}`; // a block of the load: its state is not in the snapshot
    expect((await blockAt(url2, older)).stateRoot).not.toBe(got.stateRoot);
    await expect(rpc(url2, 'eth_getBalance', [DEV_ADDRESS, older])).rejects.toThrow(
      /historical state for block \d+ is not available: this node keeps the states from block \d+ on/,
    );
    await restored.waitForBlock(Number(s.head) + 2);
    expect((await restored.stop()).code).toBe(0);
  });

  it('refuses truncated, tampered and foreign snapshots and busy targets with one line, leaving no data dir', { timeout: 120_000 }, async () => {
    const { dir, node1, genesis } = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    const source = start(serverArgs(node1, genesis, ['--seal', '--block-time', '0.05']));
    const grpc1 = await source.grpcAddress();
    await source.waitForBlock(10);
    const file = join(dir, 'node.bsn');
    expect(runCli(['snapshot', file, '--grpc-address', grpc1, '--quiet']).code).toBe(0);
    expectOneLineError(runCli(['snapshot', file, '--grpc-address', grpc1]), /already exists/);
    expectOneLineError(runCli(['snapshot', join(dir, 'x.bsn'), '--grpc-address', '127.0.0.1:1']), /no node answers/);
    await source.stop();

    const bytes = readFileSync(file);
    const truncated = join(dir, 'truncated.bsn');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const tampered = join(dir, 'tampered.bsn');
    const t = Buffer.from(bytes);
    t[Math.floor(bytes.length * 0.9)]! ^= 0x20;
    writeFileSync(tampered, t);
    const other = singleValidatorChain({ chainId: 101, premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });

    expectOneLineError(runCli(['restore', truncated, '--data-dir', join(dir, 'r1'), '--chain', genesis]), /incomplete|truncated/);
    expectOneLineError(runCli(['restore', tampered, '--data-dir', join(dir, 'r2'), '--chain', genesis]), /checksum mismatch|corrupt/);
    expectOneLineError(runCli(['restore', file, '--data-dir', join(dir, 'r3'), '--chain', other.genesis]), /belongs to another chain/);
    // A flag's value is echoed cut to 40 characters, whatever its length.
    expectOneLineError(
      runCli(['snapshot', join(dir, 'h.bsn'), '--history', `x${'y'.repeat(5000)}`]),
      /^error: option '--history <mode>' argument 'xy{39}…' is invalid\. Allowed choices are full, headers\.$/,
    );
    expectOneLineError(
      runCli(['restore', file, '--data-dir', join(dir, 'r4'), '--genesis-hash', `0x${'a'.repeat(5000)}`]),
      /^error: .*"0xa{68}" is not a 0x-prefixed 32-byte hash$/,
    );
    expectOneLineError(runCli(['restore', file, '--data-dir', node1, '--chain', genesis]), /exists and is not empty/);
    expectOneLineError(runCli(['restore', join(dir, 'nope.bsn'), '--data-dir', join(dir, 'r4'), '--chain', genesis]), /not found/);
    expectOneLineError(runCli(['restore', file]), /--data-dir/);
    for (const d of ['r1', 'r2', 'r3', 'r4']) expect(existsSync(join(dir, d)), d).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('restoring'))).toEqual([]);
  });
});
