import { createHash } from 'node:crypto';
import { createBlock, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { hexToBytes, setLengthLeft } from '@ethereumjs/util';
import type { GenesisFile } from './chain-config.js';
import { buildGenesisState, type StateSink } from './genesis-state.js';

/**
 * Build the genesis block of `g`. Its state is built in key order (`buildGenesisState`): every final
 * trie node and code goes to `sink` (a `TrieNodeStore.stateWriter()` on a new data dir), or nowhere
 * when only the hash is needed.
 */
export async function buildGenesisBlock(g: GenesisFile, common: Common, sink?: StateSink): Promise<Block> {
  const stateRoot = await buildGenesisState(g.genesis.alloc, sink);
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

/**
 * A digest of everything the genesis block is made of (the file's `genesis` object: header fields and
 * allocations, in the file's order), fed to SHA-256 piece by piece so that a large alloc is never
 * serialized whole. A data dir keeps the digest of the genesis it was created with: a start whose
 * genesis file has the same digest has the same genesis block, and skips building its state.
 * A different digest (another order of the same allocations, say) only means the hash must be computed.
 */
export function genesisDigest(g: GenesisFile): Uint8Array {
  const h = createHash('sha256');
  const { alloc, ...header } = g.genesis;
  h.update('basalt genesis digest v1\n');
  h.update(JSON.stringify(header, Object.keys(header).sort()));
  for (const [address, { balance, nonce, code, storage }] of Object.entries(alloc)) {
    h.update(`\n${address} ${balance} ${nonce ?? '-'} ${code ?? '-'}`);
    if (storage !== undefined) for (const [slot, value] of Object.entries(storage)) h.update(`\n ${slot} ${value}`);
  }
  return new Uint8Array(h.digest());
}
