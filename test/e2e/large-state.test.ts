import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processesKilledAfterEach, rpc, runCli, runCliAsync, serverArgs, singleValidatorChain } from '../helpers/cli.js';
import { DEV_ADDRESS } from '../helpers/load.js';

const start = processesKilledAfterEach();

/** Accounts the genesis funds, beyond the dev account (issue #19: a state operators run). */
const ACCOUNTS = 100_000;
/** Storage slots of the one contract the genesis holds. */
const SLOTS = 20_000;
const CONTRACT = `0x${'c0'.repeat(20)}`;
// A contract that returns slot 0 of its storage: PUSH1 0, SLOAD, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN.
const CODE = '0x60005460005260206000f3';

const addressOf = (i: number) => `0x${createHash('sha256').update(`large-state ${i}`).digest('hex').slice(0, 40)}`;
const balanceOf = (i: number) => BigInt(i + 1) * 10n ** 12n;
const slotOf = (i: number) => `0x${i.toString(16).padStart(64, '0')}`;
const slotValueOf = (i: number) => `0x${(i * 7 + 1).toString(16).padStart(64, '0')}`;

describe('a large state', () => {
  it(`a genesis of ${ACCOUNTS.toLocaleString('en')} accounts and ${SLOTS.toLocaleString('en')} slots starts, is snapshotted online, and restores to the same balances and storage`, {
    timeout: 240_000,
  }, async () => {
    const { dir, node1, genesis } = singleValidatorChain({ premine: [`${DEV_ADDRESS}:${10n ** 24n}`] });
    const g = JSON.parse(readFileSync(genesis, 'utf8')) as {
      genesis: { alloc: Record<string, { balance: string; code?: string; storage?: Record<string, string> }> };
    };
    for (let i = 0; i < ACCOUNTS; i++) g.genesis.alloc[addressOf(i)] = { balance: `0x${balanceOf(i).toString(16)}` };
    const storage: Record<string, string> = {};
    for (let i = 0; i < SLOTS; i++) storage[slotOf(i)] = slotValueOf(i);
    g.genesis.alloc[CONTRACT] = { balance: '0x0', code: CODE, storage };
    writeFileSync(genesis, JSON.stringify(g));

    const source = start(serverArgs(node1, genesis, ['--seal', '--block-time', '0.2']));
    const url1 = await source.rpcUrl();
    const grpc1 = await source.grpcAddress();
    await source.waitForBlock(3);

    const file = join(dir, 'large.bsn');
    const snap = await runCliAsync(['snapshot', file, '--grpc-address', grpc1, '--json']);
    expect(snap.code, snap.stderr).toBe(0);
    const s = JSON.parse(snap.stdout) as { head: string; nodes: number; codes: number };
    expect(s.nodes).toBeGreaterThan(ACCOUNTS + SLOTS); // every leaf, and the branches above them
    expect(s.codes).toBe(1); // counts are numbers, as in restore --json
    await source.waitForBlock(Number(s.head) + 2); // it kept sealing meanwhile
    const headTag = `0x${Number(s.head).toString(16)}`;
    const sample = Array.from({ length: 40 }, (_, k) => Math.floor((k * ACCOUNTS) / 40) + (k % 7));
    const slotSample = Array.from({ length: 20 }, (_, k) => Math.floor((k * SLOTS) / 20) + (k % 5));
    const want = await rpc<{ hash: string; stateRoot: string }>(url1, 'eth_getBlockByNumber', [headTag, false]);
    for (const i of sample.slice(0, 5)) expect(BigInt(await rpc<string>(url1, 'eth_getBalance', [addressOf(i), headTag]))).toBe(balanceOf(i));
    expect((await source.stop()).code).toBe(0);

    const restoredDir = join(dir, 'restored');
    const r = await runCliAsync(['restore', file, '--data-dir', restoredDir, '--chain', genesis, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const restoredSummary = JSON.parse(r.stdout) as { head: string; nodes: number };
    expect(restoredSummary.head).toBe(s.head);
    expect(restoredSummary.nodes).toBe(s.nodes);

    const restored = start(serverArgs(restoredDir, genesis, []));
    const url2 = await restored.rpcUrl();
    const got = await rpc<{ hash: string; stateRoot: string }>(url2, 'eth_getBlockByNumber', [headTag, false]);
    expect(got).toMatchObject({ hash: want.hash, stateRoot: want.stateRoot });
    for (const i of sample) expect(BigInt(await rpc<string>(url2, 'eth_getBalance', [addressOf(i), headTag])), `balance of account ${i}`).toBe(balanceOf(i));
    expect(BigInt(await rpc<string>(url2, 'eth_getBalance', [addressOf(ACCOUNTS), headTag]))).toBe(0n); // not in the genesis
    for (const i of slotSample) expect(await rpc<string>(url2, 'eth_getStorageAt', [CONTRACT, slotOf(i), headTag]), `slot ${i}`).toBe(slotValueOf(i));
    expect(BigInt(await rpc<string>(url2, 'eth_call', [{ to: CONTRACT }, headTag]))).toBe(1n);
    expect((await restored.stop()).code).toBe(0);
    expect(runCli(['db', 'check', '--data-dir', restoredDir, '--full']).code).toBe(0);
  });
});
