import { readFileSync } from 'node:fs';
import { createCustomCommon, Mainnet, type Common } from '@ethereumjs/common';
import { z } from 'zod';
import { hexToBytes } from '@ethereumjs/util';
import { decodeIbftExtra } from '../consensus/ibft/extra.js';
import { UserError } from '../util/errors.js';
import { basaltCustomCrypto } from '../util/custom-crypto.js';

/**
 * The genesis file, in the shape Polygon SDK writes (`genesis`, `params`, `bootnodes`), validated with zod.
 * Hex quantities are 0x-prefixed strings; addresses and hashes are 0x-prefixed hex.
 */
const hexQuantity = z.string().regex(/^0x[0-9a-fA-F]+$/, 'must be a 0x-prefixed hex quantity');
const hexData = z.string().regex(/^0x([0-9a-fA-F]{2})*$/, 'must be 0x-prefixed hex bytes');
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 20-byte 0x-prefixed address');
const hash32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 32-byte 0x-prefixed hash');

const allocEntry = z.strictObject({
  balance: hexQuantity,
  nonce: hexQuantity.optional(),
  code: hexData.optional(),
  storage: z.record(hash32, hash32).optional(),
});

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
    alloc: z.record(address, allocEntry),
    number: z.literal('0x0'),
    gasUsed: z.literal('0x0'),
    parentHash: hash32,
  }),
  params: z.object({
    forks: z.record(z.string(), z.number().int().nonnegative()),
    chainID: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    engine: z.object({ ibft: z.object({ type: z.literal('PoA') }) }),
  }),
  bootnodes: z.array(z.string()).default([]),
});

export type GenesisFile = z.infer<typeof genesisFileSchema>;

/**
 * The rules Basalt blocks follow: London (EIP-1559 fees, access lists) with the EVM changes of
 * Shanghai that do not need the beacon chain (PUSH0, warm coinbase, initcode limit), so contracts
 * compiled for Shanghai run unchanged. Basalt has no withdrawals, blobs or beacon roots.
 */
export const BASALT_FORKS = [
  'chainstart', 'homestead', 'dao', 'tangerineWhistle', 'spuriousDragon', 'byzantium',
  'constantinople', 'petersburg', 'istanbul', 'muirGlacier', 'berlin', 'london',
] as const;
export const BASALT_EXTRA_EIPS = [3855, 3651, 3860];

export function defaultForks(): Record<string, number> {
  return Object.fromEntries(BASALT_FORKS.map((f) => [f, 0]));
}

export function parseGenesisFile(text: string, source: string): GenesisFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`genesis file ${source} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = genesisFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new UserError(`genesis file ${source} is invalid: ${where}: ${issue.message}`);
  }
  const forks = parsed.data.params.forks;
  for (const f of BASALT_FORKS) {
    if (forks[f] !== 0) throw new UserError(`genesis file ${source}: params.forks.${f} must be 0 (Basalt activates London at genesis)`);
  }
  checkGenesisValues(parsed.data, source);
  return parsed.data;
}

/** geth's MinGasLimit: no block below it can hold even a plain transfer's 21,000 with room to spare. */
export const MIN_GAS_LIMIT = 5000n;
/** geth's MaxGasLimit (2^63 - 1). */
export const MAX_GAS_LIMIT = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const U256_MAX = 2n ** 256n - 1n;

/** Values the schema lets through but no chain can start from: one clear line instead of a crash later. */
function checkGenesisValues(g: GenesisFile, source: string): void {
  const fail = (what: string) => {
    throw new UserError(`genesis file ${source} is invalid: ${what}`);
  };
  const gen = g.genesis;
  const gasLimit = BigInt(gen.gasLimit);
  if (gasLimit < MIN_GAS_LIMIT || gasLimit > MAX_GAS_LIMIT) fail(`genesis.gasLimit ${gasLimit} is outside ${MIN_GAS_LIMIT}..${MAX_GAS_LIMIT}`);
  if (BigInt(gen.timestamp) > U64_MAX) fail('genesis.timestamp does not fit in 64 bits');
  if (BigInt(gen.difficulty) > U256_MAX) fail('genesis.difficulty does not fit in 256 bits');
  if (BigInt(gen.baseFee) > U256_MAX) fail('genesis.baseFee does not fit in 256 bits');
  for (const [addr, acct] of Object.entries(gen.alloc)) {
    if (BigInt(acct.balance) > U256_MAX) fail(`genesis.alloc.${addr}.balance does not fit in 256 bits`);
    if (acct.nonce !== undefined && BigInt(acct.nonce) >= U64_MAX) fail(`genesis.alloc.${addr}.nonce does not fit in 64 bits`);
  }
  let validators: number;
  try {
    validators = decodeIbftExtra(hexToBytes(gen.extraData as `0x${string}`)).validators.length;
  } catch (err) {
    return fail(`genesis.extraData: ${(err as Error).message} (IBFT: 32-byte vanity, then RLP([validators, seal, committedSeals]); write it with \`basalt genesis\`)`);
  }
  if (validators === 0) fail('genesis.extraData names no IBFT validator');
}

export function readGenesisFile(path: string): GenesisFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`genesis file ${path} not found: create one with \`basalt genesis\` or pass --chain`);
    throw new UserError(`cannot read genesis file ${path}: ${(err as Error).message}`);
  }
  return parseGenesisFile(text, path);
}

export function createChainCommon(g: GenesisFile): Common {
  return commonFor(g.name, g.params.chainID, {
    gasLimit: g.genesis.gasLimit as `0x${string}`,
    difficulty: g.genesis.difficulty as `0x${string}`,
    nonce: g.genesis.nonce as `0x${string}`,
    extraData: g.genesis.extraData as `0x${string}`,
    baseFeePerGas: g.genesis.baseFee as `0x${string}`,
  });
}

/** The rules for decoding and executing blocks of a chain known only by its ID (e.g. an archive's). */
export function createCommonForChainId(chainId: bigint): Common {
  return commonFor('basalt', Number(chainId), { gasLimit: '0x1c9c380', difficulty: '0x1', nonce: '0x0000000000000000', extraData: '0x' });
}

function commonFor(name: string, chainId: number, genesis: Parameters<typeof createCustomCommon>[0]['genesis']): Common {
  return createCustomCommon(
    {
      name,
      chainId,
      hardforks: BASALT_FORKS.map((name) => ({ name, block: 0 })),
      // IBFT is enforced by Basalt's own engine. To ethereumjs we describe the chain as 'pos' with an
      // unknown algorithm: no block reward, fees to the header's coinbase, and none of the Clique
      // (type 'poa') or Ethash code paths. Headers are built with consensus format checks off.
      consensus: { type: 'pos', algorithm: 'ibft' },
      genesis,
      bootstrapNodes: [],
    },
    Mainnet,
    { hardfork: 'london', eips: BASALT_EXTRA_EIPS, customCrypto: basaltCustomCrypto },
  );
}
