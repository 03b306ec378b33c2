import { concatBytes } from '@ethereumjs/util';

/**
 * The LevelDB schemas of both Basalt databases, `blockchain/` and `trie/`: every key prefix, in one
 * place, with the functions that build the keys. Modelled on go-ethereum's core/rawdb/schema.go.
 * The accessors over them are block-store.ts (blockchain/) and trie-node-store.ts (trie/).
 *
 * Numbers are 8-byte big-endian so that keys of one prefix sort by block number.
 * Values are RLP unless noted.
 */

// ---- blockchain/ ----

/** Key of the hash of the canonical head block (32 bytes). Written last in every block's batch. */
export const HEAD_BLOCK_KEY = bytes('LastBlock');
/** Key of the schema version (a 4-byte big-endian integer). */
export const SCHEMA_VERSION_KEY = bytes('SchemaVersion');
/** Key of the chain configuration the database was created with (the genesis file, as JSON). */
export const CHAIN_CONFIG_KEY = bytes('ChainConfig');
/** Key of the chain configuration's `params` alone (JSON): read at every start, however large the genesis. */
export const CHAIN_PARAMS_KEY = bytes('ChainParams');
/** Key of the digest of the genesis the database was created with (32 bytes; chain/genesis-source.ts Genesis.read). */
export const GENESIS_DIGEST_KEY = bytes('GenesisDigest');
/**
 * Key of where the genesis file (its bytes, as the operator gave them) is kept: generation (4) |
 * size (8) | pieces (4), big-endian. Written in ChainConfig's batch. Data dirs of earlier versions have
 * none: their ChainConfig is the whole genesis file.
 */
export const GENESIS_FILE_KEY = bytes('GenesisFile');
const GENESIS_PIECE_PREFIX = bytes('GenesisFile-'); // + generation (4) + index (4) -> GENESIS_FILE_PIECE_BYTES of the file (the last: the rest)
/** The bytes of the genesis file one stored piece holds (the last piece: what is left). */
export const GENESIS_FILE_PIECE_BYTES = 1024 * 1024;

export function genesisPieceKey(generation: number, index: number): Uint8Array {
  const k = new Uint8Array(8);
  const v = new DataView(k.buffer);
  v.setUint32(0, generation);
  v.setUint32(4, index);
  return concatBytes(GENESIS_PIECE_PREFIX, k);
}

/** The stored genesis file: its generation (pieces of other generations are garbage), size and piece count. */
export interface GenesisFileRef {
  generation: number;
  size: number;
  pieces: number;
}

export function encodeGenesisFileRef(ref: GenesisFileRef): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setUint32(0, ref.generation);
  v.setBigUint64(4, BigInt(ref.size));
  v.setUint32(12, ref.pieces);
  return out;
}

export function decodeGenesisFileRef(b: Uint8Array): GenesisFileRef {
  if (b.length !== 16) throw new Error(`stored genesis file reference has ${b.length} bytes, not 16`);
  const v = new DataView(b.buffer, b.byteOffset, 16);
  return { generation: v.getUint32(0), size: Number(v.getBigUint64(4)), pieces: v.getUint32(12) };
}

/**
 * Key of the history gap: from (8) | to (8), big-endian. Blocks from..to have their header, canonical
 * index and number entry but not yet their body, receipts and transaction lookups: a restore that
 * opened the node at its head before the history was back-filled (backup/repository/backfill.ts)
 * writes it, and each back-filled batch moves `from` up in the same LevelDB batch; the last one deletes
 * it. Absent: every canonical block is whole.
 */
export const HISTORY_GAP_KEY = bytes('HistoryGap');
/** Key of where the gap's blocks are back-filled from (JSON: HistorySource). Deleted with the gap. */
export const HISTORY_SOURCE_KEY = bytes('HistorySource');

/**
 * Key of the first block whose state this data dir holds (8 bytes): a restore writes its head (it
 * brings no older state), `basalt prune` the first block it kept. Absent: every state from the genesis.
 */
export const STATE_FROM_KEY = bytes('StateFrom');

/**
 * Key of the genesis state root (32 bytes) whose state trie/ does not hold yet: a node that snapshot-
 * syncs from a peer writes its genesis block without the state the restore replaces (Chain.open,
 * `genesisState: 'deferred'`). Written in ChainConfig's batch, before the genesis block; deleted once
 * the state is written. Absent: the genesis state is written (or a restore's head state replaces it).
 */
export const GENESIS_STATE_PENDING_KEY = bytes('GenesisStatePending');

/**
 * Key of the data dir's state-history mode (JSON: `{"keep": N}`, the states of the last N blocks, or
 * `{"archive": true}`, every state). Written by the node at its start and by `basalt prune`.
 */
export const STATE_HISTORY_KEY = bytes('StateHistory');

export type StateHistoryMode = { keep: bigint } | { archive: true };

/** Canonical blocks from..to (inclusive) whose bodies and receipts are not held yet. */
export interface HistoryGap {
  from: bigint;
  to: bigint;
}

/** Where a back-fill reads the gap's blocks: a backup repository (folder or s3:// URL) and the backup whose segments hold them. */
export interface HistorySource {
  repository: string;
  backup: string;
}

export function encodeHistoryGap(g: HistoryGap): Uint8Array {
  return concatBytes(encodeBlockNumber(g.from), encodeBlockNumber(g.to));
}

export function decodeHistoryGap(b: Uint8Array): HistoryGap {
  if (b.length !== 16) throw new Error(`stored history gap has ${b.length} bytes, not 16`);
  const g = { from: decodeBlockNumber(b.subarray(0, 8)), to: decodeBlockNumber(b.subarray(8, 16)) };
  if (g.from < 1n || g.from > g.to) throw new Error(`stored history gap ${g.from}-${g.to} is not a range of blocks after the genesis`);
  return g;
}

/**
 * Key of the size of one state as last measured (StateSize, 73 bytes): the root, the block it was the
 * state of, then its nodes, their bytes, its codes and their bytes (u64 each, big-endian), and the
 * order they were counted in (1 byte: 0 'unique', 1 'tree'). Written when a state is written whole (a
 * genesis, a restore) or listed whole (a snapshot or its sizing). A hint, not a record the chain relies
 * on: a snapshot server estimates its size from it without a walk (snapshot protocol version 5), so a
 * malformed one is ignored and replaced, never a damaged data dir.
 */
export const STATE_SIZE_KEY = bytes('StateSize');

/**
 * Key of the bytes written to trie/ since the state pruner's last prune began (u64, big-endian), kept
 * by a node that stops cleanly so that its next start goes on counting toward the next prune, and
 * deleted when read (after a kill -9 the count starts again at 0, as the interval's cap allows). A
 * hint: a malformed one is ignored.
 */
export const PRUNER_GROWTH_KEY = bytes('PrunerGrowth');

/**
 * A key never written, in either database (neither a record's name nor, at 8 bytes, a trie node's or
 * a code's key): a synced delete of it makes every earlier write of that database durable (syncWrites).
 */
export const SYNC_MARK_KEY = bytes('SyncMark');

/** The size of the state under `root` (the state of block `number`): its trie nodes and codes, counted as a walk in `order` lists them. */
export interface StateSize {
  root: Uint8Array;
  number: bigint;
  order: 'unique' | 'tree';
  nodes: number;
  nodeBytes: number;
  codes: number;
  codeBytes: number;
}

const STATE_SIZE_BYTES = 73;

export function encodeStateSize(s: StateSize): Uint8Array {
  if (s.root.length !== 32) throw new Error(`state size: a root of ${s.root.length} bytes`);
  const out = new Uint8Array(STATE_SIZE_BYTES);
  out.set(s.root, 0);
  out.set(encodeBlockNumber(s.number), 32);
  const view = new DataView(out.buffer);
  [s.nodes, s.nodeBytes, s.codes, s.codeBytes].forEach((n, i) => {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`state size: ${n} is not a count`);
    view.setBigUint64(40 + 8 * i, BigInt(n));
  });
  out[72] = s.order === 'tree' ? 1 : 0;
  return out;
}

export function decodeStateSize(b: Uint8Array): StateSize {
  if (b.length !== STATE_SIZE_BYTES) throw new Error(`stored state size has ${b.length} bytes, not ${STATE_SIZE_BYTES}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const [nodes, nodeBytes, codes, codeBytes] = [0, 1, 2, 3].map((i) => {
    const n = view.getBigUint64(40 + 8 * i);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`stored state size counts ${n}`);
    return Number(n);
  }) as [number, number, number, number];
  if (b[72]! > 1) throw new Error(`stored state size has order ${b[72]}`);
  const order = b[72] === 1 ? ('tree' as const) : ('unique' as const);
  return { root: Uint8Array.from(b.subarray(0, 32)), number: decodeBlockNumber(b.subarray(32, 40)), order, nodes, nodeBytes, codes, codeBytes };
}

export const SCHEMA_VERSION = 1;

const HEADER_PREFIX = bytes('h'); // h + num + hash -> header RLP
const BODY_PREFIX = bytes('b'); // b + num + hash -> body RLP (list of transactions)
const RECEIPTS_PREFIX = bytes('r'); // r + num + hash -> receipts RLP
const HASH_TO_NUMBER_PREFIX = bytes('H'); // H + hash -> num (8 bytes)
const CANONICAL_PREFIX = bytes('c'); // c + num -> canonical hash
const TX_LOOKUP_PREFIX = bytes('l'); // l + tx hash -> num (8 bytes) + index (4 bytes)
/**
 * v + num -> what the consensus engine keeps of canonical block num beside its header (opaque here;
 * IBFT: the validator vote the block carries, consensus/ibft/vote-book.ts). Written in the block's (or
 * header's) batch, only for the blocks that have one, so the engine reads them as one short range
 * instead of every header since its epoch began.
 */
const CONSENSUS_RECORD_PREFIX = bytes('v');

// ---- trie/ ----
// A trie node is stored under its 32-byte keccak256 hash, unprefixed (the trie library's own layout).
export const CODE_PREFIX = bytes('c'); // c + code hash -> contract code (ethereumjs' MerkleStateManager layout)

export function trieNodeKey(nodeHash: Uint8Array): Uint8Array {
  return nodeHash;
}
export function codeKey(codeHash: Uint8Array): Uint8Array {
  return concatBytes(CODE_PREFIX, codeHash);
}

// ---- blockchain/ keys ----
export function headerKey(num: bigint, hash: Uint8Array): Uint8Array {
  return concatBytes(HEADER_PREFIX, encodeBlockNumber(num), hash);
}
export function bodyKey(num: bigint, hash: Uint8Array): Uint8Array {
  return concatBytes(BODY_PREFIX, encodeBlockNumber(num), hash);
}
export function receiptsKey(num: bigint, hash: Uint8Array): Uint8Array {
  return concatBytes(RECEIPTS_PREFIX, encodeBlockNumber(num), hash);
}
export function hashToNumberKey(hash: Uint8Array): Uint8Array {
  return concatBytes(HASH_TO_NUMBER_PREFIX, hash);
}
export function canonicalHashKey(num: bigint): Uint8Array {
  return concatBytes(CANONICAL_PREFIX, encodeBlockNumber(num));
}
export function txLookupKey(txHash: Uint8Array): Uint8Array {
  return concatBytes(TX_LOOKUP_PREFIX, txHash);
}
export function consensusRecordKey(num: bigint): Uint8Array {
  return concatBytes(CONSENSUS_RECORD_PREFIX, encodeBlockNumber(num));
}

/** What a `blockchain/` key is (`basalt db inspect`): one of its schema's entries above, or 'other'. */
export function blockchainKeyKind(key: Uint8Array): string {
  for (const [name, k] of NAMED_KEYS) if (key.length === k.length && Buffer.compare(key, k) === 0) return name;
  if (startsWith(key, GENESIS_PIECE_PREFIX) && key.length === GENESIS_PIECE_PREFIX.length + 8) return 'genesis file pieces (GenesisFile-)';
  const kind = PREFIX_KINDS.get(key[0]!);
  return kind && key.length === kind.length ? kind.name : 'other';
}

/** What a `trie/` key is: a trie node (its 32-byte hash), a contract code ('c' + hash), or 'other'. */
export function trieKeyKind(key: Uint8Array): string {
  if (key.length === 32) return 'trie nodes';
  if (key.length === 33 && key[0] === CODE_PREFIX[0]) return 'contract code (c)';
  return 'other';
}

const NAMED_KEYS: [string, Uint8Array][] = [
  ['head pointer (LastBlock)', HEAD_BLOCK_KEY],
  ['schema version (SchemaVersion)', SCHEMA_VERSION_KEY],
  ['genesis configuration (ChainConfig)', CHAIN_CONFIG_KEY],
  ['chain parameters (ChainParams)', CHAIN_PARAMS_KEY],
  ['genesis digest (GenesisDigest)', GENESIS_DIGEST_KEY],
  ['genesis file reference (GenesisFile)', GENESIS_FILE_KEY],
  ['history gap (HistoryGap)', HISTORY_GAP_KEY],
  ['history source (HistorySource)', HISTORY_SOURCE_KEY],
  ['oldest state kept (StateFrom)', STATE_FROM_KEY],
  ['state history mode (StateHistory)', STATE_HISTORY_KEY],
  ['genesis state not written yet (GenesisStatePending)', GENESIS_STATE_PENDING_KEY],
  ['size of a state, last measured (StateSize)', STATE_SIZE_KEY],
  ['trie bytes written since the last prune, at a stop (PrunerGrowth)', PRUNER_GROWTH_KEY],
];

const PREFIX_KINDS = new Map<number, { name: string; length: number }>([
  [HEADER_PREFIX[0]!, { name: 'headers (h)', length: 41 }],
  [BODY_PREFIX[0]!, { name: 'bodies (b)', length: 41 }],
  [RECEIPTS_PREFIX[0]!, { name: 'receipts (r)', length: 41 }],
  [HASH_TO_NUMBER_PREFIX[0]!, { name: 'block numbers by hash (H)', length: 33 }],
  [CANONICAL_PREFIX[0]!, { name: 'canonical index (c)', length: 9 }],
  [TX_LOOKUP_PREFIX[0]!, { name: 'transaction lookups (l)', length: 33 }],
  [CONSENSUS_RECORD_PREFIX[0]!, { name: 'consensus records: validator votes (v)', length: 9 }],
]);

function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  return key.length >= prefix.length && Buffer.compare(key.subarray(0, prefix.length), prefix) === 0;
}

export function encodeBlockNumber(num: bigint): Uint8Array {
  if (num < 0n || num > 0xffff_ffff_ffff_ffffn) throw new RangeError(`block number out of range: ${num}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, num);
  return out;
}
export function decodeBlockNumber(b: Uint8Array): bigint {
  if (b.length !== 8) throw new Error(`corrupt block number: ${b.length} bytes`);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
}

export interface TxLookup {
  blockNumber: bigint;
  index: number;
}
export function encodeTxLookup(l: TxLookup): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, l.blockNumber);
  view.setUint32(8, l.index);
  return out;
}
export function decodeTxLookup(b: Uint8Array): TxLookup {
  if (b.length !== 12) throw new Error(`corrupt transaction lookup entry: ${b.length} bytes`);
  const view = new DataView(b.buffer, b.byteOffset, 12);
  return { blockNumber: view.getBigUint64(0), index: view.getUint32(8) };
}

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
