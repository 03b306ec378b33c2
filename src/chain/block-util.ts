import { Block, createBlockHeaderFromBytesArray, type BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { orderedTrieRoot } from './stack-trie.js';
import { txBytes } from '../util/tx-bytes.js';

const EXTRA_DATA_INDEX = 12;

export function headerOpts(common: Common) {
  return { common, skipConsensusFormatValidation: true, setHardfork: false } as const;
}

/** `header` with its extraData replaced (every other field, and so the execution results, kept). */
export function headerWithExtraData(header: BlockHeader, extraData: Uint8Array, common: Common): BlockHeader {
  const raw = header.raw();
  raw[EXTRA_DATA_INDEX] = extraData;
  return createBlockHeaderFromBytesArray(raw, headerOpts(common));
}

export function blockWithHeader(block: Block, header: BlockHeader, common: Common): Block {
  return new Block(header, block.transactions, [], undefined, headerOpts(common));
}

/**
 * `block`'s transactions root, computed by a sorted build (`orderedTrieRoot`) and kept where
 * @ethereumjs's Block caches the root it builds itself: `validateData` and `transactionsTrieIsValid`
 * then compare that one instead of putting every transaction into a trie in memory.
 */
export function transactionsRoot(block: Block): Uint8Array {
  const cache = (block as unknown as { cache: { txTrieRoot?: Uint8Array } }).cache;
  cache.txTrieRoot ??= orderedTrieRoot(block.transactions.map(txBytes));
  return cache.txTrieRoot;
}
