import type { BatchDBOp, DB, EncodingOpts } from '@ethereumjs/util';
import type { BytesDB } from './open-db.js';

type Snapshot = ReturnType<BytesDB['snapshot']>;

/**
 * The `trie/` database as the ethereumjs Merkle Patricia trie sees it: node hash -> node RLP, and
 * code hash -> contract code. The trie hands us keys as unprefixed hex strings; we store raw bytes.
 *
 * Writes are held in memory until `flush()` so that a block's trie nodes reach disk together, and
 * only once the block has been verified; `discard()` drops them (a block that failed to verify
 * leaves nothing behind). Nodes are never deleted: every historical state root stays readable.
 */
export class TrieNodeStore implements DB<string, Uint8Array> {
  private pending = new Map<string, Uint8Array>();

  constructor(
    private readonly db: BytesDB,
    private readonly snapshot?: Snapshot,
  ) {}

  async get(key: string, _opts?: EncodingOpts): Promise<Uint8Array | undefined> {
    const p = this.pending.get(key);
    if (p !== undefined) return p;
    const v = await this.db.get(hexToKey(key), this.snapshot ? { snapshot: this.snapshot } : {});
    return v === undefined ? undefined : v;
  }

  async put(key: string, val: Uint8Array, _opts?: EncodingOpts): Promise<void> {
    this.assertWritable();
    this.pending.set(key, val);
  }

  async del(_key: string, _opts?: EncodingOpts): Promise<void> {
    // Deliberately a no-op: nodes are shared between state roots and we keep all history.
  }

  async batch(ops: BatchDBOp<string, Uint8Array>[]): Promise<void> {
    this.assertWritable();
    for (const op of ops) {
      if (op.type === 'put') this.pending.set(op.key, op.value);
    }
  }

  /** A view of the same database and the same pending writes (ethereumjs copies tries this way). */
  shallowCopy(): DB<string, Uint8Array> {
    return this;
  }

  async open(): Promise<void> {}

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Write every pending node in one LevelDB batch. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.db.batch();
    for (const [k, v] of this.pending) batch.put(hexToKey(k), v);
    await batch.write();
    this.pending.clear();
  }

  /** A read-only view of the trie database as it is now (pending writes excluded). Close it when done. */
  openSnapshot(): { store: TrieNodeStore; close: () => Promise<void> } {
    const snap = this.db.snapshot();
    return { store: new TrieNodeStore(this.db, snap), close: () => snap.close() };
  }

  /**
   * A scratch view for throw-away execution (eth_call, eth_estimateGas): reads committed nodes, keeps
   * its own writes in memory, never touches this store's pending writes or the database.
   */
  scratch(): TrieNodeStore {
    return new ScratchNodeStore(this.db);
  }

  /** Raw read by key bytes (a node hash, or a code key). */
  async getRaw(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key, this.snapshot ? { snapshot: this.snapshot } : {});
  }

  discard(): void {
    this.pending.clear();
  }

  private assertWritable(): void {
    if (this.snapshot) throw new Error('trie node store: write to a read-only snapshot view');
  }
}

function hexToKey(hex: string): Uint8Array {
  return Buffer.from(hex.startsWith('0x') ? hex.slice(2) : hex, 'hex');
}

class ScratchNodeStore extends TrieNodeStore {
  private readonly own = new Map<string, Uint8Array>();
  constructor(db: BytesDB) {
    super(db);
  }
  override async get(key: string): Promise<Uint8Array | undefined> {
    return this.own.get(key) ?? super.get(key);
  }
  override async put(key: string, val: Uint8Array): Promise<void> {
    this.own.set(key, val);
  }
  override async batch(ops: BatchDBOp<string, Uint8Array>[]): Promise<void> {
    for (const op of ops) if (op.type === 'put') this.own.set(op.key, op.value);
  }
  override async flush(): Promise<void> {
    throw new Error('a scratch trie view cannot be flushed');
  }
}
