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
    const child = spawn(process.execPath, ['--import', RSS, CLI, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      const m = /\{"benchPeakRssBytes":(\d+)\}/.exec(stderr);
      resolve({ code, stdout, stderr, ms, peakRss: m ? Number(m[1]) : NaN });
    });
  });
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function mb(bytes) {
  return (bytes / 1e6).toFixed(1);
}

export function dirBytes(path) {
  return new Promise((resolve) => {
    const c = spawn('du', ['-sb', path]);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', () => resolve(Number(out.split(/\s/)[0])));
  });
}
