import { UserError } from '../../util/errors.js';

/** One object in a backup target. */
export interface TargetEntry {
  name: string;
  bytes: number;
  /** When the target stored it, ms since the epoch. */
  storedAt: number;
}

/** A piece's bytes, complete in a local file (so that a failed upload can be retried without reading the chain again). */
export interface StagedPiece {
  path: string;
  bytes: number;
}

/**
 * Where scheduled backups go: a local folder (local-dir.ts) or an S3 bucket and prefix (s3.ts). A put
 * is visible under its name only once complete (a folder writes a temporary name, fsyncs and renames;
 * an S3 object appears only when its upload completes), so a reader of `list` never sees half a piece.
 */
export interface BackupTarget {
  /** How the operator named it (a folder path or s3://bucket/prefix), for logs and errors. */
  readonly url: string;
  /** A local folder to stage pieces in when it is the target's own (put then only renames), else undefined. */
  readonly stagingDir: string | undefined;
  /** Store `staged` under `name`; an abort of `signal` gives up an upload in progress (nothing becomes visible). */
  put(name: string, staged: StagedPiece, signal?: AbortSignal): Promise<void>;
  list(): Promise<TargetEntry[]>;
  /** The piece's bytes; an abort of `signal` ends a read in progress (the iteration throws). */
  get(name: string, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  delete(name: string): Promise<void>;
  close(): void;
}

/** Whether a target's failure says the object is not there (a folder's ENOENT, S3's NoSuchKey): deleted since it was listed. */
export function isNotFound(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return e.code === 'ENOENT' || e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** Is this --backup-dir an S3 URL? */
export function isS3Url(url: string): boolean {
  return url.startsWith('s3://');
}

/** Parse `s3://bucket/prefix` into the bucket and the key prefix (with a trailing slash, or empty). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new UserError(`"${url}" is not s3://bucket/prefix (bucket: 3-63 lower-case letters, digits, dots, dashes)`);
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix.length > 900) throw new UserError('S3 prefix is too long');
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : '' };
}
