import { MerklePatriciaTrie } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, KECCAK256_RLP } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { orderedTrieRoot } from '../../../src/chain/stack-trie.js';

/** The root @ethereumjs computes for a block's transactions or receipts: RLP(i) -> value, put one by one. */
async function reference(values: Uint8Array[]): Promise<string> {
  const trie = new MerklePatriciaTrie();
  for (const [i, v] of values.entries()) await trie.put(RLP.encode(i), v);
  return bytesToHex(trie.root());
}

function values(count: number, size: (i: number) => number, seed = 1): Uint8Array[] {
  let x = seed;
  return Array.from({ length: count }, (_, i) => {
    const v = new Uint8Array(size(i));
    for (let k = 0; k < v.length; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      v[k] = x >>> 24;
    }
    return v;
  });
}

describe('orderedTrieRoot', () => {
  it('is the empty trie root for no entries', () => {
    expect(bytesToHex(orderedTrieRoot([]))).toBe(bytesToHex(KECCAK256_RLP));
  });

  // Around each change of RLP(i)'s length (1 byte to 127, 0x80 for 0, two bytes from 128, three from
  // 256) and of the nodes' embedding (values short enough that a leaf is under 32 bytes, or not).
  for (const count of [1, 2, 3, 16, 17, 127, 128, 129, 255, 256, 257, 1500, 65_537]) {
    for (const [label, size] of [
      ['1-byte', () => 1],
      // @ethereumjs's put of an empty value deletes the key; a transaction or a receipt is never empty.
      ['mixed', (i: number) => 1 + ((i * 7) % 120)],
      ['receipt-sized', () => 300],
    ] as const) {
      if (count === 65_537 && label !== '1-byte') continue; // RLP(65,536) is the first 4-byte key
      it(`matches @ethereumjs/mpt for ${count} ${label} values`, async () => {
        const v = values(count, size, count);
        expect(bytesToHex(orderedTrieRoot(v))).toBe(await reference(v));
      });
    }
  }

  it('changes when any one value changes', () => {
    const v = values(300, () => 40);
    const before = bytesToHex(orderedTrieRoot(v));
    v[200] = new Uint8Array(40);
    expect(bytesToHex(orderedTrieRoot(v))).not.toBe(before);
  });
});
