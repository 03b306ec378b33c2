import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { bytesToHex, hexToBytes, isValidAddress } from '@ethereumjs/util';
import { maxFaulty, optimalQuorum } from '../consensus/ibft/validators.js';
import { SCHEDULED_FORKS, type ForkSchedule, type ScheduledFork } from '../chain/forks.js';
import { DEFAULT_BASE_FEE, DEFAULT_GAS_LIMIT, makeGenesisFile } from '../consensus/ibft/genesis.js';
import { privateKeyToAddress } from '../keys/address.js';
import { loadValidatorKey } from '../keys/keyfile.js';
import { UserError, errorMessage } from '../util/errors.js';
import { writeFileNew } from '../util/durable.js';
import { parsePeerAddress } from '../p2p/peers.js';
import { collect, parseBigIntArg } from './options.js';

/** Polygon SDK's default premine balance when `--premine` names no amount: 1000 ETH. */
export const DEFAULT_PREMINE_WEI = 10n ** 21n;

export function genesisCommand(): Command {
  return new Command('genesis')
    .description('write a genesis file for an IBFT chain')
    .option('--dir <file>', 'where to write the genesis file', './genesis.json')
    .option('--name <name>', 'chain name', 'basalt')
    .option('--consensus <engine>', 'consensus engine (only ibft)', 'ibft')
    .option('--ibft-validator <address>', 'a validator address (repeat for each validator)', collect, [])
    .option('--ibft-validators-prefix-path <prefix>', 'use the validator key of every data dir whose path starts with this prefix')
    .option('--chain-id <id>', 'chain ID', parseChainId, 100)
    .option('--premine <address[:wei]>', 'premine an account (repeat; default 1000 ETH)', collect, [])
    .option('--bootnode <multiaddr>', 'a bootnode, /ip4/…/tcp/…/p2p/<node ID> (repeat); written to "bootnodes"', collect, [])
    .option('--block-gas-limit <gas>', `block gas limit (default: ${DEFAULT_GAS_LIMIT})`, parseBigIntArg)
    .option(
      '--fork <name:block>',
      `activate an EVM fork at a block (repeat; ${SCHEDULED_FORKS.join(', ')}; default: all at 0; london:0 alone for London rules only)`,
      collect,
      [],
    )
    .action((opts: GenesisOptions) => {
      const { path, validators } = writeGenesis(opts);
      process.stdout.write(`Genesis written to ${path}\n`);
      process.stdout.write(`${faultTolerance(validators)}\n`);
      if (validators === 2 || validators === 3) {
        process.stderr.write(
          `warning: ${validators} validators tolerate no faulty validator (F = 0)${validators === 2 ? ' and halt while either is stopped' : ''}; 4 validators tolerate one\n`,
        );
      }
    });
}

interface GenesisOptions {
  dir: string;
  name: string;
  consensus: string;
  ibftValidator: string[];
  ibftValidatorsPrefixPath?: string;
  chainId: number;
  premine: string[];
  bootnode?: string[];
  blockGasLimit?: bigint;
  fork?: string[];
}

export function writeGenesis(opts: GenesisOptions): { path: string; validators: number } {
  if (opts.consensus !== 'ibft') throw new UserError(`unsupported consensus "${opts.consensus}": Basalt runs ibft`);
  const path = resolve(opts.dir);
  if (existsSync(path)) throw new UserError(`genesis file ${path} already exists: remove it or choose another --dir`);
  const validators = collectValidators(opts);
  if (validators.length === 0) {
    throw new UserError('no validators: pass --ibft-validator 0xADDRESS (repeatable) or --ibft-validators-prefix-path');
  }
  const gasLimit = opts.blockGasLimit ?? DEFAULT_GAS_LIMIT;
  if (gasLimit < 5000n) throw new UserError(`--block-gas-limit ${gasLimit} is below the minimum of 5000`);
  const genesis = makeGenesisFile({
    name: opts.name,
    chainId: opts.chainId,
    validators: validators.map((v) => hexToBytes(v as `0x${string}`)),
    premine: opts.premine.map(parsePremine),
    gasLimit,
    baseFee: DEFAULT_BASE_FEE,
    timestamp: BigInt(Math.floor(Date.now() / 1000)),
    ...(opts.fork !== undefined && opts.fork.length > 0 ? { forks: parseForks(opts.fork) } : {}),
  });
  for (const b of opts.bootnode ?? []) parsePeerAddress(b, '--bootnode');
  genesis.bootnodes = [...new Set(opts.bootnode ?? [])];
  try {
    writeFileNew(path, Buffer.from(`${JSON.stringify(genesis, null, 2)}\n`), 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UserError(`genesis file ${path} already exists: remove it or choose another --dir`);
    const why =
      code === 'ENOENT'
        ? 'its folder does not exist'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'ENOTDIR'
            ? 'a file is in the way'
            : errorMessage(err);
    throw new UserError(`cannot write genesis file ${path}: ${why}`);
  }
  return { path, validators: validators.length };
}

function collectValidators(opts: GenesisOptions): string[] {
  const out: string[] = [];
  const add = (addr: string, source: string) => {
    const lower = addr.toLowerCase();
    if (out.includes(lower)) throw new UserError(`duplicate validator ${addr} (${source})`);
    out.push(lower);
  };
  for (const v of opts.ibftValidator) {
    if (!isValidAddress(v)) throw new UserError(`--ibft-validator "${v}" is not a 0x-prefixed 20-byte address`);
    add(v, '--ibft-validator');
  }
  if (opts.ibftValidatorsPrefixPath !== undefined) {
    const dirs = dataDirsWithPrefix(opts.ibftValidatorsPrefixPath);
    if (dirs.length === 0) throw new UserError(`no data dir matches --ibft-validators-prefix-path ${opts.ibftValidatorsPrefixPath}`);
    for (const dir of dirs) add(bytesToHex(privateKeyToAddress(loadValidatorKey(dir))), dir);
  }
  return out;
}

/**
 * Data dirs whose path starts with `prefix` (./node -> ./node1, ./node2, ...), in name order. Only
 * folders that hold a `consensus/` or `keystore/` folder count: `./node` must not pick up
 * `./node_modules` when run inside a project. A data dir that lacks its key is still an error.
 */
function dataDirsWithPrefix(prefix: string): string[] {
  const full = resolve(prefix);
  const parent = prefix.endsWith('/') ? full : dirname(full);
  const stem = prefix.endsWith('/') ? '' : basename(full);
  if (!existsSync(parent)) return [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch (err) {
    throw new UserError(`cannot read ${parent} for --ibft-validators-prefix-path: ${errorMessage(err)}`);
  }
  const isFolder = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false; // a dangling link, or one we may not look at: not a data dir
    }
  };
  return names
    .filter((name) => name.startsWith(stem))
    .map((name) => join(parent, name))
    .filter((p) => isFolder(p) && ['consensus', 'keystore'].some((sub) => existsSync(join(p, sub))))
    .sort();
}

function parsePremine(spec: string): { address: string; balance: bigint } {
  const [address, amount, ...rest] = spec.split(':');
  if (address === undefined || !isValidAddress(address) || rest.length > 0) {
    throw new UserError(`--premine "${spec}" is not ADDRESS[:WEI] with a 0x-prefixed 20-byte address`);
  }
  if (amount !== undefined && !/^(0x[0-9a-fA-F]+|\d+)$/.test(amount)) {
    throw new UserError(`--premine "${spec}": amount "${amount}" is not a whole number of wei`);
  }
  return { address, balance: amount === undefined ? DEFAULT_PREMINE_WEI : BigInt(amount) };
}

/** `--fork cancun:0 --fork prague:100`: exactly the forks named (London is always at 0). */
export function parseForks(specs: string[]): ForkSchedule {
  const out: ForkSchedule = {};
  const seen = new Set<string>();
  for (const spec of specs) {
    const m = /^([a-z]+):(\d{1,15})$/.exec(spec);
    if (!m) throw new UserError(`--fork "${spec}" is not NAME:BLOCK (e.g. cancun:0)`);
    const [, name, block] = m as unknown as [string, string, string];
    if (seen.has(name)) throw new UserError(`--fork ${name} given twice`);
    seen.add(name);
    if (name === 'london') {
      if (block !== '0') throw new UserError('--fork london must be at block 0 (Basalt chains start on London rules)');
      continue;
    }
    if (!(SCHEDULED_FORKS as readonly string[]).includes(name))
      throw new UserError(`--fork "${spec}": unknown fork ${name} (known: london, ${SCHEDULED_FORKS.join(', ')})`);
    out[name as ScheduledFork] = BigInt(block);
  }
  if (out.prague !== undefined && (out.cancun === undefined || out.cancun > out.prague)) {
    throw new UserError(`--fork prague:${out.prague} needs --fork cancun at or before block ${out.prague} (Prague builds on Cancun)`);
  }
  return out;
}

function parseChainId(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

/** "6 validators: each block needs 4 committed seals; sealing goes on with up to 2 down, and up to 1 faulty cannot fork the chain". */
export function faultTolerance(n: number): string {
  const q = optimalQuorum(n);
  const f = maxFaulty(n);
  return `${n} validator${n === 1 ? '' : 's'}: each block needs ${q} committed seal${q === 1 ? '' : 's'}; sealing goes on with up to ${n - q} down, and up to ${f} faulty cannot fork the chain`;
}
