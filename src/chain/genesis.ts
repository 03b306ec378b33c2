import { createBlock, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { Account, createAddressFromString, hexToBytes, setLengthLeft } from '@ethereumjs/util';
import type { TrieNodeStore } from '../storage/trie-node-store.js';
import type { GenesisFile } from './chain-config.js';
import { openState } from './state.js';

/**
 * Build the genesis block of `g`, writing its allocations into `store` (as pending writes: the
 * caller flushes them to keep them, or discards them when it only needed the hash).
 */
export async function buildGenesisBlock(g: GenesisFile, common: Common, store: TrieNodeStore): Promise<Block> {
  const state = await openState(store, common);
  for (const [addr, entry] of Object.entries(g.genesis.alloc)) {
    const address = createAddressFromString(addr);
    const account = new Account(BigInt(entry.nonce ?? '0x0'), BigInt(entry.balance));
    await state.putAccount(address, account);
    if (entry.code !== undefined && entry.code !== '0x') await state.putCode(address, hexToBytes(entry.code as `0x${string}`));
    for (const [slot, value] of Object.entries(entry.storage ?? {})) {
      await state.putStorage(address, hexToBytes(slot as `0x${string}`), stripLeadingZeros(hexToBytes(value as `0x${string}`)));
    }
  }
  const stateRoot = await state.getStateRoot();
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

function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}
