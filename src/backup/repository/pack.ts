import { HashSet } from '../../util/hash-set.js';
import { compressRecord, decompressRecord, type Compression } from '../../container/compression.js';
import { BackupFileError } from '../../container/errors.js';
import { packItems, RecordType, unpackItems } from '../../container/framing.js';
import { ContainerReader } from '../../container/reader.js';
import { ContainerWriter } from '../../container/writer.js';
import { ITEMS_RECORD_BYTES, MAX_ITEMS_RAW_BYTES } from '../../snapshot/format.js';
import { UserError } from '../../util/errors.js';
import { keccak256 } from '../../util/keccak.js';
import { decodeIndexHeader, decodePackHeader, digestHex, INDEX, indexName, MAX_INDEX_RECORD_BYTES, PACK, packName, RepositoryRecord } from './format.js';
import type { Repository, StagedObject } from './repository.js';

/** A pack record's largest payload: rawLength and a compressed frame of at most MAX_ITEMS_RAW_BYTES (with the codecs' worst case). */
export const MAX_PACK_RECORD_BYTES = 4 + MAX_ITEMS_RAW_BYTES + MAX_ITEMS_RAW_BYTES / 8 + 1024 * 1024;

export type StateKind = 'nodes' | 'code';

/** A pack and its index, stored: their names and what they hold. */
export interface StoredPack {
  sha256: string;
  nodes: number;
  codes: number;
  /** Bytes of the pack and of its index. */
  bytes: number;
}

/**
 * Writes trie nodes and codes into one pack, streamed to a staged file in records of ITEMS_RECORD_BYTES
 * raw, and keeps their hashes for the pack's index (32 bytes an item: ~100,000 nodes for a 32 MiB pack).
 * `store` puts the pack, then its index, into the repository.
 */
export class PackWriter {
  private readonly out = new ContainerWriter(PACK, MAX_PACK_RECORD_BYTES);
  private readonly staged: StagedObject;
  private readonly groups: Record<StateKind, { items: Uint8Array[]; bytes: number }> = { nodes: { items: [], bytes: 0 }, code: { items: [], bytes: 0 } };
  private readonly hashes: Record<StateKind, HashList> = { nodes: new HashList(), code: new HashList() };
  /** The same hashes, to look up (bounded by a pack's size: a few MB). */
  private readonly held: Record<StateKind, HashSet> = { nodes: new HashSet(), code: new HashSet() };
  /** Raw bytes of items added. */
  rawBytes = 0;

  constructor(
    private readonly repo: Repository,
    private readonly compression: Compression,
  ) {
    this.staged = repo.staging();
    this.staged.write(this.out.start({ format: 'basalt-pack', version: 1, compression }));
  }

  get count(): number {
    return this.hashes.nodes.length + this.hashes.code.length;
  }

  /** Whether this pack holds `hash` already. */
  has(kind: StateKind, hash: Uint8Array): boolean {
    return this.held[kind].has(hash);
  }

  /** Adds an item; one the pack holds already is left out. */
  async add(kind: StateKind, hash: Uint8Array, data: Uint8Array): Promise<void> {
    if (data.length + 4 > MAX_ITEMS_RAW_BYTES) {
      throw new UserError(
        `cannot write the backup: a ${kind === 'code' ? 'contract code' : 'trie node'} of ${data.length} bytes is above the pack format's limit`,
        {
          code: 'FAILED_PRECONDITION',
        },
      );
    }
    if (!this.held[kind].add(hash)) return;
    const g = this.groups[kind];
    if (g.items.length > 0 && g.bytes + data.length + 4 > ITEMS_RECORD_BYTES) await this.flush(kind);
    g.items.push(data);
    g.bytes += data.length + 4;
    this.hashes[kind].push(hash);
    this.rawBytes += data.length;
  }

  private async flush(kind: StateKind): Promise<void> {
    const g = this.groups[kind];
    if (g.items.length === 0) return;
    const raw = packItems(g.items);
    const data = await compressRecord(raw, this.compression);
    const payload = new Uint8Array(4 + data.length);
    new DataView(payload.buffer).setUint32(0, raw.length);
    payload.set(data, 4);
    this.staged.write(this.out.record(kind === 'nodes' ? RepositoryRecord.Nodes : RepositoryRecord.Code, payload));
    g.items = [];
    g.bytes = 0;
  }

  /** Close the pack, store it and then its index; the hashes it holds are returned for the local index. */
  async store(signal?: AbortSignal): Promise<StoredPack & { hashes: Record<StateKind, HashList> }> {
    try {
      await this.flush('nodes');
      await this.flush('code');
      const nodes = this.hashes.nodes.length;
      const codes = this.hashes.code.length;
      const { bytes, digest } = this.out.finish({ nodeCount: String(nodes), codeCount: String(codes) });
      this.staged.write(bytes);
      this.staged.finish();
      const sha256 = digestHex(digest);
      const packBytes = this.staged.bytes;
      await this.repo.put(packName(sha256), this.staged, signal);
      return { sha256, nodes, codes, bytes: packBytes, hashes: this.hashes };
    } catch (err) {
      this.staged.discard();
      throw err;
    }
  }

  discard(): void {
    this.staged.discard();
  }
}

/**
 * The INDEX object of a pack (its node hashes, then its code hashes, in records of at most
 * MAX_INDEX_RECORD_BYTES), as Basalt stored one beside each pack before the local index was loaded
 * from the packs themselves (32 bytes an item that nothing read but `backup verify`). None is written
 * now; verify still checks one that is there, and tests make one to check that it does.
 */
export function encodeIndex(packSha256: string, hashes: Record<StateKind, HashList>): Uint8Array {
  const w = new ContainerWriter(INDEX, MAX_INDEX_RECORD_BYTES);
  const parts: Uint8Array[] = [w.start({ format: 'basalt-pack-index', version: 1, pack: packSha256 })];
  for (const kind of ['nodes', 'code'] as const) {
    for (const run of hashes[kind].runs(MAX_INDEX_RECORD_BYTES)) parts.push(w.record(kind === 'nodes' ? RepositoryRecord.Nodes : RepositoryRecord.Code, run));
  }
  parts.push(w.finish({ nodeCount: String(hashes.nodes.length), codeCount: String(hashes.code.length) }).bytes);
  return Buffer.concat(parts);
}

/**
 * 32-byte hashes appended into flat buffers: a pack of 32 MiB of trie nodes holds ~350,000 items, and
 * an array of their hashes, each a Uint8Array of its own, took ~150 bytes a hash of the heap.
 */
export class HashList {
  private static readonly CHUNK = 32 * 32 * 1024; // 1 MiB, a whole number of hashes
  private readonly chunks: Uint8Array[] = [];
  private used = HashList.CHUNK;
  length = 0;

  push(hash: Uint8Array): void {
    if (this.used === HashList.CHUNK) {
      this.chunks.push(new Uint8Array(HashList.CHUNK));
      this.used = 0;
    }
    this.chunks.at(-1)!.set(hash, this.used);
    this.used += 32;
    this.length++;
  }

  /** The hashes in order, as runs of whole hashes of at most `maxBytes` (views, not copies). */
  *runs(maxBytes: number): Generator<Uint8Array> {
    const per = Math.max(32, maxBytes - (maxBytes % 32));
    for (let c = 0; c < this.chunks.length; c++) {
      const filled = c === this.chunks.length - 1 ? this.used : HashList.CHUNK;
      for (let i = 0; i < filled; i += per) yield this.chunks[c]!.subarray(i, Math.min(filled, i + per));
    }
  }

  *[Symbol.iterator](): Generator<Uint8Array> {
    for (const run of this.runs(HashList.CHUNK)) for (let i = 0; i < run.length; i += 32) yield run.subarray(i, i + 32);
  }
}

/**
 * The hashes a pack's index lists, a record at a time, its structure, digest and counts checked, and
 * that it is the index of `packSha256`.
 */
export async function* readIndex(repo: Repository, packSha256: string): AsyncGenerator<{ kind: StateKind; hashes: Uint8Array[] }> {
  const name = indexName(packSha256);
  const r = new ContainerReader(repo.get(name), INDEX, MAX_INDEX_RECORD_BYTES);
  try {
    const h = decodeIndexHeader(await r.header());
    if (h.pack !== packSha256) throw new BackupFileError(`pack index ${name} is the index of pack ${h.pack}`);
    const counts = { nodes: 0, code: 0 };
    for (;;) {
      const rec = await r.next('a pack index record');
      if (rec.type === RecordType.Trailer) {
        const { fields } = await r.finish(rec);
        if (fields.nodeCount !== String(counts.nodes) || fields.codeCount !== String(counts.code))
          throw new BackupFileError(`pack index ${name}: its trailer's counts do not match its records`);
        return;
      }
      const kind = rec.type === RepositoryRecord.Nodes ? 'nodes' : rec.type === RepositoryRecord.Code ? 'code' : undefined;
      if (kind === undefined || rec.payload.length % 32 !== 0)
        throw new BackupFileError(`pack index ${name}: a record of type ${rec.type} and ${rec.payload.length} bytes`);
      const hashes: Uint8Array[] = [];
      for (let at = 0; at < rec.payload.length; at += 32) hashes.push(rec.payload.slice(at, at + 32));
      counts[kind] += hashes.length;
      yield { kind, hashes };
    }
  } finally {
    await r.close();
  }
}

/**
 * A pack's trie nodes and codes with their hashes, a record at a time: structure, checksums and digest
 * checked (the digest must be the pack's name), each node's hash computed here (keccak256) and each
 * code's too, so nothing the pack says is taken on trust.
 */
export async function* readPack(
  repo: Repository,
  sha256: string,
  /** Ends a read in progress (the node stopping while its backup loads its index). */
  signal?: AbortSignal,
): AsyncGenerator<{ kind: StateKind; items: { hash: Uint8Array; data: Uint8Array }[] }> {
  const name = packName(sha256);
  const r = new ContainerReader(repo.get(name, signal), PACK, MAX_PACK_RECORD_BYTES);
  try {
    const { compression } = decodePackHeader(await r.header());
    const counts = { nodes: 0, code: 0 };
    for (;;) {
      const rec = await r.next('a pack record');
      if (rec.type === RecordType.Trailer) {
        const { fields, digest } = await r.finish(rec);
        if (digestHex(digest) !== sha256) throw new BackupFileError(`state pack ${name} is damaged: its content hashes to ${digestHex(digest)}`);
        if (fields.nodeCount !== String(counts.nodes) || fields.codeCount !== String(counts.code))
          throw new BackupFileError(`state pack ${name}: its trailer's counts do not match its records`);
        return;
      }
      const kind = rec.type === RepositoryRecord.Nodes ? 'nodes' : rec.type === RepositoryRecord.Code ? 'code' : undefined;
      if (kind === undefined || rec.payload.length < 4) throw new BackupFileError(`state pack ${name}: a record of type ${rec.type}`);
      const rawLength = new DataView(rec.payload.buffer, rec.payload.byteOffset, 4).getUint32(0);
      if (rawLength > MAX_ITEMS_RAW_BYTES) throw new BackupFileError(`state pack ${name}: a record of ${rawLength} bytes raw, above the limit`);
      const raw = await decompressRecord(rec.payload.subarray(4), compression, rawLength);
      const items = unpackItems(raw, `state pack ${name}`).map((data) => ({ hash: keccak256(data), data }));
      counts[kind] += items.length;
      yield { kind, items };
    }
  } finally {
    await r.close();
  }
}
