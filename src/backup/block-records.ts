import { createBlockFromBytesArray, createBlockHeaderFromBytesArray, type Block, type BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { BlockRecord } from '../archive/format.js';
import { headerOpts } from '../chain/block-util.js';
import { blockHash, blockHashFromRlp } from '../consensus/ibft/hash.js';
import { compressRecord, decompressRecord, type Compression } from '../container/compression.js';
import { BackupFileError } from '../container/errors.js';
import { errorMessage } from '../util/errors.js';
import { checkBlockRlp, MAX_BLOCK_ITEMS } from '../util/rlp-bounds.js';
import { type RlpSpan, rlpCountItems, rlpItemViews, rlpListItems, rlpSpanAt } from '../util/rlp-spans.js';

/**
 * How deep a block's items nest: two (a legacy transaction's fields in the transaction list, a
 * withdrawal's in the withdrawal list; a typed transaction is a string); one more is refused by
 * @ethereumjs/block anyway, and the bound keeps a hostile record from nesting without end.
 */
const BLOCK_RLP_DEPTH = 3;

/** More fields than a header of any fork has (London's 16, later forks' up to 21): a longer list is refused before its items are listed. */
const MAX_HEADER_FIELDS = 32;

/**
 * The fields of the header list `span` of `bytes`, as views (@ethereumjs/block copies each one it
 * keeps); a field that is a list is refused (@ethereumjs would read a list of bytes as one value).
 */
function headerFieldViews(bytes: Uint8Array, span: RlpSpan): { items: RlpSpan[]; fields: Uint8Array[] } {
  if (rlpCountItems(bytes, span, MAX_HEADER_FIELDS) > MAX_HEADER_FIELDS) throw new Error(`a header has more than ${MAX_HEADER_FIELDS} fields`);
  const items = rlpListItems(bytes, span);
  const fields = items.map((item) => {
    if (item.list) throw new Error('a header field is a list');
    return bytes.subarray(item.payloadAt, item.end);
  });
  return { items, fields };
}

export async function encodeRawBlockRecord(number: bigint, hash: Uint8Array, rlp: Uint8Array, compression: Compression): Promise<BlockRecord> {
  return { number, hash, rawLength: rlp.length, data: await compressRecord(rlp, compression) };
}

/** A block as an archive record: its canonical RLP (header, transactions, uncles), compressed. */
export async function encodeBlockRecord(block: Block, compression: Compression): Promise<BlockRecord> {
  return encodeRawBlockRecord(block.header.number, blockHash(block.header), block.serialize(), compression);
}

/**
 * Decompress and decode a block record; its number and hash must be the ones the record states.
 * (This checks the record is what it claims; consensus and execution checks come at import.)
 */
export async function decodeBlockRecord(record: BlockRecord, compression: Compression, common: Common): Promise<Block> {
  return decodeBlockRlp(await decompressRecord(record.data, compression, record.rawLength), record.number, record.hash, common, 'archive');
}

/** Decode a block's RLP from a backup file; it must be block `number` with hash `hash`. */
export function decodeBlockRlp(rlp: Uint8Array, number: bigint, hash: Uint8Array, common: Common, where: 'archive' | 'snapshot' | 'backup'): Block {
  let block: Block;
  let actual: Uint8Array;
  try {
    // As createBlockFromRLP, but the values are read as views of `rlp` (it copies the input, then each
    // item again): the block copies each one it keeps. Its hash is taken of the record's own header
    // bytes, as decodeHeaderRlp's, not of the header encoded again.
    if (common.isActivatedEIP(7934) && BigInt(rlp.length) > common.param('maxRlpBlockSize'))
      throw new Error(`block size exceeds limit: ${rlp.length} > ${common.param('maxRlpBlockSize')}`);
    checkBlockRlp(rlp); // bounded before any item is made (a list of millions of one-byte items)
    const outer = rlpSpanAt(rlp, 0);
    if (outer.end !== rlp.length || !outer.list) throw new Error('not one RLP list');
    const items = rlpListItems(rlp, outer);
    const first = items[0];
    if (first === undefined || !first.list) throw new Error('not a [header, transactions, uncles] list');
    const values = [headerFieldViews(rlp, first).fields, ...items.slice(1).map((item) => rlpItemViews(rlp, item, BLOCK_RLP_DEPTH))];
    block = createBlockFromBytesArray(values as never, headerOpts(common));
    actual = blockHashFromRlp(block.header, rlp.subarray(first.at, first.end));
  } catch (err) {
    throw new BackupFileError(`block ${number} in the ${where} cannot be decoded: ${errorMessage(err)}`);
  }
  if (block.header.number !== number) throw new BackupFileError(`${where} record for block ${number} holds block ${block.header.number}`);
  if (!equalsBytes(actual, hash)) {
    throw new BackupFileError(`block ${number} hashes to ${bytesToHex(actual)}, but its ${where} record states ${bytesToHex(hash)}`);
  }
  return block;
}

/**
 * Every transaction costs at least 21,000 gas, its intrinsic gas (G_transaction; from London on,
 * refunds never take one below it): a block holds at most its header's gasUsed / MIN_TX_GAS of them.
 */
export const MIN_TX_GAS = 21_000n;

/**
 * The most transactions a block whose header says `gasUsed` holds (MIN_TX_GAS each, and within
 * MAX_BLOCK_ITEMS), where the list at `transactions` in `rlp` holds more (counted from their spans,
 * none decoded); undefined where it does not. A forged body of thousands of ten-byte transactions
 * under a checked header then costs its bytes, not their decoding (@ethereumjs copies the Common for each).
 */
export function transactionsBeyondGas(rlp: Uint8Array, transactions: RlpSpan, gasUsed: bigint): number | undefined {
  const paid = gasUsed / MIN_TX_GAS;
  const most = paid < BigInt(MAX_BLOCK_ITEMS) ? Number(paid) : MAX_BLOCK_ITEMS;
  return rlpCountItems(rlp, transactions, most) > most ? most : undefined;
}

/**
 * Refuse a block whose transaction list holds more items than its header's gasUsed pays for
 * (transactionsBeyondGas). `rlp`: a block's, whose header `header` is verified (decodeBlockHeaderRlp
 * read it of these bytes); its shape is checked again where it is decoded.
 */
export function checkTransactionCount(rlp: Uint8Array, header: BlockHeader, where: 'archive' | 'snapshot' | 'backup'): void {
  let most: number | undefined;
  try {
    most = transactionsBeyondGas(rlp, blockPartSpans(rlp).transactions, header.gasUsed);
  } catch (err) {
    throw new BackupFileError(`block ${header.number} in the ${where} cannot be decoded: ${errorMessage(err)}`);
  }
  if (most !== undefined)
    throw new BackupFileError(
      `block ${header.number} in the ${where} holds more transactions than its gas used (${header.gasUsed}) pays for (at most ${most}, at ${MIN_TX_GAS} each)`,
      { code: 'INVALID_BLOCK' },
    );
}

/**
 * Decode only the header of a block's RLP from a backup file (its transactions are not decoded: a
 * restore that back-fills bodies later checks headers alone); it must be block `number` with hash `hash`.
 * Also the header's own RLP, a view into `rlp` (what a store writes, without encoding it again).
 */
export function decodeBlockHeaderRlp(
  rlp: Uint8Array,
  number: bigint,
  hash: Uint8Array,
  common: Common,
  where: 'archive' | 'snapshot' | 'backup',
): { header: BlockHeader; headerRlp: Uint8Array } {
  let headerRlp: Uint8Array;
  try {
    // Found by its span, the header alone is decoded (a back-filled block's transactions are not).
    const block = rlpSpanAt(rlp, 0);
    const items = rlpListItems(rlp, block);
    const [first, second, third] = items;
    if (block.end !== rlp.length || items.length !== 3 || !first!.list || !second!.list || !third!.list)
      throw new Error('not a [header, transactions, uncles] list');
    headerRlp = rlp.subarray(first!.at, first!.end);
  } catch (err) {
    throw new BackupFileError(`block ${number} in the ${where} cannot be decoded: ${errorMessage(err)}`);
  }
  return { header: decodeHeaderRlp(headerRlp, number, hash, common, where), headerRlp };
}

/**
 * Where a block's RLP ([header, transactions, uncles, …]) holds its header and its transaction list,
 * from their spans: nothing is decoded, and nothing after the transaction list is read (a peer's
 * block is checked by its header before the rest of it is worth a look). Throws where it is not such a list.
 */
export function blockPartSpans(rlp: Uint8Array): { header: RlpSpan; transactions: RlpSpan } {
  const block = rlpSpanAt(rlp, 0);
  if (block.end !== rlp.length || !block.list) throw new Error('not one RLP list');
  const header = rlpSpanAt(rlp, block.payloadAt, block.end);
  const transactions = header.end < block.end ? rlpSpanAt(rlp, header.end, block.end) : undefined;
  if (!header.list || !transactions?.list) throw new Error('not a [header, transactions, uncles] list');
  return { header, transactions };
}

/**
 * A header from its own RLP, its fields read as views of these bytes (RLP.decode copies the list, then
 * each field again), with where its list and fields are (for blockHashFromRlp). Throws where it does
 * not decode; its number and hash are the caller's to check.
 */
export function headerFromRlp(headerRlp: Uint8Array, common: Common): { header: BlockHeader; spans: { outer: RlpSpan; items: RlpSpan[] } } {
  const outer = rlpSpanAt(headerRlp, 0);
  if (outer.end !== headerRlp.length || !outer.list) throw new Error('not one RLP list');
  const { items, fields } = headerFieldViews(headerRlp, outer);
  return { header: createBlockHeaderFromBytesArray(fields, headerOpts(common)), spans: { outer, items } };
}

/**
 * Decode a header's own RLP from a backup file (a version 3 snapshot's header record); it must be the
 * header of block `number` with hash `hash`, in its canonical encoding (the hash is taken of these bytes).
 */
export function decodeHeaderRlp(
  headerRlp: Uint8Array,
  number: bigint,
  hash: Uint8Array,
  common: Common,
  where: 'archive' | 'snapshot' | 'backup',
): BlockHeader {
  let header: BlockHeader;
  let actual: Uint8Array;
  try {
    let spans: { outer: RlpSpan; items: RlpSpan[] };
    ({ header, spans } = headerFromRlp(headerRlp, common));
    actual = blockHashFromRlp(header, headerRlp, spans);
  } catch (err) {
    throw new BackupFileError(`block ${number} in the ${where} cannot be decoded: ${errorMessage(err)}`);
  }
  if (header.number !== number) throw new BackupFileError(`${where} record for block ${number} holds block ${header.number}`);
  if (!equalsBytes(actual, hash))
    throw new BackupFileError(`block ${number} hashes to ${bytesToHex(actual)}, but its ${where} record states ${bytesToHex(hash)}`);
  return header;
}
