import { bigIntToHex, bytesToHex, hexToBytes } from '@ethereumjs/util';
import { defaultForks, type GenesisConfig, type GenesisFile } from '../../chain/chain-config.js';
import type { ForkSchedule } from '../../chain/forks.js';
import { UserError, errorMessage } from '../../util/errors.js';
import { IbftEngine } from './engine.js';
import { encodeIbftExtra, decodeIbftExtra, IBFT_MIX_HASH } from './extra.js';
import { QuorumRule } from './validators.js';
import { DEFAULT_EPOCH_SIZE } from './votes.js';

/**
 * What IBFT reads from a Polygon SDK genesis file: the validator set in extraData and the quorum rule
 * in params.engine.ibft. The chain parses the file and knows nothing of either; an engine for it is
 * made here, checking both first.
 */

export interface GenesisParams {
  name: string;
  chainId: number;
  /** IBFT validator addresses (20 bytes each), in order. */
  validators: Uint8Array[];
  premine: { address: string; balance: bigint }[];
  gasLimit: bigint;
  baseFee: bigint;
  timestamp: bigint;
  /** Cancun/Prague activation blocks; default: both at genesis (the newest rules). */
  forks?: ForkSchedule;
}

export const DEFAULT_GAS_LIMIT = 30_000_000n;
export const DEFAULT_BASE_FEE = 1_000_000_000n;

/** Build a genesis file in Polygon SDK's layout, with the IBFT validator set in extraData. */
export function makeGenesisFile(p: GenesisParams): GenesisFile {
  const extraData = encodeIbftExtra({
    vanity: new Uint8Array(32),
    validators: p.validators,
    proposerSeal: new Uint8Array(0),
    committedSeals: [],
  });
  const alloc: GenesisFile['genesis']['alloc'] = {};
  for (const { address, balance } of p.premine) alloc[address.toLowerCase()] = { balance: bigIntToHex(balance) };
  return {
    name: p.name,
    genesis: {
      nonce: '0x0000000000000000',
      timestamp: bigIntToHex(p.timestamp),
      extraData: bytesToHex(extraData),
      gasLimit: bigIntToHex(p.gasLimit),
      difficulty: '0x1',
      mixHash: bytesToHex(IBFT_MIX_HASH),
      coinbase: '0x0000000000000000000000000000000000000000',
      baseFee: bigIntToHex(p.baseFee),
      alloc,
      number: '0x0',
      gasUsed: '0x0',
      parentHash: bytesToHex(new Uint8Array(32)),
    },
    params: {
      forks: defaultForks(p.forks),
      chainID: p.chainId,
      // New chains decide every block by the optimal quorum ceil(2N/3) (validators.ts).
      engine: { ibft: { type: 'PoA', quorumSwitchBlock: 0 } },
    },
    bootnodes: [],
  };
}

/**
 * The IBFT quorum rule a genesis file sets: the optimal quorum from `params.engine.ibft.quorumSwitchBlock`
 * on (`basalt genesis` writes 0), the legacy 2F+1 before it or throughout when it is absent.
 */
export function quorumRuleOf(g: GenesisConfig): QuorumRule {
  const b = g.params.engine.ibft.quorumSwitchBlock;
  return b === undefined ? QuorumRule.LEGACY : b === 0 ? QuorumRule.OPTIMAL : new QuorumRule(BigInt(b));
}

/** The epoch (votes reset at its multiples) a genesis file sets: `params.engine.ibft.epochSize`, default 100,000. */
export function epochSizeOf(g: GenesisConfig): bigint {
  const e = g.params.engine.ibft.epochSize;
  return e === undefined ? DEFAULT_EPOCH_SIZE : BigInt(e);
}

/**
 * The emergency validator-set changes a genesis file sets (`params.engine.ibft.validatorSetChanges`):
 * from each block on, its validators decide. Checked by checkIbftGenesis.
 */
export function validatorSetChangesOf(g: GenesisConfig): Map<bigint, Uint8Array[]> {
  const out = new Map<bigint, Uint8Array[]>();
  for (const c of g.params.engine.ibft.validatorSetChanges ?? [])
    out.set(
      BigInt(c.block),
      c.validators.map((v) => hexToBytes(v as `0x${string}`)),
    );
  return out;
}

/**
 * Refuse a genesis file whose extraData is not an IBFT one naming at least one validator, each once:
 * one clear line (`source` names the file) instead of a chain that could never seal, or whose quorum
 * counts a validator twice. (An emergency validator-set change to a set its quorum lets fork is refused
 * where it is new to a data dir, Chain.open via IbftEngine.setChangeRefusal: a chain that carries one
 * already must still start, restore and be checked.)
 */
export function checkIbftGenesis(g: GenesisConfig, source: string): void {
  const fail = (what: string): never => {
    throw new UserError(`genesis file ${source} is invalid: ${what}`);
  };
  let validators: Uint8Array[];
  try {
    validators = decodeIbftExtra(hexToBytes(g.genesis.extraData as `0x${string}`)).validators;
  } catch (err) {
    return fail(
      `genesis.extraData: ${errorMessage(err)} (IBFT: 32-byte vanity, then RLP([validators, seal, committedSeals]); write it with \`basalt genesis\`)`,
    );
  }
  if (validators.length === 0) fail('genesis.extraData names no IBFT validator');
  // [A, A, B, C] would count four validators (quorum 3) of which three can sign.
  const distinct = new Set(validators.map((v) => bytesToHex(v)));
  if (distinct.size !== validators.length) fail('genesis.extraData names a validator twice');
  let last = 0;
  for (const c of g.params.engine.ibft.validatorSetChanges ?? []) {
    if (c.block <= last) fail(`params.engine.ibft.validatorSetChanges: block ${c.block} does not come after block ${last} (one change a block, in order)`);
    last = c.block;
    const seen = new Set(c.validators.map((v) => v.toLowerCase()));
    if (seen.size !== c.validators.length) fail(`params.engine.ibft.validatorSetChanges: the change at block ${c.block} names a validator twice`);
  }
}

/**
 * The engine of a chain with this genesis file, after checking what IBFT reads from it. A file checked
 * offline with a copy of the genesis file older than its blocks passes `unknownChangesFrom` (IbftEngine).
 */
export function ibftEngineFor(g: GenesisConfig, source: string, unknownChangesFrom?: bigint): IbftEngine {
  checkIbftGenesis(g, source);
  return new IbftEngine(quorumRuleOf(g), epochSizeOf(g), validatorSetChangesOf(g), unknownChangesFrom);
}
