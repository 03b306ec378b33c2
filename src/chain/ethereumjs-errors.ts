import type { Common } from '@ethereumjs/common';
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx';
import { errorMessage } from '../util/errors.js';

/**
 * @ethereumjs reports failures as plain Errors whose only distinguishing mark is their text. They are
 * read here, once, where they enter Basalt, and turned into typed reasons; nothing else matches on
 * ethereumjs's wording (which may change with a release: the tests here pin what we rely on).
 */

/** Why the block builder left a transaction out. */
export type TxRejection =
  /** More gas than the block has left: it may fit the next one. */
  | 'block-full'
  /** Not the sender's next nonce (a gap before it, or already used): the pool's resync settles it. */
  | 'nonce'
  /** Its fee cap is below this block's base fee: a later block's may be lower. */
  | 'fee-below-base-fee'
  /** Its execution outlasted what was left of the block's build time: a later block, built afresh, may hold it. */
  | 'out-of-time'
  /** Its execution outlasted a whole block's build time: no block built in time holds it. */
  | 'too-slow'
  /** Anything else (the sender cannot pay, too little gas for its data, a bad signature): it never will. */
  | 'invalid';

/** A transaction left out of a block: what ethereumjs said (its first line) and its class. */
export interface Rejection {
  kind: TxRejection;
  reason: string;
}

/** Whether a transaction rejected for `kind` may go into a later block (the pool keeps it). */
export function mayFitLater(kind: TxRejection): boolean {
  return kind !== 'invalid' && kind !== 'too-slow';
}

/**
 * Classify what `BlockBuilder.addTransaction` threw. The VM appends its context to every error
 * (` (vm hf=… -> block number=… baseFeePerGas=… -> tx … nonce=…)`): it is cut off first, since its field
 * names would match any pattern (matching the whole text once kept every refused transaction in the
 * pool for good).
 */
export function classifyBuildError(err: unknown): Rejection {
  const reason = firstLine(err).replace(/ \(vm hf=.*$/, '');
  let kind: TxRejection = 'invalid';
  if (/higher gas limit than the remaining gas in the block/.test(reason)) kind = 'block-full';
  else if (/doesn't have the correct nonce/.test(reason)) kind = 'nonce';
  else if (/is less than the block's baseFeePerGas/.test(reason)) kind = 'fee-below-base-fee';
  return { kind, reason };
}

/** A transaction's bytes that do not decode under a block's rules. `kind` 'chain-id': signed for another chain. */
export class TxDecodeError extends Error {
  constructor(
    readonly kind: 'chain-id' | 'malformed',
    message: string,
  ) {
    super(message);
    this.name = 'TxDecodeError';
  }
}

/** Decode a transaction (typed envelope or legacy RLP) under `common`; throws TxDecodeError. */
export function decodeTransaction(raw: Uint8Array, common: Common): TypedTransaction {
  try {
    return createTxFromRLP(raw, { common });
  } catch (err) {
    const msg = firstLine(err);
    // ethereumjs's chain-ID message prints a function's source: callers say it plainly.
    throw new TxDecodeError(/chain ?id/i.test(msg) ? 'chain-id' : 'malformed', msg);
  }
}

/**
 * Whether a state read failed on a trie node the database does not hold (the trie's "Missing node in
 * DB"): a state this node does not keep, not a fault.
 */
export function isMissingTrieNode(err: unknown): boolean {
  return /missing node/i.test(errorMessage(err));
}

function firstLine(err: unknown): string {
  return errorMessage(err).split('\n')[0]!;
}
