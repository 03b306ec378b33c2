import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, processesKilledAfterEach, rpc, runCli, serverArgs, expectOneLineError, singleValidatorChain, runCliAsync } from '../helpers/cli.js';
import { DEV_ADDRESS, transactionLoad } from '../helpers/load.js';

const start = processesKilledAfterEach();

async function block(url: string, n: number | string) {
  return rpc<{ number: string; hash: string; stateRoot: string; transactions: string[] }>(url, 'eth_getBlockByNumber', [
    typeof n === 'number' ? `0x${n.toString(16)}` : n,
    false,
  ]);
}

describe('export and import over gRPC, while nodes run', () => {
  it('exports a consistent archive from a sealing node under load, and a fresh node imports it online', { timeout: 120_000 }, async () => {
    const { dir, node1, genesis } = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    const source = start(serverArgs(node1, genesis, ['--seal', '--block-time', '0.1']));
    const url1 = await source.rpcUrl();
    const grpc1 = await source.grpcAddress();
    const load = transactionLoad(url1);
    await source.waitForBlock(40);

    const file = join(dir, 'chain.bsa');
    const sealedBefore = Math.max(...source.sealed().map((b) => b.number));
    const exp = await runCliAsync(['export', file, '--grpc-address', grpc1, '--json']); // the load goes on meanwhile
    expect(exp.code, exp.stderr).toBe(0);
    const summary = JSON.parse(exp.stdout) as { startBlock: string; endBlock: string; blocks: string; digest: string };
    expect(Number(summary.startBlock)).toBe(1);
    expect(Number(summary.endBlock)).toBeGreaterThanOrEqual(sealedBefore);
    expect(summary.digest).toMatch(/^0x[0-9a-f]{64}$/);
    await source.waitForBlock(Number(summary.endBlock) + 3); // the node kept sealing
    // Transactions kept landing while the export ran: counted over every block sealed from its start
    // until three blocks after its end (one 100 ms block alone may be empty on a busy machine).
    let during = 0;
    for (let n = sealedBefore + 1; n <= Number(summary.endBlock) + 3; n++) {
      during += (await rpc<{ transactions: string[] }>(url1, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).transactions.length;
    }
    expect(during, 'transactions kept flowing during the export').toBeGreaterThan(0);
    await load.stop();
    expect(load.sent()).toBeGreaterThan(20);

    const inspect = runCli(['archive', 'inspect', file, '--json']);
    const info = JSON.parse(inspect.stdout) as { transactions: number; digest: string; endBlock: string };
    expect(info.transactions).toBeGreaterThan(0);
    expect(info.digest).toBe(summary.digest);

    const target = start(serverArgs(join(dir, 'node2'), genesis, []));
    const url2 = await target.rpcUrl();
    const grpc2 = await target.grpcAddress();
    const imp = runCli(['import', file, '--grpc-address', grpc2, '--json']);
    expect(imp.code, imp.stderr).toBe(0);
    const isum = JSON.parse(imp.stdout) as { imported: string; skipped: string; head: string };
    expect(isum.imported).toBe(summary.endBlock);
    expect(isum.head).toBe(summary.endBlock);
    const end = Number(summary.endBlock);
    const [a, b] = await Promise.all([block(url1, end), block(url2, end)]);
    expect(b.hash).toBe(a.hash);
    expect(b.stateRoot).toBe(a.stateRoot);
    expect(b.transactions).toEqual(a.transactions);
    expect(await rpc(url2, 'eth_getBalance', [DEV_ADDRESS, `0x${end.toString(16)}`])).toBe(
      await rpc(url1, 'eth_getBalance', [DEV_ADDRESS, `0x${end.toString(16)}`]),
    );

    // Importing it again is a no-op that succeeds.
    const again = runCli(['import', file, '--grpc-address', grpc2, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ imported: '0', skipped: summary.endBlock });

    // Pipes: export - | import - (a later range, straight from node to node).
    const pipe = spawnSync(
      'sh',
      [
        '-c',
        `"${process.execPath}" "${CLI}" export - ${end + 1} ${end + 3} --grpc-address ${grpc1} --quiet | "${process.execPath}" "${CLI}" import - --grpc-address ${grpc2} --json`,
      ],
      { encoding: 'utf8' },
    );
    expect(pipe.status, pipe.stderr).toBe(0);
    expect(JSON.parse(pipe.stdout)).toMatchObject({ imported: '3', head: String(end + 3) });
    expect((await block(url2, end + 3)).hash).toBe((await block(url1, end + 3)).hash);
  });

  it('refuses every bad input with one line and leaves the chain as it was', { timeout: 120_000 }, async () => {
    const { dir, node1, genesis } = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    const source = start(serverArgs(node1, genesis, ['--seal', '--block-time', '0.05']));
    const grpc1 = await source.grpcAddress();
    await source.waitForBlock(30);
    const full = join(dir, 'full.bsa');
    expect(runCli(['export', full, '1', '30', '--grpc-address', grpc1, '--quiet']).code).toBe(0);
    const tail = join(dir, 'tail.bsa');
    expect(runCli(['export', tail, '20', '30', '--grpc-address', grpc1, '--quiet']).code).toBe(0);

    // export errors
    expectOneLineError(runCli(['export', join(dir, 'x.bsa'), '5', '999999', '--grpc-address', grpc1]), /end block 999999 is beyond the head/);
    expectOneLineError(runCli(['export', join(dir, 'x.bsa'), '9', '5', '--grpc-address', grpc1]), /start block 9 is after end block 5/);
    expectOneLineError(runCli(['export', join(dir, 'x.bsa'), 'ten', '--grpc-address', grpc1]), /start-block "ten" is not a block number/);
    expectOneLineError(runCli(['export', full, '--grpc-address', grpc1]), /already exists/);
    expectOneLineError(runCli(['export', join(dir, 'x.bsa'), '--grpc-address', grpc1, '--compression', 'lz4']), /compression/);
    expectOneLineError(runCli(['export', join(dir, 'x.bsa'), '--grpc-address', '127.0.0.1:1']), /no node answers on 127\.0\.0\.1:1/);
    expectOneLineError(runCli(['export', join(dir, 'x.bsa'), '--data-dir', node1]), /locked by another running node.*--grpc-address/);
    expect(readdirSync(dir).filter((f) => f.startsWith('x.bsa') || f.includes('.partial'))).toEqual([]);

    // a second chain's archive
    const other = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    const otherNode = start(serverArgs(other.node1, other.genesis, ['--seal', '--block-time', '0.05']));
    const grpcOther = await otherNode.grpcAddress();
    await otherNode.waitForBlock(3);
    const foreign = join(dir, 'foreign.bsa');
    expect(runCli(['export', foreign, '1', '3', '--grpc-address', grpcOther, '--quiet']).code).toBe(0);
    await otherNode.stop();

    const target = start(serverArgs(join(dir, 'node2'), genesis, []));
    const url2 = await target.rpcUrl();
    const grpc2 = await target.grpcAddress();
    const bytes = readFileSync(full);
    const truncated = join(dir, 'truncated.bsa');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const corrupt = join(dir, 'corrupt.bsa');
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0x10;
    writeFileSync(corrupt, flipped);
    const notArchive = join(dir, 'genesis-copy.bsa');
    writeFileSync(notArchive, readFileSync(genesis));

    expectOneLineError(runCli(['import', truncated, '--grpc-address', grpc2]), /archive is (incomplete|truncated)/);
    expectOneLineError(runCli(['import', corrupt, '--grpc-address', grpc2]), /checksum mismatch|corrupt/);
    expectOneLineError(runCli(['import', notArchive, '--grpc-address', grpc2]), /not a Basalt archive/);
    expectOneLineError(runCli(['import', join(dir, 'missing.bsa'), '--grpc-address', grpc2]), /not found/);
    expectOneLineError(runCli(['import', foreign, '--grpc-address', grpc2]), /belongs to another chain/);
    expectOneLineError(runCli(['import', tail, '--grpc-address', grpc2]), /starts at block 20, but this chain's head is 0: import blocks 1-19 first/);
    // a truncated stream through stdin reaches the node: refused there, nothing unverified kept
    const piped = spawnSync(
      'sh',
      ['-c', `head -c ${Math.floor(bytes.length * 0.6)} "${full}" | "${process.execPath}" "${CLI}" import - --grpc-address ${grpc2}`],
      { encoding: 'utf8' },
    );
    expectOneLineError({ code: piped.status, stderr: piped.stderr }, /archive is (incomplete|truncated)/);
    const head = Number(BigInt(await rpc<string>(url2, 'eth_blockNumber')));
    for (let n = 1; n <= head; n++) expect((await block(url2, n)).hash).toBe(source.sealed().find((b) => b.number === n)?.hash);

    // archive verify: the good one passes in full, the bad ones fail in one line
    const ok = runCli(['archive', 'verify', full, '--chain', genesis, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, level: 'replayed', blocks: '30' });
    expectOneLineError(runCli(['archive', 'verify', corrupt]), /checksum mismatch|corrupt/);
    expectOneLineError(runCli(['archive', 'verify', foreign, '--chain', genesis]), /belongs to another chain/);
  });

  it('an import whose client is killed mid-way leaves the running node consistent, and the same import then finishes', { timeout: 120_000 }, async () => {
    const { dir, node1, genesis } = singleValidatorChain();
    const source = start(serverArgs(node1, genesis, ['--seal', '--block-time', '0.02']));
    await source.waitForBlock(300, 60_000);
    expect((await source.stop()).code).toBe(0);
    const file = join(dir, 'chain.bsa');
    expect(runCli(['export', file, '--data-dir', node1, '--quiet']).code).toBe(0);

    const target = start(serverArgs(join(dir, 'node2'), genesis, []));
    const url2 = await target.rpcUrl();
    const grpc2 = await target.grpcAddress();
    const client = start(['import', file, '--grpc-address', grpc2]);
    await target.waitForEvent('import.started');
    await new Promise((r) => setTimeout(r, 300));
    client.child.kill('SIGKILL');
    await client.exited;
    // The node either finishes what it already received or stops at the dropped stream; either way it
    // keeps running and holds only verified blocks.
    await target.waitFor(() => target.events('import.failed').length + target.events('import.finished').length > 0, 'the import to end on the node');
    const head = Number(BigInt(await rpc<string>(url2, 'eth_blockNumber')));
    expect(head).toBeGreaterThan(0);
    // the node is still serving, and what it holds is the source chain's
    for (const n of [1, head]) expect((await block(url2, n)).hash).toBe(source.sealed().find((b) => b.number === n)?.hash);
    const again = runCli(['import', file, '--grpc-address', grpc2, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const r = JSON.parse(again.stdout) as { imported: string; skipped: string; head: string };
    expect(Number(r.skipped)).toBe(head);
    expect(Number(r.head)).toBeGreaterThanOrEqual(300);
    expect(Number(r.imported) + Number(r.skipped)).toBe(Number(r.head));
  });

  it('offline export and import with --data-dir when no node runs, and an import interrupted by kill -9 finishes on the next run', {
    timeout: 120_000,
  }, async () => {
    const { dir, node1, genesis } = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    const source = start(serverArgs(node1, genesis, ['--seal', '--block-time', '0.02']));
    await source.waitForBlock(300, 60_000);
    expect((await source.stop()).code).toBe(0);

    const file = join(dir, 'offline.bsa');
    const exp = runCli(['export', file, '--data-dir', node1, '--compression', 'gzip', '--json']);
    expect(exp.code, exp.stderr).toBe(0);
    const end = JSON.parse(exp.stdout).endBlock as string;

    // Import online and kill the node mid-way.
    const node2 = join(dir, 'node2');
    const target = start(serverArgs(node2, genesis, []));
    const grpc2 = await target.grpcAddress();
    const importer = start(['import', file, '--grpc-address', grpc2]);
    await target.waitForEvent('import.started');
    await new Promise((r) => setTimeout(r, 300));
    target.child.kill('SIGKILL');
    const { code } = await importer.exited;
    expect(code).not.toBe(0);
    expect(importer.stderr).toMatch(/^error: /m);

    // Offline: the data dir opens, holds a consistent prefix, and the same import finishes the job.
    const resumed = runCli(['import', file, '--data-dir', node2, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const r = JSON.parse(resumed.stdout) as { imported: string; skipped: string; head: string };
    expect(r.head).toBe(end);
    expect(Number(r.skipped)).toBeGreaterThan(0);
    expect(Number(r.imported) + Number(r.skipped)).toBe(Number(end));

    // Both data dirs now export byte-identical block records: same digest.
    const again = join(dir, 'again.bsa');
    const exp2 = runCli(['export', again, '--data-dir', node2, '--compression', 'gzip', '--json']);
    expect(exp2.code, exp2.stderr).toBe(0);
    const a = runCli(['archive', 'inspect', file, '--json']);
    const b = runCli(['archive', 'inspect', again, '--json']);
    expect(JSON.parse(b.stdout).lastBlockHash).toBe(JSON.parse(a.stdout).lastBlockHash);
    expect(existsSync(join(node2, 'blockchain', 'LOCK'))).toBe(true);
  });
});
