import type { Block } from '@ethereumjs/block';
import { Bloom, encodeReceipt } from '@ethereumjs/vm';
import { bytesToHex, equalsBytes, KECCAK256_RLP } from '@ethereumjs/util';
import { orderedTrieRoot } from '../chain/stack-trie.js';
import type { StoredReceipt } from '../storage/receipts.js';

const EMPTY_BLOOM = new Uint8Array(256);

/**
 * Check stored receipts against the block header without executing: the receipts trie root, the
 * logs bloom and the gas used are recomputed from the receipts and must match. Returns a reason on
 * mismatch, undefined when they agree.
 */
export async function checkReceipts(block: Block, receipts: StoredReceipt[]): Promise<string | undefined> {
  const h = block.header;
  if (receipts.length !== block.transactions.length) return `${receipts.length} receipts for ${block.transactions.length} transactions`;
  if (receipts.length === 0) {
    // No trie to build (a light chain's blocks are mostly empty): the roots of nothing.
    if (!equalsBytes(h.receiptTrie, KECCAK256_RLP))
      return `receipts root ${bytesToHex(KECCAK256_RLP)} does not match the header's ${bytesToHex(h.receiptTrie)}`;
    if (!equalsBytes(h.logsBloom, EMPTY_BLOOM)) return 'logs bloom does not match the receipts';
    if (h.gasUsed !== 0n) return `receipts use 0 gas, the header says ${h.gasUsed}`;
    return undefined;
  }
  const encoded: Uint8Array[] = [];
  const blockBloom = new Bloom(undefined, block.common);
  for (let i = 0; i < receipts.length; i++) {
    const r = receipts[i]!;
    const bloom = new Bloom(undefined, block.common);
    for (const [address, topics] of r.logs) {
      bloom.add(address);
      for (const t of topics) bloom.add(t);
    }
    blockBloom.or(bloom);
    encoded.push(
      encodeReceipt({ status: r.status, cumulativeBlockGasUsed: r.cumulativeGasUsed, bitvector: bloom.bitvector, logs: r.logs }, block.transactions[i]!.type),
    );
  }
  const root = orderedTrieRoot(encoded);
  if (!equalsBytes(root, h.receiptTrie)) return `receipts root ${bytesToHex(root)} does not match the header's ${bytesToHex(h.receiptTrie)}`;
  if (!equalsBytes(blockBloom.bitvector, h.logsBloom)) return 'logs bloom does not match the receipts';
  const gasUsed = receipts.length > 0 ? receipts[receipts.length - 1]!.cumulativeGasUsed : 0n;
  if (gasUsed !== h.gasUsed) return `receipts use ${gasUsed} gas, the header says ${h.gasUsed}`;
  return undefined;
}
