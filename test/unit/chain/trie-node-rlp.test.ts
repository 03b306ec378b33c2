import { randomBytes } from 'node:crypto';
import { BranchMPTNode, ExtensionMPTNode, LeafMPTNode, type NodeReferenceOrRawMPTNode } from '@ethereumjs/mpt';
import { RLP } from '@ethereumjs/rlp';
import { describe, expect, it } from 'vitest';
import { compactPath, encodeBranchNode, encodeShortNode, encodeString } from '../../../src/chain/trie-node-rlp.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const nibbles = (n: number) => Array.from({ length: n }, () => randomBytes(1)[0]! & 0x0f);
/** A random value of `n` bytes (one byte below 0x80 included: RLP gives it no header). */
const bytes = (n: number) => new Uint8Array(randomBytes(n));

/** A child as ours takes it (hash, or the embedded child's RLP) and as @ethereumjs takes it (hash, or the child's raw items). */
function child(kind: number): { ours: Uint8Array; theirs: NodeReferenceOrRawMPTNode } {
  if (kind === 0) {
    const h = bytes(32);
    return { ours: h, theirs: h };
  }
  // an embedded leaf: a short path and a tiny value, under 32 bytes
  const leaf = new LeafMPTNode(nibbles(1 + (kind % 5)), bytes(kind % 3));
  const rlp = leaf.serialize();
  expect(rlp.length).toBeLessThan(32);
  return { ours: rlp, theirs: leaf.raw() as NodeReferenceOrRawMPTNode };
}

describe('trie node RLP (one allocation, as @ethereumjs/mpt encodes)', () => {
  it('a leaf, for paths of 0 to 64 nibbles and values of 0 to 70,000 bytes (every RLP length form)', () => {
    for (const pathLength of [0, 1, 2, 3, 31, 32, 63, 64]) {
      for (const valueLength of [0, 1, 2, 30, 54, 55, 56, 57, 200, 255, 256, 70_000]) {
        const path = nibbles(pathLength);
        let value = bytes(valueLength);
        if (valueLength === 1) value = Uint8Array.of(pathLength % 2 ? 0x05 : 0x93); // below 0x80 and above
        const ours = encodeShortNode(
          compactPath(path.length, (i) => path[i]!, true),
          value,
          true,
        );
        expect(hex(ours)).toBe(hex(new LeafMPTNode(path.slice(), value).serialize()));
      }
    }
  });

  it('a byte string, as @ethereumjs/rlp encodes it, for every length form and every single byte', () => {
    for (const n of [0, 2, 31, 32, 33, 55, 56, 57, 255, 256, 70_000]) {
      const b = bytes(n);
      expect(hex(encodeString(b)), `${n} bytes`).toBe(hex(RLP.encode(b)));
    }
    for (let v = 0; v < 256; v++) expect(hex(encodeString(Uint8Array.of(v))), `byte ${v}`).toBe(hex(RLP.encode(Uint8Array.of(v))));
  });

  it('an extension, to a hash or to an embedded child', () => {
    for (const pathLength of [1, 2, 5, 40, 63]) {
      for (const kind of [0, 1, 2, 3, 4]) {
        const path = nibbles(pathLength);
        const c = child(kind);
        const ours = encodeShortNode(
          compactPath(path.length, (i) => path[i]!, false),
          c.ours,
          false,
        );
        expect(hex(ours)).toBe(hex(new ExtensionMPTNode(path.slice(), c.theirs as Uint8Array).serialize()));
      }
    }
  });

  it('a branch, with any set of children: hashes, embedded ones, none', () => {
    for (let round = 0; round < 300; round++) {
      const node = new BranchMPTNode();
      const children = new Array<Uint8Array | undefined>(16);
      for (let n = 0; n < 16; n++) {
        const r = randomBytes(1)[0]! % 4;
        if (r === 3) continue; // none
        const c = child(r === 0 ? 0 : r + (round % 3));
        children[n] = c.ours;
        node.setBranch(n, c.theirs);
      }
      expect(hex(encodeBranchNode(children))).toBe(hex(node.serialize()));
    }
    // all 16 hashes: a payload past 255 bytes (a two-byte length)
    const all = Array.from({ length: 16 }, () => bytes(32));
    const node = new BranchMPTNode();
    all.forEach((h, n) => node.setBranch(n, h));
    const ours = encodeBranchNode(all);
    expect(ours.length).toBe(3 + 16 * 33 + 1);
    expect(hex(ours)).toBe(hex(node.serialize()));
    expect((RLP.decode(ours) as Uint8Array[]).length).toBe(17);
  });
});
