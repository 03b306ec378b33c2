import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { headerOpts } from '../chain/block-util.js';
import { blockHash } from '../consensus/ibft/hash.js';
import { compressRecord, decompressRecord, type Compression } from './compression.js';
import { ArchiveError } from './errors.js';
import type { BlockRecord } from './format.js';

/** A block as an archive record: its canonical RLP (header, transactions, uncles), compressed. */
export async function encodeBlockRecord(block: Block, compression: Compression): Promise<BlockRecord> {
  const rlp = block.serialize();
  return { number: block.header.number, hash: blockHash(block.header), rawLength: rlp.length, data: await compressRecord(rlp, compression) };
}

/**
 * Decompress and decode a block record; its number and hash must be the ones the record states.
 * (This checks the record is what it claims; consensus and execution checks come at import.)
 */
export async function decodeBlockRecord(record: BlockRecord, compression: Compression, common: Common): Promise<Block> {
  const rlp = await decompressRecord(record.data, compression, record.rawLength);
  let block: Block;
  try {
    block = createBlockFromRLP(rlp, headerOpts(common));
  } catch (err) {
    throw new ArchiveError(`block ${record.number} in the archive cannot be decoded: ${(err as Error).message}`);
  }
  if (block.header.number !== record.number) {
    throw new ArchiveError(`archive record for block ${record.number} holds block ${block.header.number}`);
  }
  const hash = blockHash(block.header);
  if (!equalsBytes(hash, record.hash)) {
    throw new ArchiveError(`block ${record.number} hashes to ${bytesToHex(hash)}, but its record states ${bytesToHex(record.hash)}`);
  }
  return block;
}
