import { RLP } from '@ethereumjs/rlp';
import { createAccount, KECCAK256_NULL, KECCAK256_RLP, unpadBytes } from '@ethereumjs/util';
import { UserError } from '../util/errors.js';
import { keccak256 } from '../util/keccak.js';
import type { GenesisFile } from './chain-config.js';
import { buildSortedTrie, SortedKeys, type TrieNodeSink } from './stack-trie.js';

export type GenesisAlloc = GenesisFile['genesis']['alloc'];

/** 0x-prefixed hex (validated by the genesis schema) to bytes; Buffer's decoder, the fast one. */
function bytesOf(hex: string): Uint8Array {
  return Buffer.from(hex.slice(2), 'hex');
}

/** Where the genesis state goes: every trie node it keeps (account and storage tries) and every code. */
export interface StateSink {
  node: TrieNodeSink;
  code(codeHash: Uint8Array, code: Uint8Array): void | Promise<void>;
}

/**
 * The world state of a genesis allocation: the state root, with every node of the account trie and of
 * each contract's storage trie, and every contract code, handed to `sink` once, final (no node that a
 * later insertion would replace). It is the state `MerkleStateManager` builds from the same
 * allocations (`putAccount`, `putCode`, `putStorage`, in the file's order): accounts keyed by
 * keccak256(address), slots by keccak256(slot) with RLP(value without leading zeros), zero values
 * left out, a later slot of the same key overriding an earlier one. Each trie is built in key order
 * (`buildSortedTrie`), so memory holds the sort of one trie's keys (36 bytes a key) and one path of
 * open nodes, never a trie; the storage trie of a contract is built when the account trie reaches it.
 * Without `sink`, only the root is computed.
 */
export async function buildGenesisState(alloc: GenesisAlloc, sink?: StateSink): Promise<Uint8Array> {
  const addresses = Object.keys(alloc);
  const hashes = new Uint8Array(addresses.length * 32);
  addresses.forEach((a, i) => hashes.set(keccak256(bytesOf(a)), i * 32));
  const accounts = new SortedKeys(hashes, addresses.length);
  if (accounts.overridden !== undefined) {
    const a = addresses[accounts.overridden]!;
    throw new UserError(`genesis file is invalid: genesis.alloc names ${a.toLowerCase()} more than once (addresses are not case-sensitive)`);
  }
  return buildSortedTrie(
    accounts,
    async (j) => {
      const entry = alloc[addresses[accounts.index(j)]!]!;
      let codeHash = KECCAK256_NULL;
      if (entry.code !== undefined && entry.code !== '0x') {
        const code = bytesOf(entry.code);
        codeHash = keccak256(code);
        await sink?.code(codeHash, code);
      }
      const storageRoot = entry.storage === undefined ? KECCAK256_RLP : await storageTrie(entry.storage, sink);
      return createAccount({ nonce: BigInt(entry.nonce ?? '0x0'), balance: BigInt(entry.balance), storageRoot, codeHash }).serialize();
    },
    sink?.node,
  );
}

async function storageTrie(storage: Record<string, string>, sink: StateSink | undefined): Promise<Uint8Array> {
  const slots = Object.keys(storage);
  const hashes = new Uint8Array(slots.length * 32);
  slots.forEach((s, i) => hashes.set(keccak256(bytesOf(s)), i * 32));
  const valueOf = (i: number) => unpadBytes(bytesOf(storage[slots[i]!]!));
  // The last entry of a slot decides it; a zero there deletes it, as putStorage does.
  const sorted = new SortedKeys(hashes, slots.length, (i) => valueOf(i).length > 0);
  return buildSortedTrie(sorted, (j) => RLP.encode(valueOf(sorted.index(j))), sink?.node);
}
