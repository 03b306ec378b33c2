import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BackupFileError } from '../../container/errors.js';
import { isNotFound, type BackupTarget, type TargetEntry } from '../targets/target.js';
import { decodeManifest, manifestName, MAX_MANIFEST_BYTES, parseObjectName, type Manifest, type ObjectName } from './format.js';

/** What a repository holds, by kind (names parsed; anything else in the target is ignored). */
export interface RepositoryListing {
  manifests: (ObjectName & { name: string; bytes: number })[];
  packs: Map<string, number>;
  indexes: Map<string, number>;
  segments: (ObjectName & { name: string; bytes: number })[];
  genesis: Set<string>;
  locks: string[];
}

/** A manifest as a listing keeps it: every field but its lists of segments and packs, which grow with the repository. */
export type ManifestInfo = Omit<Manifest, 'segments' | 'packs'>;

/** One manifest of a listing, read and checked, without its lists (Repository.readManifests). */
export interface ManifestSummary {
  name: string;
  /** Its head block's number. */
  last: bigint;
  m: ManifestInfo;
  /** Whether the listing it was read with holds every object it names (true when read without one). */
  whole: boolean;
}

export interface ReadManifestsOptions {
  /** The listing the manifests are of (for `whole`). */
  listing?: RepositoryListing;
  /** Only this chain's (its chain ID and genesis hash). */
  chain?: { chainId: string; genesisHash: string };
  /**
   * A manifest that cannot be read (damaged: not its name's content, or not the format) or that is gone
   * since the listing is passed here, with why, and left out; without it, it is thrown.
   */
  onSkipped?: (name: string, why: string) => void;
  /** Each manifest read, whole, once (in no particular order), before it is dropped. */
  visit?: (s: ManifestSummary, m: Manifest) => void;
  /** Ends the reads (the node is stopping). */
  signal?: AbortSignal;
}

/** A manifest's summary: a new object without its lists, which are dropped with the manifest. */
export function summaryOf(name: string, m: Manifest, whole: boolean): ManifestSummary {
  const { segments: _segments, packs: _packs, ...info } = m;
  return { name, last: BigInt(m.head.number), m: info, whole };
}

/** Manifests read at once (each up to MAX_MANIFEST_BYTES): the reads of a listing overlap, their memory stays bounded. */
export const MANIFEST_READS = 4;

/**
 * A file being written for the repository: in the target's own folder when it has one (the put is then
 * a rename), else in `stagingDir`. Its bytes are fsynced before the put, so an object a folder shows
 * under its name is whole.
 */
export class StagedObject {
  readonly path: string;
  private fd: number;
  bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `${STAGED_PREFIX}${randomBytes(6).toString('hex')}.partial-${process.pid}`);
    this.fd = openSync(this.path, 'wx', 0o600);
  }

  write(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) at += writeSync(this.fd, chunk, at, chunk.length - at);
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** fsync and close; returns the sha256 of everything written. */
  finish(): string {
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    return this.hash.digest('hex');
  }

  /** Close (if open) and remove: after a put (a copy to S3) or a failure. */
  discard(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.path, { force: true });
  }
}

/** Staged files begin so (hidden in a folder target, where list() skips them); stale ones are removed at start. */
export const STAGED_PREFIX = '.repo-';

/** A backup repository on a BackupTarget (format: ./format.ts, docs/repository-format.md). */
export class Repository {
  constructor(
    readonly target: BackupTarget,
    /** Where objects are staged when the target has no folder of its own (S3). */
    private readonly stagingDir: string,
  ) {}

  get url(): string {
    return this.target.url;
  }

  staging(): StagedObject {
    return new StagedObject(this.target.stagingDir ?? this.stagingDir);
  }

  /** Store a staged object under `name` (nothing visible under it until it is whole) and remove the staged file. */
  async put(name: string, staged: StagedObject, signal?: AbortSignal): Promise<void> {
    try {
      await this.target.put(name, { path: staged.path, bytes: staged.bytes }, signal);
    } finally {
      staged.discard(); // a folder target renamed it away already: nothing left to remove then
    }
  }

  /** Store `bytes` under the name `nameOf(sha256 of bytes)`; returns that name. */
  async putBytes(nameOf: (sha256: string) => string, bytes: Uint8Array, signal?: AbortSignal): Promise<string> {
    const staged = this.staging();
    try {
      staged.write(bytes);
      const name = nameOf(staged.finish());
      await this.put(name, staged, signal);
      return name;
    } catch (err) {
      staged.discard();
      throw err;
    }
  }

  get(name: string, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.target.get(name, signal);
  }

  async list(): Promise<RepositoryListing> {
    const out: RepositoryListing = { manifests: [], packs: new Map(), indexes: new Map(), segments: [], genesis: new Set(), locks: [] };
    for (const e of await this.target.list()) add(out, e);
    out.manifests.sort((a, b) => (a.last! < b.last! ? -1 : a.last! > b.last! ? 1 : a.name < b.name ? -1 : 1));
    out.segments.sort((a, b) => (a.first! < b.first! ? -1 : a.first! > b.first! ? 1 : a.last! < b.last! ? -1 : 1));
    return out;
  }

  /**
   * Manifests by name, each read and checked, as summaries (ManifestSummary) in the order of `names`.
   * Never all of them held whole: a manifest names every pack of the backups before it, so the
   * manifests of a repository together grow with backups × packs (3,000 backups without retention:
   * 311 MiB of JSON). At most MANIFEST_READS are read at once; each is handed whole to `visit` as it
   * is read (for what a caller folds from its lists: a set of the packs or segments they name, bounded
   * by the repository's objects) and then dropped. `manifest` reads one again when its lists are
   * needed (a backup's base, a restore's backup).
   */
  async readManifests(names: readonly string[], opts: ReadManifestsOptions = {}): Promise<ManifestSummary[]> {
    const out: (ManifestSummary | undefined)[] = new Array(names.length);
    const skipped: (string | undefined)[] = new Array(names.length);
    let next = 0;
    let failure: { err: unknown } | undefined;
    const listed = opts.listing && { listing: opts.listing, segments: new Set(opts.listing.segments.map((x) => x.name)) };
    const worker = async () => {
      while (failure === undefined && next < names.length) {
        const i = next++;
        const name = names[i]!;
        try {
          const m = await this.manifest(name, opts.signal);
          if (opts.chain && (m.chainId !== opts.chain.chainId || m.genesisHash !== opts.chain.genesisHash)) continue;
          const s = summaryOf(name, m, listed === undefined || holdsAll(listed.listing, listed.segments, m));
          opts.visit?.(s, m);
          out[i] = s;
        } catch (err) {
          // A manifest that cannot be read (damaged), or is gone since the listing (retention, which a
          // reader's listing does not wait for): left out when the caller says so; thrown otherwise.
          const why = opts.signal?.aborted
            ? undefined
            : err instanceof BackupFileError
              ? err.message
              : isNotFound(err)
                ? 'it was deleted since the listing'
                : undefined;
          if (opts.onSkipped === undefined || why === undefined) failure ??= { err };
          else skipped[i] = why;
        }
      }
    };
    // Every worker settled before this returns or throws: none reads on behind the caller's back.
    await Promise.all(Array.from({ length: Math.min(MANIFEST_READS, names.length) }, worker));
    if (failure !== undefined) throw failure.err;
    skipped.forEach((why, i) => why !== undefined && opts.onSkipped!(names[i]!, why));
    return out.filter((x) => x !== undefined);
  }

  /**
   * The manifests of one chain (its chain ID and genesis hash), as summaries, oldest first
   * (`newestLast`): a repository may hold another chain's backups too, which are that chain's node's to
   * keep. Without `onSkipped`, a manifest that cannot be read is thrown (a prune must not delete on the
   * word of the others alone).
   */
  async chainManifests(chain: { chainId: string; genesisHash: string }, opts: Omit<ReadManifestsOptions, 'chain'> = {}): Promise<ManifestSummary[]> {
    const listing = opts.listing ?? (await this.list());
    const read = await this.readManifests(
      listing.manifests.map((e) => e.name),
      { ...opts, chain, listing },
    );
    return read.sort(newestLast);
  }

  /** A manifest, its name checked against its content's sha256 and its fields against the format. */
  async manifest(name: string, signal?: AbortSignal): Promise<Manifest> {
    const parsed = parseObjectName(name);
    if (parsed?.kind !== 'manifest') throw new BackupFileError(`${name} is not a backup manifest`);
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    for await (const c of this.get(name, signal)) {
      signal?.throwIfAborted();
      bytes += c.length;
      if (bytes > MAX_MANIFEST_BYTES) throw new BackupFileError(`backup manifest ${name} is above the ${MAX_MANIFEST_BYTES}-byte limit`);
      chunks.push(c);
    }
    const all = Buffer.concat(chunks);
    const sha = createHash('sha256').update(all).digest('hex');
    if (sha !== parsed.sha256) throw new BackupFileError(`backup manifest ${name} is damaged: its content hashes to ${sha}`);
    const m = decodeManifest(all);
    if (BigInt(m.head.number) !== parsed.last) throw new BackupFileError(`backup manifest ${name} names head ${m.head.number}`);
    return m;
  }

  /** Write `m` as the last object of a backup: from now on the backup exists. */
  /** Store a manifest; it is first read back as a reader would (a writer's mistake fails here, not at a restore). */
  async writeManifest(m: Manifest, signal?: AbortSignal): Promise<string> {
    const bytes = new TextEncoder().encode(JSON.stringify(m));
    decodeManifest(bytes);
    return this.putBytes((sha) => manifestName(BigInt(m.head.number), sha), bytes, signal);
  }
}

/**
 * The order of one chain's backups, oldest first: by their head block's time, then its number. On one
 * timeline that is block order. After the chain was rolled back (a network, or a one-validator chain,
 * restored to an older block and going on from there), the backups of the new timeline end lower than
 * those of the timeline left but are newer: their blocks were sealed later. So "newest" (what retention
 * always keeps, what a restore without a point takes) is the new timeline's. Block times are the chain's
 * own clock, checked by every validator, not the clock of whichever node wrote a manifest (`createdAt`).
 */
export function newestLast(a: { name: string; m: ManifestInfo }, b: { name: string; m: ManifestInfo }): number {
  const ta = BigInt(a.m.head.timestamp);
  const tb = BigInt(b.m.head.timestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const na = BigInt(a.m.head.number);
  const nb = BigInt(b.m.head.number);
  if (na !== nb) return na < nb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * What makes a backup the same backup under another manifest: its chain, its head block (number, hash
 * and the state root it restores) and when it was taken. A prune writes each backup's manifest again
 * (naming the packs and segments it rewrote, every other field kept) before it deletes the old one; one
 * stopped in between (killed, a delete that failed) leaves both, each restoring the same backup. Two
 * backups of one head block are told apart by their `createdAt` (to the millisecond). A manifest that
 * names another state root for the head is another backup (a bad one: verify checks the root against
 * the head block), never a copy whose objects a prune may delete.
 */
function backupKey(m: ManifestInfo): string {
  return `${m.chainId} ${m.genesisHash} ${m.head.number} ${m.head.hash} ${m.head.stateRoot} ${m.createdAt}`;
}

/**
 * `manifests` grouped by backup (backupKey), in the order of each backup's first manifest among them.
 * In each group the manifest to use comes first: one whose packs, segments and genesis object the
 * listing all holds (`whole`: a copy may have lost one), then the first by name. Whatever counts or
 * chooses backups (retention, `backup list`, restore, verify, prune) counts such a group once. Being
 * first is no proof (anyone who can put an object can add a manifest): a restore falls back on the
 * others of the head when it fails its checks, verify names a member as the copy of one that passed,
 * and a prune keeps what every member names (prune.ts).
 */
export function backupsOf<T extends { name: string; m: ManifestInfo; whole: boolean }>(manifests: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const x of manifests) {
    const key = backupKey(x.m);
    const group = groups.get(key);
    if (group) group.push(x);
    else groups.set(key, [x]);
  }
  return [...groups.values()].map((g) => (g.length === 1 ? g : [...g].sort((a, b) => Number(b.whole) - Number(a.whole) || (a.name < b.name ? -1 : 1))));
}

/** Whether the listing holds every object `m` names (`segments`: the names of the listing's segments). */
function holdsAll(listing: RepositoryListing, segments: Set<string>, m: Manifest): boolean {
  return listing.genesis.has(m.genesis) && m.packs.every((p) => listing.packs.has(parseObjectName(p)!.sha256)) && m.segments.every((s) => segments.has(s));
}

function add(out: RepositoryListing, e: TargetEntry): void {
  const o = parseObjectName(e.name);
  if (!o) return;
  if (o.kind === 'pack') out.packs.set(o.sha256, e.bytes);
  else if (o.kind === 'index') out.indexes.set(o.sha256, e.bytes);
  else if (o.kind === 'segment') out.segments.push({ ...o, name: e.name, bytes: e.bytes });
  else if (o.kind === 'genesis') out.genesis.add(e.name);
  else if (o.kind === 'lock') out.locks.push(e.name);
  else out.manifests.push({ ...o, name: e.name, bytes: e.bytes });
}
