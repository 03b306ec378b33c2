import { randomBytes } from 'node:crypto';

/** Bytes of a hash a HashSet keeps: 128 bits, so that two distinct hashes never collide in practice. */
const KEY_BYTES = 16;
const WORDS = KEY_BYTES / 4;
/**
 * Slots of a new set: 16 KiB. It doubles as it fills, so a walk of millions of nodes pays a few
 * rehashes, and the many small sets (a state pruner's walk of each older state it keeps, 1,152 of
 * them a prune by default) do not each allocate and zero a large table (at 1 MiB a set, that was
 * 2.3 GB a prune).
 */
const INITIAL_CAPACITY = 1 << 10;

/**
 * A set of 32-byte hashes (keccak256 of trie nodes, code) held in one flat table: 16 bytes of each
 * hash and nothing else, ~21-43 bytes a member (the table doubles past three quarters full). A `Set` of
 * hex strings took ~120 bytes a member: the state walk of a snapshot, a restore's completeness check
 * and `db check --full` remember every node they visit, 2 million and more for a chain with a million
 * accounts (issue #19).
 *
 * Open addressing with linear probing. The slot of a hash is mixed from its first 8 bytes with a
 * random key drawn once per process: the hashes come from files and peers, and without the key someone could
 * grind node hashes that share a slot and make every lookup a scan. Members are the hash's first 16
 * bytes: two distinct hashes alike in those would need ~2^64 tries to find.
 */
/** The slot-mixing key, drawn once per process (as secret as one per set, and a set costs no syscall). */
let seed: Uint32Array | undefined;

/**
 * The slot, under `mask`, of a hash whose first two 32-bit words (little-endian) are `w0` and `w1`,
 * mixed with the process's random key. Shared by the flat hash tables (HashSet, HashCounts).
 */
export function hashSlot(w0: number, w1: number, mask: number): number {
  if (seed === undefined) {
    const b = randomBytes(8);
    seed = Uint32Array.of(b.readUInt32LE(0), b.readUInt32LE(4));
  }
  let h = Math.imul(w0 ^ seed[0]!, 0x9e3779b1) ^ Math.imul(w1 ^ seed[1]!, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0xc2b2ae3d);
  h ^= h >>> 13;
  return (h >>> 0) & mask;
}

export class HashSet {
  private table = new Uint32Array(INITIAL_CAPACITY * WORDS);
  private mask = INITIAL_CAPACITY - 1;
  private members = 0;
  /** The all-zero key marks an empty slot; a hash whose first 16 bytes are zero is kept apart. */
  private hasZero = false;
  private readonly key = new Uint32Array(WORDS);

  /** Removes every member (the table keeps its size). */
  clear(): void {
    this.table.fill(0);
    this.members = 0;
    this.hasZero = false;
  }

  get size(): number {
    return this.members + (this.hasZero ? 1 : 0);
  }

  /** Bytes the table takes (for the memory figures of the commands that use it). */
  get bytes(): number {
    return this.table.byteLength;
  }

  has(hash: Uint8Array): boolean {
    if (this.load(hash)) return this.hasZero;
    return this.find(this.table, this.mask) >= 0;
  }

  /** Adds `hash`; true if it was not a member. */
  add(hash: Uint8Array): boolean {
    if (this.load(hash)) {
      if (this.hasZero) return false;
      this.hasZero = true;
      return true;
    }
    const at = this.find(this.table, this.mask);
    if (at >= 0) return false;
    this.put(this.table, -at - 1);
    this.members++;
    // Grown past 3/4 full: linear probing stays short (~2.5 probes a hit, ~8.5 a miss at worst), and
    // 2.7 million nodes take 4M slots (64 MB), not 8M.
    if (this.members * 4 > (this.mask + 1) * 3) this.grow();
    return true;
  }

  /** Reads `hash`'s key into this.key; true if it is all zero. */
  private load(hash: Uint8Array): boolean {
    if (hash.length < KEY_BYTES) throw new RangeError(`a hash of ${hash.length} bytes (at least ${KEY_BYTES})`);
    let zero = true;
    for (let w = 0; w < WORDS; w++) {
      const o = w * 4;
      const v = (hash[o]! | (hash[o + 1]! << 8) | (hash[o + 2]! << 16) | (hash[o + 3]! << 24)) >>> 0;
      this.key[w] = v;
      if (v !== 0) zero = false;
    }
    return zero;
  }

  /** The slot holding this.key (>= 0), or -(the empty slot where it would go) - 1. */
  private find(table: Uint32Array, mask: number): number {
    const k = this.key;
    for (let slot = hashSlot(k[0]!, k[1]!, mask); ; slot = (slot + 1) & mask) {
      const o = slot * WORDS;
      const a = table[o]!;
      const b = table[o + 1]!;
      const c = table[o + 2]!;
      const d = table[o + 3]!;
      if (a === k[0] && b === k[1] && c === k[2] && d === k[3]) return slot;
      if ((a | b | c | d) === 0) return -slot - 1;
    }
  }

  private put(table: Uint32Array, slot: number): void {
    table.set(this.key, slot * WORDS);
  }

  private grow(): void {
    const old = this.table;
    const capacity = (this.mask + 1) * 2;
    const table = new Uint32Array(capacity * WORDS);
    const mask = capacity - 1;
    for (let o = 0; o < old.length; o += WORDS) {
      if ((old[o]! | old[o + 1]! | old[o + 2]! | old[o + 3]!) === 0) continue;
      this.key.set(old.subarray(o, o + WORDS));
      this.put(table, -this.find(table, mask) - 1);
    }
    this.table = table;
    this.mask = mask;
  }
}
