import { closeSync, fsyncSync, linkSync, lstatSync, openSync, renameSync, writeSync } from 'node:fs';

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
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err; // a file system that cannot sync folders
  } finally {
    closeSync(fd);
  }
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
