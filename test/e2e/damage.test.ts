import { cpSync, openSync, readdirSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, processesKilledAfterEach, rpc, runCli, serverArgs, singleValidatorChain, tempDir } from '../helpers/cli.js';

/**
 * Damage to a stopped node's data dir is never silent. One chain is made once (two runs, so that
 * LevelDB has turned its first write-ahead log into an .ldb table); each damage variant is a copy.
 */
const start = processesKilledAfterEach();
let genesis: string;
let base: string; // the clean data dir
let work: string;
let head = 0; // the clean chain's head

async function seal(dataDir: string, upTo: number): Promise<void> {
  const node = new CliProcess(serverArgs(dataDir, genesis, ['--seal', '--block-time', '0.02', '--no-jsonrpc', '--no-grpc-address']));
  let waited: unknown;
  try {
    await node.waitForBlock(upTo, 60_000);
  } catch (err) {
    waited = err;
  }
  // Stopped either way; a failed wait is the error to report, else an unclean exit.
  const { code } = await node.stop();
  if (waited) throw waited;
  if (code !== 0) throw new Error(`node exited ${code}: ${node.stderr.slice(-2000)}`);
  head = Math.max(head, ...node.sealed().map((b) => b.number));
}

/** A copy of the clean data dir made before anything opened it again (so LevelDB's log is as the node left it). */
function copyOf(name: string): string {
  return join(work, name);
}

/** Lines of stderr that are not JSON log lines. */
function plainLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

beforeAll(async () => {
  const c = singleValidatorChain({ premine: ['0x00000000000000000000000000000000000000aa:1000000000000000000'] }); // a state to lose
  genesis = c.genesis;
  base = c.node1;
  work = tempDir();
  await seal(base, 150); // blocks 1..150: turned into an .ldb table by the next start
  await seal(base, 300); // blocks 151..300: in the write-ahead log
  for (const name of ['corrupt', 'no-trie', 'rolled-back']) cpSync(base, join(work, name), { recursive: true });
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('damage is never silent', () => {
  it('db check passes a clean data dir', () => {
    const r = runCli(['db', 'check', '--data-dir', base, '--json', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; head: { number: number }; blocksChecked: number; problems: string[] };
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(report.head.number).toBe(head);
    expect(report.blocksChecked).toBe(head + 1);
    expect(runCli(['db', 'check', '--data-dir', base, '--full', '--quiet']).code).toBe(0);
  });

  it('a zeroed 64 KiB in a blockchain .ldb: the node refuses to start or stops with one line, never answers null below the head', async () => {
    const dir = copyOf('corrupt');
    const ldbDir = join(dir, 'blockchain');
    const tables = readdirSync(ldbDir)
      .filter((f) => f.endsWith('.ldb'))
      .map((f) => ({ f, size: statSync(join(ldbDir, f)).size }));
    expect(tables.length, 'LevelDB wrote an .ldb table').toBeGreaterThan(0);
    const largest = tables.sort((a, b) => b.size - a.size)[0]!;
    const fd = openSync(join(ldbDir, largest.f), 'r+');
    writeSync(fd, Buffer.alloc(Math.min(65536, largest.size)), 0, Math.min(65536, largest.size), Math.max(0, Math.floor(largest.size / 2) - 32768));
    closeSync(fd);

    const check = runCli(['db', 'check', '--data-dir', dir, '--quiet']);
    expect(check.code).not.toBe(0);
    expect(check.stdout).toMatch(/Problems {4}[1-9]/);
    expect(plainLines(check.stderr)).toEqual([
      expect.stringMatching(/^error: data dir .* is damaged: \d+ problems? found; restore the data dir from a snapshot \(`basalt restore`\)/),
    ]);

    const node = start(serverArgs(dir, genesis, ['--seal', '--block-time', '0.05']));
    const opened = await Promise.race([node.waitForEvent('node.started').then(() => true), node.exited.then(() => false)]);
    if (!opened) {
      const { code } = await node.exited;
      expect(code).not.toBe(0);
      expect(plainLines(node.stderr)).toEqual([expect.stringMatching(/^error: the data dir is damaged: .*basalt restore/)]);
      return;
    }
    // Started (the damage lies below the blocks the start-up check reads): every block below the head is
    // served as it is, or the node stops on the first damaged one with one fatal line.
    const url = await node.rpcUrl();
    let stopped = false;
    for (let n = 0; n <= head && !stopped; n++) {
      try {
        const block = await rpc<{ number: string } | null>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false]);
        expect(block, `block ${n} served as null`).not.toBeNull();
        expect(Number(block!.number)).toBe(n);
      } catch (err) {
        if ((err as Error).message.includes('served as null')) throw err;
        stopped = true;
      }
    }
    expect(stopped, 'the damage was met').toBe(true);
    const { code } = await node.exited;
    expect(code).not.toBe(0);
    const fatal = node.logs.filter((l) => l.level >= 60);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]!.msg).toMatch(
      /^stopping: the blockchain database at .*blockchain is damaged \(.*\); restore the data dir from a snapshot \(`basalt restore`\)/,
    );
    expect(node.sealed().every((b) => b.number > head)).toBe(true);
  });

  it('trie/ deleted: start refuses with one line, db check lists it', async () => {
    const dir = copyOf('no-trie');
    rmSync(join(dir, 'trie'), { recursive: true });
    const check = runCli(['db', 'check', '--data-dir', dir, '--json', '--quiet']);
    expect(check.code).not.toBe(0);
    expect((JSON.parse(check.stdout) as { problems: string[] }).problems).toEqual(['trie/ is missing (no state at all)']);

    const node = start(serverArgs(dir, genesis, ['--seal']));
    const { code } = await node.exited;
    expect(code).not.toBe(0);
    expect(plainLines(node.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^error: the data dir is damaged: the state of the head block ${head} \\(root 0x[0-9a-f]{64}\\) is missing from trie/; restore the data dir from a snapshot`,
        ),
      ),
    ]);
    expect(node.sealed()).toEqual([]);
  });

  it('the write-ahead log deleted (a roll-back): the validator refuses to seal heights it signed, with one line, and keeps serving', async () => {
    const dir = copyOf('rolled-back');
    for (const f of readdirSync(join(dir, 'blockchain'))) if (f.endsWith('.log') && f !== 'LOG') rmSync(join(dir, 'blockchain', f));

    const check = runCli(['db', 'check', '--data-dir', dir, '--quiet']);
    expect(check.code).not.toBe(0);
    // The journal holds the last block it signed, or the one after it (a proposal signed just before the stop).
    expect(check.stdout).toMatch(new RegExp(`the chain was rolled back: its head is block \\d+, but this validator signed block (${head}|${head + 1}) `));

    const node = start(serverArgs(dir, genesis, ['--seal', '--block-time', '0.05']));
    const opened = await node.waitForEvent('chain.opened');
    const rolledBackTo = opened.head as number;
    expect(rolledBackTo).toBeLessThan(head);
    const refusal = await node.waitFor(() => node.logs.find((l) => l.level === 50), 'the refusal');
    expect(refusal.msg).toMatch(
      new RegExp(
        `^refusing to seal: this validator already signed block (${head}|${head + 1}) \\(0x[0-9a-f]{64}\\), and block ${rolledBackTo + 1} is at or below it`,
      ),
    );
    await new Promise((r) => setTimeout(r, 500)); // five block times
    expect(node.sealed()).toEqual([]);
    expect(node.logs.filter((l) => l.level >= 50)).toHaveLength(1);
    const url = await node.rpcUrl();
    expect(Number(await rpc<string>(url, 'eth_blockNumber'))).toBe(rolledBackTo);
    expect((await node.stop()).code).toBe(0);
  });
});
