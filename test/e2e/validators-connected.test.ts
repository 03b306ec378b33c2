import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/**
 * Four validator processes on loopback, shared by the steps below, in order: each step starts from
 * where the one before left the network.
 */
describe.sequential('validators stay connected (issue #18)', () => {
  let dirs: string[];
  let ports: number[];
  let keys: { validatorAddress: string; nodeId: string }[];
  let addrs: string[];
  let genesis: string;
  let lonely: string;
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

  // What the steps learn and pass on.
  let baseRate: number;
  let base: { blocks: number; seconds: number };
  const connected = [0, 0, 0]; // idle peers connected, by helper process
  const total = () => connected.reduce((a, b) => a + b, 0);
  let idle: ReturnType<typeof spawn>[];
  let halted: number;

  beforeAll(async () => {
    const dir = tempDir();
    dirs = [0, 1, 2, 3].map((i) => join(dir, `v${i}`));
    keys = dirs.map((d) => {
      const r = runCli(['secrets', 'init', '--data-dir', d, '--json']);
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as { validatorAddress: string; nodeId: string };
    });
    ports = await Promise.all(dirs.map(() => reservedPort()));
    addrs = keys.map((k, i) => `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${k.nodeId}`);
    // Validator 3 is no bootnode: once it is cut off, only the others' redial of a proven validator brings it back.
    genesis = join(dir, 'genesis.json');
    const g = runCli(['genesis', '--dir', genesis, '--ibft-validators-prefix-path', join(dir, 'v'), ...addrs.slice(0, 3).flatMap((a) => ['--bootnode', a])]);
    expect(g.code, g.stderr).toBe(0);
    // The same chain without bootnodes (bootnodes are no part of the genesis block).
    lonely = join(dir, 'genesis-no-bootnodes.json');
    writeFileSync(lonely, JSON.stringify({ ...JSON.parse(readFileSync(genesis, 'utf8')), bootnodes: [] }));
    await Promise.all([0, 1, 2, 3].map((i) => launch(i)));
  }, 60_000);

  it('the 4 validators seal: their block rate over 15 s, whatever the machine, is the baseline', async () => {
    for (const p of nodes) await p!.waitForEvent('validator.started');
    await allAt([0, 1, 2, 3], 3);
    base = await blocksIn(15_000);
    baseRate = base.blocks / base.seconds;
    expect(base.blocks, 'blocks sealed in the baseline window').toBeGreaterThan(0); // the machine's speed, whatever it is, is the yardstick
  }, 90_000);

  it("12 idle peers connect to every validator from the validators' own address (127.0.0.1), through the handshake", async () => {
    // Each validator then has 15 peers from one address (gossipsub's IP colocation threshold is 10).
    const genesisHash = await hashAt(urls[0]!, 0);
    const chainId = String(BigInt(await rpc<string>(urls[0]!, 'eth_chainId')));
    // Three processes of four: each verifies the signature of every gossip message its peers receive
    // until the validators stop sending to them, and on a loaded machine one process of twelve answered
    // the validators' handshakes too late (5 s) to stay connected.
    idle = connected.map((_, k) => {
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
    // On a loaded machine an idle peer now and then answers a handshake too late and is hung up on
    // (it dials again): at least 11 of the 12 at every validator, 14 peers from 127.0.0.1 with the
    // other validators, is already past gossipsub's publish threshold (-80 < -50) without the fix.
    const crowded = async () => (await Promise.all(urls.map(peerCount))).every((n) => n >= 14);
    await until(async () => total() >= 44 && (await crowded()), 'the idle peers connected to every validator, through the handshake', 60_000).catch(
      (err: Error) => {
        throw new Error(`${err.message} (${total()} of 48 connected)`);
      },
    );
  }, 75_000);

  it('the idle peers stay connected for 60 s; meanwhile, and after they leave, the chain seals at 0.7 times the baseline rate or more', async () => {
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
  }, 120_000); // 80 s of measuring windows

  it('validator 2 stopped and validator 3 cut off (no quorum): back with no bootnodes, validator 3 is redialled by validators 0 and 1 within 5 s', async () => {
    await Promise.all([stop(2, 'SIGINT'), stop(3, 'SIGKILL')]);
    await sleep(1_500);
    halted = Math.max(...(await heads([0, 1])));
    // Validator 3 comes back on its port with no bootnodes: validators 0 and 1 must redial it.
    const v3 = await launch(3, lonely);
    await v3.waitForEvent('p2p.listening');
    const t0 = Date.now();
    const peersOf3 = () => new Set(v3.events('peer.connected').map((l) => l.peer));
    await v3.waitFor(() => [keys[0]!.nodeId, keys[1]!.nodeId].every((id) => peersOf3().has(id)), 'validators 0 and 1 reconnected to validator 3', 20_000);
    const reconnectMs = Date.now() - t0;
    console.log(`validator 3 reconnected by validators 0 and 1 ${reconnectMs} ms after it listened`);
    expect(reconnectMs, 'ms until the others redialled validator 3').toBeLessThan(5_000);
  }, 60_000);

  it('a quorum again (validators 0, 1 and 3): the chain resumes with the same blocks on each, nobody restarted', async () => {
    await allAt([0, 1, 3], halted + 3, 60_000);
    const hashes = await Promise.all([0, 1, 3].map((i) => hashAt(urls[i]!, halted + 3)));
    expect(new Set(hashes).size).toBe(1);
  }, 70_000);
});
