import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { hexToBytes } from '@ethereumjs/util';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';
import {
  LOADTEST_MAX_ACCOUNTS,
  LOADTEST_MAX_TPS,
  LOADTEST_MODES,
  runLoadtest,
  type LoadtestMode,
  type LoadtestProgress,
  type LoadtestResult,
} from '../rpc/jsonrpc/loadtest.js';
import { UserError, errorMessage } from '../util/errors.js';
import { parseDurationArg, parsePositiveInteger } from './options.js';

/** The environment variable that may hold the funding key instead of --key-file. */
const KEY_ENV = 'BASALT_LOADTEST_KEY';

/**
 * `basalt loadtest --rpc URL --key-file F --tps N --duration D [--mode transfer|erc20|swap]`: transactions
 * at a set rate against a node's JSON-RPC from accounts generated and funded from one key
 * (rpc/jsonrpc/loadtest.ts).
 */
export function loadtestCommand(): Command {
  return new Command('loadtest')
    .description("send transactions at a set rate to a node's JSON-RPC and report sent and mined tx/s, Mgas/s, inclusion latency and failures")
    .requiredOption('--rpc <url>', 'JSON-RPC of the node to load, e.g. http://127.0.0.1:8545', parseUrl)
    .option('--key-file <file>', `file holding the private key (0x and 64 hex digits) of the account that funds the senders (else $${KEY_ENV})`)
    .option('--tps <n>', `transactions a second to send (at most ${LOADTEST_MAX_TPS})`, parsePositiveInteger, 100)
    .option('--duration <d>', 'how long to send, e.g. 30s or 2m', parseDurationArg, 30_000)
    .option('--accounts <n>', `sender accounts to generate and fund (default: one per 16 transactions, at most ${LOADTEST_MAX_ACCOUNTS})`, parsePositiveInteger)
    .addOption(
      new Option('--mode <mode>', 'what to send: plain transfers, ERC-20 transfers, or swaps on a constant-product pool (the run deploys the contracts)')
        .choices(LOADTEST_MODES)
        .default('transfer'),
    )
    .option('--json', 'print the result as JSON', false)
    .option('--quiet', 'no progress lines', false)
    .action(
      async (o: { rpc: string; keyFile?: string; tps: number; duration: number; accounts?: number; mode: LoadtestMode; json: boolean; quiet: boolean }) => {
        const funderKey = readKey(o.keyFile);
        const show = progressPrinter(o.quiet);
        const result = await runLoadtest({
          rpcUrl: o.rpc,
          funderKey,
          mode: o.mode,
          tps: o.tps,
          durationMs: o.duration,
          ...(o.accounts !== undefined ? { accounts: o.accounts } : {}),
          onProgress: show.update,
        });
        show.end();
        process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : summary(result));
      },
    );
}

function parseUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError(`"${v.slice(0, 100)}" is not a URL like http://127.0.0.1:8545`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`"${v.slice(0, 100)}" is not an http:// or https:// URL`);
  return u.toString();
}

/** The funding key from --key-file or the environment: 32 bytes of hex, read from at most a small file. */
function readKey(file: string | undefined): Uint8Array {
  let text: string;
  if (file !== undefined) {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw new UserError(`cannot read --key-file ${file}: ${errorMessage(err)}`, { code: 'NOT_FOUND' });
    }
    try {
      if (!fstatSync(fd).isFile()) throw new UserError(`--key-file ${file} is not a file`);
      const buf = Buffer.alloc(256);
      const n = readSync(fd, buf, 0, buf.length, 0);
      text = buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } else if (process.env[KEY_ENV] !== undefined) {
    text = process.env[KEY_ENV]!;
  } else {
    throw new UserError(`the funding account's key is required: --key-file FILE or $${KEY_ENV}`);
  }
  const hex = text.trim();
  // The key itself is never echoed, even in part.
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(hex)) throw new UserError('the funding key is not 32 bytes of hex (0x and 64 hex digits)');
  const key = hexToBytes(`0x${hex.replace(/^0x/, '')}`);
  if (!secp256k1.utils.isValidPrivateKey(key)) throw new UserError('the funding key is not a valid secp256k1 private key (zero, or not below the curve order)');
  return key;
}

/** On a TTY one line rewritten in place; otherwise a plain line every 5 s; nothing with --quiet. */
function progressPrinter(quiet: boolean): { update: (p: LoadtestProgress) => void; end: () => void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let drawn = false;
  return {
    update: (p) => {
      if (quiet) return;
      const now = Date.now();
      if (now - last < (tty ? 250 : 5000)) return;
      last = now;
      const s = p.elapsedMs / 1000;
      const line = `loadtest ${p.phase}: ${s.toFixed(0)} s, sent ${p.sent}, mined ${p.mined}, failed ${p.failed}`;
      if (tty) {
        process.stderr.write(`\r${line}\x1b[K`);
        drawn = true;
      } else process.stderr.write(`${line}\n`);
    },
    end: () => {
      if (drawn) process.stderr.write('\n');
    },
  };
}

function summary(r: LoadtestResult): string {
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${v} ms`);
  const what = { transfer: 'transfers', erc20: 'ERC-20 transfers', swap: 'swaps' }[r.mode];
  const lines = [
    ...Object.entries(r.contracts).map(([name, address]) => `deployed ${name} at ${address}`),
    `sent ${r.sent} ${what} in ${r.durationSeconds.toFixed(1)} s from ${r.accounts} accounts: ${r.sentPerSecond.toFixed(1)} tx/s`,
    `mined ${r.mined} (${r.minedPerSecond.toFixed(1)} tx/s from the first send to the last inclusion) in ${r.blocks} blocks; not mined ${r.sent - r.mined}; reverted ${r.reverted}`,
    `gas used ${r.gasUsed} (${r.mgasPerSecond.toFixed(2)} Mgas/s, ${r.mined > 0 ? Math.round(r.gasUsed / r.mined) : 0} a transaction)`,
    `inclusion latency p50 ${ms(r.latencyP50Ms)}, p99 ${ms(r.latencyP99Ms)}`,
    `failed to send ${r.failed}${r.errors.length ? `: ${r.errors.map((e) => `${e.count} × ${e.message}`).join('; ')}` : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}
