import type { Common } from '@ethereumjs/common';
import { createMPT } from '@ethereumjs/mpt';
import { MerkleStateManager } from '@ethereumjs/statemanager';
import { ValueEncoding } from '@ethereumjs/util';
import type { TrieNodeStore } from '../storage/trie-node-store.js';

/**
 * A world-state view at `root` over the trie node store. Every view shares the store (nodes are
 * content-addressed and never deleted), so views at old roots answer historical queries.
 */
export async function openState(store: TrieNodeStore, common: Common, root?: Uint8Array): Promise<MerkleStateManager> {
  const trie = await createMPT({
    db: store,
    useKeyHashing: true,
    valueEncoding: ValueEncoding.Bytes,
    common,
    ...(root ? { root } : {}),
  });
  return new MerkleStateManager({ trie, common });
}
