import { bytesToHex, concatBytes } from '@ethereumjs/util';
import type { ChainReadView } from '../chain/chain.js';
import { MAX_HEADER_BYTES, parseJsonObject } from '../container/framing.js';
import { ITEMS_RECORD_BYTES, SNAPSHOT_VERSION, type GenesisStream, type SnapshotHeader } from '../snapshot/format.js';
import { blockRawBound, snapshotSizeBound, SnapshotWriter, type PreparedBlock, type SnapshotSizes } from '../snapshot/writer.js';
import type { BlockReader } from '../storage/block-store.js';
import type { StateSize } from '../storage/schema.js';
import { UserError } from '../util/errors.js';
import { Semaphore } from '../util/mutex.js';
import { stateItems, type StateOrder } from './state-walk.js';
import type { SnapshotProgress, SnapshotRequest, SnapshotSummary } from './types.js';
import type { ExportSource } from './export.js';
import { mapAhead } from '../util/map-ahead.js';

/** The format version of a snapshot without history (`headersOnly`), for snapshot sync's check of what a peer sent. */
export { SNAPSHOT_VERSION_HEADERS } from '../snapshot/format.js';

/** What a snapshot reads: what an export reads, and the genesis file the chain was created with. */
export interface SnapshotSource extends ExportSource {
  /** The genesis file's bytes, streamed when a snapshot is made (a large alloc is never held). */
  genesisFile(): Promise<GenesisStream>;
  /**
   * Keep the size of a state a snapshot walked whole (schema.STATE_SIZE_KEY), for sizeEstimate; absent
   * where nothing is kept. Best effort: a snapshot never fails for it.
   */
  recordStateSize?(size: StateSize): Promise<void>;
}

export interface ChainSnapshot {
  header: SnapshotHeader;
  /** The snapshot's bytes. Iterate once. */
  chunks: AsyncGenerator<Uint8Array, SnapshotSummary>;
  /** Release the LevelDB snapshots; idempotent. Needed when `chunks` is abandoned before its end. */
  close(): Promise<void>;
  /**
   * The most bytes `chunks` will produce (snapshotSizeBound), measured on the same view before any is
   * produced, without compressing: the size of every block (those `history` has not seen yet) and a
   * walk of the head's state, unless `stateSizes` (createSnapshot's option) knows that state's sizes in
   * this order. The walk is most of what producing the snapshot costs (67,000 state nodes: 5.3 s of
   * 7.0 s on the reference machine), paid before the first byte. `signal` stops it, or its wait for the
   * walk before it (the peer that asked has gone).
   */
  sizeBound(history?: HistorySizes, signal?: AbortSignal): Promise<number>;
  /**
   * About the bytes `chunks` will produce, without a walk of the state: the blocks counted as in
   * sizeBound, the state as `stateSizes` knows it (exact: `estimated` false), else as the source last
   * measured a state whole in tree order (`StateSize`: a genesis written, a restore, a snapshot's walk).
   * Exact when that state is the head's; a state that changed since makes it off by what changed. Where
   * no such figure is kept, or it is more than STATE_SIZE_FRESH_BLOCKS old, it is sizeBound (which
   * walks, and keeps what it measured for the next time). `estimated` is false then.
   */
  sizeEstimate(history?: HistorySizes, signal?: AbortSignal): Promise<{ bytes: number; estimated: boolean }>;
}

/**
 * How many blocks old a kept state size may be for sizeEstimate to use it (else it walks the state and
 * keeps the new figure): about 9 h of 2 s blocks. A node's scheduled snapshots (every 6 h by default)
 * keep it fresh.
 */
export const STATE_SIZE_FRESH_BLOCKS = 16_384n;

/**
 * The kept state size if it can stand for the state of block `head`: counted in tree order, of a block
 * at most STATE_SIZE_FRESH_BLOCKS below it (not past it). Else undefined: measure again.
 */
export function usableStateSize(kept: StateSize | undefined, head: bigint): StateSize | undefined {
  if (kept?.order !== 'tree') return undefined;
  const age = head - kept.number;
  return age < 0n || age > STATE_SIZE_FRESH_BLOCKS ? undefined : kept;
}

/** A state's nodes and codes as a walk lists them in one order: how many, and their bytes in all. */
export interface ListedState {
  nodes: { count: number; bytes: number };
  codes: { count: number; bytes: number };
}

/** The states StateSizes keeps the sizes of (the newest listed). */
const STATE_SIZES_KEPT = 8;

/**
 * The sizes of the states this process listed whole (a sizing walk, or a snapshot that streamed its
 * state to its end), by state root and order: exact for any snapshot of that state in that order (the
 * walk is the same), so a snapshot of a state listed before is sized without a walk. A serving node's
 * head state changes only with a block that changes it: every peer asking meanwhile is answered from
 * the one walk. Unlike `StateSize` (a hint on disk, which may be of another state or counted by another
 * writer), these bound a snapshot exactly: snapshot protocol version 4 announces a bound from them.
 *
 * Also the gate of sizing walks: one at a time, the others waiting their turn; one that waited finds the
 * figure of the walk before it when that was of the same state.
 */
export class StateSizes {
  private readonly kept = new Map<string, ListedState>();
  private readonly walking = new Semaphore(1);

  get(root: Uint8Array, order: StateOrder): ListedState | undefined {
    const s = this.kept.get(stateKey(root, order));
    return s && { nodes: { ...s.nodes }, codes: { ...s.codes } };
  }

  set(root: Uint8Array, order: StateOrder, sizes: ListedState): void {
    const key = stateKey(root, order);
    this.kept.delete(key); // the newest last
    this.kept.set(key, { nodes: { ...sizes.nodes }, codes: { ...sizes.codes } });
    for (const old of this.kept.keys()) {
      if (this.kept.size <= STATE_SIZES_KEPT) break;
      this.kept.delete(old);
    }
  }

  /**
   * The state's sizes: kept, or listed by `walk` once the walk before it has ended (`beforeWalk` is told
   * first, and may throw to refuse it). `signal` gives up the wait (the walk itself watches it too).
   */
  async measure(
    root: Uint8Array,
    order: StateOrder,
    walk: () => Promise<ListedState>,
    opts: { signal?: AbortSignal; beforeWalk?: () => void } = {},
  ): Promise<ListedState> {
    const known = this.get(root, order);
    if (known) return known;
    opts.beforeWalk?.();
    await this.walking.acquire(opts.signal);
    try {
      const listed = this.get(root, order) ?? (await walk());
      this.set(root, order, listed);
      return listed;
    } finally {
      this.walking.release();
    }
  }
}

function stateKey(root: Uint8Array, order: StateOrder): string {
  return `${order}:${bytesToHex(root)}`;
}

/** Blocks compressed ahead of the one written; the size at which block records go out as one chunk. */
const BLOCKS_AHEAD = 32;
const CHUNK_BYTES = 256 << 10;

/**
 * The summed block sizes (blockRawBound) of blocks 1..n of one chain, kept between the snapshots a node
 * serves, so each one reads only the blocks added since the last. Blocks below a canonical block cannot
 * change; if block n is not the view's canonical block n any more (another chain), it starts over.
 * Concurrent callers each count on their own and the furthest count is kept.
 */
export class HistorySizes {
  private n = 0n;
  private hash = '';
  private raw = 0;

  /** `parts`: whole blocks (blockRawBound each), or headers alone (their RLP length: version 3). */
  constructor(readonly parts: 'blocks' | 'headers' = 'blocks') {}

  /** `signal` stops the count (the peer that asked has gone): what was counted until then is kept. */
  async upTo(blocks: BlockReader, head: bigint, signal?: AbortSignal): Promise<number> {
    let { n, hash, raw } = this;
    const known = n > 0n && n <= head ? await blocks.canonicalHash(n) : undefined;
    if (!known || bytesToHex(known) !== hash) [n, hash, raw] = [0n, '', 0];
    try {
      if (n < head && this.parts === 'headers') {
        for await (const h of blocks.storedHeaders(n + 1n, head)) {
          raw += h.headerRlp.length;
          [n, hash] = [h.number, bytesToHex(h.hash)];
          if ((n & 1023n) === 0n) signal?.throwIfAborted();
        }
      } else if (n < head) {
        for await (const b of blocks.storedBlocks(n + 1n, head)) {
          raw += blockRawBound(b.blockRlp.length, b.receiptsRlp.length);
          [n, hash] = [b.number, bytesToHex(b.hash)];
          if ((n & 1023n) === 0n) signal?.throwIfAborted();
        }
      }
    } finally {
      if (n > this.n) [this.n, this.hash, this.raw] = [n, hash, raw];
    }
    return raw;
  }
}

/**
 * A snapshot of the whole node at its head, read from one consistent view of both databases
 * (Chain.openReadView): the block history with receipts, then the head's world state. The node goes
 * on sealing and serving meanwhile.
 */
export async function createSnapshot(
  source: SnapshotSource,
  opts: SnapshotRequest & {
    onProgress?: (p: SnapshotProgress) => void;
    /**
     * Version 3, without history: the headers of blocks 1..head-1 and the head whole (snapshot sync's,
     * for a node that back-fills from its peers). A node back-filling its own history can serve it.
     */
    headersOnly?: boolean;
    /**
     * The order of the state's nodes (StateOrder): 'tree' (the default: neither this side nor the
     * restore remembers every node), or 'unique' for a reader of an earlier Basalt version (a peer
     * asking with an earlier snapshot protocol).
     */
    stateOrder?: StateOrder;
    /**
     * The sizes of states listed before, kept between snapshots (a node serving its peers), and the gate
     * of their sizing walks (one at a time); a snapshot that lists its state to the end adds its own.
     * Default: this snapshot's alone.
     */
    stateSizes?: StateSizes;
    /** Told before a sizing walk is queued (none when `stateSizes` knows the state); a throw refuses the sizing. */
    beforeSizingWalk?: () => void;
    /** Told when a sizing walk starts for this snapshot (its turn came and the state was still not known). */
    sizingWalkStarts?: () => void;
  },
): Promise<ChainSnapshot> {
  const headersOnly = opts.headersOnly === true;
  const order = opts.stateOrder ?? 'tree';
  const stateSizes = opts.stateSizes ?? new StateSizes();
  const view = source.openReadView();
  try {
    const headHash = await view.blocks.headHash();
    const headNumber = headHash && (await view.blocks.blockNumber(headHash));
    const head = headHash && headNumber !== undefined ? await view.blocks.header(headNumber, headHash) : undefined;
    if (!headHash || headNumber === undefined || !head) throw new UserError('the chain has no head block', { code: 'FAILED_PRECONDITION' });
    // Named once narrowed: the functions below are hoisted, and the checks above do not reach into them.
    const top: bigint = headNumber;
    const stateRoot = head.stateRoot;
    // A snapshot holds blocks 1..head; the genesis alone is what the genesis file already gives.
    if (headNumber < 1n) throw new UserError('the chain has only its genesis block: nothing to snapshot yet', { code: 'FAILED_PRECONDITION' });
    // A snapshot carries every block: refused before any byte while some are still being back-filled.
    const gap = headersOnly ? undefined : await view.blocks.historyGap();
    if (gap) {
      throw new UserError(
        `this node's history is still being back-filled (blocks ${gap.from}-${gap.to}): a snapshot carries every block; take it once \`basalt status\` shows the history complete`,
        { code: 'FAILED_PRECONDITION' },
      );
    }
    const header: SnapshotHeader = {
      format: 'basalt-snapshot',
      version: SNAPSHOT_VERSION,
      chainId: source.chainId.toString(),
      genesisHash: bytesToHex(source.genesisHash),
      genesis: await genesisForHeader(await source.genesisFile()),
      head: { number: headNumber.toString(), hash: bytesToHex(headHash), stateRoot: bytesToHex(head.stateRoot) },
      compression: opts.compression,
      ...(order === 'tree' ? { stateOrder: 'tree' as const } : {}),
    };
    // Refuses a genesis the snapshot format cannot carry now, before a byte is produced.
    const writer = new SnapshotWriter(header, headersOnly);
    return {
      header,
      chunks: generate(view, writer, headNumber, head.stateRoot, order, opts.onProgress, (nodes, codes) => {
        stateSizes.set(stateRoot, order, { nodes, codes });
        return record(source, { root: head.stateRoot, number: headNumber, order }, nodes, codes);
      }),
      close: view.close,
      sizeBound: (history, signal) => sizeBound(history, signal),
      sizeEstimate: async (history, signal) => {
        // This very state listed before: exact, without a walk.
        if (stateSizes.get(stateRoot, order)) return { bytes: await sizeBound(history, signal), estimated: false };
        // Counted in another order (each node once: fewer), too long ago, or of a block past the head: measured again.
        const known = usableStateSize(await view.blocks.stateSize(), headNumber);
        if (!known) return { bytes: await sizeBound(history, signal), estimated: false };
        const sizes = await historySizes(history, signal);
        sizes.nodes = { count: known.nodes, bytes: known.nodeBytes };
        sizes.codes = { count: known.codes, bytes: known.codeBytes };
        return { bytes: snapshotSizeBound(sizes), estimated: true };
      },
    };

    /** The snapshot's sizes with its blocks (or headers) counted, its state not yet. */
    async function historySizes(history = new HistorySizes(headersOnly ? 'headers' : 'blocks'), signal?: AbortSignal): Promise<SnapshotSizes> {
      if (history.parts !== (headersOnly ? 'headers' : 'blocks'))
        throw new Error(`snapshot size: ${history.parts} sizes for a snapshot of version ${writer.version}`);
      const below = headersOnly ? top - 1n : top;
      let headRaw = 0;
      if (headersOnly) for await (const b of view.blocks.storedBlocks(top, top)) headRaw = blockRawBound(b.blockRlp.length, b.receiptsRlp.length);
      const counted = { count: below, raw: await history.upTo(view.blocks, below, signal) };
      return {
        header,
        ...(headersOnly ? { blocks: { count: 1n, raw: headRaw }, headers: counted } : { blocks: counted }),
        nodes: { count: 0, bytes: 0 },
        codes: { count: 0, bytes: 0 },
      };
    }

    async function sizeBound(history?: HistorySizes, signal?: AbortSignal): Promise<number> {
      const sizes = await historySizes(history, signal);
      const measured = () => {
        opts.sizingWalkStarts?.();
        return walk(signal);
      };
      const state = await stateSizes.measure(stateRoot, order, measured, { signal, beforeWalk: opts.beforeSizingWalk });
      return snapshotSizeBound({ ...sizes, ...state });
    }

    /** The head's state listed whole, counted (and its size kept, where the source keeps one). */
    async function walk(signal?: AbortSignal): Promise<ListedState> {
      const sizes: ListedState = { nodes: { count: 0, bytes: 0 }, codes: { count: 0, bytes: 0 } };
      for await (const item of stateItems(view.state, stateRoot, undefined, order)) {
        signal?.throwIfAborted();
        const it = item.kind === 'node' ? sizes.nodes : sizes.codes;
        it.count++;
        it.bytes += item.data.length;
      }
      await record(source, { root: stateRoot, number: top, order }, sizes.nodes, sizes.codes);
      return sizes;
    }
  } catch (err) {
    await view.close();
    throw err;
  }
}

async function* generate(
  view: ChainReadView,
  writer: SnapshotWriter,
  headNumber: bigint,
  stateRoot: Uint8Array,
  order: StateOrder,
  onProgress: ((p: SnapshotProgress) => void) | undefined,
  /** The state's sizes, once it was listed whole. */
  onStateListed: (nodes: { count: number; bytes: number }, codes: { count: number; bytes: number }) => Promise<void>,
): AsyncGenerator<Uint8Array, SnapshotSummary> {
  const began = Date.now();
  const header = writer.header;
  let nodes = 0;
  let codes = 0;
  let nodesExpected = 0;
  const progress = (phase: SnapshotProgress['phase'], blocksDone: bigint) =>
    onProgress?.({ phase, blocksDone, blocksTotal: headNumber, nodes, codes, bytes: writer.bytesWritten, nodesExpected });
  try {
    if (onProgress) nodesExpected = usableStateSize(await view.blocks.stateSize(), headNumber)?.nodes ?? 0;
    for await (const bytes of writer.start()) yield bytes;
    // Blocks read by range (storedBlocks) and compressed up to BLOCKS_AHEAD at once on libuv's thread
    // pool (one at a time, a light block costs a thread-pool round trip of its own); their records go
    // out in order, grouped into chunks of CHUNK_BYTES.
    // Version 3: headers below the head (their own range read), then the head whole.
    async function* records(): AsyncGenerator<() => Promise<PreparedBlock>> {
      if (writer.headersOnly) {
        for await (const h of view.blocks.storedHeaders(1n, headNumber - 1n)) yield () => writer.prepareHeader(h.number, h.hash, h.headerRlp);
      }
      for await (const b of view.blocks.storedBlocks(writer.headersOnly ? headNumber : 1n, headNumber))
        yield () => writer.prepareBlock(b.number, b.hash, b.blockRlp, b.receiptsRlp);
    }
    const prepared = mapAhead(records(), BLOCKS_AHEAD, (prepare) => prepare());
    let chunk: Uint8Array[] = [];
    let chunkBytes = 0;
    for await (const block of prepared) {
      const record = writer.blockRecord(block);
      chunk.push(record);
      chunkBytes += record.length;
      if (chunkBytes >= CHUNK_BYTES || block.number === headNumber) {
        yield chunk.length === 1 ? chunk[0]! : concatBytes(...chunk);
        [chunk, chunkBytes] = [[], 0];
      }
      progress('blocks', block.number);
    }
    // World state at the head: only the nodes reachable from its state root, in the walk's order, and
    // code records written as they fill (not held to the end: the code of a chain may be GBs).
    // snapshotSizeBound counts on this grouping: a nodes record closes once it holds ITEMS_RECORD_BYTES,
    // a code record before the next code would take it there.
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    let codeGroup: Uint8Array[] = [];
    let codeBytes = 0;
    const listed = { nodes: { count: 0, bytes: 0 }, codes: { count: 0, bytes: 0 } };
    for await (const item of stateItems(view.state, stateRoot, undefined, order)) {
      const it = item.kind === 'code' ? listed.codes : listed.nodes;
      it.count++;
      it.bytes += item.data.length;
      if (item.kind === 'code') {
        if (codeGroup.length > 0 && codeBytes + item.data.length >= ITEMS_RECORD_BYTES) {
          yield await writer.items('code', codeGroup);
          codeGroup = [];
          codeBytes = 0;
        }
        codeGroup.push(item.data);
        codeBytes += item.data.length + 4;
        codes++;
        continue;
      }
      batch.push(item.data);
      batchBytes += item.data.length + 4;
      nodes++;
      if (batchBytes >= ITEMS_RECORD_BYTES) {
        yield await writer.items('nodes', batch);
        batch = [];
        batchBytes = 0;
        progress('state', headNumber);
      }
    }
    if (batch.length > 0) yield await writer.items('nodes', batch);
    if (codeGroup.length > 0) yield await writer.items('code', codeGroup);
    progress('state', headNumber);
    await onStateListed(listed.nodes, listed.codes);
    const fin = writer.finish();
    yield fin.bytes;
    return {
      head: headNumber,
      headHash: header.head.hash,
      stateRoot: header.head.stateRoot,
      blocks: headNumber,
      nodes: fin.nodes,
      codes: fin.codes,
      bytes: writer.bytesWritten,
      digest: fin.digest,
      durationMs: Date.now() - began,
    };
  } finally {
    await view.close();
  }
}

/**
 * Keep a state's size, listed whole in tree order (what version 5 estimates from), where the source
 * keeps one; a failure to keep it fails nothing.
 */
async function record(
  source: SnapshotSource,
  at: { root: Uint8Array; number: bigint; order: StateOrder },
  nodes: { count: number; bytes: number },
  codes: { count: number; bytes: number },
): Promise<void> {
  if (at.order !== 'tree') return;
  try {
    await source.recordStateSize?.({ ...at, order: 'tree', nodes: nodes.count, nodeBytes: nodes.bytes, codes: codes.count, codeBytes: codes.bytes });
  } catch {
    // A hint only (schema.STATE_SIZE_KEY): the next walk measures it again.
  }
}

/** A genesis small enough for a version 1 header, as its object (what every Basalt reads); else its bytes. */
async function genesisForHeader(g: GenesisStream): Promise<object | GenesisStream> {
  if (g.size >= MAX_HEADER_BYTES) return g;
  const pieces: Uint8Array[] = [];
  for await (const p of g.open()) pieces.push(p);
  return parseJsonObject(Buffer.concat(pieces), 'stored genesis');
}
