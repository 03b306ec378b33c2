import { Block, createBlockHeaderFromBytesArray, type BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';

const EXTRA_DATA_INDEX = 12;

export function headerOpts(common: Common) {
  return { common, skipConsensusFormatValidation: true, setHardfork: false } as const;
}

/** `header` with its extraData replaced (every other field, and so the execution results, kept). */
export function headerWithExtraData(header: BlockHeader, extraData: Uint8Array, common: Common): BlockHeader {
  const raw = header.raw();
  raw[EXTRA_DATA_INDEX] = extraData;
  return createBlockHeaderFromBytesArray(raw, headerOpts(common));
}

export function blockWithHeader(block: Block, header: BlockHeader, common: Common): Block {
  return new Block(header, block.transactions, [], undefined, headerOpts(common));
}
