import type { Common } from '@ethereumjs/common';
import { createMPT } from '@ethereumjs/mpt';
import { Caches, MerkleStateManager } from '@ethereumjs/statemanager';
import { ValueEncoding } from '@ethereumjs/util';
import type { TrieNodeStore } from '../storage/trie-node-store.js';

/**
 * A world-state view at `root` over the trie node store. Every view shares the store (nodes are
 * content-addressed and never deleted), so views at old roots answer historical queries.
 *
 * With `caches` (the executor's): accounts, storage and code changed by a block stay in @ethereumjs's
 * caches until the block's end, when they are put into the trie once. Without them every transaction
 * writes its accounts into the trie, hashing their paths again and storing every intermediate node:
 * 11,626 nodes stored for a block of 1,428 transfers among 40 accounts, against 190 with them.
 */
export async function openState(store: TrieNodeStore, common: Common, root?: Uint8Array, opts: { caches?: boolean } = {}): Promise<MerkleStateManager> {
  const trie = await createMPT({
    db: store,
    useKeyHashing: true,
    valueEncoding: ValueEncoding.Bytes,
    common,
    ...(root ? { root } : {}),
  });
  return new MerkleStateManager({ trie, common, ...(opts.caches ? { caches: new Caches() } : {}) });
}
