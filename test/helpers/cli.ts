import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import type { EventName, NodeEvents } from '../../src/util/events.js';

/** The built CLI entry: e2e tests run exactly what `npx basalt` runs. */
export const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

export function tempDir(prefix = 'basalt-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a CLI command to completion. */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): RunResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
  });
  // A command killed at the timeout says so (its own output alone may not).
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return { code: r.status, stdout: r.stdout, stderr: timedOut ? `${r.stderr}[runCli: killed after ${opts.timeoutMs ?? 30_000} ms]\n` : r.stderr };
}

export interface LogLine {
  level: number;
  msg: string;
  time: number;
  event?: EventName;
  [key: string]: unknown;
}

/** A log line that records the event `K`, with its declared fields (src/util/events.ts). */
export type Logged<K extends EventName> = NodeEvents[K] & { event: K; level: number; msg: string; time: number };

/** A node (or other long-running command) started from the real CLI, with its JSON log lines parsed. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];
  private partial = '';

  constructor(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.notify();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.partial += d;
      const lines = this.partial.split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a JSON log line (e.g. "error: ..."): kept in stderr
        }
      }
      this.notify();
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.notify());
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Wait until `pred` holds on the logs so far; fails if the process exits first or time runs out. */
  async waitFor<T>(pred: () => T | undefined | false, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const v = pred();
      if (v !== undefined && v !== false) return v;
      if (exited || this.child.exitCode !== null) throw new Error(`process exited while waiting for ${what}; stderr:\n${this.stderr.slice(-3000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr:\n${this.stderr.slice(-3000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The events named `name` the process logged so far, in order, typed as the node declares them. */
  events<K extends EventName>(name: K): Logged<K>[] {
    return this.logs.filter((l): l is LogLine & Logged<K> => l.event === name);
  }

  /** Wait for the first event named `name` (and matching `pred`) the process logs; fails if it exits first. */
  waitForEvent<K extends EventName>(name: K, pred: (e: Logged<K>) => boolean = () => true, timeoutMs?: number): Promise<Logged<K>> {
    return this.waitFor(() => this.events(name).find(pred), `event ${name}`, timeoutMs);
  }

  /** The blocks the node reported sealed (committed). */
  sealed(): Logged<'block.sealed'>[] {
    return this.events('block.sealed');
  }

  async waitForBlock(n: number, timeoutMs?: number): Promise<void> {
    await this.waitFor(() => this.sealed().some((b) => b.number >= n), `block ${n}`, timeoutMs);
  }

  /** The bound JSON-RPC URL, once the node logged it. */
  async rpcUrl(): Promise<string> {
    const l = await this.waitForEvent('jsonrpc.listening');
    return `http://${l.address}`;
  }

  /** The bound JSON-RPC WebSocket URL, once the node logged it. */
  async wsUrl(): Promise<string> {
    const l = await this.waitForEvent('ws.listening');
    return `ws://${l.address}`;
  }

  /** The node's libp2p multiaddr (`/ip4/127.0.0.1/tcp/PORT/p2p/16Uiu2HA…`), once it logged it. */
  async p2pAddress(): Promise<string> {
    const l = await this.waitForEvent('p2p.listening');
    return l.addresses[0]!;
  }

  async grpcAddress(): Promise<string> {
    const l = await this.waitForEvent('grpc.listening');
    return `127.0.0.1:${l.port}`;
  }

  async stop(signal: NodeJS.Signals = 'SIGINT') {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Server args for a test node on ephemeral ports (JSON-RPC, gRPC, libp2p) with JSON logs. */
export function serverArgs(dataDir: string, genesis: string, extra: string[] = []): string[] {
  return [
    'server',
    '--data-dir',
    dataDir,
    '--chain',
    genesis,
    '--jsonrpc',
    '127.0.0.1:0',
    '--ws',
    '127.0.0.1:0',
    '--grpc-address',
    '127.0.0.1:0',
    '--libp2p',
    '127.0.0.1:0',
    '--log-format',
    'json',
    ...extra,
  ];
}

export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

/** A failed command: non-zero exit and exactly one error line (progress lines aside) matching `pattern`. */
export function expectOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  if (r.code === 0 || r.code === null) throw new Error(`expected a non-zero exit, got ${r.code}; stderr:\n${r.stderr}`);
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^(export|import|snapshot|restore): /.test(l));
  if (lines.length !== 1) throw new Error(`expected one error line, got ${lines.length}:\n${r.stderr}`);
  if (!pattern.test(lines[0]!)) throw new Error(`error line does not match ${pattern}: ${lines[0]}`);
}

/**
 * A fresh single-validator chain made with the real CLI: keys in `<dir>/node1`, a genesis naming that
 * validator, with the given chain ID and premines (ADDRESS:WEI).
 */
export function singleValidatorChain(opts: { chainId?: number; premine?: string[] } = {}): { dir: string; node1: string; genesis: string; validator: string } {
  const dir = tempDir();
  const node1 = join(dir, 'node1');
  const init = runCli(['secrets', 'init', '--data-dir', node1, '--json']);
  if (init.code !== 0) throw new Error(init.stderr);
  const validator = (JSON.parse(init.stdout) as { validatorAddress: string }).validatorAddress;
  const genesis = join(dir, 'genesis.json');
  const args = ['genesis', '--dir', genesis, '--ibft-validator', validator, '--chain-id', String(opts.chainId ?? 100)];
  for (const p of opts.premine ?? []) args.push('--premine', p);
  const g = runCli(args);
  if (g.code !== 0) throw new Error(g.stderr);
  return { dir, node1, genesis, validator };
}

/** Run a CLI command to completion without blocking this process (load generators keep running). */
export function runCliAsync(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * A `start(args)` for CLI processes that are SIGKILLed after each test of the calling file, so a
 * failing test never leaves a node running. Call once at module level.
 */
export function processesKilledAfterEach(): (args: string[], opts?: { cwd?: string; env?: Record<string, string> }) => CliProcess {
  const running: CliProcess[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
  });
  return (args, opts = {}) => {
    const p = new CliProcess(args, opts);
    running.push(p);
    return p;
  };
}

/**
 * The CLI processes a test file starts across its tests (a network shared by them): push each one
 * started; they are SIGKILLed after the file's last test, so a failing test never leaves one running.
 * Call once at module level.
 */
export function processesKilledAfterAll(opts: { thenRemove?: () => string | undefined } = {}): CliProcess[] {
  const running: CliProcess[] = [];
  afterAll(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    // Only once every node is gone: a live one may still be writing into the folder (ENOTEMPTY).
    const dir = opts.thenRemove?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return running;
}

/** A port for a node whose multiaddr must be known before it starts (a genesis file's bootnodes): see ports.mjs. */
export { reservedPort } from '../../bench/lib/ports.mjs';
