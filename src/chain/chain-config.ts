import { readFileSync } from 'node:fs';
import type { Common } from '@ethereumjs/common';
import { z } from 'zod';
import { quoteUntrusted, UserError, errorMessage } from '../util/errors.js';
import { ChainRules, LONDON_FORKS, SCHEDULED_FORKS, type ForkSchedule } from './forks.js';

/**
 * The genesis file, in the shape Polygon SDK writes (`genesis`, `params`, `bootnodes`), validated with zod.
 * Hex quantities are 0x-prefixed strings; addresses and hashes are 0x-prefixed hex.
 */
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ADDRESS_MESSAGE = 'must be a 20-byte 0x-prefixed address';
const HASH32 = /^0x[0-9a-fA-F]{64}$/;
const HASH32_MESSAGE = 'must be a 32-byte 0x-prefixed hash';
const hexQuantity = z.string().regex(/^0x[0-9a-fA-F]+$/, 'must be a 0x-prefixed hex quantity');
const hexData = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, 'must be 0x-prefixed hex bytes');
const address = z.string().regex(ADDRESS, ADDRESS_MESSAGE);
const hash32 = z.string().regex(HASH32, HASH32_MESSAGE);

const allocEntry = z.strictObject({
  balance: hexQuantity,
  nonce: hexQuantity.optional(),
  code: hexData.optional(),
  storage: z.record(hash32, hash32).optional(),
});
/** An alloc entry but its storage (checked slot by slot, not copied). */
const allocAccount = allocEntry.omit({ storage: true });

export const genesisFileSchema = z.object({
  name: z.string().min(1),
  genesis: z.object({
    nonce: z.string().regex(/^0x[0-9a-fA-F]{16}$/, 'must be 8 bytes of hex'),
    timestamp: hexQuantity,
    extraData: hexData,
    gasLimit: hexQuantity,
    difficulty: hexQuantity,
    mixHash: hash32,
    coinbase: address,
    baseFee: hexQuantity,
    // Checked in place by checkAlloc (zod's record would copy every entry of a large alloc).
    alloc: z.custom<Record<string, z.infer<typeof allocEntry>>>(
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      'must be an object of addresses',
    ),
    number: z.literal('0x0'),
    gasUsed: z.literal('0x0'),
    parentHash: hash32,
  }),
  params: z.object({
    forks: z.record(z.string(), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)),
    chainID: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    engine: z.object({
      ibft: z.object({
        type: z.literal('PoA'),
        /** The first block sealed under the optimal quorum ceil(2N/3); absent: the legacy 2F+1 throughout. */
        quorumSwitchBlock: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
        /** Validator votes are forgotten at every multiple of it (Polygon Edge's epochSize); absent: 100,000. */
        epochSize: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
        /**
         * Emergency validator-set changes (Besu's `transitions`): from `block` on, `validators` decide,
         * whatever the votes said; votes reset there. For when too many validators are lost for a vote.
         */
        validatorSetChanges: z
          .array(z.strictObject({ block: z.number().int().positive().max(Number.MAX_SAFE_INTEGER), validators: z.array(address).min(1).max(1024) }))
          .max(1024)
          .optional(),
      }),
    }),
  }),
  bootnodes: z.array(z.string()).default([]),
});

export type GenesisFile = z.infer<typeof genesisFileSchema>;

/** A genesis file without its allocations: what a running chain keeps (the alloc can be millions of entries). */
export type GenesisConfig = Omit<GenesisFile, 'genesis'> & { genesis: Omit<GenesisFile['genesis'], 'alloc'> };

export function withoutAlloc(g: GenesisFile): GenesisConfig {
  const { alloc: _alloc, ...genesis } = g.genesis;
  return { ...g, genesis };
}

/** Forks every Basalt chain activates at genesis (London rules); Cancun and Prague are scheduled. */
export const BASALT_FORKS = LONDON_FORKS;

/** The `params.forks` of a new chain: London at genesis plus the newest rule set (`extra` overrides). */
export function defaultForks(extra: ForkSchedule = { cancun: 0n, prague: 0n }): Record<string, number> {
  const forks: Record<string, number> = Object.fromEntries(BASALT_FORKS.map((f) => [f, 0]));
  for (const f of SCHEDULED_FORKS) if (extra[f] !== undefined) forks[f] = Number(extra[f]);
  return forks;
}

/** The Cancun/Prague schedule of a genesis file's `params.forks` (absent: the chain stays on London rules). */
export function forkSchedule(g: GenesisConfig): ForkSchedule {
  const out: ForkSchedule = {};
  for (const f of SCHEDULED_FORKS) {
    const n = g.params.forks[f];
    if (n !== undefined) out[f] = BigInt(n);
  }
  return out;
}

/** Refuse fork names Basalt does not know and schedules it cannot run. */
export function checkForks(forks: Record<string, number>, source: string): void {
  for (const f of BASALT_FORKS) {
    if (forks[f] !== 0) throw new UserError(`genesis file ${source}: params.forks.${f} must be 0 (Basalt activates London at genesis)`);
  }
  const known = new Set<string>([...BASALT_FORKS, ...SCHEDULED_FORKS]);
  for (const name of Object.keys(forks)) {
    if (!known.has(name))
      throw new UserError(
        `genesis file ${source}: params.forks.${jsonPath([name])} is not a fork Basalt knows (scheduled forks: ${SCHEDULED_FORKS.join(', ')})`,
      );
  }
  if (forks.prague !== undefined && (forks.cancun === undefined || forks.cancun > forks.prague)) {
    throw new UserError(`genesis file ${source}: params.forks.prague (${forks.prague}) needs params.forks.cancun at or before it`);
  }
}

export function parseGenesisFile(text: string, source: string): GenesisFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`genesis file ${source} is not valid JSON: ${errorMessage(err)}`);
  }
  const parsed = genesisFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? jsonPath(issue.path) : '(root)';
    throw new UserError(`genesis file ${source} is invalid: ${where}: ${issue.message}`);
  }
  checkAlloc(parsed.data.genesis.alloc, source);
  checkForks(parsed.data.params.forks, source);
  checkGenesisValues(parsed.data, source);
  for (const [addr, acct] of Object.entries(parsed.data.genesis.alloc)) {
    if (BigInt(acct.balance) > U256_MAX) throw new UserError(`genesis file ${source} is invalid: genesis.alloc.${addr}.balance does not fit in 256 bits`);
    if (acct.nonce !== undefined && BigInt(acct.nonce) >= U64_MAX)
      throw new UserError(`genesis file ${source} is invalid: genesis.alloc.${addr}.nonce does not fit in 64 bits`);
  }
  return parsed.data;
}

/**
 * A genesis file's configuration (everything but its alloc, which `Genesis.read` checks as it streams
 * past), checked by the schema and the value rules; `json` may hold an alloc, which is dropped.
 */
export function checkGenesisConfig(json: unknown, source: string): GenesisConfig {
  const withEmptyAlloc =
    typeof json === 'object' &&
    json !== null &&
    !Array.isArray(json) &&
    typeof (json as { genesis?: unknown }).genesis === 'object' &&
    (json as { genesis?: unknown }).genesis !== null
      ? { ...json, genesis: { ...(json as { genesis: object }).genesis, alloc: {} } }
      : json;
  const parsed = genesisFileSchema.safeParse(withEmptyAlloc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? jsonPath(issue.path) : '(root)';
    throw new UserError(`genesis file ${source} is invalid: ${where}: ${issue.message}`);
  }
  checkForks(parsed.data.params.forks, source);
  checkGenesisValues(parsed.data, source);
  return withoutAlloc(parsed.data);
}

/** The stored configuration of a data dir (`ChainConfig`: of earlier versions, the whole genesis file). */
export function parseGenesisConfig(text: string, source: string): GenesisConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`genesis file ${source} is not valid JSON: ${errorMessage(err)}`);
  }
  return checkGenesisConfig(json, source);
}

/**
 * The alloc's entries by the schema's rules (`allocEntry`), each entry checked as it is, not copied: one
 * such check at a time keeps a large alloc at its parsed size. The first problem is reported as zod's are.
 */
function checkAlloc(alloc: Record<string, unknown>, source: string): void {
  const fail = (path: string, message: string) => {
    throw new UserError(`genesis file ${source} is invalid: genesis.alloc.${path}: ${message}`);
  };
  for (const addr in alloc) {
    if (!ADDRESS.test(addr)) fail(jsonPath([addr]), ADDRESS_MESSAGE);
    const entry = alloc[addr];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return fail(addr, 'must be an object (balance, nonce, code, storage)');
    const { storage, ...account } = entry as Record<string, unknown>;
    const r = allocAccount.safeParse(account);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      fail(jsonPath([addr, ...issue.path]), issue.message);
    }
    if (storage === undefined) continue;
    if (typeof storage !== 'object' || storage === null || Array.isArray(storage)) fail(`${addr}.storage`, 'must be an object of 32-byte slots');
    const slots = storage as Record<string, unknown>;
    for (const slot in slots) {
      if (!HASH32.test(slot)) fail(`${addr}.storage.${jsonPath([slot])}`, 'a slot must be a 32-byte 0x-prefixed hash');
      const v = slots[slot];
      if (typeof v !== 'string' || !HASH32.test(v)) fail(`${addr}.storage.${slot}`, HASH32_MESSAGE);
    }
  }
}

/**
 * A path of keys in a genesis file, for a message: plain keys (letters, digits, _ and $, up to 66
 * characters: names, addresses, slots) and indices as they are, any other key quoted (quoteUntrusted),
 * so a key can forge no line and send no terminal escape.
 */
function jsonPath(parts: readonly PropertyKey[]): string {
  return parts.map((p) => (typeof p === 'number' || /^[\w$]{1,66}$/.test(String(p)) ? String(p) : quoteUntrusted(String(p)))).join('.');
}

/** geth's MinGasLimit: no block below it can hold even a plain transfer's 21,000 with room to spare. */
export const MIN_GAS_LIMIT = 5000n;
/** geth's MaxGasLimit (2^63 - 1). */
export const MAX_GAS_LIMIT = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const U256_MAX = 2n ** 256n - 1n;

/** Values the schema lets through but no chain can start from: one clear line instead of a crash later. */
function checkGenesisValues(g: GenesisConfig, source: string): void {
  const fail = (what: string) => {
    throw new UserError(`genesis file ${source} is invalid: ${what}`);
  };
  const gen = g.genesis;
  const gasLimit = BigInt(gen.gasLimit);
  if (gasLimit < MIN_GAS_LIMIT || gasLimit > MAX_GAS_LIMIT) fail(`genesis.gasLimit ${gasLimit} is outside ${MIN_GAS_LIMIT}..${MAX_GAS_LIMIT}`);
  if (BigInt(gen.timestamp) > U64_MAX) fail('genesis.timestamp does not fit in 64 bits');
  if (BigInt(gen.difficulty) > U256_MAX) fail('genesis.difficulty does not fit in 256 bits');
  if (BigInt(gen.baseFee) > U256_MAX) fail('genesis.baseFee does not fit in 256 bits');
  // extraData is consensus's: checked by the engine made for the file (consensus/ibft/genesis.ts).
}

/**
 * Read and check a genesis file whole (small files: the node streams its genesis through Genesis.read).
 * @public benchmarks load it from dist/
 */
export function readGenesisFile(path: string): GenesisFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`genesis file ${path} not found: create one with \`basalt genesis\` or pass --chain`);
    throw new UserError(`cannot read genesis file ${path}: ${errorMessage(err)}`);
  }
  return parseGenesisFile(text, path);
}

/** The rules of a chain, by block number, as its genesis file schedules them. */
export function createChainRules(g: GenesisConfig): ChainRules {
  return new ChainRules(
    g.name,
    g.params.chainID,
    {
      gasLimit: g.genesis.gasLimit as `0x${string}`,
      difficulty: g.genesis.difficulty as `0x${string}`,
      nonce: g.genesis.nonce as `0x${string}`,
      extraData: g.genesis.extraData as `0x${string}`,
      baseFeePerGas: g.genesis.baseFee as `0x${string}`,
    },
    forkSchedule(g),
  );
}

/**
 * Rules for decoding blocks of a chain known only by its ID (e.g. an archive's): the newest rule set,
 * which decodes every transaction type. Not for execution: the fork schedule is unknown.
 */
export function createCommonForChainId(chainId: bigint): Common {
  return new ChainRules(
    'basalt',
    Number(chainId),
    { gasLimit: '0x1c9c380', difficulty: '0x1', nonce: '0x0000000000000000', extraData: '0x' },
    { cancun: 0n, prague: 0n },
  ).newest();
}
