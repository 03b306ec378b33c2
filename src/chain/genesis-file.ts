import { bigIntToHex, bytesToHex } from '@ethereumjs/util';
import { encodeIbftExtra, IBFT_MIX_HASH } from '../consensus/ibft/extra.js';
import { defaultForks, type GenesisFile } from './chain-config.js';
import type { ForkSchedule } from './forks.js';

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
