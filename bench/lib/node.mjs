// A Basalt node from the built CLI for benchmarks, its JSON log lines collected.
import { spawn } from 'node:child_process';
import { CLI } from './util.mjs';

/**
 * Start `basalt server` with `args` (JSON-RPC and gRPC on free ports and no WebSocket, unless `args` say).
 * `nodeArgs` go to node itself (`--cpu-prof`, `--max-old-space-size`).
 * Returns { child, started, logs, waitFor(pred, what, ms), waitForEvent(name, what, ms), stop(signal) };
 * `started`: Date.now() at spawn. Log lines are JSON; `event` names what the node did (src/util/events.ts).
 */
export function startNode(args, { env, nodeArgs = [] } = {}) {
  const started = Date.now();
  const defaults = [];
  if (!args.includes('--jsonrpc') && !args.includes('--no-jsonrpc')) defaults.push('--jsonrpc', '127.0.0.1:0');
  if (!args.includes('--grpc-address') && !args.includes('--no-grpc-address')) defaults.push('--grpc-address', '127.0.0.1:0');
  if (!args.includes('--ws')) defaults.push('--no-ws'); // its default port would be every node's
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'server', ...defaults, '--log-format', 'json', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs = [];
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l));
      } catch {
        // not JSON
      }
    }
  });
  const waitFor = async (pred, what, ms = 900_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (child.exitCode !== null) throw new Error(`node exited while waiting for ${what}: ${JSON.stringify(logs.slice(-3))}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const waitForEvent = (name, what = name, ms) => waitFor((l) => l.event === name, what, ms);
  const stop = (signal = 'SIGINT') => {
    if (child.exitCode !== null) return Promise.resolve(child.exitCode);
    child.kill(signal);
    return new Promise((r) => child.on('exit', (code) => r(code)));
  };
  return { child, started, logs, waitFor, waitForEvent, stop };
}
