import { hashSlot } from './hash-set.js';

/** Words (32 bits) of a key: the whole 32-byte hash, so membership is exact. */
const WORDS = 8;
const INITIAL_CAPACITY = 1 << 10;

/**
 * A map from 32-byte hashes to a small tag (0-255) and a count, in one flat table: ~38-76 bytes a
 * member and no object, string or Map entry per member. A restore's streamed state check keeps the
 * nodes referred to and not yet read in one: as a `Map` of hex strings it made two strings and an
 * object per node of the state, live long enough to be promoted (~490 MB of a million-account
 * restore's garbage went through full collections).
 *
 * Open addressing with linear probing (slots from `hashSlot`, keyed per process) and backward-shift
 * deletion (no tombstones), so the table stays short however many members come and go. Slots are
 * found through `find`, which returns a slot that stays valid until the next `insert` or `removeAt`.
 */
export class HashCounts {
  private keys = new Uint32Array(INITIAL_CAPACITY * WORDS);
  private used = new Uint8Array(INITIAL_CAPACITY);
  private tags = new Uint8Array(INITIAL_CAPACITY);
  private counts = new Uint32Array(INITIAL_CAPACITY);
  private mask = INITIAL_CAPACITY - 1;
  private members = 0;
  private readonly key = new Uint32Array(WORDS);

  /** Distinct members. */
  get size(): number {
    return this.members;
  }

  /** The slot of `hash`, or -1. */
  find(hash: Uint8Array): number {
    this.load(hash);
    const at = this.probe(this.keys, this.used, this.mask);
    return at >= 0 ? at : -1;
  }

  tagAt(slot: number): number {
    return this.tags[slot]!;
  }

  countAt(slot: number): number {
    return this.counts[slot]!;
  }

  setCountAt(slot: number, count: number): void {
    this.counts[slot] = count;
  }

  /** Adds `hash` (which must not be a member) with `tag` and `count`. */
  insert(hash: Uint8Array, tag: number, count: number): void {
    this.load(hash);
    const at = this.probe(this.keys, this.used, this.mask);
    if (at >= 0) throw new Error('HashCounts.insert: already a member');
    this.place(-at - 1, tag, count);
    this.members++;
    if (this.members * 4 > (this.mask + 1) * 3) this.grow();
  }

  /** Removes the member at `slot`; the entries after it in its run move back (no tombstone). */
  removeAt(slot: number): void {
    const { keys, used, mask } = this;
    let hole = slot;
    for (let j = (slot + 1) & mask; used[j] === 1; j = (j + 1) & mask) {
      const home = hashSlot(keys[j * WORDS]!, keys[j * WORDS + 1]!, mask);
      // The entry at j may move to the hole if its home is not cyclically within (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      keys.copyWithin(hole * WORDS, j * WORDS, j * WORDS + WORDS);
      this.tags[hole] = this.tags[j]!;
      this.counts[hole] = this.counts[j]!;
      hole = j;
    }
    used[hole] = 0;
    this.members--;
  }

  /** Some member's hash (for an error naming what is missing), or undefined when empty. */
  first(): Uint8Array | undefined {
    const slot = this.used.indexOf(1);
    if (slot < 0) return undefined;
    const out = new Uint8Array(32);
    const view = new DataView(out.buffer);
    for (let w = 0; w < WORDS; w++) view.setUint32(w * 4, this.keys[slot * WORDS + w]!, true);
    return out;
  }

  private load(hash: Uint8Array): void {
    if (hash.length !== 32) throw new RangeError(`a hash of ${hash.length} bytes (32)`);
    for (let w = 0; w < WORDS; w++) {
      const o = w * 4;
      this.key[w] = (hash[o]! | (hash[o + 1]! << 8) | (hash[o + 2]! << 16) | (hash[o + 3]! << 24)) >>> 0;
    }
  }

  /** The slot holding this.key (>= 0), or -(the empty slot where it would go) - 1. */
  private probe(keys: Uint32Array, used: Uint8Array, mask: number): number {
    const k = this.key;
    for (let slot = hashSlot(k[0]!, k[1]!, mask); ; slot = (slot + 1) & mask) {
      if (used[slot] === 0) return -slot - 1;
      const o = slot * WORDS;
      if (
        keys[o] === k[0] &&
        keys[o + 1] === k[1] &&
        keys[o + 2] === k[2] &&
        keys[o + 3] === k[3] &&
        keys[o + 4] === k[4] &&
        keys[o + 5] === k[5] &&
        keys[o + 6] === k[6] &&
        keys[o + 7] === k[7]
      )
        return slot;
    }
  }

  private place(slot: number, tag: number, count: number): void {
    this.keys.set(this.key, slot * WORDS);
    this.used[slot] = 1;
    this.tags[slot] = tag;
    this.counts[slot] = count;
  }

  private grow(): void {
    const { keys, used, tags, counts } = this;
    const capacity = (this.mask + 1) * 2;
    this.keys = new Uint32Array(capacity * WORDS);
    this.used = new Uint8Array(capacity);
    this.tags = new Uint8Array(capacity);
    this.counts = new Uint32Array(capacity);
    this.mask = capacity - 1;
    for (let slot = 0; slot < used.length; slot++) {
      if (used[slot] === 0) continue;
      this.key.set(keys.subarray(slot * WORDS, slot * WORDS + WORDS));
      this.place(-this.probe(this.keys, this.used, this.mask) - 1, tags[slot]!, counts[slot]!);
    }
  }
}
