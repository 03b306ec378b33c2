import { HashSet } from './hash-set.js';

/** Codes both sides of a walk in tree order remember: 1 MiB of HashSet, the popular codes of a chain. */
export const MAX_REMEMBERED_CODES = 65_536;

/**
 * Which contract codes a state walk gives, in the order a snapshot names (`StateOrder` in
 * backup/state-walk.ts): each once ('unique'); or ('tree') the first time an account refers to it
 * while fewer than `remembered` codes are remembered, and for every later account of a code past
 * that. The rule is exact, so a reader knows which codes are still to come. Used by the walk, its
 * reader, and the genesis build (whose count is the StateSize a first start keeps).
 */
export class CodeMemory {
  private readonly seen = new HashSet();
  constructor(
    private readonly order: 'unique' | 'tree',
    private readonly remembered = MAX_REMEMBERED_CODES,
  ) {}

  has(hash: Uint8Array): boolean {
    return this.seen.has(hash);
  }

  /** An account refers to `hash`: true if the walk gives that code now (the reader awaits it). */
  given(hash: Uint8Array): boolean {
    if (this.order === 'unique') return this.seen.add(hash);
    if (this.seen.has(hash)) return false;
    if (this.seen.size < this.remembered) this.seen.add(hash);
    return true;
  }
}
