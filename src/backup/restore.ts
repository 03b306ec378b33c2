import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Block, BlockHeader } from '@ethereumjs/block';
import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { keccak256 } from '../util/keccak.js';
import { Chain } from '../chain/chain.js';
import { quorumRuleOf, type GenesisFile } from '../chain/chain-config.js';
import { Genesis, genesisAt } from '../chain/genesis-source.js';
import type { ConsensusEngine, RecoverSigner } from '../consensus/engine.js';
import { BlockVerificationError } from '../consensus/errors.js';
import { IbftEngine } from '../consensus/ibft/engine.js';
import { BackupFileError } from '../container/errors.js';
import type { SnapshotHeader } from '../snapshot/format.js';
import { readSnapshot } from '../snapshot/reader.js';
import { BlockStore } from '../storage/block-store.js';
import { dataDirLayout } from '../storage/data-dir.js';
import { openNodeDatabases } from '../storage/node-databases.js';
import { decodeReceipts, type StoredReceipt } from '../storage/receipts.js';
import { TrieNodeStore } from '../storage/trie-node-store.js';
import { UserError, errorMessage } from '../util/errors.js';
import { RecoverPool, type RecoveredSigners } from '../util/recover-pool.js';
import { decodeBlockRlp } from './block-records.js';
import { checkReceipts } from './receipts-root.js';
import { MissingStateError, StreamedStateCheck } from './state-walk.js';
import { renameDurably } from '../util/durable.js';

export interface RestoreProgress {
  phase: 'blocks' | 'state' | 'check';
  blocksDone: bigint;
  blocksTotal: bigint;
  nodes: number;
  bytesRead: number;
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
   * data dir), so the restore need not compute it again (a minute at a million accounts, during which
   * a peer's snapshot stream would go unread).
   */
  genesisStateRoot?: Uint8Array;
  engine?: ConsensusEngine;
  onProgress?: (p: RestoreProgress) => void;
}

/**
 * Build a new data dir from a snapshot, trusting nothing it cannot verify: every header against its
 * parent (consensus seals and quorum), transactions and receipts against the header roots, every state
 * node and code against its hash, and finally that the whole state under the head's state root is
 * present. Works in a temporary folder next to `dataDir` and renames it only when all of that
 * passed, so a failed or interrupted restore never leaves a data dir that looks good.
 *
 * A restore writes to the databases directly through the storage accessors (BlockStore,
 * TrieNodeStore.writeState), not through Chain.importBlock: it has no parent state to execute
 * blocks against, and checks what it can without execution instead.
 */
export async function restoreSnapshot(source: AsyncIterable<Uint8Array>, opts: RestoreOptions): Promise<RestoreSummary> {
  const recoverPool = new RecoverPool();
  try {
    return await restoreWith(source, opts, recoverPool);
  } finally {
    await recoverPool.close();
  }
}

async function restoreWith(source: AsyncIterable<Uint8Array>, opts: RestoreOptions, recoverPool: RecoverPool): Promise<RestoreSummary> {
  const began = Date.now();
  let engine: ConsensusEngine = opts.engine ?? new IbftEngine();
  const target = resolve(opts.dataDir);
  checkTarget(target);
  const tmp = restoringFolder(target, process.pid);
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { mode: 0o700 });
  } catch (err) {
    throw new UserError(`cannot create ${tmp}: ${errorMessage(err)}`, { code: 'FAILED_PRECONDITION' });
  }
  const dbs = await openNodeDatabases(dataDirLayout(tmp));
  // The data dir's genesis.json: the operator's genesis file, or the snapshot's, written as it streams
  // in (a genesis of millions of accounts is never held whole) and read back from there.
  const genesisPath = join(tmp, 'genesis.json');
  let genesisFd: number | undefined;
  try {
    let header: SnapshotHeader | undefined;
    let blocks: BlockStore | undefined;
    let state: TrieNodeStore | undefined;
    let rules: Chain['rules'] | undefined;
    let parent: BlockHeader | undefined;
    let headNumber = 0n;
    let nodes = 0;
    let codes = 0;
    let stateCheck: StreamedStateCheck | undefined;
    let pending: Parameters<BlockStore['writeCanonicalBlocks']>[0] = [];
    let pendingBytes = 0;
    const flushBlocks = async () => {
      if (pending.length === 0) return;
      const batch = pending;
      [pending, pendingBytes] = [[], 0];
      await blocks!.writeCanonicalBlocks(batch);
    };
    // Blocks go through in windows: while the seals of one window are recovered in worker threads
    // (RecoverPool), the window before it is checked against them and written.
    type Decoded = { block: Block; hash: Uint8Array; receiptsRlp: Uint8Array; bytesRead: number; size: number };
    let window: Decoded[] = [];
    let windowBytes = 0;
    let inFlight: { blocks: Decoded[]; signers: Promise<RecoveredSigners> } | undefined;
    const settleWindow = async () => {
      if (!inFlight) return;
      const { blocks: decoded, signers } = inFlight;
      inFlight = undefined;
      const { recover } = await signers;
      for (const d of decoded) {
        const receipts = await verifyBlock(d.block, d.receiptsRlp, parent!, engine, recover);
        // Verified blocks are written WRITE_BLOCKS at a time (or WRITE_BLOCK_BYTES), one batch each: the
        // restore works in a folder of its own, renamed only once all of it is checked.
        pending.push({ block: d.block, hash: d.hash, receipts });
        pendingBytes += d.size;
        if (pending.length >= WRITE_BLOCKS || pendingBytes >= WRITE_BLOCK_BYTES) await flushBlocks();
        parent = d.block.header;
        opts.onProgress?.({ phase: 'blocks', blocksDone: d.block.header.number, blocksTotal: headNumber, nodes, bytesRead: d.bytesRead });
      }
    };
    const dispatchWindow = async () => {
      if (window.length === 0) return;
      const decoded = window;
      [window, windowBytes] = [[], 0];
      const signers = recoverPool.recoverAll(decoded.flatMap((d) => engine.sealSignatures(d.block.header)));
      signers.catch(() => undefined); // awaited by settleWindow
      await settleWindow();
      inFlight = { blocks: decoded, signers };
    };
    /** Once the snapshot's genesis is read: check it and write the genesis block (no state: the snapshot brings the head's). */
    const begin = async () => {
      const h = header!;
      if (genesisFd !== undefined) {
        fsyncSync(genesisFd);
        closeSync(genesisFd);
        genesisFd = undefined;
      }
      const genesis =
        opts.genesis !== undefined ? await Genesis.of(opts.genesis) : await Genesis.read({ ...genesisAt(genesisPath), name: "the snapshot's genesis" });
      if (opts.genesis !== undefined) await copyGenesis(genesis, genesisPath);
      // Seals are counted under the genesis file's quorum rule (its switch block).
      if (opts.engine === undefined) engine = new IbftEngine(quorumRuleOf(genesis.config));
      const made = await Chain.createGenesis({
        blockchainDb: dbs.blockchain,
        trieDb: dbs.trie,
        genesis,
        engine,
        writeGenesisState: false,
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
      rules = made.rules;
      parent = made.header;
      blocks = new BlockStore(dbs.blockchain, rules);
      state = new TrieNodeStore(dbs.trie);
      stateCheck = new StreamedStateCheck(hexToBytes(h.head.stateRoot as `0x${string}`));
    };
    for await (const ev of readSnapshot(source)) {
      if (ev.kind === 'header') {
        header = ev.header;
        headNumber = BigInt(header.head.number);
        if (opts.genesis === undefined) {
          genesisFd = openSync(genesisPath, 'w', 0o600);
          if (header.genesis !== undefined) writeSync(genesisFd, `${JSON.stringify(header.genesis, null, 2)}\n`);
        }
        continue;
      }
      if (ev.kind === 'genesis') {
        if (genesisFd !== undefined) writeSync(genesisFd, ev.piece);
        continue;
      }
      if (rules === undefined) await begin();
      if (ev.kind !== 'block') {
        await dispatchWindow();
        await settleWindow();
        await flushBlocks();
      }
      if (ev.kind === 'block') {
        const block = decodeBlockRlp(ev.blockRlp, ev.number, ev.hash, rules!.commonAt(ev.number), 'snapshot');
        const size = ev.blockRlp.length + ev.receiptsRlp.length;
        window.push({ block, hash: ev.hash, receiptsRlp: ev.receiptsRlp, bytesRead: ev.bytesRead, size });
        windowBytes += size;
        if (window.length >= SEAL_WINDOW_BLOCKS || windowBytes >= SEAL_WINDOW_BYTES) await dispatchWindow();
      } else if (ev.kind === 'nodes' || ev.kind === 'code') {
        // Each item is stored under its own hash, so whatever is reachable from the head's root is authentic.
        const items = ev.items.map((data) => ({ hash: keccak256(data), data }));
        // Checked as they come, in the order the walk wrote them (a node after the one referring to it),
        // so the state need not be read back from disk at the end.
        try {
          if (ev.kind === 'nodes') for (const it of items) stateCheck!.node(it.hash, it.data);
          else for (const it of items) stateCheck!.code(it.hash);
        } catch (err) {
          if (err instanceof MissingStateError)
            throw new BackupFileError(`snapshot's state is not the head's: ${err.message} (altered, padded or out of order)`, { cause: err });
          throw err;
        }
        await state!.writeState(ev.kind === 'nodes' ? { nodes: items, codes: [] } : { nodes: [], codes: items });
        if (ev.kind === 'nodes') nodes += items.length;
        else codes += items.length;
        opts.onProgress?.({ phase: 'state', blocksDone: headNumber, blocksTotal: headNumber, nodes, bytesRead: ev.bytesRead });
      } else if (ev.kind === 'trailer') {
        const h = header!;
        if (ev.trailer.lastBlockHash !== h.head.hash)
          throw new BackupFileError(`snapshot head ${h.head.hash} is not its last block ${ev.trailer.lastBlockHash}`);
        if (bytesToHex(parent!.stateRoot) !== h.head.stateRoot) throw new BackupFileError("snapshot header names a state root that is not its head block's");
        opts.onProgress?.({ phase: 'check', blocksDone: headNumber, blocksTotal: headNumber, nodes, bytesRead: ev.bytesRead });
        let reachable: { nodes: number; codes: number };
        try {
          // Each node read was referred to by one before it, once: what is still awaited is missing.
          reachable = stateCheck!.finish();
        } catch (err) {
          if (err instanceof MissingStateError) throw new BackupFileError(`snapshot is incomplete: ${err.message}`, { cause: err });
          throw err;
        }
        await dbs.close();
        renameDurably(tmp, target);
        return {
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
        };
      }
    }
    throw new BackupFileError('snapshot ended without a trailer'); // readSnapshot throws first
  } catch (err) {
    if (genesisFd !== undefined) closeSync(genesisFd);
    await dbs.close();
    rmSync(tmp, { recursive: true, force: true });
    throw err;
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
export function restoringFolder(target: string, pid: number): string {
  return join(dirname(target), `.${basename(target)}.restoring-${pid}`);
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

/** A restore writes verified blocks this many (or this many bytes) to a LevelDB batch. */
const WRITE_BLOCKS = 512;
const WRITE_BLOCK_BYTES = 4 << 20;
/** Blocks (or bytes of blocks) whose seals are recovered together, ahead of their checks. */
const SEAL_WINDOW_BLOCKS = 256;
const SEAL_WINDOW_BYTES = 8 << 20;

const SEALED_HISTORY = { nowSeconds: BigInt(Number.MAX_SAFE_INTEGER) };

/** Consensus rules against the parent, the transactions root, and the receipts against the header. */
async function verifyBlock(
  block: Block,
  receiptsRlp: Uint8Array,
  parent: BlockHeader,
  engine: ConsensusEngine,
  recover?: RecoverSigner,
): Promise<StoredReceipt[]> {
  const n = block.header.number;
  try {
    // History sealed by a quorum: no timestamp in it is "in the future" for a restore (a snapshot of a
    // peer whose clock is ahead of this node's, or one taken within the last seconds, is not forged).
    engine.verifyHeader(block.header, parent, { ...SEALED_HISTORY, ...(recover ? { recover } : {}) });
  } catch (err) {
    if (err instanceof BlockVerificationError)
      throw new BackupFileError(`${err.message} (snapshot is corrupt or forged)`, { code: 'INVALID_BLOCK', cause: err });
    throw err;
  }
  if (!(await block.transactionsTrieIsValid()))
    throw new BackupFileError(`block ${n} in the snapshot: transactions do not match the header's root`, { code: 'INVALID_BLOCK' });
  let receipts: StoredReceipt[];
  try {
    receipts = decodeReceipts(receiptsRlp);
  } catch {
    throw new BackupFileError(`block ${n} in the snapshot: receipts cannot be decoded`);
  }
  const bad = await checkReceipts(block, receipts);
  if (bad) throw new BackupFileError(`block ${n} in the snapshot: ${bad}`, { code: 'INVALID_BLOCK' });
  return receipts;
}
