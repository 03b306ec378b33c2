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
  get(name: string): AsyncIterable<Uint8Array>;
  delete(name: string): Promise<void>;
  close(): void;
}

/** Is this --backup-dir an S3 URL? */
export function isS3Url(url: string): boolean {
  return url.startsWith('s3://');
}
