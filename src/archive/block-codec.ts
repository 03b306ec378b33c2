import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { headerOpts } from '../chain/block-util.js';
import { blockHash } from '../consensus/ibft/hash.js';
import { compressRecord, decompressRecord, type Compression } from './compression.js';
import { ArchiveError } from './errors.js';
import type { BlockRecord } from './format.js';

/**
 * The canonical block RLP `[header, transactions, []]` assembled from the stored header RLP and body
 * (a list of serialized transactions) without decoding either: legacy transactions (RLP lists) are
 * embedded as they are, typed ones (EIP-2718 bytes) as byte strings. Export reads blocks this way.
 */
export function blockRlpFromStored(headerRlp: Uint8Array, bodyRlp: Uint8Array): Uint8Array {
  const txs = RLP.decode(bodyRlp) as Uint8Array[];
  const txItems = txs.map((t) => (t.length > 0 && t[0]! >= 0xc0 ? t : RLP.encode(t)));
  const txList = listOf(txItems);
  return listOf([headerRlp, txList, EMPTY_LIST]);
}

const EMPTY_LIST = Uint8Array.of(0xc0);

/** An RLP list of already-encoded items. */
function listOf(items: Uint8Array[]): Uint8Array {
  const len = items.reduce((n, i) => n + i.length, 0);
  let prefix: Uint8Array;
  if (len < 56) prefix = Uint8Array.of(0xc0 + len);
  else {
    const lenBytes: number[] = [];
    for (let l = len; l > 0; l = Math.floor(l / 256)) lenBytes.unshift(l % 256);
    prefix = Uint8Array.of(0xf7 + lenBytes.length, ...lenBytes);
  }
  const out = new Uint8Array(prefix.length + len);
  out.set(prefix);
  let off = prefix.length;
  for (const i of items) {
    out.set(i, off);
    off += i.length;
  }
  return out;
}

export async function encodeRawBlockRecord(number: bigint, hash: Uint8Array, rlp: Uint8Array, compression: Compression): Promise<BlockRecord> {
  return { number, hash, rawLength: rlp.length, data: await compressRecord(rlp, compression) };
}

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
