import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Block, BlockHeader } from '@ethereumjs/block';
import { bytesToHex, equalsBytes, hexToBytes } from '@ethereumjs/util';
import { keccak256 } from '../util/keccak.js';
import { Chain } from '../chain/chain.js';
import type { GenesisFile } from '../chain/chain-config.js';
import { ibftEngineFor } from '../consensus/ibft/genesis.js';
import { Genesis, genesisAt } from '../chain/genesis-source.js';
import type { ConsensusEngine, RecoverSigner } from '../chain/engine.js';
import { BlockVerificationError } from '../chain/errors.js';
import { BackupFileError } from '../container/errors.js';
import type { SnapshotHeader } from '../snapshot/format.js';
import { readSnapshot, type SnapshotEvent } from '../snapshot/reader.js';
import { BlockStore } from '../storage/block-store.js';
import { dataDirLayout } from '../storage/data-dir.js';
import { closeDurably, openNodeDatabases, type NodeDatabases } from '../storage/node-databases.js';
import { decodeReceipts, type StoredReceipt } from '../storage/receipts.js';
import { type StateWriter, TrieNodeStore } from '../storage/trie-node-store.js';
import { UserError, errorMessage } from '../util/errors.js';
import { checkReceiptsRlp } from '../util/rlp-bounds.js';
import { RecoverPool, type RecoveredSigners } from '../util/recover-pool.js';
import { checkTransactionCount, decodeBlockHeaderRlp, decodeBlockRlp, decodeHeaderRlp } from './block-records.js';
import type { HistoryGap, HistorySource } from '../storage/schema.js';
import { checkReceipts } from './receipts-root.js';
import { MissingStateError, StreamedStateCheck } from './state-walk.js';
import { renameDurably } from '../util/durable.js';
import { removeStaleTemps, type StaleTemps } from '../util/stale-temp.js';
import { transactionsRoot } from '../chain/block-util.js';

export interface RestoreProgress {
  /**
   * 'genesis': the genesis file checked against the snapshot's genesis hash (its state root computed:
   * about 30 s a million accounts on 2 cores); 'packs': a repository's packs read (see `packs`); 'blocks',
   * 'state' (the nodes stored so far), 'check': the state's completeness.
   */
  phase: 'genesis' | 'blocks' | 'packs' | 'state' | 'check';
  blocksDone: bigint;
  blocksTotal: bigint;
  nodes: number;
  bytesRead: number;
  /** In the 'packs' phase: how many of the backup's packs are read. */
  packs?: { done: number; total: number };
}

export interface RestoreSummary {
  dataDir: string;
  chainId: string;
  genesisHash: string;
  head: bigint;
  headHash: string;
  stateRoot: string;
  nodes: number;
  codes: number;
  bytes: number;
  digest: string;
  durationMs: number;
  /** How many blocks' seals were recovered and checked: none up to `trustedBlock`; with seals 'set-changes', only the set changes' and the head's. */
  sealedBlocks: number;
  /** With `backfill`: the blocks whose bodies and receipts the node back-fills once it runs. */
  historyGap?: HistoryGap;
}

export interface RestoreOptions {
  dataDir: string;
  /** The genesis the snapshot must belong to (the operator's trust anchor). */
  genesis?: GenesisFile | Genesis;
  /**
   * Without `genesis`: the genesis hash the snapshot's embedded genesis must produce. With neither,
   * the embedded genesis is trusted as it is (the CLI asks for --trust-snapshot-genesis for that).
   */
  genesisHash?: string;
  /**
   * With `genesis`: its genesis state root, when the caller built that genesis itself (a node's own
   * data dir), so the restore need not compute it again (about 30 s at a million accounts, during which
   * a peer's snapshot stream would go unread).
   */
  genesisStateRoot?: Uint8Array;
  engine?: ConsensusEngine;
  onProgress?: (p: RestoreProgress) => void;
  /**
   * Restore the history below the head as headers only (each one checked as in a full restore, its
   * seals as `seals` says) and record the rest as a history gap the node back-fills from this source once
   * it runs (repository/backfill.ts). The head block is restored whole. Without it, every block is.
   */
  backfill?: HistorySource;
  /**
   * An operator's checkpoint (Besu's checkpoint sync, CometBFT's trust hash): block `number` of the
   * chain is `hash`. The headers up to it are checked by their hash links alone (each one's parentHash
   * is the block before it, from the genesis to this hash), not by their seals; the seals of the
   * blocks after it are checked as always.
   */
  trustedBlock?: TrustedBlock;
  /**
   * Which headers' seals are recovered (above `trustedBlock`). 'every' (the default): each header's.
   * 'set-changes': those of each header after which another set of validators decides, and of the
   * head; every other header is checked in all but its seals (its coinbase standing for its proposer)
   * and is vouched for by the next checked header's quorum, whose hash chain binds it: validators seal
   * a block only on top of a chain they verified, and every quorum holds an honest one. An operator's
   * own backup; not for a peer's snapshot, whose unchecked seals the node would store and serve.
   */
  seals?: SealCheck;
  /**
   * Told the snapshot's header once it is read, before anything after it; a throw ends the restore with
   * it (snapshot sync: what the peer's protocol version promises of the snapshot).
   */
  checkHeader?: (header: SnapshotHeader) => void;
}

/** RestoreOptions.seals. */
export type SealCheck = 'every' | 'set-changes';

export interface TrustedBlock {
  number: bigint;
  hash: Uint8Array;
}

/**
 * Build a new data dir from a snapshot, trusting nothing it cannot verify: every header against its
 * parent (consensus rules; the seals and their quorum as `seals` says), transactions and receipts against the header roots, every state
 * node and code against its hash, and finally that the whole state under the head's state root is
 * present. Works in a temporary folder next to `dataDir` and renames it only when all of that
 * passed, so a failed or interrupted restore never leaves a data dir that looks good.
 *
 * A restore writes to the databases directly through the storage accessors (BlockStore,
 * TrieNodeStore.stateWriter), not through Chain.importBlock: it has no parent state to execute
 * blocks against, and checks what it can without execution instead.
 */
export function restoreSnapshot(source: AsyncIterable<Uint8Array>, opts: RestoreOptions): Promise<RestoreSummary> {
  return restoreFromEvents(readSnapshot(source), opts);
}

/**
 * The restore of a snapshot's events, read from a file (restoreSnapshot) or put together from a backup
 * repository's objects (repository/restore.ts): the same checks, whatever the source.
 */
export async function restoreFromEvents(events: AsyncIterable<SnapshotEvent>, opts: RestoreOptions): Promise<RestoreSummary> {
  const recoverPool = new RecoverPool();
  try {
    return await restoreWith(events, opts, recoverPool);
  } finally {
    await recoverPool.close();
  }
}

async function restoreWith(events: AsyncIterable<SnapshotEvent>, opts: RestoreOptions, recoverPool: RecoverPool): Promise<RestoreSummary> {
  const began = Date.now();
  const target = resolve(opts.dataDir);
  checkTarget(target);
  const tmp = restoringFolder(target, process.pid);
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { mode: 0o700 });
  } catch (err) {
    throw new UserError(`cannot create ${tmp}: ${errorMessage(err)}`, { code: 'FAILED_PRECONDITION' });
  }
  // The data dir's genesis.json: the operator's genesis file, or the snapshot's, written as it streams
  // in (a genesis of millions of accounts is never held whole) and read back from there.
  const genesisFile = new StreamedGenesisFile(join(tmp, 'genesis.json'));
  let dbs: NodeDatabases | undefined;
  try {
    // Inside the try: a failed open (no space, too many files) removes `tmp` as any other failure does.
    dbs = await openNodeDatabases(dataDirLayout(tmp));
    let header: SnapshotHeader | undefined;
    let headNumber = 0n;
    let restored: RestoredChain | undefined;
    let headersOnly = false;
    let blocks: VerifiedBlockWriter | undefined;
    let nodes = 0;
    let codes = 0;
    let headChecked = false;
    for await (const ev of events) {
      if (ev.kind === 'header') {
        header = ev.header;
        opts.checkHeader?.(header);
        headNumber = BigInt(header.head.number);
        if (opts.trustedBlock && opts.trustedBlock.number > headNumber)
          throw new UserError(`the trusted block ${opts.trustedBlock.number} is after the backup's head ${headNumber}: give a checkpoint at or below it`);
        if (opts.genesis === undefined) genesisFile.open(header.genesis);
        continue;
      }
      if (ev.kind === 'genesis') {
        genesisFile.write(ev.piece);
        continue;
      }
      if (restored === undefined) {
        genesisFile.close();
        opts.onProgress?.({ phase: 'genesis', blocksDone: 0n, blocksTotal: headNumber, nodes, bytesRead: 'bytesRead' in ev ? ev.bytesRead : 0 });
        restored = await startRestoredChain(header!, opts, dbs, tmp, genesisFile.path);
        const progress = (blocksDone: bigint, bytesRead: number) =>
          opts.onProgress?.({ phase: 'blocks', blocksDone, blocksTotal: headNumber, nodes, bytesRead });
        blocks = new VerifiedBlockWriter(restored, recoverPool, progress);
      }
      const r = restored;
      if (ev.kind === 'block') {
        // The header alone is decoded here: the transactions are decoded only once it is verified
        // (VerifiedBlockWriter.settle), so a forged block's body costs nothing but its bytes.
        const { header, headerRlp } = decodeBlockHeaderRlp(ev.blockRlp, ev.number, ev.hash, r.rules.commonAt(ev.number), 'snapshot');
        if (opts.backfill && ev.number < headNumber) {
          // History to back-fill: its header only, checked like any other.
          await blocks!.add({ header, headerRlp, hash: ev.hash, bytesRead: ev.bytesRead, size: headerRlp.length });
        } else {
          const size = ev.blockRlp.length + ev.receiptsRlp.length;
          await blocks!.add({ header, blockRlp: ev.blockRlp, hash: ev.hash, receiptsRlp: ev.receiptsRlp, bytesRead: ev.bytesRead, size });
        }
        continue;
      }
      if (ev.kind === 'blockHeader') {
        // A snapshot without history (version 3): the header alone, checked like any other; the node
        // back-fills the block from its peers.
        headersOnly = true;
        const header = decodeHeaderRlp(ev.headerRlp, ev.number, ev.hash, r.rules.commonAt(ev.number), 'snapshot');
        await blocks!.add({ header, headerRlp: ev.headerRlp, hash: ev.hash, bytesRead: ev.bytesRead, size: ev.headerRlp.length });
        continue;
      }
      await blocks!.drain(); // the blocks come first: all of them are checked and written before the state
      if (!headChecked) {
        // The state is checked against the header's root as it streams in: that root must be the
        // verified head block's before any of it is taken (a stream of a root of its own choosing, every
        // node hashing right, would otherwise fill the disk until the trailer).
        const h = header!;
        if (r.parent.number !== headNumber || bytesToHex(r.parentHash) !== h.head.hash)
          throw new BackupFileError(`snapshot's blocks end at block ${r.parent.number}, not at its head ${headNumber} (${h.head.hash})`);
        if (bytesToHex(r.parent.stateRoot) !== h.head.stateRoot) throw new BackupFileError("snapshot header names a state root that is not its head block's");
        headChecked = true;
      }
      if (ev.kind === 'nodes' || ev.kind === 'code') {
        await addState(r, ev.kind, ev.items);
        if (ev.kind === 'nodes') nodes += ev.items.length;
        else codes += ev.items.length;
        opts.onProgress?.({ phase: 'state', blocksDone: headNumber, blocksTotal: headNumber, nodes, bytesRead: ev.bytesRead });
      } else if (ev.kind === 'trailer') {
        const h = header!;
        if (ev.trailer.lastBlockHash !== h.head.hash)
          throw new BackupFileError(`snapshot head ${h.head.hash} is not its last block ${ev.trailer.lastBlockHash}`);
        if (bytesToHex(r.parent.stateRoot) !== h.head.stateRoot) throw new BackupFileError("snapshot header names a state root that is not its head block's");
        opts.onProgress?.({ phase: 'check', blocksDone: headNumber, blocksTotal: headNumber, nodes, bytesRead: ev.bytesRead });
        await r.writer.finish(); // the last batch of the state
        let reachable: { nodes: number; codes: number };
        try {
          // Each node read was referred to by one before it, once: what is still awaited is missing.
          reachable = r.stateCheck.finish();
        } catch (err) {
          if (err instanceof MissingStateError) throw new BackupFileError(`snapshot is incomplete: ${err.message}`, { cause: err });
          throw err;
        }
        // Headers alone below the head (a repository's backfill mode, or a snapshot without history):
        // the gap, back-filled from the repository, or from peers when none is named.
        const historyGap = (opts.backfill || headersOnly) && headNumber >= 2n ? { from: 1n, to: headNumber - 1n } : undefined;
        if (historyGap) await r.blocks.writeHistoryGap(historyGap, opts.backfill);
        await r.blocks.writeStateFrom(headNumber); // the head's state only: older ones are not here
        // What the state is, as the snapshot listed it: the next snapshot of this node announces its size from it.
        await r.blocks.writeStateSize({
          root: r.parent.stateRoot,
          number: headNumber,
          order: h.stateOrder === 'tree' ? 'tree' : 'unique',
          nodes: r.writer.nodes,
          nodeBytes: r.writer.nodeBytes,
          codes: r.writer.codes,
          codeBytes: r.writer.codeBytes,
        });
        // The state went in without `sync` (the records above are synced, blockchain/'s with them):
        // durable before the rename, or a power loss could leave a data dir that opens whole without it.
        await closeDurably(dbs, dataDirLayout(tmp));
        renameDurably(tmp, target);
        return {
          ...(historyGap ? { historyGap } : {}),
          dataDir: target,
          chainId: h.chainId,
          genesisHash: h.genesisHash,
          head: headNumber,
          headHash: h.head.hash,
          stateRoot: h.head.stateRoot,
          nodes: reachable.nodes,
          codes,
          bytes: ev.bytesRead,
          digest: ev.trailer.digest,
          durationMs: Date.now() - began,
          sealedBlocks: blocks?.sealedBlocks ?? 0,
        };
      }
    }
    throw new BackupFileError('snapshot ended without a trailer'); // readSnapshot throws first
  } catch (err) {
    genesisFile.abandon();
    await dbs?.close();
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** The snapshot's genesis file, written to the new data dir as its pieces stream in. */
class StreamedGenesisFile {
  private fd?: number;

  constructor(readonly path: string) {}

  /** Begin the file (the first part of it comes with the header in snapshots of version 1). */
  open(inHeader: unknown): void {
    this.fd = openSync(this.path, 'w', 0o600);
    if (inHeader !== undefined) writeSync(this.fd, `${JSON.stringify(inHeader, null, 2)}\n`);
  }

  write(piece: Uint8Array): void {
    if (this.fd !== undefined) writeSync(this.fd, piece);
  }

  /** Complete and durable. */
  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  abandon(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** The new data dir's chain as the restore builds it: its rules, stores, the last verified header. */
interface RestoredChain {
  engine: ConsensusEngine;
  rules: Chain['rules'];
  blocks: BlockStore;
  state: TrieNodeStore;
  /** Writes the state's nodes and codes straight to trie/ (a new data dir: nothing reads it yet). */
  writer: StateWriter;
  stateCheck: StreamedStateCheck;
  /** The last block verified (the genesis block at first), and its hash. */
  parent: BlockHeader;
  parentHash: Uint8Array;
  /** The operator's checkpoint: blocks up to it are checked by hash links. */
  trusted?: TrustedBlock;
  seals: SealCheck;
}

/**
 * Once the snapshot's genesis is read: check it is the chain the snapshot says (and the one the
 * operator expects), and write the genesis block (no state: the snapshot brings the head's).
 */
async function startRestoredChain(h: SnapshotHeader, opts: RestoreOptions, dbs: NodeDatabases, tmp: string, genesisPath: string): Promise<RestoredChain> {
  const genesis =
    opts.genesis !== undefined ? await Genesis.of(opts.genesis) : await Genesis.read({ ...genesisAt(genesisPath), name: "the snapshot's genesis" });
  if (opts.genesis !== undefined) await copyGenesis(genesis, genesisPath);
  // Seals are counted under the genesis file's quorum rule (its switch block).
  const engine = opts.engine ?? ibftEngineFor(genesis.config, genesis.bytes.name);
  const made = await Chain.createGenesis({
    blockchainDb: dbs.blockchain,
    trieDb: dbs.trie,
    genesis,
    engine,
    genesisState: 'none',
    scratchDir: tmp,
    ...(opts.genesis !== undefined && opts.genesisStateRoot ? { genesisStateRoot: opts.genesisStateRoot } : {}),
  });
  const chainId = made.rules.commonAt(0n).chainId();
  if (opts.genesis === undefined && opts.genesisHash !== undefined && bytesToHex(made.hash) !== opts.genesisHash.toLowerCase()) {
    throw new BackupFileError(
      `snapshot's genesis has hash ${bytesToHex(made.hash)} (chain ID ${chainId}), not the expected ${opts.genesisHash.toLowerCase()}: it is of another chain, or forged`,
      { code: 'WRONG_CHAIN' },
    );
  }
  if (bytesToHex(made.hash) !== h.genesisHash || chainId.toString() !== h.chainId) {
    throw new BackupFileError(
      `snapshot belongs to another chain (chain ID ${h.chainId}, genesis ${h.genesisHash}); the genesis file gives chain ID ${chainId}, genesis ${bytesToHex(made.hash)}`,
      { code: 'WRONG_CHAIN' },
    );
  }
  const blocks = new BlockStore(dbs.blockchain, made.rules);
  const state = new TrieNodeStore(dbs.trie);
  // Every header is checked from the genesis on, so the engine follows the votes exactly throughout.
  await engine.attach(blocks, made.header);
  return {
    engine,
    rules: made.rules,
    blocks,
    state,
    writer: state.stateWriter(RESTORE_STATE_BATCH_BYTES),
    stateCheck: new StreamedStateCheck(hexToBytes(h.head.stateRoot as `0x${string}`), h.stateOrder ?? 'unique'),
    parent: made.header,
    parentHash: made.hash,
    ...(opts.trustedBlock ? { trusted: opts.trustedBlock } : {}),
    seals: opts.seals ?? 'every',
  };
}

/**
 * A block read from the snapshot, its header decoded, not yet checked; `size`: its bytes and its
 * receipts'. With `blockRlp`: the whole block, its transactions decoded once its header is verified
 * (settle); without: a header alone (history the node back-fills), checked and written as a header.
 */
type Decoded = { header: BlockHeader; hash: Uint8Array; bytesRead: number; size: number } & (
  | { blockRlp: Uint8Array; receiptsRlp: Uint8Array }
  | { blockRlp?: undefined; headerRlp: Uint8Array }
);

/**
 * Blocks go through in windows: while the seals of one window are recovered in worker threads
 * (RecoverPool), the window before it is checked against them; verified blocks are written
 * WRITE_BLOCKS at a time (or WRITE_BLOCK_BYTES), one batch each. The restore works in a folder of its
 * own, renamed only once all of it is checked.
 *
 * With seals 'set-changes', a header whose seals are not recovered waits for the next one whose seals
 * are (a set change, or the head at drain): until that one passes, nothing of the restore is kept.
 */
class VerifiedBlockWriter {
  private window: Decoded[] = [];
  private windowBytes = 0;
  /** `sealed[i]`: whether the seals of `blocks[i]` are checked. */
  private inFlight?: { blocks: Decoded[]; sealed: boolean[]; signers: Promise<RecoveredSigners> };
  private pending: Parameters<BlockStore['writeCanonicalBlocks']>[0] = [];
  private pendingHeaders: Parameters<BlockStore['writeCanonicalHeaders']>[0] = [];
  private pendingBytes = 0;
  /** The last header dispatched: the parent of the next one. */
  private lastDispatched: BlockHeader;
  /**
   * The headers checked without their seals since the last one checked with them, while no later
   * one's seals vouch for them: the first's number and the last (the head's, at drain).
   */
  private unsealed?: { from: bigint; header: BlockHeader; parent: BlockHeader };
  /** Blocks whose seals were checked. */
  sealedBlocks = 0;

  constructor(
    private readonly chain: RestoredChain,
    private readonly recoverPool: RecoverPool,
    private readonly progress: (blocksDone: bigint, bytesRead: number) => void,
  ) {
    this.lastDispatched = chain.parent;
  }

  async add(d: Decoded): Promise<void> {
    this.window.push(d);
    this.windowBytes += d.size;
    if (this.window.length >= SEAL_WINDOW_BLOCKS || this.windowBytes >= SEAL_WINDOW_BYTES) await this.dispatch();
  }

  /** Check and write every block added so far; the last one's seals are checked (it may be the head). */
  async drain(): Promise<void> {
    await this.dispatch();
    await this.settle();
    const last = this.unsealed;
    if (last) {
      try {
        verifySeals(last.header, last.parent, this.chain.engine);
      } catch (err) {
        throw this.onItsWord(err, last.header.number);
      }
      this.unsealed = undefined;
      this.sealedBlocks++;
    }
    await this.flush();
  }

  private async dispatch(): Promise<void> {
    if (this.window.length === 0) return;
    const decoded = this.window;
    [this.window, this.windowBytes] = [[], 0];
    // Blocks up to the operator's checkpoint are checked by their hash links: no seal to recover.
    // Above it, every block's seals, or ('set-changes') those of a block after which other validators decide.
    const c = this.chain;
    const trusted = c.trusted?.number ?? 0n;
    const sealed = decoded.map((d) => {
      const parent = this.lastDispatched;
      this.lastDispatched = d.header;
      return d.header.number > trusted && (c.seals === 'every' || c.engine.signersChangeAfter(d.header, parent));
    });
    const signers = this.recoverPool.recoverAll(decoded.flatMap((d, i) => (sealed[i] ? c.engine.sealSignatures(d.header) : [])));
    signers.catch(() => undefined); // awaited by settle
    await this.settle();
    this.inFlight = { blocks: decoded, sealed, signers };
  }

  private async settle(): Promise<void> {
    const inFlight = this.inFlight;
    if (!inFlight) return;
    this.inFlight = undefined;
    const { recover } = await inFlight.signers;
    const c = this.chain;
    for (const [i, d] of inFlight.blocks.entries()) {
      if (c.trusted && d.header.number <= c.trusted.number) {
        verifyLink(d, c.parentHash, c.trusted); // the trusted hash vouches for it
      } else if (inFlight.sealed[i]) {
        try {
          verifyHeader(d.header, c.parent, c.engine, recover);
        } catch (err) {
          throw this.onItsWord(err, d.header.number);
        }
        this.unsealed = undefined;
        this.sealedBlocks++;
      } else {
        verifyHeader(d.header, c.parent, c.engine, undefined, false);
        this.unsealed = { from: this.unsealed?.from ?? d.header.number, header: d.header, parent: c.parent };
      }
      c.engine.committed(d.header);
      const record = c.engine.recordOf(d.header);
      if (d.blockRlp) {
        // Its header verified: now its transactions, as many as its gas can pay for at the most, then decoded.
        checkTransactionCount(d.blockRlp, d.header, 'snapshot');
        const block = decodeBlockRlp(d.blockRlp, d.header.number, d.hash, c.rules.commonAt(d.header.number), 'snapshot');
        const receipts = await verifyContents(block, d.receiptsRlp);
        this.pending.push({ block, hash: d.hash, receipts, record });
      } else {
        this.pendingHeaders.push({ header: d.headerRlp, number: d.header.number, hash: d.hash, record });
      }
      this.pendingBytes += d.size;
      if (this.pending.length + this.pendingHeaders.length >= WRITE_BLOCKS || this.pendingBytes >= WRITE_BLOCK_BYTES) await this.flush();
      c.parent = d.header;
      c.parentHash = d.hash;
      this.progress(d.header.number, d.bytesRead);
    }
  }

  /**
   * The refusal of block `n`'s seals, saying which headers were taken on their word: a forger who
   * re-linked headers below it would be caught here, at the first block whose seals are checked.
   */
  private onItsWord(err: unknown, n: bigint): unknown {
    const from = this.unsealed?.from;
    if (!(err instanceof BackupFileError) || from === undefined || from >= n) return err;
    return new BackupFileError(
      `${err.message}; blocks ${from}-${n - 1n} were checked without their seals, on this block's word: an altered one among them shows here`,
      { code: err.code, cause: err },
    );
  }

  private async flush(): Promise<void> {
    const headers = this.pendingHeaders;
    const blocks = this.pending;
    [this.pending, this.pendingHeaders, this.pendingBytes] = [[], [], 0];
    // Headers alone come before the blocks restored whole (the head): in the order they were checked.
    await this.chain.blocks.writeCanonicalHeaders(headers);
    await this.chain.blocks.writeCanonicalBlocks(blocks);
  }
}

/** Store a record of trie nodes or code, each under its own hash, checked against the head's state as it comes. */
async function addState(c: RestoredChain, kind: 'nodes' | 'code', data: Uint8Array[]): Promise<void> {
  // Each item is stored under its own hash, so whatever is reachable from the head's root is authentic.
  // Checked as they come, in the order the walk wrote them (a node after the one referring to it), so
  // the state need not be read back from disk at the end. The writer copies each item: neither the
  // hash nor the record's bytes outlive this loop (held until their batch was written, they were
  // promoted, a third of a million-account restore's garbage).
  for (const d of data) {
    const hash = keccak256(d);
    try {
      if (kind === 'nodes') c.stateCheck.node(hash, d);
      else c.stateCheck.code(hash, d.length);
    } catch (err) {
      if (err instanceof MissingStateError)
        throw new BackupFileError(`snapshot's state is not the head's: ${err.message} (altered, padded or out of order)`, { cause: err });
      throw err;
    }
    const w = kind === 'nodes' ? c.writer.node(hash, d) : c.writer.code(hash, d);
    if (w !== undefined) await w;
  }
}

/** The operator's genesis file, copied into the restored data dir as genesis.json. */
async function copyGenesis(genesis: Genesis, path: string): Promise<void> {
  const fd = openSync(path, 'w', 0o600);
  try {
    for await (const piece of genesis.checkedBytes().open()) writeSync(fd, piece);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The hidden folder a restore into `target` works in (process `pid`), renamed to `target` at the end. */
function restoringFolder(target: string, pid: number): string {
  return join(dirname(target), `${restoringPrefix(target)}${pid}`);
}

function restoringPrefix(target: string): string {
  return `.${basename(resolve(target))}.restoring-`;
}

/**
 * Remove what restores into `target` killed part-way left (their working folders, of processes gone):
 * before a restore makes its own, and at every node start for its snapshot sync's. Returns those removed
 * and those kept (removeStaleTemps).
 */
export function removeStaleRestores(target: string): StaleTemps {
  return removeStaleTemps(dirname(resolve(target)), restoringPrefix(target));
}

/** A restore creates its target: it must not exist, or be an empty folder, in an existing folder. */
function checkTarget(target: string): void {
  const kind = (p: string) => {
    try {
      return statSync(p).isDirectory() ? 'dir' : 'other';
    } catch {
      return 'none';
    }
  };
  const parent = dirname(target);
  if (kind(parent) === 'none') throw new UserError(`folder ${parent} does not exist`, { code: 'NOT_FOUND' });
  if (kind(parent) === 'other') throw new UserError(`${parent} is not a folder`, { code: 'FAILED_PRECONDITION' });
  const t = kind(target);
  if (t === 'other') throw new UserError(`${target} exists and is not a folder: restore into a new data dir`, { code: 'ALREADY_EXISTS' });
  if (t === 'dir' && readdirSync(target).length > 0) {
    throw new UserError(`${target} exists and is not empty: restore into a new data dir (a restore never overwrites one)`, { code: 'ALREADY_EXISTS' });
  }
}

/** The state's LevelDB batches in a restore (a snapshot's state record is up to 1 MiB of items). */
const RESTORE_STATE_BATCH_BYTES = 128 << 10;
/** A restore writes verified blocks this many (or this many bytes) to a LevelDB batch. */
const WRITE_BLOCKS = 512;
const WRITE_BLOCK_BYTES = 4 << 20;
/** Blocks (or bytes of blocks) whose seals are recovered together, ahead of their checks. */
const SEAL_WINDOW_BLOCKS = 256;
const SEAL_WINDOW_BYTES = 8 << 20;

const SEALED_HISTORY = { nowSeconds: BigInt(Number.MAX_SAFE_INTEGER) };

/**
 * A block up to the operator's checkpoint: its number and parentHash link it to the block before it
 * (its own hash is the one computed from its header: decodeBlockRlp checked it), and the checkpoint's
 * block has the trusted hash. Hash links from the genesis to a trusted hash make every header before
 * it authentic without its seals.
 */
function verifyLink(d: { header: BlockHeader; hash: Uint8Array }, parentHash: Uint8Array, trusted: TrustedBlock): void {
  const n = d.header.number;
  if (!equalsBytes(d.header.parentHash, parentHash))
    throw new BackupFileError(
      `block ${n}: its parentHash ${bytesToHex(d.header.parentHash)} is not block ${n - 1n}'s ${bytesToHex(parentHash)} (snapshot is corrupt or forged)`,
      {
        code: 'INVALID_BLOCK',
      },
    );
  if (n === trusted.number && !equalsBytes(d.hash, trusted.hash))
    throw new BackupFileError(`block ${n} is ${bytesToHex(d.hash)}, not the trusted ${bytesToHex(trusted.hash)}: the backup is of another chain, or forged`, {
      code: 'WRONG_CHAIN',
    });
}

/** Consensus rules against the parent: seals by a quorum (unless `seals` is false), the parent link. */
function verifyHeader(header: BlockHeader, parent: BlockHeader, engine: ConsensusEngine, recover?: RecoverSigner, seals = true): void {
  try {
    // History sealed by a quorum: no timestamp in it is "in the future" for a restore (a snapshot of a
    // peer whose clock is ahead of this node's, or one taken within the last seconds, is not forged).
    engine.verifyHeader(header, parent, { ...SEALED_HISTORY, ...(recover ? { recover } : {}), ...(seals ? {} : { seals: false }) });
  } catch (err) {
    throw asSnapshotError(err);
  }
}

/** The seals of a header whose other rules verifyHeader checked. */
function verifySeals(header: BlockHeader, parent: BlockHeader, engine: ConsensusEngine): void {
  try {
    engine.verifySeals(header, parent);
  } catch (err) {
    throw asSnapshotError(err);
  }
}

function asSnapshotError(err: unknown): unknown {
  return err instanceof BlockVerificationError
    ? new BackupFileError(`${err.message} (snapshot is corrupt or forged)`, { code: 'INVALID_BLOCK', cause: err })
    : err;
}

/** The transactions and the receipts of a block whose header is verified, against that header's roots. */
export async function verifyContents(block: Block, receiptsRlp: Uint8Array, where = 'in the snapshot'): Promise<StoredReceipt[]> {
  const n = block.header.number;
  transactionsRoot(block);
  if (!(await block.transactionsTrieIsValid()))
    throw new BackupFileError(`block ${n} ${where}: transactions do not match the header's root`, { code: 'INVALID_BLOCK' });
  let receipts: StoredReceipt[];
  try {
    checkReceiptsRlp(receiptsRlp, block.header.gasUsed, block.transactions.length);
    receipts = decodeReceipts(receiptsRlp);
  } catch (err) {
    throw new BackupFileError(`block ${n} ${where}: receipts cannot be decoded: ${errorMessage(err)}`);
  }
  const bad = await checkReceipts(block, receipts);
  if (bad) throw new BackupFileError(`block ${n} ${where}: ${bad}`, { code: 'INVALID_BLOCK' });
  return receipts;
}
