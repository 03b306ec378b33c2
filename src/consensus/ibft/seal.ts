import type { Block, BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { blockWithHeader, headerWithExtraData } from '../../chain/block-util.js';
import { signHash } from '../../util/secp256k1.js';
import { headerExtra, encodeIbftExtra } from './extra.js';
import { blockHash, committedSealHash, proposerSealHash } from './hash.js';

/** The extraData of `header` with the proposer's seal in it (and no committed seals yet). */
export function proposerSealedExtra(header: BlockHeader, proposerKey: Uint8Array): Uint8Array {
  const extra = headerExtra(header);
  const seal = signHash(proposerSealHash(header), proposerKey);
  return encodeIbftExtra({ ...extra, proposerSeal: seal, committedSeals: [] });
}

/** A validator's commit vote for a proposer-sealed header: its signature over the committed-seal message. */
export function committedSeal(header: BlockHeader, validatorKey: Uint8Array): Uint8Array {
  return signHash(committedSealHash(blockHash(header)), validatorKey);
}

export function withCommittedSeals(header: BlockHeader, seals: Uint8Array[]): Uint8Array {
  const extra = headerExtra(header);
  return encodeIbftExtra({ ...extra, committedSeals: seals });
}

/**
 * Seal a built block: the proposer's seal, then a committed seal from each of `committerKeys`.
 * Body and execution results are unchanged; only extraData (and so the hash) is filled in.
 */
export function sealBlock(block: Block, proposerKey: Uint8Array, committerKeys: Uint8Array[], common: Common): Block {
  const proposed = headerWithExtraData(block.header, proposerSealedExtra(block.header, proposerKey), common);
  const seals = committerKeys.map((k) => committedSeal(proposed, k));
  const final = headerWithExtraData(proposed, withCommittedSeals(proposed, seals), common);
  return blockWithHeader(block, final, common);
}
