import { createCustomCommon, Mainnet, type Common } from '@ethereumjs/common';
import { paramsBlock } from '@ethereumjs/block';
import { paramsEVM, type EVMOpts } from '@ethereumjs/evm';
import { paramsTx } from '@ethereumjs/tx';
import { paramsVM } from '@ethereumjs/vm';

type CustomOpcode = NonNullable<EVMOpts['customOpcodes']>[number];
import { basaltCustomCrypto } from '../util/custom-crypto.js';
import { chainBn254, chainPrecompiles } from './precompiles.js';

/**
 * The rule sets a Basalt chain moves through, in order, and how each is described to @ethereumjs.
 *
 * - `london`: chainstart…london plus EIP-3855 (PUSH0), EIP-3651 (warm coinbase) and EIP-3860
 *   (initcode limit): every chain starts here.
 * - `cancun`: the Cancun EVM without blobs or beacon roots: EIP-1153 (TSTORE/TLOAD), EIP-5656 (MCOPY),
 *   EIP-6780 (SELFDESTRUCT only in the creating transaction) and EIP-7516 (BLOBBASEFEE, always the
 *   minimum blob base fee, 1 wei: there are no blobs).
 * - `prague`: EIP-7702 (type-4 set-code transactions).
 *
 * Headers stay London-shaped in every rule set: none of them has blob gas, withdrawals or a parent
 * beacon root, so blocks hash and verify as IBFT headers across a fork. Cancun and Prague are
 * therefore not @ethereumjs's own hardforks (those switch on EIP-4844/4788/4895/7685, which add
 * header fields) but custom hardforks of those names that activate only the EIPs above.
 */
export const EVM_FORKS = ['london', 'cancun', 'prague'] as const;
export type EvmFork = (typeof EVM_FORKS)[number];
/** Forks a genesis file may schedule by block number (`params.forks`); London is always at 0. */
export const SCHEDULED_FORKS = ['cancun', 'prague'] as const;
export type ScheduledFork = (typeof SCHEDULED_FORKS)[number];
export type ForkSchedule = Partial<Record<ScheduledFork, bigint>>;

/** The blob base fee BLOBBASEFEE returns: the EIP-4844 minimum, as no blob ever moves it. */
export const BLOB_BASE_FEE = 1n;

export const LONDON_FORKS = [
  'chainstart',
  'homestead',
  'dao',
  'tangerineWhistle',
  'spuriousDragon',
  'byzantium',
  'constantinople',
  'petersburg',
  'istanbul',
  'muirGlacier',
  'berlin',
  'london',
] as const;
export const LONDON_EXTRA_EIPS = [3855, 3651, 3860];

const CUSTOM_HARDFORKS = {
  // Shanghai without withdrawals (EIP-4895): the EIPs London chains already ran as extras.
  shanghai: { eips: LONDON_EXTRA_EIPS },
  cancun: { eips: [1153, 5656, 6780] },
  prague: { eips: [7702] },
};

export type GenesisParams = Parameters<typeof createCustomCommon>[0]['genesis'];

/** The fork whose rules apply to block `num`. */
export function forkAt(schedule: ForkSchedule, num: bigint): EvmFork {
  if (schedule.prague !== undefined && num >= schedule.prague) return 'prague';
  if (schedule.cancun !== undefined && num >= schedule.cancun) return 'cancun';
  return 'london';
}

/**
 * One immutable Common per rule set, picked by block number. Execution, decoding and simulation of
 * block N all use commonAt(N): a Common is never switched between forks, so concurrent users (block
 * building and eth_call) cannot see each other's rules.
 */
export class ChainRules {
  private readonly commons = new Map<EvmFork, Common>();

  constructor(
    private readonly name: string,
    readonly chainId: number,
    private readonly genesis: GenesisParams,
    readonly schedule: ForkSchedule,
  ) {}

  forkAt(num: bigint): EvmFork {
    return forkAt(this.schedule, num);
  }

  commonAt(num: bigint): Common {
    return this.commonFor(this.forkAt(num));
  }

  /** The newest rule set this chain schedules (decodes every transaction type it may hold). */
  newest(): Common {
    const last = [...SCHEDULED_FORKS].reverse().find((f) => this.schedule[f] !== undefined);
    return this.commonFor(last ?? 'london');
  }

  commonFor(fork: EvmFork): Common {
    let c = this.commons.get(fork);
    if (!c) {
      c = makeCommon(this.name, this.chainId, this.genesis, fork);
      this.commons.set(fork, c);
    }
    return c;
  }
}

function makeCommon(name: string, chainId: number, genesis: GenesisParams, fork: EvmFork): Common {
  const hardforks: string[] = [...LONDON_FORKS];
  if (fork !== 'london') hardforks.push('shanghai', 'cancun');
  if (fork === 'prague') hardforks.push('prague');
  const common = createCustomCommon(
    {
      name,
      chainId,
      hardforks: hardforks.map((name) => ({ name, block: 0 })),
      customHardforks: CUSTOM_HARDFORKS,
      // IBFT is enforced by Basalt's own engine. To ethereumjs we describe the chain as 'pos' with an
      // unknown algorithm: no block reward, fees to the header's coinbase, and none of the Clique
      // (type 'poa') or Ethash code paths. Headers are built with consensus format checks off.
      consensus: { type: 'pos', algorithm: 'ibft' },
      genesis,
      bootstrapNodes: [],
    },
    Mainnet,
    fork === 'london'
      ? { hardfork: 'london', eips: LONDON_EXTRA_EIPS, customCrypto: basaltCustomCrypto }
      : { hardfork: fork, customCrypto: basaltCustomCrypto },
  );
  return withPremergedParams(common);
}

/**
 * @ethereumjs copies its Common for every transaction and header it constructs, and merges its
 * package's parameter table into the copy: a JSON round trip of each EIP's table and a rebuild of
 * the parameter cache, 8% of a sealing node's CPU under load. The four tables (transactions, blocks,
 * EVM, VM) are merged here once; a copy asked to merge one of those very tables again skips it (the
 * copy shares the merged table and its cache). Any other table is merged as before.
 */
function withPremergedParams(common: Common): Common {
  const tables: object[] = [paramsTx, paramsBlock, paramsEVM, paramsVM];
  for (const t of tables) common.updateParams(t as Parameters<Common['updateParams']>[0]);
  const merged = new Set(tables);
  const update = common.updateParams;
  // Own and enumerable: Common.copy() (Object.assign of the instance) carries it to every copy.
  Object.defineProperty(common, 'updateParams', {
    value(this: Common, params: Parameters<Common['updateParams']>[0]) {
      if (!merged.has(params)) update.call(this, params);
    },
    enumerable: true,
    writable: true,
  });
  return common;
}

/** What every EVM of the chain runs under `common`'s rules beside @ethereumjs's own: blocks built and imported, simulations, traces. */
export type ChainEvmOpts = Required<Pick<EVMOpts, 'customOpcodes' | 'customPrecompiles' | 'bn254'>>;

/** The EVM options of every EVM of the chain (ChainEvmOpts): the fork's opcodes, the chain's precompiles and BN254 arithmetic. */
export function chainEvmOpts(common: Common): ChainEvmOpts {
  return { customOpcodes: forkOpcodes(common), customPrecompiles: chainPrecompiles(common), bn254: chainBn254 };
}

/**
 * EVM opcodes Basalt adds to a rule set: BLOBBASEFEE (EIP-7516) from Cancun. @ethereumjs ties it to
 * EIP-4844, which would put blob fields in the header; here it returns the constant minimum fee.
 */
export function forkOpcodes(common: Common): CustomOpcode[] {
  if (!common.gteHardfork('cancun')) return [];
  return [
    {
      opcode: 0x4a,
      opcodeName: 'BLOBBASEFEE',
      baseFee: 2, // G_base, as EIP-7516
      logicFunction: (runState) => {
        runState.stack.push(BLOB_BASE_FEE);
      },
    },
  ];
}
