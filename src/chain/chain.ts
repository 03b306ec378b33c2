import { EventEmitter } from 'node:events';
import { Block, type BlockHeader } from '@ethereumjs/block';
import type { Common } from '@ethereumjs/common';
import type { TypedTransaction } from '@ethereumjs/tx';
import { KECCAK256_RLP, bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { MerkleStateManager } from '@ethereumjs/statemanager';
import type { ConsensusEngine } from './engine.js';
import { BlockVerificationError, WritesPausedError } from './errors.js';
import type { BytesDB } from '../storage/open-db.js';
import { NodeCache, TrieNodeStore, type StateReader, type StateWriter } from '../storage/trie-node-store.js';
import type { StateSize } from '../storage/schema.js';
import { UserError, errorMessage } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { Mutex } from '../util/mutex.js';
import { BlockStore, readChainConfigJson, type BlockReader } from '../storage/block-store.js';
import { DAMAGE_ADVICE, DamageMonitor, damageReporter, type DamageReporter } from '../storage/damage.js';
import { checkHead } from './integrity.js';
import { createChainRules, forkSchedule, parseGenesisConfig, type GenesisConfig, type GenesisFile } from './chain-config.js';
import { SCHEDULED_FORKS, type ChainRules } from './forks.js';
import { Executor, type BuiltBlock } from './executor.js';
import { buildGenesisBlock } from './genesis.js';
import { Genesis, type GenesisBytes } from './genesis-source.js';
import type { StoredReceipt } from '../storage/receipts.js';
import { openState } from './state.js';
import { StateReaders } from './state-readers.js';
import { SenderCache } from './senders.js';
import { transactionsRoot } from './block-util.js';

export interface ChainHead {
  number: bigint;
  hash: Uint8Array;
  header: BlockHeader;
}

export type ImportOutcome = 'imported' | 'known';

/** The fields of a block to build that the producer chooses; the rest follow from the parent. */
export interface BlockTemplate {
  coinbase: Uint8Array;
  timestamp: bigint;
  extraData: Uint8Array;
}

/** A block built on the head and not committed (Chain.buildBlock): its execution results and trie writes. */
export interface PreparedBlock {
  built: BuiltBlock;
  /** The state's trie nodes the block wrote, kept aside until it is committed. */
  readonly trieWrites: ReadonlyMap<string, Uint8Array>;
}

/** A proposal executed on the head by checkProposal: what committing it writes. */
interface CheckedProposal {
  parent: Uint8Array;
  txHashes: Uint8Array[];
  receipts: StoredReceipt[];
  trieWrites: ReadonlyMap<string, Uint8Array>;
}

/** Checked proposals kept at once (a height decided over a few rounds sees a few). */
const MAX_CHECKED_PROPOSALS = 4;

export interface ChainEvents {
  /** A block became the new canonical head. */
  head: [ChainHead, Block];
}

export interface OpenChainOptions {
  blockchainDb: BytesDB;
  trieDb: BytesDB;
  /**
   * Whether commits are synced to disk (default true: a block survives a power loss, Chain.commit).
   * False for a data dir thrown away at the end (an archive's replay check) or closed durably at its
   * end before it is put in place (a point-in-time restore's work folder: closeDurably).
   */
  syncCommits?: boolean;
  /**
   * The genesis file (read with Genesis.read, or an object). A new data dir is created from it; an
   * existing one must have the same genesis block. Absent: the data dir's own stored genesis (it must
   * hold a chain).
   */
  genesis?: GenesisFile | Genesis;
  /**
   * What a new data dir gets of its genesis state:
   * - 'write' (default): the state;
   * - 'none': the genesis block alone (a restore, whose snapshot brings the head's state, needs the
   *   root, not the nodes);
   * - 'deferred': the genesis block alone, the state recorded as pending (a node snapshot-syncing from
   *   a peer, whose restore replaces the data dir: the state would be written for nothing). The first
   *   open with the genesis file and without 'deferred' (a node, or an offline command given the file),
   *   or completeGenesisState(), writes it, should the sync not happen; an open of the stored genesis
   *   refuses the data dir. Until then the head's state cannot be read.
   */
  genesisState?: 'write' | 'none' | 'deferred';
  /** Where building a large genesis state may spill its account records (default: the OS temp folder). */
  scratchDir?: string;
  /**
   * With `genesisState: 'none'`: the genesis state root, when the caller knows it for this genesis
   * (a node restoring a peer's snapshot has built the same genesis already), so it is not computed again.
   */
  genesisStateRoot?: Uint8Array;
  engine: ConsensusEngine;
  logger?: Logger;
  /** Where a canonical block found missing below the head is reported (the node stops on it). */
  damage?: DamageReporter;
  /**
   * The clock (ms since the epoch) a block's timestamp may be at most MAX_FUTURE_SECONDS ahead of
   * (further: FutureBlockError, held). A node passes its PeerClock's now(); default Date.now.
   */
  now?: () => number;
  /** Bytes of committed trie nodes and code kept in memory (the `--cache` flag; default DEFAULT_CACHE_BYTES). */
  cacheBytes?: number;
}

/**
 * The canonical chain: one head, extended one verified block at a time. Every block, whether it was
 * sealed here, read from an archive or (later) received from a peer, goes through one pipeline:
 * verify (consensus rules against the parent) -> execute (state root, receipts) -> commit (trie
 * nodes, then one atomic batch that moves the head). Writes are serialized by a mutex.
 */
export class Chain extends EventEmitter<ChainEvents> {
  private headState: ChainHead;
  private readonly writeLock = new Mutex();
  /** Why blocks are not imported now (the disk guard's reason), or undefined. */
  private pausedWrites?: string;
  /** OpenChainOptions.syncCommits. */
  private syncCommits = true;
  /** Proposals checkProposal executed on the current head, by hash (cleared when the head moves). */
  private readonly checked = new Map<string, CheckedProposal>();
  /** JSON-RPC reads of historical state under way: a state pruner waits for them (StateReaders). */
  readonly readers = new StateReaders();
  /** Senders the pool recovered, given to the same transactions when a block brings them back. */
  readonly senders = new SenderCache();

  private constructor(
    readonly rules: ChainRules,
    /** The genesis file the chain was opened with, without its allocations (see genesisFile()). */
    readonly genesisConfig: GenesisConfig,
    readonly genesisHash: Uint8Array,
    readonly store: BlockStore,
    readonly trie: TrieNodeStore,
    private readonly executor: Executor,
    readonly engine: ConsensusEngine,
    head: ChainHead,
    private readonly now: () => number,
  ) {
    super();
    this.headState = head;
  }

  static async open(opts: OpenChainOptions): Promise<Chain> {
    const log = opts.logger ?? silentLogger();
    if (opts.genesis === undefined) return Chain.openStored(opts);
    const genesis = await Genesis.of(opts.genesis);
    const config = genesis.config;
    const rules = createChainRules(config);
    const common = rules.commonAt(0n);
    const store = new BlockStore(opts.blockchainDb, rules);
    const trie = new TrieNodeStore(opts.trieDb, undefined, new NodeCache(opts.cacheBytes));
    const digest = genesis.digest;

    let genesisHash: Uint8Array;
    // Another file with the same genesis block: its digest is recorded once every check passed.
    let newDigest = false;
    const storedGenesis = await store.canonicalHash(0n);
    const headHash = await store.headHash();
    if (storedGenesis === undefined || headHash === undefined) {
      // Genesis and the head pointer are written in one batch: one without the other, or blocks after a
      // missing genesis, is a damaged database, never a new one to write genesis into (over its chain).
      const oneOfTwo = storedGenesis !== undefined || headHash !== undefined;
      if (oneOfTwo || (await store.canonicalHash(1n)) !== undefined) {
        const what = storedGenesis === undefined ? 'the genesis block is missing from the canonical index' : 'the head block pointer (LastBlock) is missing';
        throw new UserError(`the data dir is damaged: ${what}; ${DAMAGE_ADVICE}`, { code: 'DATA_LOSS' });
      }
      genesisHash = (await writeGenesis(store, trie, genesis, rules, opts, log)).hash;
    } else {
      genesisHash = storedGenesis;
      // The same genesis as the data dir's (by digest) is its genesis block: nothing to build. Otherwise
      // (another file, or a data dir from before this digest) compute the hash, without writing a node.
      const known = await store.genesisDigest();
      if (known === undefined || !equalsBytes(known, digest)) {
        const given = opts.engine.blockHash(buildGenesisBlock(config, await genesis.stateRoot(undefined, opts.scratchDir), common).header);
        if (!equalsBytes(storedGenesis, given)) {
          throw new UserError(
            `genesis mismatch: the data dir holds a chain with genesis ${bytesToHex(storedGenesis)}, but the genesis file gives ${bytesToHex(given)}; use the genesis file this data dir was created with`,
          );
        }
        newDigest = true;
      }
    }
    const pending = await store.genesisStatePending();
    const deferred = pending !== undefined && opts.genesisState === 'deferred';
    if (pending !== undefined && !deferred) await writePendingGenesisState(store, trie, genesis, pending, opts, log);
    const head = await loadHead(store, trie, opts.engine, deferred);
    await checkForkSchedule(store, opts.blockchainDb, genesis, head.number, opts.engine);
    if (newDigest) await store.writeGenesisDigest(digest);
    return Chain.assemble(opts, rules, config, genesisHash, store, trie, head);
  }

  /**
   * Make an empty data dir's genesis block from `opts.genesis` (its state as `genesisState` says)
   * without opening a chain: a restore, whose snapshot brings the head's state.
   */
  static async createGenesis(opts: OpenChainOptions & { genesis: Genesis }): Promise<{ hash: Uint8Array; header: BlockHeader; rules: ChainRules }> {
    const rules = createChainRules(opts.genesis.config);
    const store = new BlockStore(opts.blockchainDb, rules);
    if ((await store.canonicalHash(0n)) !== undefined) throw new Error('createGenesis: the data dir already has a genesis block');
    const written = await writeGenesis(store, new TrieNodeStore(opts.trieDb), opts.genesis, rules, opts, opts.logger ?? silentLogger());
    return { ...written, rules };
  }

  /** Open a data dir with the genesis configuration it stores (offline commands without --chain). */
  private static async openStored(opts: OpenChainOptions): Promise<Chain> {
    const json = await readChainConfigJson(opts.blockchainDb);
    if (json === undefined) throw new UserError('the data dir has no chain yet: pass the genesis file (--chain)', { code: 'FAILED_PRECONDITION' });
    const config = parseGenesisConfig(json, 'blockchain/ (stored genesis)');
    const rules = createChainRules(config);
    const store = new BlockStore(opts.blockchainDb, rules);
    const trie = new TrieNodeStore(opts.trieDb, undefined, new NodeCache(opts.cacheBytes));
    const genesisHash = await store.canonicalHash(0n);
    if (genesisHash === undefined)
      throw new UserError(`the data dir is damaged: the genesis block is missing from the canonical index; ${DAMAGE_ADVICE}`, { code: 'DATA_LOSS' });
    if ((await store.genesisStatePending()) !== undefined) throw firstStartUnfinished();
    const head = await loadHead(store, trie, opts.engine);
    return Chain.assemble(opts, rules, config, genesisHash, store, trie, head);
  }

  private static async assemble(
    opts: OpenChainOptions,
    rules: ChainRules,
    config: GenesisConfig,
    genesisHash: Uint8Array,
    store: BlockStore,
    trie: TrieNodeStore,
    head: ChainHead,
  ): Promise<Chain> {
    const damage = opts.damage ?? damageReporter(new DamageMonitor(), { blockchain: 'blockchain/', trie: 'trie/' });
    const chain = new Chain(rules, config, genesisHash, store, trie, await Executor.create(rules, trie, store), opts.engine, head, opts.now ?? Date.now);
    chain.syncCommits = opts.syncCommits ?? true;
    store.guardCanonical(() => chain.head.number, damage);
    await store.historyGap(); // read once: a block of the gap is then "not held yet", not damage
    await opts.engine.attach(store, head.header);
    return chain;
  }

  /**
   * The genesis file the chain was made with (what a snapshot carries), as bytes read from the data
   * dir (ChainConfig's genesis file: the same genesis block, its digest or hash checked at open), so
   * that a large alloc is streamed when a snapshot needs it, never held.
   */
  async genesisFile(): Promise<GenesisBytes & { size: number }> {
    const stored = await this.store.genesisFileBytes();
    if (stored === undefined) throw new Error('the data dir has no stored genesis (ChainConfig)');
    return { name: 'blockchain/ (stored genesis)', size: stored.size, open: () => stored.open() };
  }

  /**
   * Keep the size of a state a snapshot walked whole (a hint for the next snapshot's size:
   * schema.STATE_SIZE_KEY), unless one of a later block is kept: a snapshot that began before another
   * and ended after it leaves the newer figure (one of a block past the head, after a roll-back, is replaced).
   */
  async recordStateSize(size: StateSize): Promise<void> {
    const kept = await this.store.stateSize();
    if (kept && kept.number > size.number && kept.number <= this.head.number) return;
    await this.store.writeStateSize(size);
  }

  get head(): ChainHead {
    return this.headState;
  }

  /**
   * Write the genesis state if it is pending (opened with `genesisState: 'deferred'`, the genesis
   * block written alone), from the genesis file the chain was opened with; nothing otherwise. A node
   * whose snapshot sync did not restore calls it before it syncs block by block. `signal` stops it
   * (its reason thrown): the state stays pending, and the next call or open writes it again.
   */
  async completeGenesisState(genesis: GenesisFile | Genesis, opts: { scratchDir?: string; logger?: Logger; signal?: AbortSignal } = {}): Promise<void> {
    const pending = await this.store.genesisStatePending();
    if (pending === undefined) return;
    if (this.head.number !== 0n) throw new Error('completeGenesisState: the chain is past its genesis');
    await writePendingGenesisState(this.store, this.trie, await Genesis.of(genesis), pending, opts, opts.logger ?? silentLogger());
  }

  private nowSeconds(): bigint {
    return BigInt(Math.floor(this.now() / 1000));
  }

  /** The rules block `num` is decoded and executed with. */
  commonAt(num: bigint): Common {
    return this.rules.commonAt(num);
  }

  get chainId(): bigint {
    return this.rules.commonAt(0n).chainId();
  }

  async blockByNumber(num: bigint): Promise<Block | undefined> {
    return this.store.canonicalBlock(num);
  }

  async blockByHash(hash: Uint8Array): Promise<Block | undefined> {
    const num = await this.store.blockNumber(hash);
    return num === undefined ? undefined : this.store.present(num, hash, await this.store.block(num, hash));
  }

  async canonicalHash(num: bigint): Promise<Uint8Array | undefined> {
    return this.store.canonicalHash(num);
  }

  /**
   * Read-only views of both databases as they are now, taken in the same tick: `blockchain/` first,
   * then `trie/`. A block's trie nodes are flushed before the batch that makes it the head, so the
   * state of the head seen in `blocks` is always complete in `state`. Close it when done (idempotent).
   */
  openReadView(): ChainReadView {
    const blocks = this.store.openSnapshot();
    const state = this.trie.openSnapshot();
    let closed: Promise<void> | undefined;
    return {
      blocks: blocks.store,
      state: state.store,
      close: () => (closed ??= Promise.allSettled([blocks.close(), state.close()]).then(() => undefined)),
    };
  }

  /**
   * Read-only views of both databases for a state pruner: as openReadView, with the stores themselves
   * (the trie view is what an online sweep iterates: it never looks at what was written after it).
   */
  openPruneView(): { blocks: BlockStore; state: TrieNodeStore; close: () => Promise<void> } {
    const blocks = this.store.openSnapshot();
    const state = this.trie.openSnapshot();
    return { blocks: blocks.store, state: state.store, close: async () => void (await Promise.allSettled([blocks.close(), state.close()])) };
  }

  /** Run `fn` with no block being written meanwhile (the chain's write lock): an online sweep's deletes. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.writeLock.run(fn);
  }

  async receipts(num: bigint, hash: Uint8Array): Promise<StoredReceipt[] | undefined> {
    return this.store.receipts(num, hash);
  }

  /** World state after block `header` (read-only use: never flush writes made through it). */
  async stateAt(header: BlockHeader): Promise<MerkleStateManager> {
    return openState(this.trie, this.commonAt(header.number), header.stateRoot);
  }

  /**
   * Whether the state after `header` is held here. The trie library reads a missing node as "empty"
   * rather than failing, so callers that answer questions about old blocks must ask first: a node
   * restored from a head-state snapshot has no state below its restored head.
   */
  async hasStateAt(header: BlockHeader): Promise<boolean> {
    // Below the oldest state kept (pruned, or restored later), a root still there may have lost nodes under it.
    const from = await this.store.stateFrom();
    if (from !== undefined && header.number < from) return false;
    if (equalsBytes(header.stateRoot, KECCAK256_RLP)) return true;
    return (await this.trie.node(header.stateRoot)) !== undefined;
  }

  /**
   * Why the state after block `num` is not held, in one line: the data dir keeps the states from a
   * block on (`StateFrom`: pruned, or restored there), or (a data dir of an earlier version) it was
   * restored from a head-state snapshot.
   */
  async stateUnavailable(num: bigint): Promise<string> {
    const from = await this.store.stateFrom().catch(() => undefined);
    return from !== undefined && num < from
      ? `historical state for block ${num} is not available: this node keeps the states from block ${from} on (pruned by \`basalt prune\`, or restored at that block)`
      : `historical state for block ${num} is not available on this node (restored from a head-state snapshot?)`;
  }

  /** A world state after `header` that may be written to freely and is then thrown away (eth_call). */
  async scratchStateAt(header: BlockHeader): Promise<MerkleStateManager> {
    return openState(this.trie.scratch(), this.commonAt(header.number), header.stateRoot);
  }

  /**
   * The import pipeline. A block already on the canonical chain is 'known'; a block that does not
   * extend the head (gap or conflict) or fails verification is refused and nothing is written. A block
   * valid but for a timestamp too far ahead of this node's clock throws FutureBlockError (to be tried
   * again later, not held against whoever sent it).
   */
  /**
   * Stop (a reason) or resume (undefined) importing blocks: below the disk's free-space floor a
   * follower's imports would fill it until LevelDB fails every write. importBlock throws
   * WritesPausedError meanwhile; the history back-fill waits too (writesPaused).
   */
  pauseWrites(reason: string | undefined): void {
    this.pausedWrites = reason;
  }

  get writesPaused(): string | undefined {
    return this.pausedWrites;
  }

  /**
   * Verify, execute and commit `block` on the head. Committed durably (synced to disk: it survives a
   * power loss, as a sealed block must) unless `bulk`: one of many blocks in a row (a sync's batch, an
   * archive's import), whose caller makes them durable together (syncCommitted) before it reports them.
   */
  async importBlock(block: Block, opts: { bulk?: boolean } = {}): Promise<ImportOutcome> {
    const durable = opts.bulk !== true;
    return this.writeLock.run(async () => {
      if (this.pausedWrites !== undefined) throw new WritesPausedError(this.pausedWrites);
      const num = block.header.number;
      let hash: Uint8Array;
      try {
        hash = this.engine.blockHash(block.header);
      } catch (err) {
        // The header's consensus fields do not decode (IBFT extra data too short, wrong shape): invalid.
        throw new BlockVerificationError(num, errorMessage(err));
      }
      const head = this.headState;
      if (num <= head.number) {
        const canonical = await this.store.canonicalHash(num);
        if (canonical !== undefined && equalsBytes(canonical, hash)) return 'known';
        throw new BlockVerificationError(
          num,
          `conflicts with the local chain: local block ${num} is ${canonical ? bytesToHex(canonical) : '(missing)'}, this one is ${bytesToHex(hash)}`,
        );
      }
      if (num !== head.number + 1n) {
        throw new BlockVerificationError(num, `does not extend the local head ${head.number} (gap of ${num - head.number - 1n} blocks)`);
      }
      this.engine.verifyHeader(block.header, head.header, { nowSeconds: this.nowSeconds() });
      const checked = this.checkedResults(block, hash);
      if (checked !== undefined) {
        // A proposal this node executed when it checked it (IBFT): its header and seals are verified
        // above; its execution results are the ones that checked out.
        this.trie.restorePending(checked.trieWrites);
        try {
          await this.commit(block, checked.receipts, durable);
        } catch (err) {
          this.trie.discard();
          throw err;
        }
        return 'imported';
      }
      let receipts: StoredReceipt[];
      try {
        this.prepareChecks(block);
        await block.validateData(false, true);
        receipts = (await this.executor.execute(block, head.header.stateRoot)).receipts;
      } catch (err) {
        this.trie.discard();
        throw new BlockVerificationError(num, errorMessage(err));
      }
      await this.commit(block, receipts, durable);
      return 'imported';
    });
  }

  /** Make every block committed so far durable (after `bulk` imports): the head survives a power loss. */
  async syncCommitted(): Promise<void> {
    await this.store.sync();
  }

  /**
   * Verify and execute `block` on the current head without committing anything: a consensus
   * proposal, which has no committed seals yet, so `verifyHeader` (not the engine's) checks its header.
   * With `maxExecMs`, a proposal whose execution takes longer is refused (a byzantine proposer's block
   * built to execute slowly would otherwise hold the validator, and its round, for as long as it
   * likes; a committed block is executed however long it takes). Throws BlockVerificationError.
   */
  async checkProposal(block: Block, verifyHeader: (header: BlockHeader, parent: BlockHeader) => void, maxExecMs?: number): Promise<void> {
    return this.writeLock.run(async () => {
      const head = this.headState;
      const num = block.header.number;
      if (num !== head.number + 1n) throw new BlockVerificationError(num, `does not extend the local head ${head.number}`);
      verifyHeader(block.header, head.header);
      try {
        this.prepareChecks(block);
        await block.validateData(false, true);
        const { receipts } = await this.executor.execute(block, head.header.stateRoot, maxExecMs);
        // Kept until the head moves: when consensus commits this block, importBlock writes these
        // results instead of executing it again.
        if (this.checked.size >= MAX_CHECKED_PROPOSALS) this.checked.delete(this.checked.keys().next().value!);
        this.checked.set(bytesToHex(this.engine.blockHash(block.header)), {
          parent: head.hash,
          txHashes: block.transactions.map((tx) => tx.hash()),
          receipts,
          trieWrites: this.trie.takePending(),
        });
      } catch (err) {
        throw new BlockVerificationError(num, errorMessage(err));
      } finally {
        this.trie.discard();
      }
    });
  }

  /**
   * Before a block's own checks (`validateData`, execution): the senders of its transactions the
   * pool already recovered, and its transactions root by a sorted build.
   */
  private prepareChecks(block: Block): void {
    this.senders.fill(block.transactions);
    transactionsRoot(block);
  }

  /**
   * The results of a proposal checkProposal executed on the current head, if `block` is that proposal
   * (its hash covers every header field but the committed seals) with the very same transactions.
   */
  private checkedResults(block: Block, hash: Uint8Array): CheckedProposal | undefined {
    const c = this.checked.get(bytesToHex(hash));
    if (c === undefined || !equalsBytes(c.parent, this.headState.hash)) return undefined;
    const txs = block.transactions;
    if (txs.length !== c.txHashes.length || txs.some((tx, i) => !equalsBytes(tx.hash(), c.txHashes[i]!))) return undefined;
    if (block.uncleHeaders.length > 0 || (block.withdrawals?.length ?? 0) > 0) return undefined;
    return c;
  }

  /**
   * Build a block on the current head and hand it to `seal`, which returns the sealed block (same
   * body and execution results, consensus fields in extraData) or undefined to abandon it; the sealed
   * block is committed as `commitBuilt` does. One write lock throughout: nothing lands in between.
   */
  async produceBlock(
    header: BlockTemplate,
    txs: Iterable<TypedTransaction>,
    seal: (built: BuiltBlock) => Promise<Block | undefined>,
  ): Promise<{ block: Block; built: BuiltBlock } | undefined> {
    return this.writeLock.run(async () => {
      const prepared = await this.build(header, txs);
      const sealed = await seal(prepared.built);
      if (sealed === undefined) return undefined;
      await this.commitPrepared(sealed, prepared);
      return { block: sealed, built: prepared.built };
    });
  }

  /**
   * Build a block on the current head without committing it (a consensus proposal): executed, its
   * trie writes kept aside in the result. `commitBuilt` commits it, with its consensus fields filled
   * in, without executing it again.
   */
  async buildBlock(header: BlockTemplate, txs: Iterable<TypedTransaction>, maxBuildMs?: number): Promise<PreparedBlock> {
    return this.writeLock.run(() => this.build(header, txs, maxBuildMs));
  }

  /**
   * Commit `block`, built here by `buildBlock` as `prepared` and since sealed: it must extend the
   * head, carry the built block's execution results (transactions, state, receipts, gas), and pass
   * the engine's header rules. Returns 'known' when it is already the canonical block at its height.
   * Throws BlockVerificationError, with nothing written.
   */
  async commitBuilt(block: Block, prepared: PreparedBlock): Promise<ImportOutcome> {
    return this.writeLock.run(async () => {
      const num = block.header.number;
      if (num <= this.headState.number) {
        const canonical = await this.store.canonicalHash(num);
        if (canonical !== undefined && equalsBytes(canonical, this.engine.blockHash(block.header))) return 'known';
      }
      await this.commitPrepared(block, prepared);
      return 'imported';
    });
  }

  private async build(header: BlockTemplate, txs: Iterable<TypedTransaction>, maxBuildMs?: number): Promise<PreparedBlock> {
    const head = this.headState;
    // The builder reads only the parent's header: do not decode (and re-create) its transactions.
    const parent = new Block(head.header, [], [], undefined, { common: this.commonAt(head.number) });
    const next = this.engine.nextHeader(head.header);
    try {
      const built = await this.executor.build(
        parent,
        {
          parentHash: head.hash,
          number: head.number + 1n,
          coinbase: header.coinbase,
          timestamp: header.timestamp,
          extraData: header.extraData,
          difficulty: next.difficulty,
          mixHash: next.mixHash,
          gasLimit: head.header.gasLimit,
        },
        txs,
        maxBuildMs,
      );
      return { built, trieWrites: this.trie.takePending() };
    } catch (err) {
      this.trie.discard();
      throw err;
    }
  }

  /** Under the write lock: check `block` against what was built, put its trie writes back, commit. */
  private async commitPrepared(block: Block, prepared: PreparedBlock): Promise<void> {
    const head = this.headState;
    const h = block.header;
    const b = prepared.built.block.header;
    const num = h.number;
    if (num !== head.number + 1n || !equalsBytes(h.parentHash, head.hash)) {
      throw new BlockVerificationError(num, `does not extend the local head ${head.number}`);
    }
    const same =
      equalsBytes(h.parentHash, b.parentHash) &&
      equalsBytes(h.stateRoot, b.stateRoot) &&
      equalsBytes(h.receiptTrie, b.receiptTrie) &&
      equalsBytes(h.transactionsTrie, b.transactionsTrie) &&
      equalsBytes(h.logsBloom, b.logsBloom) &&
      h.gasUsed === b.gasUsed &&
      h.timestamp === b.timestamp &&
      equalsBytes(h.coinbase.bytes, b.coinbase.bytes) &&
      block.transactions.length === prepared.built.block.transactions.length;
    if (!same) throw new BlockVerificationError(num, 'is not the block that was built (its execution results differ)');
    this.engine.verifyHeader(h, head.header, { nowSeconds: this.nowSeconds() });
    this.trie.restorePending(prepared.trieWrites);
    try {
      await this.commit(block, prepared.built.receipts, true);
    } catch (err) {
      this.trie.discard();
      throw err;
    }
  }

  /**
   * Write a verified block: its trie nodes first, synced (LevelDB syncs its log, and with it every
   * earlier write to trie/), so that after a power loss no head that reached blockchain/'s disk lacks
   * its state in trie/ (two databases: the kernel writes their logs back in no order); then the block
   * and the head pointer in one batch, synced when `durable` (a block this node reports as sealed or
   * committed: after a power loss it is there, and a validator's sign journal, synced before each
   * vote, is never ahead of a head it lost).
   */
  private async commit(block: Block, receipts: StoredReceipt[], durable: boolean): Promise<void> {
    await this.trie.flush({ sync: this.syncCommits });
    const hash = this.engine.blockHash(block.header);
    await this.store.writeCanonicalBlock(block, hash, receipts, this.engine.recordOf(block.header), { sync: durable && this.syncCommits });
    const head: ChainHead = { number: block.header.number, hash, header: block.header };
    this.headState = head;
    this.checked.clear();
    this.engine.committed(block.header);
    this.emit('head', head, block);
  }

  /** Wait for any write in progress to finish, then refuse new ones. */
  async close(): Promise<void> {
    await this.writeLock.close();
  }
}

/** A consistent read-only view of the chain's blocks and state (see Chain.openReadView). */
export interface ChainReadView {
  blocks: BlockReader;
  state: StateReader;
  close(): Promise<void>;
}

/**
 * A fork or quorum switch moved in the genesis file must not re-rule blocks already held: refuse a
 * change of any fork's block (or of `params.engine.ibft.quorumSwitchBlock`) when the old or the new one
 * is at or below the head. A change ahead of the head (scheduling an upgrade) is accepted and recorded
 * as the data dir's chain config.
 */
/** The epoch size a genesis file without `params.engine.ibft.epochSize` has (consensus/ibft/votes.ts DEFAULT_EPOCH_SIZE). */
const DEFAULT_VOTE_EPOCH = 100_000;

async function checkForkSchedule(store: BlockStore, db: BytesDB, genesis: Genesis, head: bigint, engine: ConsensusEngine): Promise<void> {
  // `ChainParams` alone (data dirs of earlier versions: the whole stored genesis, then ChainParams is written).
  const paramsJson = await store.chainParamsJson();
  const storedJson = paramsJson === undefined ? await readChainConfigJson(db) : `{"params":${paramsJson}}`;
  let stored: Record<string, unknown> = {};
  let storedSwitch: unknown;
  let storedEpoch: unknown;
  let storedChanges: unknown;
  let storedParams: unknown;
  let storedChainId: unknown;
  try {
    const params = (
      JSON.parse(storedJson ?? '{}') as {
        params?: {
          chainID?: unknown;
          forks?: Record<string, unknown>;
          engine?: { ibft?: { quorumSwitchBlock?: unknown; epochSize?: unknown; validatorSetChanges?: unknown } };
        };
      }
    ).params;
    storedParams = params;
    storedChainId = params?.chainID;
    stored = params?.forks ?? {};
    storedSwitch = params?.engine?.ibft?.quorumSwitchBlock;
    storedEpoch = params?.engine?.ibft?.epochSize;
    storedChanges = params?.engine?.ibft?.validatorSetChanges;
  } catch {
    return; // unreadable: nothing to compare with
  }
  const config = genesis.config;
  const now = forkSchedule(config);
  const nowSwitch = config.params.engine.ibft.quorumSwitchBlock;
  const rules: { name: string; before: bigint | undefined; after: bigint | undefined; what: string }[] = [
    ...SCHEDULED_FORKS.map((f) => ({
      name: `the ${f} fork`,
      before: typeof stored[f] === 'number' ? BigInt(stored[f]) : undefined,
      after: now[f],
      what: 'a fork',
    })),
    {
      name: 'the IBFT quorum switch (params.engine.ibft.quorumSwitchBlock)',
      before: typeof storedSwitch === 'number' ? BigInt(storedSwitch) : undefined,
      after: nowSwitch === undefined ? undefined : BigInt(nowSwitch),
      what: 'the quorum switch',
    },
  ];
  // The chain ID is not in the genesis block (its hash stays), but every signed transaction names it:
  // another one makes the node refuse its own chain's transactions and seal ones no one else accepts.
  const nowChainId = config.params.chainID;
  let consensusChanged = false;
  if (typeof storedChainId === 'number' && storedChainId !== nowChainId) {
    if (head >= 1n) {
      throw new UserError(
        `genesis file changes the chain ID (params.chainID) from ${storedChainId} to ${nowChainId}, but this data dir already holds blocks up to ${head} under the old one; use the genesis file this data dir was created with`,
      );
    }
    consensusChanged = true;
  }
  // The validator-vote epoch decides every block's votes: it is set before the first block or never.
  const nowEpoch = config.params.engine.ibft.epochSize;
  const thenEpoch = typeof storedEpoch === 'number' ? storedEpoch : undefined;
  if ((thenEpoch ?? DEFAULT_VOTE_EPOCH) !== (nowEpoch ?? DEFAULT_VOTE_EPOCH)) {
    if (head >= 1n) {
      throw new UserError(
        `genesis file changes the validator-vote epoch (params.engine.ibft.epochSize) from ${thenEpoch ?? 'the default'} to ${nowEpoch ?? 'the default'}, but this data dir already holds blocks up to ${head}; it is set before the first block or never`,
      );
    }
    consensusChanged = true;
  }
  // An emergency validator-set change applies from its block: one added, removed or altered at or
  // below the head would rewrite who sealed blocks this data dir holds.
  const changeAt = (list: unknown) =>
    new Map(
      (Array.isArray(list) ? list : []).flatMap((c: { block?: unknown; validators?: unknown }) =>
        typeof c?.block === 'number' && Array.isArray(c.validators)
          ? [[c.block, JSON.stringify(c.validators.map((v) => String(v).toLowerCase()))] as const]
          : [],
      ),
    );
  const [beforeChanges, afterChanges] = [changeAt(storedChanges), changeAt(config.params.engine.ibft.validatorSetChanges)];
  const differing = [...new Set([...beforeChanges.keys(), ...afterChanges.keys()])].filter((b) => beforeChanges.get(b) !== afterChanges.get(b));
  if (differing.length > 0) {
    const at = Math.min(...differing);
    if (BigInt(at) <= head) {
      const how = !beforeChanges.has(at) ? 'adds' : !afterChanges.has(at) ? 'removes' : 'alters';
      throw new UserError(
        `genesis file ${how} the emergency validator-set change at block ${at} (params.engine.ibft.validatorSetChanges), but this data dir already holds blocks up to ${head}; a validator-set change can only be put (or changed) after the head`,
      );
    }
    // A change new to this data dir (above its head) to a set its quorum lets fork (the legacy 2F+1
    // for a size other than 3F+1): refused while it can still be taken out of the file.
    for (const b of differing) {
      const set = config.params.engine.ibft.validatorSetChanges?.find((c) => c.block === b);
      const why = set && engine.setChangeRefusal?.(BigInt(b), set.validators.length);
      if (why !== undefined) {
        throw new UserError(
          `genesis file puts an emergency validator-set change at block ${b} (params.engine.ibft.validatorSetChanges) under the legacy quorum: ${why}; set params.engine.ibft.quorumSwitchBlock at or before block ${b} (the safe quorum)`,
        );
      }
    }
    consensusChanged = true;
  }
  let changed = consensusChanged;
  for (const r of rules) {
    if (r.before === r.after) continue;
    changed = true;
    const first = [r.before, r.after].filter((x): x is bigint => x !== undefined).reduce((a, b) => (a < b ? a : b));
    if (first <= head) {
      throw new UserError(
        `genesis file moves ${r.name} from ${r.before ?? 'unscheduled'} to ${r.after ?? 'unscheduled'}, but this data dir already holds blocks up to ${head} under the old rules; ${r.what} can only be scheduled (or moved) after the head`,
      );
    }
  }
  if (changed) {
    const file = await store.writeGenesisFile(genesis.checkedBytes().open());
    await store.writeMeta({
      chainConfigJson: JSON.stringify(config),
      paramsJson: JSON.stringify(config.params),
      genesisDigest: genesis.digest,
      genesisFile: file,
    });
  } else if (paramsJson === undefined && storedParams !== undefined) await store.writeChainParams(JSON.stringify(storedParams));
}

/**
 * Write a new data dir's genesis: its state to trie/ in batches first, only final nodes (unless
 * `genesisState` says otherwise), and the genesis file's bytes to blockchain/; the block batch, last,
 * makes it the head. A crash before that leaves unreferenced nodes and a data dir that starts over.
 */
async function writeGenesis(
  store: BlockStore,
  trie: TrieNodeStore,
  genesis: Genesis,
  rules: ChainRules,
  opts: Pick<OpenChainOptions, 'genesisState' | 'scratchDir' | 'genesisStateRoot' | 'engine'>,
  log: Logger,
): Promise<{ hash: Uint8Array; header: BlockHeader }> {
  const began = Date.now();
  const config = genesis.config;
  const common = rules.commonAt(0n);
  const mode = opts.genesisState ?? 'write';
  const writer = mode === 'write' ? trie.stateWriter() : undefined;
  const known = mode === 'none' ? opts.genesisStateRoot : undefined;
  const stateRoot = known ?? (await genesis.stateRoot(writer, opts.scratchDir));
  await writer?.finish();
  if (writer) await trie.sync(); // the state durable before the block that reaches it (Chain.commit)
  const block = buildGenesisBlock(config, stateRoot, common);
  const hash = opts.engine.blockHash(block.header);
  const file = await store.writeGenesisFile(genesis.checkedBytes().open());
  await store.writeMeta({
    chainConfigJson: JSON.stringify(config),
    paramsJson: JSON.stringify(config.params),
    genesisDigest: genesis.digest,
    genesisFile: file,
    // A first start killed before its block in another mode may have left a pending root: replaced.
    genesisStatePending: mode === 'deferred' ? stateRoot : null,
  });
  await store.writeCanonicalBlock(block, hash, [], undefined, { sync: true });
  if (writer) await store.writeStateSize(writtenSize(stateRoot, writer));
  log.info(
    {
      hash: bytesToHex(hash),
      chainId: common.chainId().toString(),
      state: mode === 'write' ? 'written' : mode,
      accounts: genesis.accounts,
      stateNodes: writer?.nodes ?? 0,
      codes: writer?.codes ?? 0,
      stateBytes: writer?.bytes ?? 0,
      ms: Date.now() - began,
    },
    'wrote genesis block',
  );
  return { hash, header: block.header };
}

/**
 * The size of a genesis state written whole by `writer`, as a walk in tree order lists it: the build
 * puts each account's storage trie on its own, so a trie two contracts share is counted for each, and
 * gives a shared code once (CodeMemory), as the walk does.
 */
function writtenSize(root: Uint8Array, writer: StateWriter): StateSize {
  return { root, number: 0n, order: 'tree', nodes: writer.nodes, nodeBytes: writer.nodeBytes, codes: writer.codes, codeBytes: writer.codeBytes };
}

/** What an offline command says of a data dir whose genesis state is pending (GenesisStatePending). */
export function firstStartUnfinished(): UserError {
  return new UserError(
    "the data dir's first start has not finished: its genesis state is not written yet (a node started with --sync snapshot stopped before it restored); start the node with its genesis file to finish it",
    { code: 'FAILED_PRECONDITION' },
  );
}

/**
 * Write the genesis state a data dir opened with `genesisState: 'deferred'` left pending (its genesis
 * block, with root `root`, is written), then forget that it was. A crash before the end leaves it
 * pending: the next open writes it again (the same nodes).
 */
async function writePendingGenesisState(
  store: BlockStore,
  trie: TrieNodeStore,
  genesis: Genesis,
  root: Uint8Array,
  opts: Pick<OpenChainOptions, 'scratchDir'> & { signal?: AbortSignal },
  log: Logger,
): Promise<void> {
  const began = Date.now();
  const writer = trie.stateWriter();
  const built = await genesis.stateRoot(writer, opts.scratchDir, undefined, opts.signal);
  await writer.finish();
  if (!equalsBytes(built, root)) {
    throw new UserError(
      `genesis mismatch: the data dir's genesis block has state root ${bytesToHex(root)}, but the genesis file gives ${bytesToHex(built)}; use the genesis file this data dir was created with`,
    );
  }
  await trie.sync(); // durable before the record that said it was pending goes
  await store.clearGenesisStatePending();
  await store.writeStateSize(writtenSize(root, writer));
  log.info({ stateNodes: writer.nodes, codes: writer.codes, stateBytes: writer.bytes, ms: Date.now() - began }, 'wrote the genesis state');
}

/**
 * The head, after a quick consistency check (integrity.ts: the head's block, receipts and state root,
 * the last blocks' index and links): a damaged data dir is refused with one line, never served.
 */
async function loadHead(store: BlockStore, trie: TrieNodeStore, engine: ConsensusEngine, genesisStatePending = false): Promise<ChainHead> {
  const { head, problems } = await checkHead(store, trie, (h) => engine.blockHash(h), { genesisStatePending });
  if (head === undefined || problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    throw new UserError(`the data dir is damaged: ${problems[0] ?? 'no head block'}${more}; ${DAMAGE_ADVICE}`, { code: 'DATA_LOSS' });
  }
  return head;
}
