// IBFT across validators benchmark. Prints figures, asserts nothing. Usage: npm run bench:ibft
//   BASALT_BENCH_BLOCK_TIME (seconds, default 1), BASALT_BENCH_BLOCKS (default 30).
// Four validator processes on this machine seal over libp2p (loopback). For each height, the time
// the first validator logged 'consensus reached'; the block interval is the difference between
// consecutive heights (same machine clock), against --block-time. The first blocks (while peers
// connect) are left out.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, percentile } from './lib/util.mjs';

const BLOCK_TIME = Number(process.env.BASALT_BENCH_BLOCK_TIME ?? 1);
const BLOCKS = Number(process.env.BASALT_BENCH_BLOCKS ?? 30);
const WARMUP = 3;
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-ibft-'));
const children = [];
const report = (line) => process.stdout.write(`${line}\n`);

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function cli(args) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

/** commit time (ms) of each height, earliest over all validators */
const committedAt = new Map();
let rounds = 0;

function validator(dataDir, genesis, port) {
  const args = ['server', '--data-dir', dataDir, '--chain', genesis, '--seal', '--block-time', String(BLOCK_TIME), '--libp2p', `127.0.0.1:${port}`, '--no-jsonrpc', '--no-ws', '--no-grpc-address', '--log-format', 'json'];
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
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
      if (log.msg === 'consensus reached') {
        const prev = committedAt.get(log.height);
        if (prev === undefined || log.time < prev) committedAt.set(log.height, log.time);
        if (log.round > 0) rounds++;
      }
    }
  });
}

try {
  const dirs = [0, 1, 2, 3].map((i) => join(work, `v${i}`));
  const keys = dirs.map((d) => JSON.parse(cli(['secrets', 'init', '--data-dir', d, '--json'])));
  const ports = [];
  for (const _ of dirs) ports.push(await freePort());
  const genesis = join(work, 'genesis.json');
  cli(['genesis', '--dir', genesis, '--ibft-validators-prefix-path', join(work, 'v'), ...keys.flatMap((k, i) => ['--bootnode', `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${k.nodeId}`])]);
  dirs.forEach((d, i) => validator(d, genesis, ports[i]));
  const deadline = Date.now() + (BLOCKS + WARMUP) * BLOCK_TIME * 1000 * 5 + 60_000;
  while (!committedAt.has(BLOCKS + WARMUP)) {
    if (Date.now() > deadline) throw new Error(`timed out at ${committedAt.size} blocks`);
    if (children.some((c) => c.exitCode !== null)) throw new Error('a validator exited');
    await new Promise((r) => setTimeout(r, 200));
  }
  const intervals = [];
  for (let h = WARMUP + 1; h <= BLOCKS + WARMUP; h++) intervals.push(committedAt.get(h) - committedAt.get(h - 1));
  intervals.sort((a, b) => a - b);
  report(`4 validators, --block-time ${BLOCK_TIME}, ${intervals.length} blocks after ${WARMUP} warm-up blocks`);
  report(`block interval: p50 ${percentile(intervals, 50)} ms, p99 ${percentile(intervals, 99)} ms, max ${intervals.at(-1)} ms (target ${BLOCK_TIME * 1000} ms)`);
  report(`heights decided after round 0: ${rounds} validator-commits`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
  await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.on('exit', r)))));
  rmSync(work, { recursive: true, force: true });
}
