import type { BatchDBOp, DB, EncodingOpts } from '@ethereumjs/util';
import { BatchWriter, syncWrites, type BytesDB } from './open-db.js';
import { HashSet } from '../util/hash-set.js';
import { CODE_PREFIX, codeKey, trieKeyKind, trieNodeKey } from './schema.js';

type Snapshot = ReturnType<BytesDB['snapshot']>;

/**
 * The `trie/` database as the ethereumjs Merkle Patricia trie sees it: node hash -> node RLP, and
 * code hash -> contract code. The trie hands us keys as unprefixed hex strings; we store raw bytes.
 *
 * Writes are held in memory until `flush()` so that a block's trie nodes reach disk together, and
 * only once the block has been verified; `discard()` drops them (a block that failed to verify
 * leaves nothing behind). Nodes are deleted only by `basalt prune` on a stopped node (sweep), which
 * first records the oldest state it keeps (`StateFrom`): every state from there on stays readable.
 */
export class TrieNodeStore implements DB<string, Uint8Array> {
  private pending = new Map<string, Uint8Array>();
  /** Sets that record the keys this store writes while a pruner runs (watchWrites). */
  private watches = new Set<WriteWatch>();
  private written = 0;

  /**
   * @param cache committed nodes recently read or written. The live store makes one and shares it with
   *   its scratch views; snapshot views go without (their long walks would only evict the hot nodes).
   */
  constructor(
    private readonly db: BytesDB,
    private readonly snapshot?: Snapshot,
    protected readonly cache: NodeCache | undefined = snapshot ? undefined : new NodeCache(),
  ) {}

  async get(key: string, _opts?: EncodingOpts): Promise<Uint8Array | undefined> {
    const p = this.pending.get(key);
    if (p !== undefined) return p;
    const cached = this.cache?.get(key);
    if (cached !== undefined) return cached;
    const v = await this.db.get(hexToKey(key), this.snapshot ? { snapshot: this.snapshot } : {});
    if (v !== undefined) this.cache?.set(key, v);
    return v;
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

  /** The cache of committed nodes: bytes held and its limit (0 and 0 for a view without one). */
  get cacheStats(): { bytes: number; limitBytes: number } {
    return { bytes: this.cache?.sizeBytes ?? 0, limitBytes: this.cache?.maxBytes ?? 0 };
  }

  /**
   * Bytes of keys and values the blocks committed through this store since it was opened (flush), new
   * or not: what the running node's pruner measures the trie's growth by.
   */
  get writtenBytes(): number {
    return this.written;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Make every write to trie/ so far durable (a state written in bulk, before the block that reaches it). */
  async sync(): Promise<void> {
    await syncWrites(this.db);
  }

  /**
   * Write every pending node in one LevelDB batch; `sync`: durable when this returns (LevelDB syncs
   * its log, and with it every earlier write to trie/), as a block's nodes must be before the batch
   * that makes the block the head is written (Chain.commit).
   */
  async flush(opts: { sync?: boolean } = {}): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.db.batch();
    let bytes = 0;
    for (const [k, v] of this.pending) {
      const key = hexToKey(k);
      batch.put(key, v);
      bytes += key.length + v.length;
      for (const w of this.watches) w.add(key);
    }
    await batch.write({ sync: opts.sync === true });
    this.written += bytes;
    // The nodes a block just wrote (the top of the trie above all) are the next block's first reads.
    if (this.cache) for (const [k, v] of this.pending) this.cache.set(k, v);
    this.pending.clear();
  }

  /**
   * Record every key this store writes from now on (flush, writeState) until `stop`: an online sweep
   * must not delete a node a block committed after its mark wrote again (the same node, come back).
   */
  watchWrites(): WriteWatch {
    const w = new WriteWatch(() => this.watches.delete(w));
    this.watches.add(w);
    return w;
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
    return new ScratchNodeStore(this.db, this.cache);
  }

  /** Raw read by key bytes (a node hash, or a code key). */
  async getRaw(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.db.get(key, this.snapshot ? { snapshot: this.snapshot } : {});
  }

  /** A committed trie node by its hash. */
  node(nodeHash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.getRaw(trieNodeKey(nodeHash));
  }

  /** Committed contract code by its hash. */
  code(codeHash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.getRaw(codeKey(codeHash));
  }

  /**
   * Committed trie nodes by their hashes, in one LevelDB `getMany` (one trip to its thread pool for
   * all of them, where `node` takes one each): how a state walk reads.
   */
  async nodes(nodeHashes: Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.db.getMany(nodeHashes.map(trieNodeKey), this.snapshot ? { snapshot: this.snapshot } : {});
  }

  /**
   * Delete every trie node and code that `keep` does not name (an offline prune: nothing else may
   * write meanwhile), reading the keys in order a batch at a time and deleting SWEEP_BATCH at a time,
   * then compact the database so the space comes back. Keys of no known kind are left alone. A crash
   * part-way leaves some of the unnamed entries deleted and every named one there. `compact` after.
   */
  async sweep(
    keep: { node(hash: Uint8Array): boolean; code(hash: Uint8Array): boolean },
    opts: {
      onProgress?: (scanned: number, deleted: number) => void;
      /** Sweep only the keys this view (openSnapshot) saw: what was written after it is never looked at. */
      view?: TrieNodeStore;
      /** Run each batch's last check and its deletes with nothing else writing (the chain's write lock). */
      locked?: <T>(fn: () => Promise<T>) => Promise<T>;
      signal?: AbortSignal;
    } = {},
  ): Promise<{ scanned: number; deleted: number }> {
    this.assertWritable();
    let scanned = 0;
    let deleted = 0;
    const locked = opts.locked ?? (<T>(fn: () => Promise<T>) => fn());
    const it = this.db.iterator({ values: false, ...(opts.view?.snapshot ? { snapshot: opts.view.snapshot } : {}) });
    try {
      let dead: Uint8Array[] = [];
      const write = async () => {
        const keys = dead;
        dead = [];
        // keep() is asked again with the lock held: a block committed meanwhile may have written one back.
        deleted += await locked(async () => {
          const batch = this.db.batch();
          let n = 0;
          const gone: Uint8Array[] = [];
          for (const key of keys) if (isDead(key)) batch.del(key), gone.push(key), n++;
          await batch.write();
          // Not served from memory either: the cache holds only what is on disk (keyed as the trie
          // names it, the key's hex), and the hot nodes of the kept states stay in it.
          if (this.cache) for (const key of gone) this.cache.delete(Buffer.from(key).toString('hex'));
          return n;
        });
      };
      const isDead = (key: Uint8Array) => {
        const kind = trieKeyKind(key);
        return kind === 'trie nodes' ? !keep.node(key) : kind === 'contract code (c)' ? !keep.code(key.subarray(1)) : false;
      };
      for (;;) {
        opts.signal?.throwIfAborted();
        const entries = await it.nextv(1000);
        if (entries.length === 0) break;
        for (const [key] of entries) {
          scanned++;
          if (isDead(key)) dead.push(key);
          if (dead.length >= SWEEP_BATCH) await write();
        }
        opts.onProgress?.(scanned, deleted);
      }
      if (dead.length > 0) await write();
    } finally {
      await it.close();
    }
    return { scanned, deleted };
  }

  /**
   * Compact the database so that what a sweep deleted gives its space back. Only once the sweep's view
   * is closed: LevelDB keeps what a live snapshot can still see.
   */
  async compact(): Promise<void> {
    await this.db.compactRange(new Uint8Array(0), new Uint8Array(33).fill(0xff));
  }

  /**
   * A writer of trie nodes and code straight to disk, bypassing the pending writes, in LevelDB batches
   * of about `batchBytes`: for state too large to hold (a large genesis, a restore), whose caller
   * writes only final nodes, each under the hash of its value (a restore checks each). Nothing of it
   * is visible to a state root until the caller commits a block naming that root, so a crash part-way
   * leaves only unreferenced nodes. Its writes are not watched (`watchWrites`): it writes a data dir
   * no node has opened yet, where no sweep runs.
   *
   * Batches are small (128 KiB, geth's ideal batch is 100 KB). A put copies its key and value into
   * the writer's own buffer and makes no object: the operations and views LevelDB's batch call takes
   * are made when the batch is written and die with it. Held from put to write (a chained batch), V8
   * promoted them (pretenured, whatever the young generation's size) and the node's heap grew by
   * ~110 MB of them between full collections while it wrote a genesis of a million accounts; they
   * also kept the genesis worker's 4 MiB packs alive until those collections.
   */
  stateWriter(batchBytes = DEFAULT_STATE_WRITE_BATCH_BYTES): StateWriter {
    this.assertWritable();
    return new StateWriter(this.db, batchBytes);
  }

  discard(): void {
    this.pending.clear();
  }

  /**
   * Take the pending writes out of the store (it is left with none): what building a block wrote,
   * kept aside while consensus decides, to be put back by `restorePending` if that block is committed.
   * Nodes are keyed by their hash, so they stay valid whatever is written in between.
   */
  takePending(): ReadonlyMap<string, Uint8Array> {
    const taken = this.pending;
    this.pending = new Map();
    return taken;
  }

  /** Put back writes taken by `takePending` (added to any pending now). */
  restorePending(writes: ReadonlyMap<string, Uint8Array>): void {
    this.assertWritable();
    for (const [k, v] of writes) this.pending.set(k, v);
  }

  private assertWritable(): void {
    if (this.snapshot) throw new Error('trie node store: write to a read-only snapshot view');
  }
}

/**
 * See TrieNodeStore.stateWriter. `node` and `code` copy what they are given (the caller may reuse its
 * bytes at once) and return a promise only when they write a batch, which the caller awaits before it
 * puts more.
 */
export class StateWriter {
  private readonly batches: BatchWriter;
  nodes = 0;
  codes = 0;
  nodeBytes = 0;
  codeBytes = 0;

  constructor(db: BytesDB, batchBytes: number) {
    this.batches = new BatchWriter(db, batchBytes);
  }

  node = (hash: Uint8Array, data: Uint8Array): Promise<void> | undefined => {
    this.nodes++;
    this.nodeBytes += data.length;
    return this.batches.put(trieNodeKey(hash), data);
  };

  code = (codeHash: Uint8Array, code: Uint8Array): Promise<void> | undefined => {
    this.codes++;
    this.codeBytes += code.length;
    return this.batches.put(codeHash, code, CODE_PREFIX[0]);
  };

  /** The bytes of the nodes and codes put. */
  get bytes(): number {
    return this.nodeBytes + this.codeBytes;
  }

  /** Write what is left. */
  finish(): Promise<void> {
    return this.batches.finish();
  }
}

/** What reads world state by hash (state walks, snapshots). */
export interface StateReader {
  node(nodeHash: Uint8Array): Promise<Uint8Array | undefined>;
  code(codeHash: Uint8Array): Promise<Uint8Array | undefined>;
  /** Several nodes at once, in order (a state walk reads this way when it can). */
  nodes?(nodeHashes: Uint8Array[]): Promise<(Uint8Array | undefined)[]>;
}

function hexToKey(hex: string): Uint8Array {
  return Buffer.from(hex.startsWith('0x') ? hex.slice(2) : hex, 'hex');
}

class ScratchNodeStore extends TrieNodeStore {
  private readonly own = new Map<string, Uint8Array>();
  constructor(db: BytesDB, cache: NodeCache | undefined) {
    super(db, undefined, cache);
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

/** What a node keeps of committed trie nodes and code in memory unless told otherwise (`--cache`). */
/** See TrieNodeStore.stateWriter. */
export const DEFAULT_STATE_WRITE_BATCH_BYTES = 128 * 1024;

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * A least-recently-used map of trie nodes (and contract code) by key, bounded in bytes. Keys are
 * content hashes and nodes are deleted only by an offline sweep (which clears it), so an entry can never go stale: only committed nodes
 * enter it (read from the database, or written by `flush`), never pending or scratch writes.
 */
export class NodeCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(readonly maxBytes = DEFAULT_CACHE_BYTES) {}

  get(key: string): Uint8Array | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Map iteration follows insertion order: re-inserting marks the entry most recently used.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: Uint8Array): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.bytes -= entryBytes(key, old);
    }
    this.map.set(key, value);
    this.bytes += entryBytes(key, value);
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= entryBytes(k, v);
    }
  }

  get size(): number {
    return this.map.size;
  }

  /** Forget one entry (a sweep deleted it: it may not be served from here after). */
  delete(key: string): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.bytes -= entryBytes(key, old);
  }

  get sizeBytes(): number {
    return this.bytes;
  }
}

/** Approximate heap cost of one entry: the value, the key string, and the Map's own overhead. */
function entryBytes(key: string, value: Uint8Array): number {
  return value.byteLength + key.length * 2 + 96;
}

/** Deletes a sweep writes in one LevelDB batch. */
const SWEEP_BATCH = 10_000;

/** The keys a store wrote while this watch ran (TrieNodeStore.watchWrites): trie nodes and code, 16 bytes of each hash. */
export class WriteWatch {
  private readonly nodes = new HashSet();
  private readonly codes = new HashSet();

  constructor(private readonly onStop: () => void) {}

  add(key: Uint8Array): void {
    if (key.length === 32) this.nodes.add(key);
    else if (key.length === 33) this.codes.add(key.subarray(1));
  }

  node(hash: Uint8Array): boolean {
    return this.nodes.has(hash);
  }

  code(hash: Uint8Array): boolean {
    return this.codes.has(hash);
  }

  stop(): void {
    this.onStop();
  }
}
