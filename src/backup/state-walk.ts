import { KECCAK256_NULL, KECCAK256_RLP, bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { StateReader } from '../storage/trie-node-store.js';
import { HashCounts } from '../util/hash-counts.js';
import { CodeMemory, MAX_REMEMBERED_CODES } from '../util/code-memory.js';
import { HashSet } from '../util/hash-set.js';
import { errorMessage } from '../util/errors.js';
import { type RlpSpan, RlpSpanError, rlpListItems, rlpSpanAt } from '../util/rlp-spans.js';

export class MissingStateError extends Error {}

type Kind = 'account' | 'storage';
/** A Kind as StreamedStateCheck's table keeps it. */
const KIND_TAG = { account: 0, storage: 1 } as const;

export type StateItem = { kind: 'node'; hash: Uint8Array; data: Uint8Array } | { kind: 'code'; hash: Uint8Array; data: Uint8Array };

/** What a stored trie node refers to: child nodes (by hash, with the trie they belong to) and contract code. */
interface References {
  node(hash: Uint8Array, kind: Kind): void;
  code(hash: Uint8Array): void;
}

/**
 * The order of a state walk's nodes (stateItems), and what its reader (StreamedStateCheck) expects.
 * - 'unique': each stored node once, each code once. Both sides remember every node they have seen,
 *   so memory grows with the state (16 bytes a node). Snapshots of earlier Basalt versions use it,
 *   and a node serves it to a peer asking with an earlier snapshot protocol.
 * - 'tree': every reference is followed, so a subtree two places share (the same storage in two
 *   contracts, the same small leaf in two storage tries) comes once for each place, and neither side
 *   remembers the nodes: memory is the walk's stack. A code comes the first time an account refers to
 *   it while both sides remember fewer than MAX_REMEMBERED_CODES codes, and for every later account
 *   of a code past that (the rule is exact, so the reader knows which codes are still to come).
 *   Snapshots say it in their header (`stateOrder`).
 */
export type StateOrder = 'unique' | 'tree';

/**
 * Call `refs` for every node and code the trie node `data` refers to: its children stored by hash
 * (inline children, shorter than 32 bytes, are walked in place), and for an account leaf its storage
 * trie's root and its code. Read by its RLP spans, not decoded: a child list of 32 bytes or more is
 * refused (the trie refers to such a node by its hash), which also bounds how deep inline nodes nest.
 * Throws MissingStateError for a node that is not a trie node, whatever is wrong with it.
 */
function references(data: Uint8Array, kind: Kind, refs: References): void {
  const visit = (span: RlpSpan): void => {
    if (!span.list) return;
    const items = rlpListItems(data, span);
    if (items.length === 17) {
      for (let i = 0; i < 16; i++) child(items[i]!);
      return;
    }
    if (items.length !== 2) throw new MissingStateError(`malformed trie node with ${items.length} items`);
    const [path, value] = items as [RlpSpan, RlpSpan];
    if (path.list) throw new MissingStateError('malformed trie node path');
    const isLeaf = path.end > path.payloadAt && data[path.payloadAt]! >> 4 >= 2;
    if (!isLeaf) return child(value);
    if (kind === 'account') account(value);
  };
  const child = (span: RlpSpan): void => {
    if (span.list) {
      if (span.end - span.at >= 32)
        throw new MissingStateError(`an inline trie node of ${span.end - span.at} bytes (a node of 32 bytes or more is referred to by its hash)`);
      return visit(span); // an inline node
    }
    const length = span.end - span.payloadAt;
    if (length === 32) refs.node(data.slice(span.payloadAt, span.end), kind);
    else if (length !== 0) throw new MissingStateError('malformed trie node reference');
  };
  const account = (value: RlpSpan): void => {
    const bytes = data.subarray(value.payloadAt, value.end);
    let fields: RlpSpan[];
    try {
      const outer = rlpSpanAt(bytes, 0);
      if (value.list || !outer.list || outer.end !== bytes.length) throw new RlpSpanError('not one RLP list');
      fields = rlpListItems(bytes, outer);
    } catch (err) {
      throw new MissingStateError(`malformed account in the state trie: ${errorMessage(err)}`);
    }
    if (fields.length !== 4 || fields.some((f) => f.list)) throw new MissingStateError('malformed account in the state trie');
    const storageRoot = bytes.subarray(fields[2]!.payloadAt, fields[2]!.end);
    const codeHash = bytes.subarray(fields[3]!.payloadAt, fields[3]!.end);
    if (storageRoot.length === 32 && !equalsBytes(storageRoot, KECCAK256_RLP)) refs.node(storageRoot.slice(), 'storage');
    if (codeHash.length === 32 && !equalsBytes(codeHash, KECCAK256_NULL)) refs.code(codeHash.slice());
  };
  try {
    const top = rlpSpanAt(data, 0);
    if (top.end !== data.length) throw new RlpSpanError('bytes after its RLP item');
    visit(top);
  } catch (err) {
    if (err instanceof RlpSpanError) throw new MissingStateError(`a state trie node is not RLP: ${errorMessage(err)}`);
    throw err;
  }
}

/**
 * The world state reachable from `stateRoot`: the account trie, every account's storage trie and
 * every contract's code (nodes shorter than 32 bytes live inline in their parent and are not stored),
 * each node and code once or as often as `order` says (below). Throws MissingStateError if a referenced
 * node or code is absent. Depth-first with an explicit stack, so deep tries cannot overflow, reading
 * the top WALK_BATCH nodes of the stack at a time; a node comes after the node that refers to it, and
 * an account's code right after the node holding the account (StreamedStateCheck relies on that order).
 * With `skip`, what it says is stored already is left out, each such node with everything below it
 * (in order 'tree', a `skip` that also names what this walk gave already keeps it from giving a shared
 * subtree twice).
 *
 * Order 'unique' (the default) gives each node and code once, remembering every node visited (16
 * bytes a node in a HashSet: 64 MB at 2.7 million nodes, growing with the state). Order 'tree' (see
 * StateOrder) remembers nothing of the nodes: its memory is the stack, whatever the size of the state.
 */
export async function* stateItems(
  source: StateReader,
  stateRoot: Uint8Array,
  skip?: StoredElsewhere | MarkedAlready,
  order: StateOrder = 'unique',
  /** Tests only: the format's MAX_REMEMBERED_CODES, smaller. */
  rememberedCodes = MAX_REMEMBERED_CODES,
): AsyncGenerator<StateItem> {
  const seenNodes = order === 'unique' ? new HashSet() : undefined;
  const codes = new CodeMemory(order, rememberedCodes);
  const stack: { hash: Uint8Array; kind: Kind }[] = [];
  if (!equalsBytes(stateRoot, KECCAK256_RLP)) stack.push({ hash: stateRoot, kind: 'account' });
  const pendingCode: Uint8Array[] = [];
  const refs: References = {
    node: (hash, kind) => stack.push({ hash, kind }),
    code: (hash) => {
      if (codes.given(hash)) pendingCode.push(hash);
    },
  };

  const read = (b: readonly { hash: Uint8Array }[]) => (source.nodes ? source.nodes(b.map((x) => x.hash)) : Promise.all(b.map((x) => source.node(x.hash))));
  if (typeof skip !== 'function') {
    // Nothing to wait for before a read: the next batch's read starts as soon as this batch's
    // references are known (the stack is then what it is once this batch is given), and runs while
    // this batch is given to the consumer (a restore writing it, a snapshot compressing it, a prune
    // marking it): the same order, without waiting for one read at a time.
    const marks = skip;
    // With marks: the nodes of this batch and of the one before (taken, not yet given, so not marked
    // yet), so that a subtree two of them share is not walked twice side by side.
    let taken = marks ? new HashSet() : undefined;
    let takenBefore = marks ? new HashSet() : undefined;
    const take = () => {
      const b: { hash: Uint8Array; kind: Kind }[] = [];
      if (taken !== undefined) {
        [takenBefore, taken] = [taken, takenBefore!];
        taken.clear();
      }
      while (b.length < WALK_BATCH && stack.length > 0) {
        const next = stack.pop()!;
        if (marks !== undefined && (marks.marked('nodes', next.hash) || takenBefore!.has(next.hash) || !taken!.add(next.hash))) continue;
        if (seenNodes === undefined || seenNodes.add(next.hash)) b.push(next);
      }
      return b;
    };
    let batch = take();
    let reading = batch.length > 0 ? read(batch) : undefined;
    while (batch.length > 0) {
      const datas = await reading!;
      // Each node's references, and the codes it names (given right after it), in the walk's order;
      // up to the first missing node, whose error comes after the nodes before it are given.
      const codesAfter: Uint8Array[][] = [];
      let missing: number | undefined;
      for (let i = 0; i < batch.length; i++) {
        const node = datas[i];
        if (node === undefined) {
          missing = i;
          break;
        }
        references(node, batch[i]!.kind, refs);
        codesAfter.push(pendingCode.reverse().splice(0));
      }
      const following = missing === undefined ? take() : [];
      const followingRead = following.length > 0 ? read(following) : undefined;
      followingRead?.catch(() => undefined); // awaited next round, unless the consumer stops first
      for (let i = 0; i < codesAfter.length; i++) {
        const { hash } = batch[i]!;
        yield { kind: 'node', hash, data: datas[i]! };
        for (const codeHash of codesAfter[i]!) {
          if (marks?.marked('code', codeHash)) continue;
          const code = await source.code(codeHash);
          if (code === undefined) throw new MissingStateError(`contract code ${bytesToHex(codeHash)} is missing`);
          yield { kind: 'code', hash: codeHash, data: code };
        }
      }
      if (missing !== undefined) throw new MissingStateError(`state trie node ${bytesToHex(batch[missing]!.hash)} is missing`);
      batch = following;
      reading = followingRead;
    }
    return;
  }

  // With a `skip`: one batch at a time, since the skip must see what the consumer stored of the batch before.
  const batch: { hash: Uint8Array; kind: Kind }[] = [];
  // In tree order with `skip`, a node twice in one batch (a storage root two accounts of the batch
  // share) is read once: `skip` knows only what the batches before gave.
  const inBatch = seenNodes === undefined ? new HashSet() : undefined;
  while (stack.length > 0) {
    // The next nodes of the walk, read together (one LevelDB round trip for up to WALK_BATCH of
    // them): each still comes after the node that refers to it, and the stack stays a few levels deep.
    batch.length = 0;
    inBatch?.clear();
    while (batch.length < WALK_BATCH && stack.length > 0) {
      const next = stack.pop()!;
      if (seenNodes === undefined ? (inBatch?.add(next.hash) ?? true) : seenNodes.add(next.hash)) batch.push(next);
    }
    if (batch.length === 0) break;
    const stored = await skip(
      'nodes',
      batch.map((b) => b.hash),
    );
    let kept = 0;
    for (let i = 0; i < batch.length; i++) if (!stored[i]) batch[kept++] = batch[i]!;
    batch.length = kept;
    if (kept === 0) continue;
    const datas = await read(batch);
    for (let i = 0; i < batch.length; i++) {
      const { hash, kind } = batch[i]!;
      const node = datas[i];
      if (node === undefined) throw new MissingStateError(`state trie node ${bytesToHex(hash)} is missing`);
      yield { kind: 'node', hash, data: node };
      references(node, kind, refs);
      while (pendingCode.length > 0) {
        const codeHash = pendingCode.pop()!;
        if ((await skip('code', [codeHash]))[0]) continue;
        const code = await source.code(codeHash);
        if (code === undefined) throw new MissingStateError(`contract code ${bytesToHex(codeHash)} is missing`);
        yield { kind: 'code', hash: codeHash, data: code };
      }
    }
  }
}

/** What a kept node or code costs in `MarkedStates.bytes` besides its value: its key (trie/'s layout, storage/schema.ts). */
const NODE_KEY_BYTES = 32;
const CODE_KEY_BYTES = 1 + 32;

/** The states of a range of blocks, as walkStates marked them: every trie node and code they reach. */
export interface MarkedStates {
  nodes: HashSet;
  codes: HashSet;
  /** States walked whole (an incomplete one reported to onIncomplete is not counted). */
  states: number;
  /** Bytes of the nodes and codes marked, each counted once with its key. */
  bytes: number;
}

/**
 * Walk the states of blocks `to` down to `from` (each block's state root from `stateRoot`): the
 * newest whole, each older one only below nodes not marked yet (consecutive states share all but what
 * a block changed, so n states cost one state and n blocks' changes), marking every node and code
 * into sets of 16 bytes a member, which are also the walk's skip (MarkedAlready: it reads ahead and
 * keeps no set of its own that grows with the state). A state root or node missing throws MissingStateError ("the state
 * of block N is incomplete: …"), or with `onIncomplete` is reported there and the walk goes on with
 * empty sets (so the sets returned hold what the states after the last incomplete one reach). The state pruner's mark
 * phase and `db check --full`'s walk of every kept state. A pruner must not pass `onIncomplete`:
 * the sets would then miss what the newer states reach, and a sweep would delete it.
 */
export async function walkStates(
  source: StateReader,
  stateRoot: (n: bigint) => Promise<Uint8Array>,
  from: bigint,
  to: bigint,
  opts: {
    signal?: AbortSignal;
    onState?: (done: number, total: number, nodes: number) => void;
    /** Every 10,000 nodes walked: the distinct nodes marked so far. */
    onNodes?: (nodes: number) => void;
    onIncomplete?: (n: bigint, err: MissingStateError) => void;
  } = {},
): Promise<MarkedStates> {
  let nodes = new HashSet();
  let codes = new HashSet();
  const total = to >= from ? Number(to - from + 1n) : 0;
  let states = 0;
  let bytes = 0;
  let done = 0;
  // What is marked is not walked again: the marks are the walk's skip.
  const skip: MarkedAlready = { marked: (kind, h) => (kind === 'nodes' ? nodes : codes).has(h) };
  for (let n = to; n >= from; n--) {
    opts.signal?.throwIfAborted();
    const root = await stateRoot(n);
    // The same root as a state walked already (a block that changed nothing): whole, nothing to read.
    if (nodes.has(root)) {
      states++;
      opts.onState?.(++done, total, nodes.size);
      continue;
    }
    try {
      if (!equalsBytes(root, KECCAK256_RLP) && (await source.node(root)) === undefined) {
        throw new MissingStateError(`its root ${bytesToHex(root)} is missing`);
      }
      let walked = 0;
      for await (const item of stateItems(source, root, skip, 'tree')) {
        if ((item.kind === 'node' ? nodes : codes).add(item.hash)) bytes += (item.kind === 'node' ? NODE_KEY_BYTES : CODE_KEY_BYTES) + item.data.length;
        if (++walked % 10_000 === 0) {
          opts.signal?.throwIfAborted(); // a stopping node does not wait for a whole walk
          opts.onNodes?.(nodes.size);
        }
      }
      states++;
    } catch (err) {
      if (!(err instanceof MissingStateError)) throw err;
      const incomplete = new MissingStateError(`the state of block ${n} is incomplete: ${err.message}`, { cause: err });
      if (!opts.onIncomplete) throw incomplete;
      opts.onIncomplete(n, incomplete);
      // A node is marked when read, before what is below it: the walk that failed marked the nodes
      // above the hole, and an older state sharing them would skip it. Start again from nothing.
      nodes = new HashSet();
      codes = new HashSet();
      bytes = 0;
    }
    opts.onState?.(++done, total, nodes.size);
  }
  return { nodes, codes, states, bytes };
}

/**
 * For an incremental walk (a backup repository): which of these nodes or codes are stored already,
 * with, for a node, everything under it. Those are left out, and the walk does not descend below them.
 */
export type StoredElsewhere = (kind: 'nodes' | 'code', hashes: Uint8Array[]) => Promise<boolean[]>;

/**
 * A skip answered at once from the caller's own memory (a prune's or a check's marks): what it names
 * is left out as with StoredElsewhere, but the walk reads ahead as it does without a skip, asking
 * when it takes a node into a batch. The batch before is not given (so not marked) yet then: the walk
 * also leaves out what it took into this batch or the one before, so a caller that marks each item as
 * it is given gets each node once.
 */
export interface MarkedAlready {
  marked(kind: 'nodes' | 'code', hash: Uint8Array): boolean;
}

/** How many nodes a state walk reads at once. */
const WALK_BATCH = 256;

/**
 * The same check as walking the state under `stateRoot` once it is written, made on the stream of
 * its items as a snapshot carries them, in the StateOrder the snapshot says: every node must be
 * referred to by a node before it (or be the root; stateItems' order) and not be given more often than
 * it is referred to ('unique': at most once), and when the stream ends nothing referred to may be
 * missing; each code must belong to an account, before or after it (code records fill apart from
 * nodes records), as the order gives codes. A restore checks what it reads this way instead of reading
 * every node back from disk after writing it. Nodes out of that order are refused, and what waits is
 * bounded (MAX_AWAITED nodes referred to and not yet read: the walk's order keeps them to a few
 * hundred; as many codes). In order 'tree' it remembers no node it has seen: its memory is what waits.
 */
export class StreamedStateCheck {
  /** Order 'unique': every node seen. */
  private readonly seenNodes: HashSet | undefined;
  private readonly codes: CodeMemory;
  /** Nodes referred to and not read yet: the trie they belong to (KIND_TAG), and how often. */
  private readonly awaited = new HashCounts();
  private awaitedCount = 0;
  /** Codes referred to and not read yet, and codes read before any account had them: how often. */
  private readonly awaitedCode = new Counts('contract codes referred to and not yet given', MAX_AWAITED_CODES);
  private readonly strayCode = new Counts('contract codes given before any account has them', MAX_AWAITED_CODES);
  /** Bytes of the codes in strayCode, and each one's size (the same hash, the same code). */
  private strayCodeBytes = 0;
  private readonly strayCodeSize = new Map<string, number>();
  private nodes = 0;
  private codeCount = 0;
  private readonly refs: References = {
    node: (hash, kind) => {
      if (this.seenNodes?.has(hash)) return;
      this.await(hash, kind);
    },
    code: (hash) => {
      if (!this.codes.given(hash)) return;
      const id = bytesToHex(hash);
      if (this.strayCode.take(id)) {
        this.strayCodeBytes -= this.strayCodeSize.get(id) ?? 0;
        if (!this.strayCode.has(id)) this.strayCodeSize.delete(id);
      } else this.awaitedCode.add(id);
    },
  };

  constructor(
    stateRoot: Uint8Array,
    private readonly order: StateOrder = 'unique',
    /** Tests only: the format's MAX_REMEMBERED_CODES, smaller. */
    rememberedCodes = MAX_REMEMBERED_CODES,
  ) {
    this.seenNodes = order === 'unique' ? new HashSet() : undefined;
    this.codes = new CodeMemory(order, rememberedCodes);
    if (!equalsBytes(stateRoot, KECCAK256_RLP)) this.await(stateRoot, 'account');
  }

  private await(hash: Uint8Array, kind: Kind): void {
    const slot = this.awaited.find(hash);
    if (slot < 0) this.awaited.insert(hash, KIND_TAG[kind], 1);
    else if (this.awaited.tagAt(slot) !== KIND_TAG[kind])
      throw new MissingStateError(`state node ${bytesToHex(hash)} is referred to from the account trie and from a storage trie`);
    else if (this.order === 'unique')
      return; // given once, however often it is referred to
    else this.awaited.setCountAt(slot, this.awaited.countAt(slot) + 1);
    if (++this.awaitedCount > MAX_AWAITED)
      throw new MissingStateError(`more than ${MAX_AWAITED} state nodes referred to and not yet given: the state is not in walk order`);
  }

  /** A trie node, with the hash its data hashes to. Throws MissingStateError if nothing before it referred to it. */
  node(hash: Uint8Array, data: Uint8Array): void {
    const slot = this.awaited.find(hash);
    if (slot < 0) {
      const id = bytesToHex(hash);
      if (this.seenNodes?.has(hash)) throw new MissingStateError(`state node ${id} comes twice`);
      throw new MissingStateError(
        this.order === 'tree'
          ? `state node ${id} is not referred to by the state before it (or comes more often than it is referred to)`
          : `state node ${id} is not referred to by the state before it`,
      );
    }
    const kind: Kind = this.awaited.tagAt(slot) === KIND_TAG.account ? 'account' : 'storage';
    const left = this.awaited.countAt(slot) - 1;
    if (left === 0) this.awaited.removeAt(slot);
    else this.awaited.setCountAt(slot, left);
    this.awaitedCount--;
    this.seenNodes?.add(hash);
    this.nodes++;
    references(data, kind, this.refs);
  }

  /**
   * Contract code, with its hash (and its length: what is given before its account is bounded in bytes
   * too). Throws MissingStateError if it comes more often than accounts refer to it.
   */
  code(hash: Uint8Array, bytes = 0): void {
    const id = bytesToHex(hash);
    this.codeCount++;
    if (this.awaitedCode.take(id)) return;
    // Given before its account: 'unique' allows that once, 'tree' as often as the accounts after it will take.
    if (this.order === 'unique' && (this.strayCode.has(id) || this.codes.has(hash))) throw new MissingStateError(`contract code ${id} comes twice`);
    this.strayCode.add(id);
    this.strayCodeBytes += bytes;
    this.strayCodeSize.set(id, bytes);
    if (this.strayCodeBytes > MAX_STRAY_CODE_BYTES)
      throw new MissingStateError(`more than ${MAX_STRAY_CODE_BYTES} bytes of contract codes given before any account has them`);
  }

  /** At the end of the stream: the counts, or MissingStateError naming something referred to and never given. */
  finish(): { nodes: number; codes: number } {
    const node = this.awaited.first();
    if (node !== undefined) throw new MissingStateError(`state trie node ${bytesToHex(node)} is missing (${this.awaitedCount} in all)`);
    const code = this.awaitedCode.first();
    if (code !== undefined) throw new MissingStateError(`contract code ${code} is missing (${this.awaitedCode.total} in all)`);
    const stray = this.strayCode.first();
    if (stray !== undefined) throw new MissingStateError(`contract code ${stray} belongs to no account (${this.strayCode.total} in all)`);
    return { nodes: this.nodes, codes: this.codeCount };
  }
}

/** A multiset of hex hashes, its total bounded by `limit` (`what` names its members in the error). */
class Counts {
  private readonly counts = new Map<string, number>();
  total = 0;
  constructor(
    private readonly what: string,
    private readonly limit: number,
  ) {}

  has(id: string): boolean {
    return this.counts.has(id);
  }

  add(id: string): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    if (++this.total > this.limit) throw new MissingStateError(`more than ${this.limit} ${this.what}`);
  }

  /** Takes one `id` if there is one. */
  take(id: string): boolean {
    const n = this.counts.get(id);
    if (n === undefined) return false;
    if (n === 1) this.counts.delete(id);
    else this.counts.set(id, n - 1);
    this.total--;
    return true;
  }

  first(): string | undefined {
    return this.counts.keys().next().value;
  }
}

/**
 * Bytes of codes a StreamedStateCheck takes before any account has them. A snapshot's writer closes a
 * code record when it fills, while the nodes record holding the accounts that refer to its codes may
 * still be filling: the codes of the accounts of one nodes record (1 MiB: at most ~15,000 accounts,
 * 360 MB of 24 KiB contracts) can come first. A stream of codes no account claims is refused past this,
 * not at its end (it was bounded by count alone: 262,144 codes of up to 4 MiB, a terabyte).
 */
const MAX_STRAY_CODE_BYTES = 1024 * 1024 * 1024;

/** Nodes a StreamedStateCheck lets wait (the walk's order keeps them to depth x 16 per trie). */
const MAX_AWAITED = 100_000;
/**
 * Codes it lets wait, or come before their accounts: codes fill records of their own, so up to one
 * record's worth waits (1 MiB of items of 4 + at least 1 bytes: 209,716; in tree order the same tiny
 * code may be all of them, given once for each account past MAX_REMEMBERED_CODES).
 */
const MAX_AWAITED_CODES = 262_144;

/** Check that the whole state under `stateRoot` is present; returns the counts. */
export async function checkStateComplete(source: StateReader, stateRoot: Uint8Array): Promise<{ nodes: number; codes: number }> {
  let nodes = 0;
  let codes = 0;
  for await (const item of stateItems(source, stateRoot)) {
    if (item.kind === 'node') nodes++;
    else codes++;
  }
  return { nodes, codes };
}
