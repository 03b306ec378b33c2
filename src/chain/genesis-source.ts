import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createAccount, KECCAK256_NULL, KECCAK256_RLP } from '@ethereumjs/util';
import { UserError, errorMessage } from '../util/errors.js';
import { removeStaleTemps } from '../util/stale-temp.js';
import { CodeMemory } from '../util/code-memory.js';
import { JsonStreamError, JsonTokenizer, JsonValueBuilder, type JsonHandler, type JsonScalar } from '../util/json-stream.js';
import { keccak256 } from '../util/keccak.js';
import { checkGenesisConfig, type GenesisConfig, type GenesisFile } from './chain-config.js';
import { buildSortedTrie, SortedKeys, type TrieNodeSink } from './stack-trie.js';
import { encodeString } from './trie-node-rlp.js';

/** A genesis file's bytes, readable as often as needed: each `open()` streams them from the start. */
export interface GenesisBytes {
  /** How errors name it (a path, "the snapshot"). */
  readonly name: string;
  /** The file it is read from, if it is one (a worker thread can read it too). */
  readonly path?: string;
  open(): AsyncIterable<Uint8Array>;
}

/** The genesis file at `path`, read in 1 MiB pieces. */
export function genesisAt(path: string): GenesisBytes {
  return {
    name: path,
    path,
    async *open() {
      let stream;
      try {
        if (!statSync(path).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
        for await (const piece of stream) yield piece as Buffer;
      } catch (err) {
        if (err instanceof UserError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new UserError(`genesis file ${path} not found: create one with \`basalt genesis\` or pass --chain`);
        throw new UserError(`cannot read genesis file ${path}: ${errorMessage(err)}`);
      } finally {
        stream?.destroy();
      }
    },
  };
}

/** A genesis file already in memory (a test's, a small snapshot header's). */
export function genesisOfBytes(bytes: Uint8Array, name: string): GenesisBytes {
  return {
    name,
    async *open() {
      for (let at = 0; at < bytes.length; at += 1024 * 1024) yield bytes.subarray(at, at + 1024 * 1024);
    },
  };
}

/**
 * Where a genesis state goes: every trie node it keeps (account and storage tries) and every code. A
 * sink copies what it keeps: the bytes it is handed may be reused once its call (or its promise) returns.
 */
export interface StateSink {
  node: TrieNodeSink;
  code(codeHash: Uint8Array, code: Uint8Array): void | Promise<void>;
}

/** The parts of a genesis file other than genesis.alloc, together, at most this many bytes. */
export const MAX_GENESIS_CONFIG_BYTES = 16 * 1024 * 1024;
/** The longest string in a genesis file (a contract's code is 2 hex digits a byte). */
export const MAX_GENESIS_STRING_BYTES = 4 * 1024 * 1024;
const MAX_DEPTH = 64;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HASH32 = /^0x[0-9a-fA-F]{64}$/;
const QUANTITY = /^0x[0-9a-fA-F]+$/;
const DATA = /^0x([0-9a-fA-F]{2})*$/;
const U64_MAX = 2n ** 64n - 1n;
const U256_MAX = 2n ** 256n - 1n;

/**
 * A genesis file, read as a stream and checked whole: its configuration (everything but the alloc,
 * small), the digest of its genesis block's content, and its bytes to read the alloc again when its
 * state is built. Memory never holds the alloc: a genesis of a million accounts is a few hundred MB
 * of JSON, and JSON.parse of it took gigabytes (issue #19).
 */
export class Genesis {
  private constructor(
    readonly bytes: GenesisBytes,
    readonly config: GenesisConfig,
    /** See `Genesis.read`: equal digests, equal genesis blocks. */
    readonly digest: Uint8Array,
    readonly accounts: number,
    readonly size: number,
    /** SHA-256 of the file's bytes as `read` saw them: every later read must see the same. */
    private readonly fileHash: string,
  ) {}

  /**
   * The file's bytes again (to build its state, or to store it), checked against what `read` checked:
   * a file changed in between fails at its end with one line, before its state or bytes are used.
   */
  checkedBytes(): GenesisBytes {
    return checkedBytes(this.bytes, this.fileHash);
  }

  /**
   * Read and check a genesis file: the schema (`genesisFileSchema`, its alloc entry by entry: an address
   * key, balance, optional nonce and code, storage of 32-byte slots), values a chain can start from, and
   * the JSON itself, in one streaming pass. The digest is a SHA-256 of the genesis header fields and of
   * each allocation in the file's order (a storage by the digest of its slots in order): a data dir keeps
   * the digest of the genesis it was made with, and a start whose file has the same one skips building
   * the state. Another digest (the same allocations in another order, say) only means the state root must
   * be computed to compare.
   */
  static async read(bytes: GenesisBytes): Promise<Genesis> {
    const parser = new GenesisParser(bytes.name, false);
    const fileHash = createHash('sha256');
    const size = await parser.run({ ...bytes, open: () => hashing(bytes.open(), fileHash) }, async () => {});
    const config = checkGenesisConfig(parser.configObject(), bytes.name);
    const digest = createHash('sha256')
      .update('basalt genesis digest v2\n')
      .update(JSON.stringify(config.genesis, Object.keys(config.genesis).sort()))
      .update('\n')
      .update(parser.allocDigest.digest())
      .digest();
    return new Genesis(bytes, config, new Uint8Array(digest), parser.accounts, size, fileHash.digest('hex'));
  }

  /** A genesis file given as an object (tests, `basalt genesis`), read as its JSON would be. */
  static async of(g: GenesisFile | Genesis): Promise<Genesis> {
    if (g instanceof Genesis) return g;
    return Genesis.read(genesisOfBytes(Buffer.from(JSON.stringify(g)), 'given'));
  }

  /**
   * The world state of the alloc: its root, with every node of the account trie and of each contract's
   * storage trie, and every code, handed to `sink` once, final (no node a later insertion would
   * replace). It is the state `MerkleStateManager` builds from the same allocations (`putAccount`,
   * `putCode`, `putStorage` in the file's order): accounts keyed by keccak256(address), slots by
   * keccak256(slot) with RLP(value without leading zeros), zero values left out, a later slot of the
   * same key overriding an earlier one. Each trie is built in key order (`buildSortedTrie`). Memory:
   * 40 bytes an account for the sort, the account records themselves in `scratchDir` past 8 MiB, and
   * 72 bytes a slot of the one contract being read. Without `sink`, only the root is computed.
   */
  async stateRoot(sink?: StateSink, scratchDir?: string, inMemoryRecords = IN_MEMORY_RECORDS, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    // A genesis of a few thousand accounts builds in milliseconds: a worker would only cost its start.
    // Only a build that writes the state (a new data dir) goes to a worker: computing the root alone
    // (a restore's check) made less garbage on this thread than a worker's heap took (474 vs 546 MB).
    if (sink !== undefined && this.bytes.path !== undefined && this.size >= WORKER_MIN_BYTES && inMemoryRecords === IN_MEMORY_RECORDS) {
      const root = await stateRootInWorker(this.bytes.path, this.bytes.name, this.fileHash, sink, scratchDir, signal);
      if (root !== undefined) return root;
    }
    const root = await buildState(this.checkedBytes(), sink, scratchDir, inMemoryRecords);
    signal?.throwIfAborted();
    return root;
  }
}

/** Below this size, a genesis state is built on the calling thread. */
const WORKER_MIN_BYTES = 8 * 1024 * 1024;
/**
 * The V8 heap a build in a worker may use: its garbage, not its data (the buffers are outside it).
 * 96, 128 and 160 MB measured alike at a million accounts; the first start's peak was the writing
 * thread's (see StateWriter), not this one's.
 */
const WORKER_HEAP_MB = 128;
const WORKER_URL = new URL('./genesis-worker.js', import.meta.url);

/** What a build worker posts: packs of nodes and codes (see packItem), the root, or its failure. */
export type WorkerMessage =
  | { kind: 'pack'; pack: ArrayBuffer; length: number }
  | { kind: 'root'; root: Uint8Array }
  | { kind: 'error'; message: string; user: boolean };

/**
 * Build the state of the genesis file at `path` in a worker thread whose V8 heap is capped
 * (WORKER_HEAP_MB): the build allocates an RLP encoding and a hash per trie node, and
 * on the node's own heap V8 let that garbage grow to ~400 MB at a million accounts before collecting
 * it. The worker posts the nodes and codes in packs of ~4 MiB, at most two unanswered, and this thread
 * hands them to `sink` in order (which copies what it keeps) and sends each pack's buffer back to be
 * filled again (three buffers in all). Undefined when no worker script is there (sources run by the tests).
 * `signal` ends the build (the worker terminated, `signal.reason` thrown): what reached `sink` stays.
 */
async function stateRootInWorker(
  path: string,
  name: string,
  fileHash: string,
  sink: StateSink | undefined,
  scratchDir: string | undefined,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  if (!existsSync(fileURLToPath(WORKER_URL))) return undefined;
  const worker = new Worker(WORKER_URL, {
    workerData: { path, name, fileHash, scratchDir, write: sink !== undefined },
    resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
  });
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      let chain = Promise.resolve();
      let done = false;
      const fail = (err: Error) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', stop);
        reject(err);
      };
      const stop = () => fail(signal!.reason instanceof Error ? signal!.reason : new Error('building the genesis state: stopped'));
      signal?.addEventListener('abort', stop, { once: true });
      worker.on('message', (m: WorkerMessage) => {
        chain = chain
          .then(async () => {
            if (done) return; // stopped or failed: nothing more is written
            if (m.kind === 'pack') {
              await unpack(new Uint8Array(m.pack, 0, m.length), sink!);
              // The pack's buffer goes back to the worker for its next pack: the sink copied what it
              // keeps. Left to this thread's GC, each 4 MiB buffer lived until a full collection, ~25 of
              // them at a time: ~100 MB of the first start's peak at a million accounts.
              worker.postMessage(m.pack, [m.pack]);
            } else if (m.kind === 'root') {
              if (done) return;
              done = true;
              signal?.removeEventListener('abort', stop);
              resolve(m.root);
            } else {
              fail(m.user ? new UserError(m.message) : new Error(`building the genesis state: ${m.message}`));
            }
          })
          .catch(fail);
      });
      worker.on('error', (err) => fail(new Error(`building the genesis state: ${err.message}`)));
      worker.on('exit', (code) => void chain.then(() => fail(new Error(`building the genesis state: the worker exited (code ${code}) before the root`))));
    });
  } finally {
    await worker.terminate();
    // A worker ended mid-build (told to stop) leaves its scratch folder: this process's own.
    if (scratchDir !== undefined) rmSync(join(scratchDir, `${SCRATCH_PREFIX}${process.pid}`), { recursive: true, force: true });
  }
}

/** A pack: items of kind (1: node, 2: code) | hash (32) | length (u32) | data. */
async function unpack(pack: Uint8Array, sink: StateSink): Promise<void> {
  const view = new DataView(pack.buffer, pack.byteOffset, pack.byteLength);
  for (let at = 0; at < pack.length; ) {
    const kind = pack[at]!;
    const hash = pack.subarray(at + 1, at + 33);
    const length = view.getUint32(at + 33);
    const data = pack.subarray(at + 37, at + 37 + length);
    at += 37 + length;
    const w = kind === 1 ? sink.node(hash, data) : sink.code(hash, data);
    if (w) await w;
  }
}

/** See Genesis.stateRoot: the build itself, on this thread. */
export async function buildState(bytes: GenesisBytes, sink?: StateSink, scratchDir?: string, inMemoryRecords = IN_MEMORY_RECORDS): Promise<Uint8Array> {
  {
    const spool = new AccountSpool(scratchDir, inMemoryRecords);
    // A code many accounts share is given as a walk of the state in tree order gives it (its count is
    // the StateSize a first start keeps), not the same bytes written again for every account.
    const codes = new CodeMemory('tree');
    try {
      const parser = new GenesisParser(bytes.name, true);
      await parser.run(bytes, async (a) => {
        let codeHash = KECCAK256_NULL;
        if (a.code !== undefined && a.code.length > 2) {
          const code = Buffer.from(a.code.slice(2), 'hex');
          codeHash = keccak256(code);
          if (codes.given(codeHash)) await sink?.code(codeHash, code);
        }
        const storageRoot = a.slots === undefined ? KECCAK256_RLP : await a.slots.root(sink);
        spool.add(a.address, createAccount({ nonce: BigInt(a.nonce ?? '0x0'), balance: BigInt(a.balance), storageRoot, codeHash }).serialize());
      });
      const accounts = new SortedKeys(spool.keys, spool.count);
      if (accounts.overridden !== undefined) {
        throw new UserError(
          `genesis file ${bytes.name} is invalid: genesis.alloc names ${spool.address(accounts.overridden)} more than once (addresses are not case-sensitive)`,
        );
      }
      return await buildSortedTrie(accounts, (j) => spool.record(accounts.index(j)), sink?.node);
    } finally {
      spool.close();
    }
  }
}

/** One allocation as read, its storage (when building) gathered in `slots`. */
interface AllocAccount {
  address: string;
  balance: string;
  nonce?: string;
  code?: string;
  slots?: SlotBuffer;
}

/** The slots of one contract's storage: keccak256(slot) and the value, 32 bytes each, in file order. */
class SlotBuffer {
  private keys = new Uint8Array(32 * 64);
  private values = new Uint8Array(32 * 64);
  count = 0;

  add(slot: string, value: string): void {
    if ((this.count + 1) * 32 > this.keys.length) {
      const grow = (b: Uint8Array) => {
        const next = new Uint8Array(b.length * 2);
        next.set(b);
        return next;
      };
      this.keys = grow(this.keys);
      this.values = grow(this.values);
    }
    this.keys.set(keccak256(Buffer.from(slot.slice(2), 'hex')), this.count * 32);
    Buffer.from(this.values.buffer, this.values.byteOffset, this.values.byteLength).write(value.slice(2), this.count * 32, 'hex');
    this.count++;
  }

  async root(sink: StateSink | undefined): Promise<Uint8Array> {
    // The value without its leading zeros, a view (@ethereumjs's unpadBytes copies the rest once per
    // zero byte: 31 copies for a small value, the largest item of a million-slot genesis's profile).
    const slotValue = (i: number) => {
      let from = i * 32;
      const end = from + 32;
      while (from < end && this.values[from] === 0) from++;
      return this.values.subarray(from, end);
    };
    // The last entry of a slot decides it; a zero there deletes it, as putStorage does.
    const sorted = new SortedKeys(this.keys, this.count, (i) => slotValue(i).length > 0);
    return buildSortedTrie(sorted, (j) => encodeString(slotValue(sorted.index(j))), sink?.node);
  }
}

/**
 * Account records (address, RLP), fixed slots of RECORD bytes: in memory while they fit in
 * `inMemory`, then in a scratch file, in 256 buckets by the first byte of the account's key. The trie
 * is built in key order, so it reads one bucket after another: each is read whole, in its pages, when
 * the build reaches it (a random read per account took 10 s of a 1,000,000-account build).
 */
const RECORD = 136;
const SCRATCH_PREFIX = '.genesis-build-';
const IN_MEMORY_RECORDS = (8 * 1024 * 1024) / RECORD;
const PAGE_RECORDS = 240;
const PAGE = PAGE_RECORDS * RECORD;

class AccountSpool {
  keys = new Uint8Array(32 * 1024);
  count = 0;
  /** Each record's place among the records of its bucket. */
  private pos = new Uint32Array(1024);
  private readonly bucketCount = new Uint32Array(256);
  /** All records while they fit in `inMemory`; then undefined, and they go to the file by bucket. */
  private memory: Buffer | undefined = Buffer.alloc(RECORD * 256);
  /** Per bucket: the page being filled (spilled mode), and the file offsets of its full pages. */
  private readonly pages: (Buffer | undefined)[] = new Array(256);
  private readonly fill = new Uint32Array(256);
  private readonly written: number[][] = Array.from({ length: 256 }, () => []);
  private loaded: { bucket: number; records: Buffer } | undefined;
  private dir: string | undefined;
  private fd: number | undefined;
  private fileBytes = 0;

  constructor(
    private readonly scratchDir: string | undefined,
    private readonly inMemory: number,
  ) {}

  add(address: string, rlp: Uint8Array): void {
    if ((this.count + 1) * 32 > this.keys.length) {
      const next = new Uint8Array(this.keys.length * 2);
      next.set(this.keys);
      this.keys = next;
      const pos = new Uint32Array(this.pos.length * 2);
      pos.set(this.pos);
      this.pos = pos;
    }
    if (this.memory !== undefined && this.count >= this.inMemory) this.spill();
    const rec = this.memory !== undefined ? this.memorySlot() : Buffer.alloc(RECORD);
    rec.write(address.slice(2), 0, 20, 'hex');
    rec[20] = rlp.length;
    rec.set(rlp, 21);
    const key = keccak256(rec.subarray(0, 20));
    this.keys.set(key, this.count * 32);
    this.pos[this.count] = this.bucketCount[key[0]!]!++;
    if (this.memory === undefined) this.append(key[0]!, rec);
    this.count++;
  }

  private memorySlot(): Buffer {
    if ((this.count + 1) * RECORD > this.memory!.length) {
      const next = Buffer.alloc(this.memory!.length * 2);
      this.memory!.copy(next);
      this.memory = next;
    }
    return this.memory!.subarray(this.count * RECORD, (this.count + 1) * RECORD);
  }

  /** Append a record to its bucket's page, writing the page out once full. */
  private append(bucket: number, rec: Uint8Array): void {
    let page = this.pages[bucket];
    if (page === undefined) page = this.pages[bucket] = Buffer.alloc(PAGE);
    page.set(rec, this.fill[bucket]! * RECORD);
    if (++this.fill[bucket]! === PAGE_RECORDS) {
      this.written[bucket]!.push(this.fileBytes);
      this.fileBytes += writeSync(this.fd!, page, 0, PAGE, this.fileBytes);
      this.fill[bucket] = 0;
    }
  }

  private spill(): void {
    if (this.scratchDir === undefined) {
      this.dir = mkdtempSync(join(tmpdir(), 'basalt-genesis-build-'));
    } else {
      // `<data dir>/.genesis-build-<pid>`: what a killed build left is removed by the next one.
      removeStaleTemps(this.scratchDir, SCRATCH_PREFIX);
      this.dir = join(this.scratchDir, `${SCRATCH_PREFIX}${process.pid}`);
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { mode: 0o700 });
    }
    this.fd = openSync(join(this.dir, 'accounts'), 'w+', 0o600);
    const memory = this.memory!;
    this.memory = undefined;
    // In arrival order, as `pos` counted them.
    for (let i = 0; i < this.count; i++) this.append(this.keys[i * 32]!, memory.subarray(i * RECORD, (i + 1) * RECORD));
  }

  private read(i: number): Buffer {
    if (this.memory !== undefined) return this.memory.subarray(i * RECORD, (i + 1) * RECORD);
    const bucket = this.keys[i * 32]!;
    if (this.loaded?.bucket !== bucket) {
      this.loaded = undefined; // the last bucket's records are garbage now
      const records = Buffer.alloc(this.bucketCount[bucket]! * RECORD);
      let at = 0;
      for (const offset of this.written[bucket]!) at += readSync(this.fd!, records, at, PAGE, offset);
      this.pages[bucket]?.copy(records, at, 0, this.fill[bucket]! * RECORD);
      this.loaded = { bucket, records };
    }
    const p = this.pos[i]!;
    return this.loaded.records.subarray(p * RECORD, (p + 1) * RECORD);
  }

  record(i: number): Uint8Array {
    const r = this.read(i);
    return r.slice(21, 21 + r[20]!);
  }

  address(i: number): string {
    return `0x${this.read(i).toString('hex', 0, 20)}`;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
    this.fd = undefined;
    this.dir = undefined;
  }
}

type Frame = 'top' | 'genesis' | 'alloc' | 'account' | 'storage';

/**
 * The events of a genesis file's JSON, turned into its configuration (a plain object, but the alloc)
 * and its allocations one by one (`onAccount`, in file order, each checked by the schema's rules).
 */
class GenesisParser implements JsonHandler {
  private readonly frames: Frame[] = [];
  private field: string | undefined;
  private builder: { b: JsonValueBuilder; into: Record<string, unknown>; key: string } | undefined;
  private readonly top: Record<string, unknown> = {};
  private readonly genesis: Record<string, unknown> = {};
  private sawTop = false;
  private sawGenesis = false;
  private sawAlloc = false;
  private configBytes = 0;
  private account: (Omit<AllocAccount, 'balance'> & { balance?: string; storage?: Hash; seen: Set<string> }) | undefined;
  private readonly ready: AllocAccount[] = [];
  readonly allocDigest = createHash('sha256');
  accounts = 0;

  constructor(
    private readonly source: string,
    /** Whether to gather each contract's slots (building the state) or only digest them. */
    private readonly gather: boolean,
  ) {}

  /** Stream `bytes` through the parser, `onAccount` awaited for each allocation; returns the file's size. */
  async run(bytes: GenesisBytes, onAccount: (a: AllocAccount) => Promise<void>): Promise<number> {
    const tokenizer = new JsonTokenizer(this, { maxTokenBytes: MAX_GENESIS_STRING_BYTES, maxDepth: MAX_DEPTH });
    try {
      for await (const piece of bytes.open()) {
        tokenizer.feed(piece);
        // Accounts complete in this piece: a piece is 1 MiB, so a few thousand at most.
        for (let i = 0; i < this.ready.length; i++) await onAccount(this.ready[i]!);
        this.ready.length = 0;
      }
      tokenizer.end();
    } catch (err) {
      if (err instanceof JsonStreamError) throw new UserError(`genesis file ${this.source} is not valid JSON: ${err.message}`);
      throw err;
    }
    for (const a of this.ready) await onAccount(a);
    this.ready.length = 0;
    if (!this.sawTop) throw this.invalid('(root)', 'must be an object');
    if (this.sawGenesis && !this.sawAlloc) throw this.invalid('genesis.alloc', 'must be an object of addresses');
    return tokenizer.offset;
  }

  /** The file but its alloc, for the schema (`checkGenesisConfig`). */
  configObject(): Record<string, unknown> {
    return this.sawGenesis ? { ...this.top, genesis: { ...this.genesis, alloc: {} } } : this.top;
  }

  private invalid(path: string, message: string): UserError {
    return new UserError(`genesis file ${this.source} is invalid: ${path}: ${message}`);
  }

  private countConfig(n: number): void {
    this.configBytes += n;
    if (this.configBytes > MAX_GENESIS_CONFIG_BYTES) {
      throw new UserError(`genesis file ${this.source} is invalid: its parts other than genesis.alloc exceed ${MAX_GENESIS_CONFIG_BYTES / 1024 / 1024} MiB`);
    }
  }

  private get frame(): Frame | undefined {
    return this.frames[this.frames.length - 1];
  }

  /** A value (of any kind) of a plain field of the file or of its genesis object begins: gather it. */
  private startBuilder(): JsonValueBuilder {
    const into = this.frame === 'top' ? this.top : this.genesis;
    const b = new JsonValueBuilder(
      MAX_GENESIS_CONFIG_BYTES - this.configBytes,
      () => new UserError(`genesis file ${this.source} is invalid: its parts other than genesis.alloc exceed ${MAX_GENESIS_CONFIG_BYTES / 1024 / 1024} MiB`),
    );
    this.builder = { b, into, key: this.field! };
    return b;
  }

  private builderStep(): void {
    const { b, into, key } = this.builder!;
    if (!b.complete) return;
    this.countConfig(b.bytes + key.length);
    Object.defineProperty(into, key, { value: b.built, enumerable: true, writable: true, configurable: true });
    this.builder = undefined;
  }

  private where(): string {
    const a = this.account;
    if (this.frame === 'storage') return `genesis.alloc.${a!.address}.storage.${this.field}`;
    if (this.frame === 'account') return `genesis.alloc.${a!.address}.${this.field}`;
    return `genesis.alloc.${this.field}`;
  }

  startObject(): void {
    if (this.builder) return this.builder.b.startObject();
    const f = this.frame;
    if (f === undefined) {
      this.sawTop = true;
      this.frames.push('top');
    } else if (f === 'top' && this.field === 'genesis') {
      if (this.sawGenesis) throw this.invalid('genesis', 'appears more than once');
      this.sawGenesis = true;
      this.frames.push('genesis');
    } else if (f === 'genesis' && this.field === 'alloc') {
      if (this.sawAlloc) throw this.invalid('genesis.alloc', 'appears more than once');
      this.sawAlloc = true;
      this.frames.push('alloc');
    } else if (f === 'top' || f === 'genesis') {
      this.startBuilder().startObject();
    } else if (f === 'alloc') {
      this.account = { address: this.field!, seen: new Set() };
      this.frames.push('account');
    } else if (f === 'account' && this.field === 'storage') {
      this.account!.storage = this.gather ? undefined : createHash('sha256');
      if (this.gather) this.account!.slots = new SlotBuffer();
      this.frames.push('storage');
    } else {
      throw this.notScalar();
    }
  }

  startArray(): void {
    if (this.builder) return this.builder.b.startArray();
    const f = this.frame;
    if (f === undefined) throw this.invalid('(root)', 'must be an object');
    if ((f === 'top' && this.field !== 'genesis') || (f === 'genesis' && this.field !== 'alloc')) return this.startBuilder().startArray();
    if (f === 'top') throw this.invalid('genesis', 'must be an object');
    throw this.notScalar();
  }

  private notScalar(): UserError {
    const f = this.frame;
    if (f === 'genesis') return this.invalid('genesis.alloc', 'must be an object of addresses');
    if (f === 'alloc') return this.invalid(this.where(), 'must be an object (balance, nonce, code, storage)');
    if (f === 'account' && this.field === 'storage') return this.invalid(this.where(), 'must be an object of 32-byte slots');
    if (f === 'account') return this.invalid(this.where(), this.field === 'code' ? 'must be 0x-prefixed hex bytes' : 'must be a 0x-prefixed hex quantity');
    return this.invalid(this.where(), 'must be a 32-byte 0x-prefixed hash');
  }

  endObject(): void {
    if (this.builder) {
      this.builder.b.endObject();
      return this.builderStep();
    }
    if (this.frames.pop() === 'account') this.endAccount();
  }

  endArray(): void {
    this.builder!.b.endArray();
    this.builderStep();
  }

  key(key: string): void {
    if (this.builder) return this.builder.b.key(key);
    this.field = key;
    const f = this.frame;
    if (f === 'top' || f === 'genesis') {
      this.countConfig(key.length + 3);
    } else if (f === 'alloc') {
      if (!ADDRESS.test(key)) throw this.invalid(`genesis.alloc.${key}`, 'must be a 20-byte 0x-prefixed address');
    } else if (f === 'account') {
      if (key !== 'balance' && key !== 'nonce' && key !== 'code' && key !== 'storage')
        throw this.invalid(`genesis.alloc.${this.account!.address}`, `unrecognized key "${key}"`);
      if (this.account!.seen.has(key)) throw this.invalid(this.where(), 'appears more than once');
      this.account!.seen.add(key);
    } else if (f === 'storage') {
      if (!HASH32.test(key)) throw this.invalid(this.where(), 'a slot must be a 32-byte 0x-prefixed hash');
    }
  }

  value(value: JsonScalar): void {
    if (this.builder) {
      this.builder.b.value(value);
      return this.builderStep();
    }
    const f = this.frame;
    if (f === undefined) throw this.invalid('(root)', 'must be an object');
    if (f === 'top' || f === 'genesis') {
      if (f === 'top' && this.field === 'genesis') throw this.invalid('genesis', 'must be an object');
      if (f === 'genesis' && this.field === 'alloc') throw this.notScalar();
      this.countConfig(typeof value === 'string' ? value.length + 2 : 8);
      const into = f === 'top' ? this.top : this.genesis;
      Object.defineProperty(into, this.field!, { value, enumerable: true, writable: true, configurable: true });
      return;
    }
    if (typeof value !== 'string') throw this.notScalar();
    const a = this.account!;
    if (f === 'storage') {
      if (!HASH32.test(value)) throw this.notScalar();
      if (a.slots !== undefined) a.slots.add(this.field!, value);
      else a.storage?.update(`${this.field} ${value}\n`);
      return;
    }
    if (f !== 'account') throw this.notScalar();
    const k = this.field as 'balance' | 'nonce' | 'code';
    if (!(k === 'code' ? DATA : QUANTITY).test(value)) throw this.notScalar();
    if (k === 'balance' && value.length > 66 && BigInt(value) > U256_MAX) throw this.invalid(this.where(), 'does not fit in 256 bits');
    if (k === 'nonce' && value.length >= 18 && BigInt(value) >= U64_MAX) throw this.invalid(this.where(), 'does not fit in 64 bits');
    a[k] = value;
  }

  private endAccount(): void {
    const a = this.account!;
    this.account = undefined;
    if (a.balance === undefined) throw this.invalid(`genesis.alloc.${a.address}.balance`, 'is missing');
    this.accounts++;
    if (this.gather) {
      this.ready.push({ address: a.address, balance: a.balance, nonce: a.nonce, code: a.code, slots: a.slots });
    } else {
      const storage = a.storage === undefined ? '-' : a.storage.digest('hex');
      this.allocDigest.update(`${a.address.toLowerCase()} ${a.balance} ${a.nonce ?? '-'} ${a.code ?? '-'} ${storage}\n`);
    }
  }
}

async function* hashing(pieces: AsyncIterable<Uint8Array>, hash: Hash): AsyncGenerator<Uint8Array> {
  for await (const p of pieces) {
    hash.update(p);
    yield p;
  }
}

/** `bytes`, failing at their end unless their SHA-256 is `fileHash` (see Genesis.checkedBytes). */
export function checkedBytes(bytes: GenesisBytes, fileHash: string): GenesisBytes {
  return {
    ...bytes,
    async *open() {
      const hash = createHash('sha256');
      yield* hashing(bytes.open(), hash);
      if (hash.digest('hex') !== fileHash) throw new UserError(`genesis file ${bytes.name} changed while it was being read: start again`);
    },
  };
}

/** The genesis file at `path`, read and checked (Genesis.read). */
export function readGenesis(path: string): Promise<Genesis> {
  return Genesis.read(genesisAt(path));
}
