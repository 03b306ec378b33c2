import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { DEV_ACCOUNT } from '../node/dev.js';
import { bootnodeOf, checkDevnetPorts, DEVNET_MAX_NODES, prepareDevnet, type Devnet, type DevnetNode } from '../node/devnet.js';
import { UserError, errorMessage } from '../util/errors.js';
import { processRuns } from '../util/stale-temp.js';
import { parseCount, parsePositiveInteger, parseTimerSeconds } from './options.js';

/** The CLI entry the nodes run: the same build as this command. */
const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const PID_FILE = 'devnet.pid';
/** How long the nodes get to stop after CTRL-C before they are killed. */
const STOP_TIMEOUT_MS = 60_000;

interface DevnetOptions {
  validators: number;
  fullNodes: number;
  dir: string;
  basePort: number;
  blockTime: number;
}

/**
 * `basalt devnet`: a local IBFT network in one command. Creates (or reuses) the folder, starts one
 * `basalt server` per node with an IPC channel (a node stops when this process goes away, even by
 * kill -9), prints the endpoints, follows every node's log with its name in front, and stops them all
 * on CTRL-C.
 */
export function devnetCommand(): Command {
  return new Command('devnet')
    .description('run a local IBFT network: keys, genesis and ports created in --dir on first use and reused after; CTRL-C stops every node')
    .option('--validators <n>', `validators (at most ${DEVNET_MAX_NODES} nodes in all)`, parsePositiveInteger, 4)
    .option('--full-nodes <n>', 'nodes that follow the chain without sealing', parseCount, 0)
    .option('--dir <dir>', 'the folder of the network', './devnet')
    .option('--base-port <port>', 'ports of node i: base+10i JSON-RPC, +1 WebSocket, +2 gRPC, +3 libp2p, +4 Prometheus', parsePort, 8545)
    .option('--block-time <seconds>', 'seconds between blocks (a new devnet; a reused one keeps its own)', parseTimerSeconds, 2)
    .action(async (o: DevnetOptions, cmd: Command) => {
      const given = { validators: cmd.getOptionValueSource('validators') === 'cli', fullNodes: cmd.getOptionValueSource('fullNodes') === 'cli' };
      const { devnet, created } = prepareDevnet(o, given);
      takeLock(devnet.dir);
      try {
        await checkDevnetPorts(devnet);
      } catch (err) {
        releaseLock(devnet.dir);
        throw err;
      }
      await run(devnet, created);
    });
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1024 || n > 65535) throw new InvalidArgumentError(`"${v}" is not a port from 1024 to 65535`);
  return n;
}

/** One devnet per folder: devnet.pid names the running one; a stale file (its process gone) is taken over. */
function takeLock(dir: string): void {
  const file = join(dir, PID_FILE);
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    pid = undefined;
  }
  if (pid !== undefined && Number.isSafeInteger(pid) && pid > 0 && processRuns(pid)) {
    throw new UserError(`a devnet already runs in ${dir} (pid ${pid}): stop it first (CTRL-C in its terminal, or kill ${pid})`);
  }
  try {
    writeFileSync(file, `${process.pid}\n`);
  } catch (err) {
    throw new UserError(`cannot write ${file}: ${errorMessage(err)}`);
  }
}

function releaseLock(dir: string): void {
  rmSync(join(dir, PID_FILE), { force: true });
}

async function run(devnet: Devnet, created: boolean): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const children = new Map<DevnetNode, ChildProcess>();
  let stopping = false;
  let exitCode = 0;
  const done = new Promise<void>((resolve) => {
    const stopAll = (code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      for (const c of children.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGINT');
      const force = setTimeout(() => {
        for (const c of children.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      force.unref();
      const check = () => {
        if ([...children.values()].every((c) => c.exitCode !== null || c.signalCode !== null)) resolve();
      };
      for (const c of children.values()) c.once('exit', check);
      check();
    };
    process.on('SIGINT', () => {
      if (stopping) {
        out('devnet: second CTRL-C: killing the nodes');
        for (const c of children.values()) c.kill('SIGKILL');
        return;
      }
      out('devnet: stopping every node (CTRL-C again to kill them)');
      stopAll(0);
    });
    process.on('SIGTERM', () => stopAll(0));
    for (const n of devnet.nodes) {
      const child = spawnNode(devnet, n);
      children.set(n, child);
      child.on('exit', (code, signal) => {
        if (stopping) return;
        out(`devnet: ${n.name} exited (${signal ?? `code ${code}`}); stopping the other nodes`);
        stopAll(1);
      });
      child.on('error', (err) => {
        if (stopping) return;
        out(`devnet: ${n.name} could not start: ${err.message}`);
        stopAll(1);
      });
    }
  });
  printTable(devnet, created, children, out);
  await done;
  releaseLock(devnet.dir);
  out(`devnet: every node stopped; start it again with: basalt devnet --dir ${devnet.dir}`);
  process.exit(exitCode);
}

function spawnNode(devnet: Devnet, n: DevnetNode): ChildProcess {
  const p = n.ports;
  const args = [
    CLI,
    'server',
    '--data-dir',
    n.dataDir,
    '--chain',
    devnet.genesis,
    ...(n.role === 'validator' ? ['--seal'] : []),
    '--block-time',
    String(devnet.blockTime),
    '--jsonrpc',
    `127.0.0.1:${p.jsonrpc}`,
    '--ws',
    `127.0.0.1:${p.ws}`,
    '--grpc-address',
    `127.0.0.1:${p.grpc}`,
    '--libp2p',
    `127.0.0.1:${p.libp2p}`,
    '--prometheus',
    `127.0.0.1:${p.metrics}`,
    '--log-format',
    'pretty',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, NO_COLOR: '1' } });
  const prefix = `${n.name.padEnd(4)}| `;
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`));
  }
  return child;
}

function printTable(devnet: Devnet, created: boolean, children: Map<DevnetNode, ChildProcess>, out: (line: string) => void): void {
  const validators = devnet.nodes.filter((n) => n.role === 'validator').length;
  out(
    `devnet ${devnet.dir} (${created ? 'created' : 'reused'}): ${validators} validators, ${devnet.nodes.length - validators} full nodes, chain ID ${devnet.chainId}, block time ${devnet.blockTime} s`,
  );
  const rows = [
    ['node', 'role', 'pid', 'JSON-RPC', 'WebSocket', 'gRPC', 'metrics', 'libp2p'],
    ...devnet.nodes.map((n) => [
      n.name,
      n.role,
      String(children.get(n)?.pid ?? '-'),
      `http://127.0.0.1:${n.ports.jsonrpc}`,
      `ws://127.0.0.1:${n.ports.ws}`,
      `127.0.0.1:${n.ports.grpc}`,
      `http://127.0.0.1:${n.ports.metrics}/metrics`,
      bootnodeOf(n),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    out(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  out(`dev account ${DEV_ACCOUNT.address} holds 1,000,000 ETH; its key ${DEV_ACCOUNT.privateKey} is public (dev only)`);
  out('node logs follow, each line after its node name; CTRL-C stops every node');
}
