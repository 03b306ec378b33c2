/**
 * The RLP of a Merkle Patricia trie node, written in one allocation: what `serialize()` of
 * @ethereumjs/mpt's LeafMPTNode, ExtensionMPTNode and BranchMPTNode gives for the same node, byte for
 * byte (test/unit/chain/trie-node-rlp.test.ts compares them on random nodes, and the tries built with
 * it are compared with @ethereumjs/mpt's). Those go through a nibble array per path and
 * @ethereumjs/rlp's generic encoder, one allocation per item: at a million accounts that was a third
 * of a genesis state's root (a CPU profile: concatBytes, encodeLength, toBytes). Only the sorted trie
 * builds (`stack-trie.ts`) use it; the trie itself stays @ethereumjs/mpt's.
 *
 * A child reference is a Uint8Array either way: 32 bytes is the child's hash (an RLP string of 32
 * bytes in the parent), fewer is the RLP of a child under 32 bytes, embedded in the parent as it is
 * (what @ethereumjs embeds as the child's raw items encodes to the same bytes).
 */

/** The length of an RLP header for a payload of `n` bytes (a string of one byte below 0x80 has none: not handled here). */
function headerLength(n: number): number {
  if (n < 56) return 1;
  let bytes = 1;
  for (let v = n >>> 8; v > 0; v >>>= 8) bytes++;
  return 1 + bytes;
}

/** Write the header of a payload of `n` bytes at `at` (`short`: 0x80 for a string, 0xc0 for a list); the position after it. */
function writeHeader(out: Uint8Array, at: number, n: number, short: number): number {
  if (n < 56) {
    out[at] = short + n;
    return at + 1;
  }
  const bytes = headerLength(n) - 1;
  out[at] = short + 55 + bytes;
  for (let i = bytes; i > 0; i--) out[at + i] = (n >>> ((bytes - i) * 8)) & 0xff;
  return at + 1 + bytes;
}

/** The encoded length of bytes `b` as an RLP string. */
function stringLength(b: Uint8Array): number {
  return b.length === 1 && b[0]! < 0x80 ? 1 : headerLength(b.length) + b.length;
}

function writeString(out: Uint8Array, at: number, b: Uint8Array): number {
  if (b.length === 1 && b[0]! < 0x80) {
    out[at] = b[0]!;
    return at + 1;
  }
  at = writeHeader(out, at, b.length, 0x80);
  out.set(b, at);
  return at + b.length;
}

/** RLP of the byte string `b`, in one allocation (`b` itself when it is its own encoding: one byte below 0x80). */
export function encodeString(b: Uint8Array): Uint8Array {
  if (b.length === 1 && b[0]! < 0x80) return b;
  const out = new Uint8Array(headerLength(b.length) + b.length);
  out.set(b, writeHeader(out, 0, b.length, 0x80));
  return out;
}

/** A child reference's length in its parent: a hash as a string, an embedded node as it is. */
function refLength(ref: Uint8Array): number {
  return ref.length === 32 ? 33 : ref.length;
}

function writeRef(out: Uint8Array, at: number, ref: Uint8Array): number {
  if (ref.length === 32) {
    out[at] = 0xa0;
    out.set(ref, at + 1);
    return at + 33;
  }
  out.set(ref, at);
  return at + ref.length;
}

/**
 * The hex-prefix (compact) encoding of a path of nibbles, the flag of a leaf or an extension in its first
 * byte: `nibble(i)` for i in [0, count).
 */
export function compactPath(count: number, nibble: (i: number) => number, leaf: boolean): Uint8Array {
  const odd = count & 1;
  const out = new Uint8Array((count >> 1) + 1);
  let i = 0;
  out[0] = (leaf ? 0x20 : 0) | (odd ? 0x10 | nibble(i++) : 0);
  for (let b = 1; b < out.length; b++, i += 2) out[b] = (nibble(i) << 4) | nibble(i + 1);
  return out;
}

/** RLP([compact path, value]) of a leaf, or RLP([compact path, child]) of an extension (`child` a reference). */
export function encodeShortNode(path: Uint8Array, second: Uint8Array, isLeaf: boolean): Uint8Array {
  const secondLength = isLeaf ? stringLength(second) : refLength(second);
  const payload = stringLength(path) + secondLength;
  const out = new Uint8Array(headerLength(payload) + payload);
  let at = writeHeader(out, 0, payload, 0xc0);
  at = writeString(out, at, path);
  if (isLeaf) writeString(out, at, second);
  else writeRef(out, at, second);
  return out;
}

/** RLP of a branch node: its 16 children (undefined: none) and no value (a trie of keys of one length). */
export function encodeBranchNode(children: readonly (Uint8Array | undefined)[]): Uint8Array {
  let payload = 1; // the empty value
  for (let i = 0; i < 16; i++) {
    const c = children[i];
    payload += c === undefined ? 1 : refLength(c);
  }
  const out = new Uint8Array(headerLength(payload) + payload);
  let at = writeHeader(out, 0, payload, 0xc0);
  for (let i = 0; i < 16; i++) {
    const c = children[i];
    if (c === undefined) out[at++] = 0x80;
    else at = writeRef(out, at, c);
  }
  out[at] = 0x80;
  return out;
}
