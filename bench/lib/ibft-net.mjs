// A network of validator processes on this machine for benchmarks (bench/ibft.mjs, bench/hostile.mjs):
// keys and a genesis made with the CLI, each validator a `basalt server --seal` on loopback with JSON
// logs, their commit times and other log lines collected, a transfer load, and per-process figures.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reservedPort } from './ports.mjs';
import { CLI, percentile } from './util.mjs';

export { percentile };

export function cli(args) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

export async function rpc(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Start `count` validators in `work` (v0, v1, …) that seal every `blockTime` seconds, each other's
 * bootnodes, with `premine` (ADDRESS:WEI) in the genesis. `prometheus`: each serves metrics too;
 * `nodeFlags(i)`: node options for validator i (e.g. --cpu-prof).
 * Returns the network: its parts, and
 *   committedAt: height -> the earliest time (ms, log clock) a validator logged 'consensus reached'
 *   rounds:      validator-commits decided after round 0
 *   onLog(fn):   fn(index, log) for every JSON log line of every validator; returns an unsubscribe
 */
export async function startIbftNetwork({ work, count = 4, blockTime = 1, premine = [], prometheus = false, extraArgs = [], nodeFlags = () => [] }) {
  const dirs = Array.from({ length: count }, (_, i) => join(work, `v${i}`));
  const keys = dirs.map((d) => JSON.parse(cli(['secrets', 'init', '--data-dir', d, '--json'])));
  const ports = [];
  for (const _ of dirs) ports.push(await reservedPort());
  const addrs = keys.map((k, i) => `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${k.nodeId}`);
  const genesis = join(work, 'genesis.json');
  cli([
    'genesis',
    '--dir',
    genesis,
    '--ibft-validators-prefix-path',
    join(work, 'v'),
    ...premine.flatMap((p) => ['--premine', p]),
    ...addrs.flatMap((a) => ['--bootnode', a]),
  ]);
  const net = {
    dirs,
    keys,
    addrs,
    genesis,
    chainId: BigInt(JSON.parse(readFileSync(genesis, 'utf8')).params.chainID),
    rpcUrls: [],
    metricsUrls: [],
    children: [],
    committedAt: new Map(),
    rounds: 0,
    listeners: new Set(),
    onLog(fn) {
      net.listeners.add(fn);
      return () => net.listeners.delete(fn);
    },
    /** Wait until some validator committed height `h`. */
    async waitForHeight(h, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (!net.committedAt.has(h)) {
        if (Date.now() > deadline) throw new Error(`timed out at ${net.committedAt.size} blocks waiting for block ${h}`);
        if (net.children.some((c) => c.exitCode !== null)) throw new Error('a validator exited');
        await sleep(100);
      }
    },
    /** The genesis block hash (what the gossip topics and the handshake name). */
    async genesisHash() {
      return (await rpc(net.rpcUrls[0], 'eth_getBlockByNumber', ['0x0', false])).hash;
    },
    async stop() {
      // A child killed by a signal has a signalCode and no exitCode: waiting for its 'exit' again would never end.
      const gone = (c) => c.exitCode !== null || c.signalCode !== null;
      for (const c of net.children) if (!gone(c)) c.kill('SIGINT');
      await Promise.all(net.children.map((c) => (gone(c) ? undefined : new Promise((r) => c.on('exit', r)))));
    },
  };
  const launch = (i) => {
    const args = [
      'server',
      '--data-dir',
      dirs[i],
      '--chain',
      genesis,
      '--seal',
      '--block-time',
      String(blockTime),
      '--libp2p',
      `127.0.0.1:${ports[i]}`,
      '--jsonrpc',
      '127.0.0.1:0',
      '--no-ws',
      '--no-grpc-address',
      '--log-format',
      'json',
    ];
    if (prometheus) args.push('--prometheus', '127.0.0.1:0');
    const child = spawn(process.execPath, [...nodeFlags(i), CLI, ...args, ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
    net.children[i] = child;
    let partial = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const l of lines) {
        let log;
        try {
          log = JSON.parse(l);
        } catch {
          continue;
        }
        if (log.event === 'jsonrpc.listening') net.rpcUrls[i] = `http://${log.address}`;
        if (log.event === 'metrics.listening') net.metricsUrls[i] = `http://${log.address}/metrics`;
        if (log.event === 'consensus.reached') {
          const prev = net.committedAt.get(log.height);
          if (prev === undefined || log.time < prev) net.committedAt.set(log.height, log.time);
          if (log.round > 0) net.rounds++;
        }
        for (const fn of net.listeners) fn(i, log);
      }
    });
  };
  dirs.forEach((_, i) => launch(i));
  const deadline = Date.now() + 60_000;
  while (net.rpcUrls.filter(Boolean).length < count || (prometheus && net.metricsUrls.filter(Boolean).length < count)) {
    if (Date.now() > deadline) throw new Error('validators did not start within 60 s');
    if (net.children.some((c) => c.exitCode !== null)) throw new Error('a validator exited');
    await sleep(100);
  }
  return net;
}

/** Block intervals (ms) of heights from+1..to (each against the one before), sorted. */
export function intervalsOfHeights(committedAt, from, to) {
  const out = [];
  for (let h = from + 1; h <= to; h++) out.push(committedAt.get(h) - committedAt.get(h - 1));
  return out.sort((a, b) => a - b);
}

/**
 * Block intervals during [t0, t1] (ms): those ending in the window, each against the block before
 * (which may be before t0). A chain that stops shows: the time from its last block to t1 counts as one
 * more interval when it is longer than the longest finished one. Returns the sorted intervals, the
 * blocks committed in the window and the longest time without a block.
 */
export function windowIntervals(committedAt, t0, t1) {
  const commits = [...committedAt.values()].sort((a, b) => a - b);
  const before = commits.filter((t) => t <= t0).at(-1);
  const inside = commits.filter((t) => t > t0 && t <= t1);
  const intervals = [];
  let prev = before;
  for (const t of inside) {
    if (prev !== undefined) intervals.push(t - prev);
    prev = t;
  }
  const open = t1 - (prev ?? t0);
  if (open > Math.max(0, ...intervals)) intervals.push(open);
  intervals.sort((a, b) => a - b);
  return { intervals, blocks: inside.length, longest: intervals.at(-1) ?? open };
}

/** Resident memory (bytes), its peak, and CPU time used (ms) of a process, from /proc. */
export function procStats(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15)
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cpuMs: ticks * 10 };
  } catch {
    return { rss: NaN, hwm: NaN, cpuMs: NaN };
  }
}

/** Counters of a Prometheus text page, as `name{labels}` -> value. */
export async function scrape(url) {
  const text = await (await fetch(url)).text();
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.trim()) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/**
 * A steady load of signed transfers: `perSecond` a second in all from `wallets` (ethers Wallets,
 * premined), each validator's JSON-RPC sent its share by one sender that waits for each answer (a slow
 * node gets fewer, not a pile of requests). Each wallet sends to one validator only, in nonce order.
 * Refused sends are counted, not retried (the wallet's nonce is not reused).
 */
export function transferLoad(rpcUrls, wallets, perSecond, chainId = 100n) {
  let stopped = false;
  const stats = { sent: 0, failed: 0 };
  if (!(perSecond > 0)) return { stats, stop: async () => undefined };
  const share = perSecond / rpcUrls.length;
  const loops = rpcUrls.map(async (url, v) => {
    const mine = wallets.filter((_, i) => i % rpcUrls.length === v);
    const nonces = mine.map(() => 0);
    const t0 = performance.now();
    for (let n = 0; !stopped; n++) {
      const wait = t0 + (n / share) * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      if (stopped) break;
      const w = n % mine.length;
      const raw = await mine[w].signTransaction({
        to: '0x000000000000000000000000000000000000beef',
        value: 1n,
        nonce: nonces[w]++,
        gasLimit: 21000n,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        chainId,
        type: 2,
      });
      await rpc(url, 'eth_sendRawTransaction', [raw]).then(
        () => stats.sent++,
        () => stats.failed++,
      );
      if (performance.now() - t0 > ((n + 1) / share) * 1000 + 1000) n = Math.floor(((performance.now() - t0) / 1000) * share); // behind by over a second: skip, do not burst
    }
  });
  return {
    stats,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
