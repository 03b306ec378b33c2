import { createBlockFromBytesArray, createBlockHeaderFromRLP, type Block, type BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex } from '@ethereumjs/util';
import type { BytesDB } from '../storage/open-db.js';
import * as schema from '../storage/schema.js';
import { blockHash } from '../consensus/ibft/hash.js';
import { decodeReceipts, encodeReceipts, type StoredReceipt } from './receipts.js';

type Snapshot = ReturnType<BytesDB['snapshot']>;

/** Decoded blocks kept by each store. */
const RECENT_BLOCKS = 32;

/**
 * Accessors for the `blockchain/` database (the rawdb of Basalt). Reads may go through a LevelDB
 * snapshot, so that an exporter sees one consistent chain while blocks keep being written.
 */
export class BlockStore {
  /**
   * Recently read blocks, decoded. Decoding re-creates every transaction (and recovering a sender
   * costs milliseconds), while clients ask for the same recent blocks again and again: receipts,
   * transactions, logs. Blocks under a hash never change, so the cache needs no invalidation.
   */
  private readonly recent = new Map<string, Block>();

  constructor(
    readonly db: BytesDB,
    private readonly common: Common,
    private readonly snapshot?: Snapshot,
  ) {}

  /** A read-only view of the store as it is now, unaffected by later writes. Close it when done. */
  openSnapshot(): { store: BlockStore; close: () => Promise<void> } {
    const snap = this.db.snapshot();
    return { store: new BlockStore(this.db, this.common, snap), close: () => snap.close() };
  }

  private get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key, this.snapshot ? { snapshot: this.snapshot } : {});
  }

  async headHash(): Promise<Uint8Array | undefined> {
    return this.get(schema.HEAD_BLOCK_KEY);
  }

  async canonicalHash(num: bigint): Promise<Uint8Array | undefined> {
    return this.get(schema.canonicalHashKey(num));
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
    return rlp === undefined ? undefined : createBlockHeaderFromRLP(rlp, this.headerOpts());
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
    const block = createBlockFromBytesArray([RLP.decode(header) as Uint8Array[], txs, []] as never, this.headerOpts());
    this.recent.set(key, block);
    if (this.recent.size > RECENT_BLOCKS) this.recent.delete(this.recent.keys().next().value!);
    return block;
  }

  /** Number of transactions in a block, without decoding them. */
  async transactionCount(num: bigint, hash: Uint8Array): Promise<number | undefined> {
    const body = await this.bodyRLP(num, hash);
    return body === undefined ? undefined : (RLP.decode(body) as Uint8Array[]).length;
  }

  async canonicalBlock(num: bigint): Promise<Block | undefined> {
    const hash = await this.canonicalHash(num);
    return hash === undefined ? undefined : this.block(num, hash);
  }

  async canonicalHeader(num: bigint): Promise<BlockHeader | undefined> {
    const hash = await this.canonicalHash(num);
    return hash === undefined ? undefined : this.header(num, hash);
  }

  async receiptsRLP(num: bigint, hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.get(schema.receiptsKey(num, hash));
  }

  async receipts(num: bigint, hash: Uint8Array): Promise<StoredReceipt[] | undefined> {
    const rlp = await this.receiptsRLP(num, hash);
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
  async writeCanonicalBlock(block: Block, receipts: StoredReceipt[]): Promise<void> {
    const hash = blockHash(block.header);
    const num = block.header.number;
    const batch = this.db.batch();
    batch.put(schema.headerKey(num, hash), block.header.serialize());
    batch.put(schema.bodyKey(num, hash), RLP.encode(block.transactions.map((tx) => tx.serialize())));
    batch.put(schema.receiptsKey(num, hash), encodeReceipts(receipts));
    batch.put(schema.hashToNumberKey(hash), schema.encodeBlockNumber(num));
    batch.put(schema.canonicalHashKey(num), hash);
    block.transactions.forEach((tx, index) => {
      batch.put(schema.txLookupKey(tx.hash()), schema.encodeTxLookup({ blockNumber: num, index }));
    });
    batch.put(schema.HEAD_BLOCK_KEY, hash);
    await batch.write();
  }

  async writeMeta(chainConfigJson: string): Promise<void> {
    const version = new Uint8Array(4);
    new DataView(version.buffer).setUint32(0, schema.SCHEMA_VERSION);
    await this.db.batch([
      { type: 'put', key: schema.SCHEMA_VERSION_KEY, value: version },
      { type: 'put', key: schema.CHAIN_CONFIG_KEY, value: new TextEncoder().encode(chainConfigJson) },
    ]);
  }

  async schemaVersion(): Promise<number | undefined> {
    const v = await this.get(schema.SCHEMA_VERSION_KEY);
    return v === undefined ? undefined : new DataView(v.buffer, v.byteOffset, 4).getUint32(0);
  }

  private headerOpts() {
    return { common: this.common, skipConsensusFormatValidation: true, setHardfork: false } as const;
  }
}
