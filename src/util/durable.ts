import { closeSync, fsyncSync, linkSync, lstatSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/*
 * Durable file writes, once for the whole code base: a file is written under a temporary name,
 * fsynced, renamed (or hard-linked) to its name, and its folder fsynced, so that a crash at any
 * moment leaves the old file or the new one, whole. File systems that cannot fsync a folder (EINVAL)
 * are taken as they are: the rename is as durable as they make it.
 */

/** Something at `path`, even a dangling symlink. Other errors (EACCES, ENOTDIR...) are thrown. */
export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Create `path` (never over an existing file) with `data`, flushed to disk before it is closed. */
export function writeSyncedNew(path: string, data: Uint8Array, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flush a folder's entries (new, renamed or removed names) to disk. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch (err) {
    if (!cannotSyncFolders(err)) throw err;
  } finally {
    closeSync(fd);
  }
}

/** fsyncDir, asynchronously (for callers on the event loop's hot path, the IBFT sign journal). */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fd.sync();
  } catch (err) {
    if (!cannotSyncFolders(err)) throw err;
  } finally {
    await fd.close();
  }
}

/** A folder fsync refused by a file system that cannot sync folders. */
function cannotSyncFolders(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'EINVAL';
}

/** Flush a file written by someone else (a stream, a copy) to disk. */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Rename `from` to `to` (replacing it) and make the new name durable (its folder fsynced). */
export function renameDurably(from: string, to: string): void {
  renameSync(from, to);
  fsyncDir(dirname(to));
}

/**
 * Replace the file at `path` with `data`, whole or not at all: written to a new `path`.tmp (one left
 * over from a crash is removed first), fsynced, renamed over `path`, folder fsynced.
 */
export function replaceFile(path: string, data: Uint8Array, mode: number): void {
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true }); // left by a crash mid-write: made afresh, so with `mode`
  const fd = openSync(tmp, 'wx', mode);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameDurably(tmp, path);
}

/** replaceFile, asynchronously. */
export async function replaceFileAsync(path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true }); // left by a crash mid-write: made afresh, so with `mode`
  const file = await open(tmp, 'wx', mode);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  await fsyncDirAsync(dirname(path));
}

/**
 * Give the file at `from` the name `to`, atomically, failing with EEXIST if `to` exists: a hard link
 * (`from` keeps its name too). On file systems without hard links: a rename after a last check
 * (`from` is gone then). Returns whether `from` still exists.
 */
export function linkNew(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    if (exists(to)) throw Object.assign(new Error(`EEXIST: ${to}`), { code: 'EEXIST', path: to });
    renameSync(from, to);
    return false;
  }
}

/**
 * Create the file at `path` with `data`, whole or not at all, never over an existing one (EEXIST): written
 * to a temporary name beside it, fsynced, linked to `path`, the folder fsynced. A crash leaves no file at
 * `path` or the whole one (a file written in place could be left empty).
 */
export function writeFileNew(path: string, data: Uint8Array, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeSyncedNew(tmp, data, mode);
  try {
    if (linkNew(tmp, path)) rmSync(tmp, { force: true });
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}

/**
 * Flush every file directly in `dir`, then `dir` itself (a closed LevelDB's folder: its tables, logs,
 * manifest). LevelDB syncs the log it writes to on a `sync` write, but not a log it switched away from
 * whose memtable was never compacted (a close skips that): before a restored data dir is renamed into
 * place, all of it is made durable this way. Returns the names flushed.
 */
export function fsyncFolderFiles(dir: string): string[] {
  const names: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    fsyncFile(join(dir, e.name));
    names.push(e.name);
  }
  fsyncDir(dir);
  return names;
}
