/**
 * Linear checks of untrusted RLP before it is decoded. `@ethereumjs/rlp` decodes recursively and
 * spends microseconds per item: a few kilobytes of nested lists take seconds (then overflow the
 * stack), and a 16 MB list of one-byte items over a minute. These walks read only the headers.
 */
export class RlpBoundsError extends Error {}

interface Bounds {
  maxDepth: number;
  /** Items (strings and lists) in total, shared by every walk given the same budget. */
  budget: { items: number };
  /** Called for every string, with the indexes of the lists around it (outermost first). */
  onString?: (start: number, end: number, path: readonly number[]) => void;
}

/** Walk the one RLP item filling `bytes[from, to)`, within `bounds`; throws RlpBoundsError. */
export function checkRlp(bytes: Uint8Array, bounds: Bounds, from = 0, to = bytes.length): void {
  const ends: number[] = [];
  const path: number[] = [];
  let pos = from;
  let top = 0;
  for (;;) {
    while (ends.length > 0 && pos === ends[ends.length - 1]) {
      ends.pop();
      path.pop();
      if (path.length > 0) path[path.length - 1]!++;
    }
    if (pos === to && ends.length === 0) break;
    if (ends.length === 0 && top++ > 0) throw new RlpBoundsError('more than one item');
    if (--bounds.budget.items < 0) throw new RlpBoundsError('too many items');
    const limit = ends.length > 0 ? ends[ends.length - 1]! : to;
    const { isList, header, length } = readHeader(bytes, pos, limit);
    const end = pos + header + length;
    if (end > limit) throw new RlpBoundsError('item runs past its list');
    if (isList) {
      if (ends.length >= bounds.maxDepth) throw new RlpBoundsError(`lists nested deeper than ${bounds.maxDepth}`);
      ends.push(end);
      path.push(0);
      pos += header;
    } else {
      bounds.onString?.(pos + header, end, path);
      pos = end;
      if (path.length > 0) path[path.length - 1]!++;
    }
  }
}

function readHeader(bytes: Uint8Array, pos: number, limit: number): { isList: boolean; header: number; length: number } {
  if (pos >= limit) throw new RlpBoundsError('truncated');
  const b = bytes[pos]!;
  if (b < 0x80) return { isList: false, header: 0, length: 1 };
  if (b <= 0xb7) return { isList: false, header: 1, length: b - 0x80 };
  if (b <= 0xbf) return { isList: false, header: 1 + (b - 0xb7), length: longLength(bytes, pos, b - 0xb7, limit) };
  if (b <= 0xf7) return { isList: true, header: 1, length: b - 0xc0 };
  return { isList: true, header: 1 + (b - 0xf7), length: longLength(bytes, pos, b - 0xf7, limit) };
}

function longLength(bytes: Uint8Array, pos: number, n: number, limit: number): number {
  if (n > 4 || pos + 1 + n > limit) throw new RlpBoundsError('bad length');
  let len = 0;
  for (let i = 1; i <= n; i++) len = len * 256 + bytes[pos + i]!;
  return len;
}

/**
 * Most RLP items a block may hold, its typed transactions' payloads counted (checkBlockRlp): a full
 * 30M-gas block of access-list entries has ~35k. Every decoder of a block from outside (a peer's
 * proposal or sync answer, a snapshot, an archive, a backup) refuses more before it decodes, and the
 * block builder never includes a transaction that would take a block past it (txBlockItems), so a
 * block one node builds every other accepts, whatever the gas limit.
 */
export const MAX_BLOCK_ITEMS = 100_000;

/**
 * Most bytes of transactions a block built here holds: a proposal travels in one IBFT message of at
 * most 4 MiB (MAX_IBFT_GOSSIP_BYTES) beside its header and round-change certificate, and a block the
 * other validators cannot receive is proposed again by every proposer until the chain halts (55
 * transactions of 128 KiB zero bytes fit 30M gas: 6.8 MiB). 3 MiB leaves 1 MiB for the rest.
 */
export const MAX_BLOCK_TX_BYTES = 3 * 1024 * 1024;

/** The RLP items a block's header, lists and the like take besides its transactions (a header has ~21). */
export const BLOCK_ITEMS_BESIDE_TRANSACTIONS = 64;

/**
 * The items a transaction adds to its block as checkBlockRlp counts them: a typed one is a string in
 * the block (one item) and the items of its payload; a legacy one is the items of its list.
 */
export function txBlockItems(txBytes: Uint8Array, typed: boolean): number {
  const budget = { items: Number.MAX_SAFE_INTEGER };
  if (typed) checkRlp(txBytes, { maxDepth: 4, budget }, 1);
  else checkRlp(txBytes, { maxDepth: 3, budget });
  return Number.MAX_SAFE_INTEGER - budget.items + (typed ? 1 : 0);
}

/**
 * Receipts as stored ([[status, cumulativeGas, [[address, [topic…], data]…]]…], storage/receipts.ts),
 * from outside, against the header they belong to (checked before): their items are bounded by its gas
 * (a log costs at least 375 gas for its 4 items, a topic 375 for 1), so a list that holds more is
 * refused before it is decoded, whatever its bytes.
 */
export function checkReceiptsRlp(bytes: Uint8Array, gasUsed: bigint, transactions: number): void {
  const items = Number(gasUsed / 90n) + 4 * transactions + 8;
  checkRlp(bytes, { maxDepth: 5, budget: { items } });
}

/**
 * A block's RLP ([header, transactions, uncles, ...]) with its typed transactions' payloads, whose
 * lists (access and authorization lists) are decoded separately by the transaction library. Returns
 * the items it holds.
 */
export function checkBlockRlp(bytes: Uint8Array, maxItems = MAX_BLOCK_ITEMS): number {
  const budget = { items: maxItems };
  const typed: Array<[number, number]> = [];
  checkRlp(bytes, {
    maxDepth: 3,
    budget,
    onString: (start, end, path) => {
      if (path.length === 2 && path[0] === 1 && end > start) typed.push([start, end]);
    },
  });
  for (const [start, end] of typed) checkRlp(bytes, { maxDepth: 4, budget }, start + 1, end);
  return maxItems - budget.items;
}

/** A block header alone (its extraData holds the validator set and seals: ~85 bytes a validator). */
export const MAX_HEADER_RLP_BYTES = 1024 * 1024;
/** A block with its receipts, one record of every backup format (snapshots, archives' blocks, repository segments): the archive's block limit plus room for receipts. */
export const MAX_BLOCK_WITH_RECEIPTS_BYTES = 64 * 1024 * 1024;

/**
 * The most bytes of receipts a block built here holds (the executor's count): a block with its
 * receipts is one record of every backup format (MAX_BLOCK_WITH_RECEIPTS_BYTES), beside its
 * transactions (MAX_BLOCK_TX_BYTES) and header (MAX_HEADER_RLP_BYTES). Reached only with a block gas
 * limit above ~470M (a log byte costs 8 gas): below it, the gas limit bounds the logs first.
 */
export const MAX_BLOCK_RECEIPTS_BYTES = MAX_BLOCK_WITH_RECEIPTS_BYTES - MAX_BLOCK_TX_BYTES - MAX_HEADER_RLP_BYTES - 1024 * 1024;

/** The gas a byte of log data costs at the least (LOG's data gas; topics and LOG's own gas cost more a byte). */
const LOG_GAS_PER_BYTE = 8n;
/** A receipt's bytes beside its logs' (status, cumulative gas, list headers), as the block builder counts them. */
export const RECEIPT_BYTES = 32;

/** The most receipt bytes a transaction of `gasLimit` gas can make (every log byte it could pay for): the builder starts it only where these fit, the pool refuses one whose own exceed MAX_BLOCK_RECEIPTS_BYTES. */
export function mostReceiptBytes(gasLimit: bigint): number {
  return Number(gasLimit / LOG_GAS_PER_BYTE) + RECEIPT_BYTES;
}
