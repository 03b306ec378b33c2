import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess, rpc, runCli, serverArgs, tempDir, reservedPort, processesKilledAfterAll } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

/** Twelve idle libp2p peers (test/helpers/idle-peers.mjs), run with node. */
const IDLE_PEERS = resolve(import.meta.dirname, '../helpers/idle-peers.mjs');

const running = processesKilledAfterAll();
const children: ReturnType<typeof spawn>[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
});

const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));
const peerCount = async (url: string) => Number(BigInt(await rpc<string>(url, 'net_peerCount')));
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('validators stay connected (issue #18)', () => {
  it("12 idle peers from the validators' own address for 60 s neither slow the chain nor halt it after they leave; a validator cut off (another one down: no quorum) is redialled by the others within seconds and the chain resumes", async () => {
    const dir = tempDir();
    const dirs = [0, 1, 2, 3].map((i) => join(dir, `v${i}`));
    const keys = dirs.map((d) => {
      const r = runCli(['secrets', 'init', '--data-dir', d, '--json']);
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as { validatorAddress: string; nodeId: string };
    });
    const ports = await Promise.all(dirs.map(() => reservedPort()));
    const addrs = keys.map((k, i) => `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${k.nodeId}`);
    // Validator 3 is no bootnode: once it is cut off, only the others' redial of a proven validator brings it back.
    const genesis = join(dir, 'genesis.json');
    const g = runCli(['genesis', '--dir', genesis, '--ibft-validators-prefix-path', join(dir, 'v'), ...addrs.slice(0, 3).flatMap((a) => ['--bootnode', a])]);
    expect(g.code, g.stderr).toBe(0);
    // The same chain without bootnodes (bootnodes are no part of the genesis block).
    const lonely = join(dir, 'genesis-no-bootnodes.json');
    writeFileSync(lonely, JSON.stringify({ ...JSON.parse(readFileSync(genesis, 'utf8')), bootnodes: [] }));

    const nodes: (CliProcess | undefined)[] = [];
    const urls: string[] = [];
    const launch = async (i: number, genesisFile = genesis) => {
      const p = new CliProcess(serverArgs(dirs[i]!, genesisFile, ['--seal', '--block-time', '1', '--libp2p', `127.0.0.1:${ports[i]}`]));
      running.push(p);
      nodes[i] = p;
      urls[i] = await p.rpcUrl();
      return p;
    };
    const stop = async (i: number, signal: NodeJS.Signals) => {
      const r = await nodes[i]!.stop(signal);
      nodes[i] = undefined;
      return r;
    };
    const heads = (which: number[]) => Promise.all(which.map((i) => head(urls[i]!)));
    const allAt = (which: number[], n: number, ms?: number) =>
      until(async () => (await heads(which)).every((h) => h >= n), `validators ${which.join(',')} at block ${n}`, ms);
    /** Blocks sealed in `ms` (validator 0's head), and the seconds that took. */
    const blocksIn = async (ms: number) => {
      const [h0, t0] = [await head(urls[0]!), Date.now()];
      await sleep(ms);
      const [h1, t1] = [await head(urls[0]!), Date.now()];
      return { blocks: h1 - h0, seconds: (t1 - t0) / 1000 };
    };

    await Promise.all([0, 1, 2, 3].map((i) => launch(i)));
    for (const p of nodes) await p!.waitForEvent('validator.started');
    await allAt([0, 1, 2, 3], 3);
    const base = await blocksIn(15_000);
    const baseRate = base.blocks / base.seconds;
    expect(base.blocks, 'blocks sealed in the baseline window').toBeGreaterThan(0); // the machine's speed, whatever it is, is the yardstick

    // Twelve idle peers connect to every validator from 127.0.0.1: each validator then has 15 peers
    // from one address (gossipsub's IP colocation threshold is 10).
    const genesisHash = await hashAt(urls[0]!, 0);
    const chainId = String(BigInt(await rpc<string>(urls[0]!, 'eth_chainId')));
    // Three processes of four: each verifies the signature of every gossip message its peers receive
    // until the validators stop sending to them, and on a loaded machine one process of twelve answered
    // the validators' handshakes too late (5 s) to stay connected.
    const connected = [0, 0, 0];
    const idle = connected.map((_, k) => {
      const child = spawn(process.execPath, [IDLE_PEERS, '4', chainId, genesisHash, ...addrs], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      let partial = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        const lines = (partial + d).split('\n');
        partial = lines.pop()!;
        for (const line of lines) connected[k] = (JSON.parse(line) as { connected: number }).connected;
      });
      return child;
    });
    const total = () => connected.reduce((a, b) => a + b, 0);
    // On a loaded machine an idle peer now and then answers a handshake too late and is hung up on
    // (it dials again): at least 11 of the 12 at every validator, 14 peers from 127.0.0.1 with the
    // other validators, is already past gossipsub's publish threshold (-80 < -50) without the fix.
    const crowded = async () => (await Promise.all(urls.map(peerCount))).every((n) => n >= 14);
    await until(async () => total() >= 44 && (await crowded()), 'the idle peers connected to every validator, through the handshake', 60_000).catch(
      (err: Error) => {
        throw new Error(`${err.message} (${total()} of 48 connected)`);
      },
    );
    const during = await blocksIn(60_000);
    const stillThere = await Promise.all(urls.map(peerCount));
    const idleAtEnd = total();
    await Promise.all(idle.map((c) => new Promise((r) => (c.once('exit', r), c.kill('SIGTERM')))));
    await until(async () => (await Promise.all(urls.map(peerCount))).every((n) => n === 3), 'the idle peers gone', 10_000);
    const after = await blocksIn(20_000);
    const rate = (r: { blocks: number; seconds: number }) => r.blocks / r.seconds;
    console.log(
      `baseline ${base.blocks} blocks in ${base.seconds.toFixed(1)} s; with 12 idle peers ${during.blocks} in ${during.seconds.toFixed(1)} s (at the end: ${idleAtEnd} of 48 idle connections, validators' peers ${stillThere.join(',')}); after they left ${after.blocks} in ${after.seconds.toFixed(1)} s`,
    );
    expect
      .soft(
        stillThere.every((n) => n >= 14),
        `peers at the end of the window: ${stillThere.join(',')}`,
      )
      .toBe(true);
    expect.soft(rate(during), 'blocks/s with the idle peers connected, against the baseline').toBeGreaterThanOrEqual(0.7 * baseRate);
    expect.soft(rate(after), 'blocks/s after the idle peers left, against the baseline').toBeGreaterThanOrEqual(0.7 * baseRate);

    // Validator 2 stops and validator 3 is cut off (killed): two of four gone, no quorum, the chain halts.
    await Promise.all([stop(2, 'SIGINT'), stop(3, 'SIGKILL')]);
    await sleep(1_500);
    const halted = Math.max(...(await heads([0, 1])));
    // Validator 3 comes back on its port with no bootnodes: validators 0 and 1 must redial it.
    const v3 = await launch(3, lonely);
    await v3.waitForEvent('p2p.listening');
    const t0 = Date.now();
    const peersOf3 = () => new Set(v3.events('peer.connected').map((l) => l.peer));
    await v3.waitFor(() => [keys[0]!.nodeId, keys[1]!.nodeId].every((id) => peersOf3().has(id)), 'validators 0 and 1 reconnected to validator 3', 20_000);
    const reconnectMs = Date.now() - t0;
    console.log(`validator 3 reconnected by validators 0 and 1 ${reconnectMs} ms after it listened`);
    expect(reconnectMs, 'ms until the others redialled validator 3').toBeLessThan(5_000);
    // A quorum again (0, 1, 3): the chain resumes, nobody restarted.
    await allAt([0, 1, 3], halted + 3, 60_000);
    const hashes = await Promise.all([0, 1, 3].map((i) => hashAt(urls[i]!, halted + 3)));
    expect(new Set(hashes).size).toBe(1);
  }, 240_000); // 130-160 s on a loaded 2-core machine (60 s of it the idle peers)
});
