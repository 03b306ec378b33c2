import { createBlock, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { hexToBytes, setLengthLeft } from '@ethereumjs/util';
import type { GenesisConfig } from './chain-config.js';

/**
 * The genesis block of a genesis file's configuration and the root of its alloc's state
 * (`Genesis.stateRoot`, which also writes that state where a new data dir needs it).
 */
export function buildGenesisBlock(g: GenesisConfig, stateRoot: Uint8Array, common: Common): Block {
  const h = g.genesis;
  return createBlock(
    {
      header: {
        parentHash: hexToBytes(h.parentHash as `0x${string}`),
        coinbase: hexToBytes(h.coinbase as `0x${string}`),
        stateRoot,
        difficulty: BigInt(h.difficulty),
        number: 0n,
        gasLimit: BigInt(h.gasLimit),
        gasUsed: 0n,
        timestamp: BigInt(h.timestamp),
        extraData: hexToBytes(h.extraData as `0x${string}`),
        mixHash: setLengthLeft(hexToBytes(h.mixHash as `0x${string}`), 32),
        nonce: hexToBytes(h.nonce as `0x${string}`),
        baseFeePerGas: BigInt(h.baseFee),
      },
    },
    { common, skipConsensusFormatValidation: true },
  );
}
