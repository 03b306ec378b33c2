import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist/cli/main.js');
export const RSS = join(ROOT, 'bench/lib/rss-report.mjs');
export const CACHE = process.env.BASALT_BENCH_CACHE ?? join(homedir(), '.cache', 'basalt-bench');

/** Run the CLI as a child; returns exit code, output, wall time and peak RSS. */
export function runCliMeasured(args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const [cmd, ...rest] = inCgroup([process.execPath, '--import', RSS, CLI, ...args], opts.cgroup);
    const child = spawn(cmd, rest, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    // Anonymous memory apart: RSS also counts the pages of files a process maps (LevelDB maps its tables).
    let peakAnon = 0;
    const poll = setInterval(() => (peakAnon = Math.max(peakAnon, procMemory(child.pid).anon || 0)), 100);
    child.on('exit', (code) => {
      clearInterval(poll);
      const ms = performance.now() - t0;
      const m = /\{"benchPeakRssBytes":(\d+)\}/.exec(stderr);
      resolve({ code, stdout, stderr, ms, peakRss: m ? Number(m[1]) : NaN, peakAnon });
    });
  });
}

/** Run the CLI (with --json) and return its parsed summary with its peak RSS; a failure throws its stderr. */
export async function runCliJson(args) {
  const r = await runCliMeasured(args);
  if (r.code !== 0) throw new Error(`${args.slice(0, 2).join(' ')}: ${r.stderr}`);
  return { ...JSON.parse(r.stdout), peakRss: r.peakRss };
}

/** Import blocks from..to of the data dir `src` into the data dir `node` (an archive in `work` between them). */
export async function importBlocks({ work, src, node, genesisPath }, from, to) {
  const part = join(work, `part-${from}.bsa`);
  await runCliJson(['export', part, String(from), String(to), '--data-dir', src, '--quiet', '--json']);
  await runCliJson(['import', part, '--data-dir', node, '--chain', genesisPath, '--quiet', '--json']);
  rmSync(part);
}

/**
 * A process's memory from /proc: peak RSS (VmHWM), RSS, and RSS split into anonymous memory (RssAnon:
 * heap, buffers, native allocations) and mapped files (RssFile: page cache the kernel can reclaim).
 */
export function procMemory(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return { hwm: NaN, rss: NaN, anon: NaN, file: NaN };
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function mb(bytes) {
  return bytes === undefined ? '?' : (bytes / 1e6).toFixed(1);
}

export function dirBytes(path) {
  return new Promise((resolve) => {
    const c = spawn('du', ['-sb', path]);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    // 'close', not 'exit': the output is read whole only then (a sample taken at 'exit' read 0 bytes).
    // No number (du found nothing to print): undefined, not 0.
    c.on('close', () => {
      const bytes = Number.parseInt(out.split(/\s/)[0], 10);
      resolve(Number.isFinite(bytes) ? bytes : undefined);
    });
  });
}

async function rpcPost(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

/**
 * Send `count` signed transfers from `sender` (an ethers Wallet, nonces from `firstNonce`) to the
 * node at `url` at once, in JSON-RPC batches of 100, each to a new recipient; resolves when all are
 * included: { acceptedMs, ms } from the first send.
 */
export async function transferBurst(url, sender, count, firstNonce = 0) {
  const chainId = BigInt((await rpcPost(url, { jsonrpc: '2.0', id: 1, method: 'eth_chainId' })).result);
  const raw = [];
  for (let nonce = firstNonce; nonce < firstNonce + count; nonce++) {
    raw.push(
      await sender.signTransaction({
        type: 2,
        chainId,
        nonce,
        to: `0x${(nonce + 1).toString(16).padStart(40, '0')}`,
        value: 1n,
        gasLimit: 21_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 1n,
      }),
    );
  }
  const sentAt = performance.now();
  for (let i = 0; i < raw.length; i += 100) {
    const batch = raw.slice(i, i + 100).map((tx, j) => ({ jsonrpc: '2.0', id: i + j, method: 'eth_sendRawTransaction', params: [tx] }));
    const out = await rpcPost(url, batch);
    const bad = out.find((r) => r.error);
    if (bad) throw new Error(`eth_sendRawTransaction: ${bad.error.message}`);
  }
  const acceptedMs = performance.now() - sentAt;
  for (;;) {
    const nonce = Number((await rpcPost(url, { jsonrpc: '2.0', id: 1, method: 'eth_getTransactionCount', params: [sender.address, 'latest'] })).result);
    if (nonce >= firstNonce + count) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return { acceptedMs, ms: performance.now() - sentAt };
}

/**
 * A memory cgroup of `limitBytes` (v2 memory.max, or v1 memory.limit_in_bytes) that a command runs in
 * (runCliMeasured's `cgroup`), or undefined where this machine gives none (not root, no memory
 * controller). The limit counts the page cache the processes in it bring in as well as their own
 * memory: what a container's memory limit does. `stats()`: how often the limit was reached (the kernel
 * reclaimed to stay under it) and OOM kills.
 */
export function memoryCgroup(limitBytes) {
  const name = `basalt-bench-${process.pid}`;
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/memory';
  try {
    if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').includes('memory')) {
      const path = join(v2, name);
      mkdirSync(path);
      writeFileSync(join(path, 'memory.max'), String(limitBytes));
      writeFileSync(join(path, 'memory.swap.max'), '0');
      const events = () =>
        Object.fromEntries(
          readFileSync(join(path, 'memory.events'), 'utf8')
            .trim()
            .split('\n')
            .map((l) => l.split(' '))
            .map(([k, v]) => [k, Number(v)]),
        );
      return { path, stats: () => ({ limitHit: events().max ?? NaN, oomKills: events().oom_kill ?? NaN }), remove: () => rmdirSync(path) };
    }
    if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
      const path = join(v1, name);
      mkdirSync(path);
      writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes));
      const read = (f) => readFileSync(join(path, f), 'utf8');
      return {
        path,
        stats: () => ({ limitHit: Number(read('memory.failcnt')), oomKills: Number(/oom_kill (\d+)/.exec(read('memory.oom_control'))?.[1] ?? NaN) }),
        remove: () => rmdirSync(path),
      };
    }
  } catch {
    // not root, or a read-only cgroup file system
  }
  return undefined;
}

/** `argv` to run in the memory cgroup at `cgroup` (memoryCgroup().path), if any: a shell joins it, then becomes the command (same pid). */
export function inCgroup(argv, cgroup) {
  return cgroup ? ['sh', '-c', `echo $$ > '${cgroup}/cgroup.procs' && exec "$0" "$@"`, ...argv] : argv;
}

/** Empty the kernel's page cache (root only), so a command reads its files from disk, charged to its cgroup. */
export function dropCaches() {
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}
