import { createBlockFromBytesArray, createBlockHeaderFromRLP, type Block, type BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, concatBytes } from '@ethereumjs/util';
import { syncWrites, type BytesDB } from './open-db.js';
import * as schema from './schema.js';
import { decodeReceipts, encodeReceipts, type StoredReceipt } from './receipts.js';
import { StorageDamageError, type DamageReporter } from './damage.js';
import { errorMessage } from '../util/errors.js';
import { HistoryUnavailableError, inGap } from './history.js';
import { txBytes } from '../util/tx-bytes.js';

type Snapshot = ReturnType<BytesDB['snapshot']>;

/** The rules a block is decoded with, by number (see ChainRules). */
export interface BlockRules {
  commonAt(num: bigint): Common;
}

/** A canonical block as stored: its hash, its canonical RLP (header, transactions, uncles) and its receipts RLP. */
export interface StoredBlock {
  hash: Uint8Array;
  blockRlp: Uint8Array;
  receiptsRlp: Uint8Array;
}

/** What export and snapshot read: the head and canonical blocks as stored bytes, from one consistent view. */
export interface BlockReader {
  headHash(): Promise<Uint8Array | undefined>;
  blockNumber(hash: Uint8Array): Promise<bigint | undefined>;
  header(num: bigint, hash: Uint8Array): Promise<BlockHeader | undefined>;
  canonicalHash(num: bigint): Promise<Uint8Array | undefined>;
  storedBlock(num: bigint): Promise<StoredBlock>;
  /** Canonical blocks from..to (inclusive) in order, read in batches (see BlockStore.storedBlocks). */
  storedBlocks(from: bigint, to: bigint): AsyncGenerator<StoredBlock & { number: bigint }>;
  /** Canonical headers from..to (inclusive) in order, as stored (see BlockStore.storedHeaders). */
  storedHeaders(from: bigint, to: bigint): AsyncGenerator<{ number: bigint; hash: Uint8Array; headerRlp: Uint8Array }>;
  /** The blocks whose bodies are not held yet (a restore back-filling its history), if any. */
  historyGap(): Promise<schema.HistoryGap | undefined>;
  /** The size of a state as last measured (schema.STATE_SIZE_KEY), if any: a hint (see there). */
  stateSize(): Promise<schema.StateSize | undefined>;
}

/** What each of storedBlocks' iterators reads ahead: entries per LevelDB trip, and their bytes at most. */
const RANGE_READ_ENTRIES = 256;
const RANGE_READ_BYTES = 1 << 20;

/**
 * A LevelDB iterator read RANGE_READ_ENTRIES at a time, the next batch requested as soon as one
 * arrives (so at most two batches are held), for walks that take keys in order (storedBlocks).
 */
class RangeCursor {
  private entries: [Uint8Array, Uint8Array][] = [];
  private at = 0;
  private next?: Promise<[Uint8Array, Uint8Array][]>;
  private ended = false;

  constructor(private readonly it: { nextv(size: number): Promise<[Uint8Array, Uint8Array][]>; close(): Promise<void> }) {}

  private async current(): Promise<[Uint8Array, Uint8Array] | undefined> {
    while (this.at >= this.entries.length) {
      if (this.ended) return undefined;
      this.entries = await (this.next ?? this.it.nextv(RANGE_READ_ENTRIES));
      this.at = 0;
      this.next = undefined;
      if (this.entries.length === 0) this.ended = true;
      else {
        const next = this.it.nextv(RANGE_READ_ENTRIES);
        next.catch(() => undefined); // awaited on the next turn
        this.next = next;
      }
    }
    return this.entries[this.at];
  }

  /** The value under `key`, passing the keys before it; undefined (and nothing passed) when it is not there. */
  async take(key: Uint8Array): Promise<Uint8Array | undefined> {
    for (;;) {
      const e = await this.current();
      if (!e) return undefined;
      const c = Buffer.compare(e[0], key);
      if (c > 0) return undefined;
      this.at++;
      if (c === 0) return e[1];
    }
  }

  async close(): Promise<void> {
    await this.next?.catch(() => undefined);
    await this.it.close();
  }
}

/** Decoded blocks kept by each store. */
const RECENT_BLOCKS = 32;

/**
 * Accessors for the `blockchain/` database (the rawdb of Basalt). Reads may go through a LevelDB
 * snapshot, so that an exporter sees one consistent chain while blocks keep being written.
 */
/** Transactions of a block encoded between two turns of the event loop when it is written. */
const YIELD_TXS = 256;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class BlockStore {
  /**
   * Recently read blocks, decoded. Decoding re-creates every transaction (and recovering a sender
   * costs milliseconds), while clients ask for the same recent blocks again and again: receipts,
   * transactions, logs. Blocks under a hash never change, so the cache needs no invalidation.
   */
  private readonly recent = new Map<string, Block>();
  private canonicalGuard?: { head: () => bigint; reporter: DamageReporter };
  /** The history gap as last read or written (schema.HISTORY_GAP_KEY); null: none; undefined: not read yet. */
  private gap: schema.HistoryGap | null | undefined;
  /** StateFrom as last read or written; null: none; undefined: not read yet. */
  private stateFromBlock: bigint | null | undefined;

  constructor(
    readonly db: BytesDB,
    private readonly rules: BlockRules,
    private readonly snapshot?: Snapshot,
  ) {}

  /** A read-only view of the store as it is now, unaffected by later writes. Close it when done. */
  openSnapshot(): { store: BlockStore; close: () => Promise<void> } {
    const snap = this.db.snapshot();
    const view = new BlockStore(this.db, this.rules, snap);
    // The gap only shrinks, each step in the batch that fills it: this one covers what the view sees.
    view.gap = this.gap;
    view.stateFromBlock = this.stateFromBlock;
    return { store: view, close: () => snap.close() };
  }

  /** A record of the store decoded, or the damage it is (one line naming it, never a parse error's trace). */
  private decodeRecord<T>(name: string, decode: () => T): T {
    try {
      return decode();
    } catch (err) {
      throw new StorageDamageError('blockchain', this.location, `its ${name} record cannot be read: ${errorMessage(err)}`, err);
    }
  }

  /** Where the database is, for damage messages (classic-level's `location`). */
  private get location(): string {
    return (this.db as { location?: string }).location ?? 'blockchain/';
  }

  /**
   * The canonical blocks whose bodies and receipts are not held yet (a restore that opened at its head
   * before back-filling them), or undefined when every canonical block is whole.
   */
  async historyGap(): Promise<schema.HistoryGap | undefined> {
    if (this.gap === undefined) {
      const v = await this.get(schema.HISTORY_GAP_KEY);
      this.gap = v === undefined ? null : this.decodeRecord('HistoryGap', () => schema.decodeHistoryGap(v));
    }
    return this.gap ?? undefined;
  }

  /** The first block whose state the data dir holds (schema.STATE_FROM_KEY); undefined: every state from the genesis. */
  async stateFrom(): Promise<bigint | undefined> {
    if (this.stateFromBlock === undefined) {
      const v = await this.get(schema.STATE_FROM_KEY);
      this.stateFromBlock = v === undefined ? null : this.decodeRecord('StateFrom', () => schema.decodeBlockNumber(v));
    }
    return this.stateFromBlock ?? undefined;
  }

  /** Synced to disk: a pruner deletes from trie/ after it, and only this record makes that safe after a power loss. */
  async writeStateFrom(num: bigint): Promise<void> {
    await this.db.put(schema.STATE_FROM_KEY, schema.encodeBlockNumber(num), { sync: true });
    this.stateFromBlock = num;
  }

  /** The state-history mode recorded (schema.STATE_HISTORY_KEY), if any. */
  async stateHistory(): Promise<schema.StateHistoryMode | undefined> {
    const v = await this.get(schema.STATE_HISTORY_KEY);
    if (v === undefined) return undefined;
    return this.decodeRecord('StateHistory', () => {
      const o = JSON.parse(new TextDecoder().decode(v)) as { keep?: unknown; archive?: unknown } | null;
      if (o?.archive === true) return { archive: true };
      if (typeof o?.keep === 'string' && /^[1-9]\d{0,18}$/.test(o.keep)) return { keep: BigInt(o.keep) };
      throw new Error('neither {"keep": "N"} nor {"archive": true}');
    });
  }

  async writeStateHistory(mode: schema.StateHistoryMode): Promise<void> {
    const json = 'archive' in mode ? { archive: true } : { keep: mode.keep.toString() };
    await this.db.put(schema.STATE_HISTORY_KEY, Buffer.from(JSON.stringify(json), 'utf8'));
  }

  /** Where the gap is back-filled from, if recorded. */
  async historySource(): Promise<schema.HistorySource | undefined> {
    const v = await this.get(schema.HISTORY_SOURCE_KEY);
    if (v === undefined) return undefined;
    return this.decodeRecord('HistorySource', () => {
      const o = JSON.parse(new TextDecoder().decode(v)) as Partial<schema.HistorySource> | null;
      if (typeof o?.repository !== 'string' || typeof o.backup !== 'string') throw new Error('not {repository, backup}');
      return { repository: o.repository, backup: o.backup };
    });
  }

  /** Record the history gap and where it is back-filled from (none: from peers; a restore, before its data dir is renamed into place). */
  async writeHistoryGap(gap: schema.HistoryGap, source?: schema.HistorySource): Promise<void> {
    const batch = this.db.batch();
    batch.put(schema.HISTORY_GAP_KEY, schema.encodeHistoryGap(gap));
    if (source) batch.put(schema.HISTORY_SOURCE_KEY, Buffer.from(JSON.stringify(source), 'utf8'));
    else batch.del(schema.HISTORY_SOURCE_KEY);
    await batch.write();
    this.gap = gap;
  }

  /**
   * Canonical headers without their bodies (a restore's history below its head, back-filled later):
   * header, number entry and canonical index, in one batch. The head pointer is not moved.
   */
  async writeCanonicalHeaders(headers: { header: Uint8Array; number: bigint; hash: Uint8Array; record?: Uint8Array | undefined }[]): Promise<void> {
    if (headers.length === 0) return;
    const batch = this.db.batch();
    for (const h of headers) {
      batch.put(schema.headerKey(h.number, h.hash), h.header);
      batch.put(schema.hashToNumberKey(h.hash), schema.encodeBlockNumber(h.number));
      batch.put(schema.canonicalHashKey(h.number), h.hash);
      putRecord(batch, h.number, h.record);
    }
    await batch.write();
  }

  /**
   * Back-fill the bodies, receipts and transaction lookups of the gap's first blocks (consecutive, from
   * its `from`), and move the gap past them in the same batch: a crash leaves either none of them or all
   * of them and the gap after them. The last blocks of the gap delete it and its source.
   */
  async fillHistory(blocks: { block: Block; hash: Uint8Array; receipts: StoredReceipt[] }[]): Promise<schema.HistoryGap | undefined> {
    const gap = await this.historyGap();
    if (blocks.length === 0) return gap;
    if (gap === undefined) throw new Error('there is no history gap to fill');
    const batch = this.db.batch();
    let next = gap.from;
    for (const { block, hash, receipts } of blocks) {
      const num = block.header.number;
      if (num !== next) throw new Error(`back-fill of block ${num} where block ${next} is next`);
      batch.put(schema.bodyKey(num, hash), RLP.encode(block.transactions.map(txBytes)));
      batch.put(schema.receiptsKey(num, hash), encodeReceipts(receipts));
      block.transactions.forEach((tx, index) => batch.put(schema.txLookupKey(tx.hash()), schema.encodeTxLookup({ blockNumber: num, index })));
      next++;
    }
    const after = next > gap.to ? undefined : { from: next, to: gap.to };
    if (after) batch.put(schema.HISTORY_GAP_KEY, schema.encodeHistoryGap(after));
    else {
      batch.del(schema.HISTORY_GAP_KEY);
      batch.del(schema.HISTORY_SOURCE_KEY);
    }
    await batch.write();
    this.gap = after ?? null;
    return after;
  }

  /**
   * The consensus records (see writeCanonicalBlocks) of canonical blocks from..to (inclusive), in
   * order: one LevelDB range, holding only the blocks that have one. Memory: one record at a time.
   */
  async *consensusRecords(from: bigint, to: bigint): AsyncGenerator<{ number: bigint; record: Uint8Array }> {
    if (from > to) return;
    const it = this.db.iterator({
      gte: schema.consensusRecordKey(from),
      lt: schema.consensusRecordKey(to + 1n),
      ...(this.snapshot ? { snapshot: this.snapshot } : {}),
    });
    try {
      for (;;) {
        const entries = await it.nextv(64);
        if (entries.length === 0) return;
        for (const [key, record] of entries) yield { number: schema.decodeBlockNumber(key.subarray(1)), record };
      }
    } finally {
      await it.close();
    }
  }

  /** Refuse a read of a part the history gap does not hold yet (HistoryUnavailableError). */
  private checkGap(num: bigint): void {
    const gap = this.gap ?? undefined;
    if (inGap(gap, num)) throw new HistoryUnavailableError(num, gap);
  }

  private get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key, this.snapshot ? { snapshot: this.snapshot } : {});
  }

  async headHash(): Promise<Uint8Array | undefined> {
    return this.get(schema.HEAD_BLOCK_KEY);
  }

  /**
   * From now on, a canonical block missing at or below `head()` is damage, reported and thrown, never
   * "not found": the chain's own store guards itself this way (snapshot views do not).
   */
  guardCanonical(head: () => bigint, reporter: DamageReporter): void {
    this.canonicalGuard = { head, reporter };
  }

  async canonicalHash(num: bigint): Promise<Uint8Array | undefined> {
    const guard = this.canonicalGuard;
    // The head as it was before the read: a block committed while the read was under way moves the head
    // past a number the read did not see yet. The head only moves after the index is written.
    const head = guard?.head();
    const hash = await this.get(schema.canonicalHashKey(num));
    if (hash === undefined && guard && head !== undefined && num <= head) {
      throw guard.reporter.missing('blockchain', `canonical block ${num} is missing from the index, below the head ${head}`);
    }
    return hash;
  }

  async blockNumber(hash: Uint8Array): Promise<bigint | undefined> {
    const v = await this.get(schema.hashToNumberKey(hash));
    return v === undefined ? undefined : schema.decodeBlockNumber(v);
  }

  async headerRLP(num: bigint, hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(schema.headerKey(num, hash));
  }

  async header(num: bigint, hash: Uint8Array): Promise<BlockHeader | undefined> {
    const rlp = await this.headerRLP(num, hash);
    return rlp === undefined ? undefined : this.decodeHeader(rlp, num);
  }

  /** A header's RLP decoded under the rules of block `num`. */
  decodeHeader(rlp: Uint8Array, num: bigint): BlockHeader {
    return createBlockHeaderFromRLP(rlp, this.headerOpts(num));
  }

  async bodyRLP(num: bigint, hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(schema.bodyKey(num, hash));
  }

  async block(num: bigint, hash: Uint8Array): Promise<Block | undefined> {
    const key = bytesToHex(hash);
    const cached = this.recent.get(key);
    if (cached) {
      this.recent.delete(key); // most recently used last
      this.recent.set(key, cached);
      return cached;
    }
    const [header, body] = await Promise.all([this.headerRLP(num, hash), this.bodyRLP(num, hash)]);
    if (header === undefined || body === undefined) return undefined;
    const txs = RLP.decode(body) as Uint8Array[];
    const block = createBlockFromBytesArray([RLP.decode(header) as Uint8Array[], txs, []] as never, this.headerOpts(num));
    this.recent.set(key, block);
    if (this.recent.size > RECENT_BLOCKS) this.recent.delete(this.recent.keys().next().value!);
    return block;
  }

  /** Number of transactions in a block, without decoding them. */
  async transactionCount(num: bigint, hash: Uint8Array): Promise<number | undefined> {
    const body = await this.bodyRLP(num, hash);
    if (body === undefined) {
      await this.historyGap();
      this.checkGap(num);
    }
    return body === undefined ? undefined : (RLP.decode(body) as Uint8Array[]).length;
  }

  async canonicalBlock(num: bigint): Promise<Block | undefined> {
    const hash = await this.canonicalHash(num);
    return hash === undefined ? undefined : this.present(num, hash, await this.block(num, hash));
  }

  async canonicalHeader(num: bigint): Promise<BlockHeader | undefined> {
    const hash = await this.canonicalHash(num);
    return hash === undefined ? undefined : this.present(num, hash, await this.header(num, hash), 'header');
  }

  /**
   * The state root of canonical block `num`, read from its header's RLP without building a
   * BlockHeader (which copies the chain's rule set: ~10x the cost): what the state pruner's mark and
   * `db check --full` read of each of the 1,152 states a prune walks.
   */
  async canonicalStateRoot(num: bigint): Promise<Uint8Array | undefined> {
    const hash = await this.canonicalHash(num);
    if (hash === undefined) return undefined;
    const rlp = this.present(num, hash, await this.headerRLP(num, hash), 'header');
    if (rlp === undefined) return undefined;
    return this.stateRootOf(num, rlp);
  }

  /**
   * The state roots of canonical blocks from..to (inclusive), in order, read by range (blockParts,
   * headers only): undefined for a block whose index entry or header is missing.
   */
  async *canonicalStateRoots(from: bigint, to: bigint): AsyncGenerator<{ number: bigint; root: Uint8Array | undefined }> {
    for await (const b of this.blockParts(from, to, { headersOnly: true })) {
      yield { number: b.number, root: b.header === undefined ? undefined : this.stateRootOf(b.number, b.header) };
    }
  }

  private stateRootOf(num: bigint, headerRlp: Uint8Array): Uint8Array {
    const fields = RLP.decode(headerRlp) as Uint8Array[];
    const root = Array.isArray(fields) ? fields[3] : undefined;
    if (!(root instanceof Uint8Array) || root.length !== 32) {
      throw new StorageDamageError('blockchain', this.location, `the header of block ${num} has no 32-byte state root`);
    }
    return root;
  }

  /** A block the index names must be there: with the guard on, its absence is damage. */
  present<T>(num: bigint, hash: Uint8Array, v: T | undefined, part: 'block' | 'header' = 'block'): T | undefined {
    // A block of the history gap has its header, not yet its body: "not held yet", not damage.
    if (v === undefined && part === 'block') this.checkGap(num);
    if (v === undefined && this.canonicalGuard) {
      throw this.canonicalGuard.reporter.missing('blockchain', `block ${num} (${bytesToHex(hash)}) is indexed but its header or body is missing`);
    }
    return v;
  }

  /**
   * A canonical block's stored bytes, its RLP assembled from the stored header and body without
   * decoding either. Throws when any part is missing (a damaged database).
   */
  async storedBlock(num: bigint): Promise<StoredBlock> {
    const hash = await this.canonicalHash(num);
    const [header, body, receiptsRlp] = hash ? await Promise.all([this.headerRLP(num, hash), this.bodyRLP(num, hash), this.receiptsRLP(num, hash)]) : [];
    if (hash && header && (!body || !receiptsRlp)) {
      await this.historyGap();
      this.checkGap(num);
    }
    if (!hash || !header || !body || !receiptsRlp) throw new Error(`block ${num} is missing from the database`);
    return { hash, blockRlp: blockRlpFromStored(header, body), receiptsRlp };
  }

  /**
   * Canonical headers from..to (inclusive), in order, as stored (RLP): what a snapshot without history
   * carries below its head. Held or not, bodies are not read. Throws at the first header missing.
   */
  async *storedHeaders(from: bigint, to: bigint): AsyncGenerator<{ number: bigint; hash: Uint8Array; headerRlp: Uint8Array }> {
    for await (const b of this.blockParts(from, to, { headersOnly: true })) {
      if (!b.hash || !b.header) throw new Error(`the header of block ${b.number} is missing from the database`);
      yield { number: b.number, hash: b.hash, headerRlp: b.header };
    }
  }

  /**
   * Canonical blocks from..to (inclusive), in order, as storedBlock gives them (see blockParts).
   * Throws at the first block with a missing part, as storedBlock does.
   */
  async *storedBlocks(from: bigint, to: bigint): AsyncGenerator<StoredBlock & { number: bigint }> {
    await this.historyGap();
    for await (const b of this.blockParts(from, to)) {
      if (b.hash && b.header && (!b.body || !b.receiptsRlp)) this.checkGap(b.number);
      if (!b.hash || !b.header || !b.body || !b.receiptsRlp) throw new Error(`block ${b.number} is missing from the database`);
      yield { number: b.number, hash: b.hash, blockRlp: blockRlpFromStored(b.header, b.body), receiptsRlp: b.receiptsRlp };
    }
  }

  /**
   * The stored parts of canonical blocks from..to (inclusive), in order, each undefined where it is
   * missing (no hash: not in the canonical index). Read with four LevelDB iterators in step (canonical
   * index, headers, bodies, receipts: each a run of consecutive keys) rather than four reads a block;
   * each holds at most two batches of RANGE_READ_BYTES read ahead (one entry when a single one is
   * larger), so memory stays bounded whatever the blocks' sizes. Side blocks at the same numbers are
   * passed over. A failing read throws.
   */
  async *blockParts(
    from: bigint,
    to: bigint,
    opts: { headersOnly?: boolean } = {},
  ): AsyncGenerator<{ number: bigint; hash?: Uint8Array; header?: Uint8Array; body?: Uint8Array; receiptsRlp?: Uint8Array }> {
    if (from > to) return;
    const zero = new Uint8Array(32);
    const cursor = (gte: Uint8Array, lt: Uint8Array) =>
      new RangeCursor(this.db.iterator({ gte, lt, highWaterMarkBytes: RANGE_READ_BYTES, ...(this.snapshot ? { snapshot: this.snapshot } : {}) }));
    const canonical = cursor(schema.canonicalHashKey(from), schema.canonicalHashKey(to + 1n));
    const headers = cursor(schema.headerKey(from, zero), schema.headerKey(to + 1n, zero));
    const bodies = opts.headersOnly ? undefined : cursor(schema.bodyKey(from, zero), schema.bodyKey(to + 1n, zero));
    const receipts = opts.headersOnly ? undefined : cursor(schema.receiptsKey(from, zero), schema.receiptsKey(to + 1n, zero));
    try {
      for (let n = from; n <= to; n++) {
        const hash = await canonical.take(schema.canonicalHashKey(n));
        if (!hash) {
          yield { number: n };
          continue;
        }
        const [header, body, receiptsRlp] = await Promise.all([
          headers.take(schema.headerKey(n, hash)),
          bodies?.take(schema.bodyKey(n, hash)),
          receipts?.take(schema.receiptsKey(n, hash)),
        ]);
        yield { number: n, hash, ...(header ? { header } : {}), ...(body ? { body } : {}), ...(receiptsRlp ? { receiptsRlp } : {}) };
      }
    } finally {
      await Promise.all([canonical, headers, bodies, receipts].map((c) => c?.close()));
    }
  }

  async receiptsRLP(num: bigint, hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(schema.receiptsKey(num, hash));
  }

  async receipts(num: bigint, hash: Uint8Array): Promise<StoredReceipt[] | undefined> {
    const rlp = await this.receiptsRLP(num, hash);
    if (rlp === undefined) {
      await this.historyGap();
      this.checkGap(num);
    }
    return rlp === undefined ? undefined : decodeReceipts(rlp);
  }

  async txLookup(txHash: Uint8Array): Promise<schema.TxLookup | undefined> {
    const v = await this.get(schema.txLookupKey(txHash));
    return v === undefined ? undefined : schema.decodeTxLookup(v);
  }

  /**
   * Write a block as the new canonical head in ONE atomic batch: header, body, receipts, indexes and,
   * last, the head pointer. The caller has already flushed the block's trie nodes, so a crash at any
   * point leaves either the old head (with orphan trie nodes) or the new head with all its data.
   */
  async writeCanonicalBlock(block: Block, hash: Uint8Array, receipts: StoredReceipt[], record?: Uint8Array, opts: { sync?: boolean } = {}): Promise<void> {
    await this.writeCanonicalBlocks([{ block, hash, receipts, record }], opts);
  }

  /**
   * Write consecutive blocks, each the next canonical head, in ONE atomic batch (as writeCanonicalBlock
   * writes one): a restore writes its history this way, hundreds of blocks a batch. `record`: what the
   * consensus engine keeps of the block (ConsensusEngine.recordOf), if anything. `sync`: durable when
   * this returns (LevelDB syncs its log), through a power loss as through a kill.
   */
  async writeCanonicalBlocks(
    blocks: { block: Block; hash: Uint8Array; receipts: StoredReceipt[]; record?: Uint8Array | undefined }[],
    opts: { sync?: boolean } = {},
  ): Promise<void> {
    if (blocks.length === 0) return;
    const batch = this.db.batch();
    for (const { block, hash, receipts, record } of blocks) {
      await this.putCanonicalBlock(batch, block, hash, receipts);
      putRecord(batch, block.header.number, record);
    }
    batch.put(schema.HEAD_BLOCK_KEY, blocks[blocks.length - 1]!.hash);
    await batch.write({ sync: opts.sync === true });
  }

  /**
   * Put a block's entries into `batch`. A full block's (1,428 transfers: the body, the receipts, a
   * lookup entry a transaction) take ~30 ms to encode: a block of more than YIELD_TXS transactions
   * lets the event loop turn between its parts. Nothing is written before `batch.write()`.
   */
  private async putCanonicalBlock(batch: ReturnType<BytesDB['batch']>, block: Block, hash: Uint8Array, receipts: StoredReceipt[]): Promise<void> {
    const num = block.header.number;
    const large = block.transactions.length > YIELD_TXS;
    batch.put(schema.headerKey(num, hash), block.header.serialize());
    batch.put(schema.bodyKey(num, hash), RLP.encode(block.transactions.map(txBytes)));
    if (large) await nextTurn();
    batch.put(schema.receiptsKey(num, hash), encodeReceipts(receipts));
    batch.put(schema.hashToNumberKey(hash), schema.encodeBlockNumber(num));
    batch.put(schema.canonicalHashKey(num), hash);
    for (let index = 0; index < block.transactions.length; index++) {
      if (large && index % YIELD_TXS === 0) await nextTurn();
      batch.put(schema.txLookupKey(block.transactions[index]!.hash()), schema.encodeTxLookup({ blockNumber: num, index }));
    }
  }

  /**
   * The chain configuration: the genesis file (JSON, one value however large), its `params` alone (what
   * every start reads) and the digest of its genesis, in one batch; with `genesisStatePending`, the
   * genesis state root whose nodes are not written yet (schema.GENESIS_STATE_PENDING_KEY), or with
   * null, none (a first start killed before its genesis block may have left one of another mode).
   */
  async writeMeta(meta: {
    chainConfigJson: string;
    paramsJson: string;
    genesisDigest: Uint8Array;
    genesisFile?: schema.GenesisFileRef;
    genesisStatePending?: Uint8Array | null;
  }): Promise<void> {
    const version = new Uint8Array(4);
    new DataView(version.buffer).setUint32(0, schema.SCHEMA_VERSION);
    const before = await this.genesisFileRef();
    const batch = this.db.batch();
    batch.put(schema.SCHEMA_VERSION_KEY, version);
    batch.put(schema.CHAIN_CONFIG_KEY, Buffer.from(meta.chainConfigJson, 'utf8'));
    batch.put(schema.CHAIN_PARAMS_KEY, Buffer.from(meta.paramsJson, 'utf8'));
    batch.put(schema.GENESIS_DIGEST_KEY, meta.genesisDigest);
    if (meta.genesisFile) batch.put(schema.GENESIS_FILE_KEY, schema.encodeGenesisFileRef(meta.genesisFile));
    if (meta.genesisStatePending) batch.put(schema.GENESIS_STATE_PENDING_KEY, meta.genesisStatePending);
    else if (meta.genesisStatePending === null) batch.del(schema.GENESIS_STATE_PENDING_KEY);
    await batch.write();
    // The replaced generation's pieces are garbage now (a crash before this leaves them, unread).
    if (meta.genesisFile && before && before.generation !== meta.genesisFile.generation) {
      const drop = this.db.batch();
      for (let i = 0; i < before.pieces; i++) drop.del(schema.genesisPieceKey(before.generation, i));
      await drop.write();
    }
  }

  /**
   * Store the bytes of a genesis file in pieces, under a generation after the stored one's, and return
   * its reference for writeMeta (which makes it the stored genesis file, in ChainConfig's batch).
   */
  async writeGenesisFile(bytes: AsyncIterable<Uint8Array>): Promise<schema.GenesisFileRef> {
    const generation = ((await this.genesisFileRef())?.generation ?? 0) + 1;
    const PIECE = schema.GENESIS_FILE_PIECE_BYTES;
    let piece = Buffer.alloc(PIECE);
    let fill = 0;
    let pieces = 0;
    let size = 0;
    let batch = this.db.batch();
    const put = async (data: Uint8Array) => {
      batch.put(schema.genesisPieceKey(generation, pieces++), data);
      if (pieces % 4 === 0) {
        await batch.write();
        batch = this.db.batch();
      }
    };
    for await (const chunk of bytes) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(PIECE - fill, chunk.length - at);
        piece.set(chunk.subarray(at, at + n), fill);
        fill += n;
        at += n;
        size += n;
        if (fill === PIECE) {
          await put(piece);
          piece = Buffer.alloc(PIECE);
          fill = 0;
        }
      }
    }
    if (fill > 0) await put(piece.subarray(0, fill));
    await batch.write();
    return { generation, size, pieces };
  }

  /** Where the stored genesis file is (absent in data dirs of earlier versions: see genesisFileBytes). */
  async genesisFileRef(): Promise<schema.GenesisFileRef | undefined> {
    const v = await this.get(schema.GENESIS_FILE_KEY);
    return v === undefined ? undefined : schema.decodeGenesisFileRef(v);
  }

  /**
   * The genesis file this data dir was made with, as bytes: its stored pieces, or (a data dir of an
   * earlier version) the ChainConfig JSON, which there is the whole file. Undefined for no chain yet.
   */
  async genesisFileBytes(): Promise<{ size: number; open(): AsyncIterable<Uint8Array> } | undefined> {
    const ref = await this.genesisFileRef();
    if (ref === undefined) {
      const whole = await this.get(schema.CHAIN_CONFIG_KEY);
      if (whole === undefined) return undefined;
      return {
        size: whole.length,
        async *open() {
          yield whole;
        },
      };
    }
    const read = (k: Uint8Array) => this.get(k);
    return {
      size: ref.size,
      async *open() {
        let got = 0;
        for (let i = 0; i < ref.pieces; i++) {
          const piece = await read(schema.genesisPieceKey(ref.generation, i));
          if (piece === undefined) throw new Error(`the stored genesis file is missing its piece ${i} of ${ref.pieces}`);
          got += piece.length;
          yield piece;
        }
        if (got !== ref.size) throw new Error(`the stored genesis file holds ${got} bytes, its reference says ${ref.size}`);
      },
    };
  }

  /** The stored chain configuration (JSON: the genesis file but its alloc; of earlier versions, all of it). */
  async chainConfigJson(): Promise<string | undefined> {
    const v = await this.get(schema.CHAIN_CONFIG_KEY);
    return v === undefined ? undefined : new TextDecoder().decode(v);
  }

  /** The digest of the genesis this database was created with (absent in data dirs of earlier versions). */
  async genesisDigest(): Promise<Uint8Array | undefined> {
    return this.get(schema.GENESIS_DIGEST_KEY);
  }

  /** The genesis state root whose nodes trie/ does not hold yet (schema.GENESIS_STATE_PENDING_KEY), if any. */
  async genesisStatePending(): Promise<Uint8Array | undefined> {
    const v = await this.get(schema.GENESIS_STATE_PENDING_KEY);
    return v === undefined
      ? undefined
      : this.decodeRecord('GenesisStatePending', () => {
          if (v.length !== 32) throw new Error(`${v.length} bytes, not a 32-byte state root`);
          return v;
        });
  }

  /** The size of a state as last measured (schema.STATE_SIZE_KEY); undefined when none is, or when it cannot be read (a hint). */
  async stateSize(): Promise<schema.StateSize | undefined> {
    const v = await this.get(schema.STATE_SIZE_KEY);
    if (v === undefined) return undefined;
    try {
      return schema.decodeStateSize(v);
    } catch {
      return undefined;
    }
  }

  /** Record the size of a state, measured whole (not synced: a hint the next measurement replaces). */
  async writeStateSize(size: schema.StateSize): Promise<void> {
    await this.db.put(schema.STATE_SIZE_KEY, schema.encodeStateSize(size));
  }

  /**
   * The bytes written to trie/ since the last prune as a stopping node recorded them
   * (schema.PRUNER_GROWTH_KEY), taken: the record is deleted as it is read. 0 when none is (or it is malformed).
   */
  async takePrunerGrowth(): Promise<number> {
    const v = await this.get(schema.PRUNER_GROWTH_KEY);
    if (v === undefined) return 0;
    await this.db.del(schema.PRUNER_GROWTH_KEY);
    if (v.length !== 8) return 0;
    const n = new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0);
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : 0;
  }

  /** Record the bytes written to trie/ since the last prune (a stopping node's pruner; not synced: a hint). */
  async writePrunerGrowth(bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`pruner growth: ${bytes} is not a count`);
    const v = new Uint8Array(8);
    new DataView(v.buffer).setBigUint64(0, BigInt(bytes));
    await this.db.put(schema.PRUNER_GROWTH_KEY, v);
  }

  /** The genesis state is written (and synced: TrieNodeStore.sync): forget that it was pending, durably. */
  async clearGenesisStatePending(): Promise<void> {
    await this.db.del(schema.GENESIS_STATE_PENDING_KEY, { sync: true });
  }

  /** Make every write to blockchain/ so far durable (blocks committed without `sync`: Chain.syncCommitted). */
  async sync(): Promise<void> {
    await syncWrites(this.db);
  }

  async writeGenesisDigest(digest: Uint8Array): Promise<void> {
    await this.db.put(schema.GENESIS_DIGEST_KEY, digest);
  }

  async writeChainParams(paramsJson: string): Promise<void> {
    await this.db.put(schema.CHAIN_PARAMS_KEY, Buffer.from(paramsJson, 'utf8'));
  }

  /** The stored chain configuration's `params` (JSON); absent in data dirs of earlier versions. */
  async chainParamsJson(): Promise<string | undefined> {
    const v = await this.get(schema.CHAIN_PARAMS_KEY);
    return v === undefined ? undefined : new TextDecoder().decode(v);
  }

  async schemaVersion(): Promise<number | undefined> {
    const v = await this.get(schema.SCHEMA_VERSION_KEY);
    return v === undefined ? undefined : new DataView(v.buffer, v.byteOffset, 4).getUint32(0);
  }

  private headerOpts(num: bigint) {
    return { common: this.rules.commonAt(num), skipConsensusFormatValidation: true, setHardfork: false } as const;
  }
}

/** The genesis file a `blockchain/` database was created with (JSON), if any. Needs no chain config to read. */
export async function readChainConfigJson(db: BytesDB): Promise<string | undefined> {
  const v = await db.get(schema.CHAIN_CONFIG_KEY);
  return v === undefined ? undefined : new TextDecoder().decode(v);
}

/**
 * The canonical block RLP `[header, transactions, []]` assembled from the stored header RLP and body
 * (a list of serialized transactions) without decoding either: legacy transactions (RLP lists) are
 * embedded as they are, typed ones (EIP-2718 bytes) as byte strings.
 */
export function blockRlpFromStored(headerRlp: Uint8Array, bodyRlp: Uint8Array): Uint8Array {
  const txs = RLP.decode(bodyRlp) as Uint8Array[];
  const txItems = txs.map((t) => (t.length > 0 && t[0]! >= 0xc0 ? t : RLP.encode(t)));
  return rlpListOf([headerRlp, rlpListOf(txItems), EMPTY_LIST]);
}

const EMPTY_LIST = Uint8Array.of(0xc0);

/** An RLP list of already-encoded items. */
function rlpListOf(items: Uint8Array[]): Uint8Array {
  const len = items.reduce((n, i) => n + i.length, 0);
  let prefix: Uint8Array;
  if (len < 56) prefix = Uint8Array.of(0xc0 + len);
  else {
    const lenBytes: number[] = [];
    for (let l = len; l > 0; l = Math.floor(l / 256)) lenBytes.unshift(l % 256);
    prefix = Uint8Array.of(0xf7 + lenBytes.length, ...lenBytes);
  }
  return concatBytes(prefix, ...items);
}

/** A block's consensus record into its batch (a canonical block is only ever written once at its height: nothing to delete). */
function putRecord(batch: ReturnType<BytesDB['batch']>, num: bigint, record: Uint8Array | undefined): void {
  if (record !== undefined) batch.put(schema.consensusRecordKey(num), record);
}
