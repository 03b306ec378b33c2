import { createReadStream, createWriteStream, fstatSync, fsyncSync, lstatSync, writeSync, openSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { UserError, errorMessage } from '../util/errors.js';
import { removeStaleTemps, type StaleTemps } from '../util/stale-temp.js';
import type { ByteSink } from '../backup/types.js';
import { ProgressReporter } from './progress.js';
import { fsyncFile, renameDurably } from '../util/durable.js';

/** Where an archive goes: a file (written under a temporary name, renamed when complete) or stdout. */
export interface ArchiveSink extends ByteSink {
  /** Make the archive visible under its name. */
  commit(): Promise<void>;
  /** Remove what was written (failed or cancelled export). */
  abort(): void;
  readonly name: string;
}

/**
 * Exit status when the reader of stdout went away (`basalt export - | head`): quiet, as a tool killed by
 * SIGPIPE (128 + 13), so that `set -o pipefail` still sees that the archive was not delivered in full.
 */
export const EXIT_BROKEN_PIPE = 141;

export function openArchiveSink(filename: string, force: boolean): ArchiveSink {
  if (filename === '-') return stdoutSink();
  const path = resolve(filename);
  const dir = dirname(path);
  const existing = lstatOrUndefined(path);
  if (existing && !force) throw new UserError(`${path} already exists: choose another file name or pass --force`, { code: 'ALREADY_EXISTS' });
  if (existing && !existing.isFile())
    throw new UserError(`${path} is ${fileKind(existing)}, not a regular file: --force replaces only regular files`, { code: 'ALREADY_EXISTS' });
  if (!statOrUndefined(dir)?.isDirectory()) throw new UserError(`folder ${dir} does not exist`, { code: 'NOT_FOUND' });
  noteStaleTemps(removeStaleTemps(dir, `.${basename(path)}.partial-`));
  const tmp = join(dir, `.${basename(path)}.partial-${process.pid}`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (err) {
    throw new UserError(`cannot write in ${dir}: ${errorMessage(err)}`, { code: 'FAILED_PRECONDITION' });
  }
  const out = createWriteStream(tmp, { fd });
  let failed: Error | undefined;
  out.on('error', (err) => (failed = err));
  const writeError = (err: unknown) => {
    const e = (failed ?? err) as NodeJS.ErrnoException;
    return new UserError(`cannot write ${path}: ${e.message}`, {
      code: e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'RESOURCE_EXHAUSTED' : 'FAILED_PRECONDITION',
    });
  };
  return {
    name: path,
    async write(chunk) {
      if (failed) throw writeError(failed);
      try {
        await writeTo(out as NodeJS.WritableStream, chunk);
      } catch (err) {
        throw writeError(err);
      }
    },
    async commit() {
      try {
        await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
        if (failed) throw failed;
        fsyncFile(tmp); // the archive is on disk before it gets its name
        renameDurably(tmp, path);
      } catch (err) {
        throw writeError(err);
      }
    },
    abort() {
      out.destroy();
      rmSync(tmp, { force: true });
    },
  };
}

/** stdout as a sink: a write error is one line, a reader that went away a quiet exit. */
function stdoutSink(): ArchiveSink {
  if (process.stdout.isTTY) throw new UserError('refusing to write a binary archive to a terminal: redirect stdout or give a file name');
  if (fstatSync(1).isFile()) return stdoutFileSink();
  let failed: NodeJS.ErrnoException | undefined;
  const fail = (err: unknown): UserError => {
    const e = (failed ?? err) as NodeJS.ErrnoException;
    if (e.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    return new UserError(`cannot write to stdout: ${e.message}`, { code: 'RESOURCE_EXHAUSTED' });
  };
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    failed = err;
    if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
  });
  return {
    name: 'stdout',
    async write(chunk) {
      if (failed) throw fail(failed);
      try {
        await writeTo(process.stdout, chunk);
      } catch (err) {
        throw fail(err);
      }
    },
    async commit() {
      if (failed) throw fail(failed);
    },
    abort: () => undefined,
  };
}

/**
 * stdout redirected to a file (`export - > file`): written with our own loop, because Node's stream for
 * a file ignores short writes, so a full disk would silently truncate the archive. Fsynced at the end.
 */
function stdoutFileSink(): ArchiveSink {
  const fail = (err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    return new UserError(`cannot write to stdout: ${e.message}`, {
      code: e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'RESOURCE_EXHAUSTED' : 'FAILED_PRECONDITION',
    });
  };
  return {
    name: 'stdout',
    async write(chunk) {
      try {
        for (let off = 0; off < chunk.length; ) off += writeSync(1, chunk, off, chunk.length - off);
      } catch (err) {
        throw fail(err);
      }
    },
    async commit() {
      try {
        fsyncSync(1);
      } catch (err) {
        throw fail(err);
      }
    },
    abort: () => undefined,
  };
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function fileKind(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Tell the operator about leftovers of an interrupted earlier run: those cleaned up, and those that
 * could not be (another user's, say), which stay on disk until someone allowed to removes them.
 */
export function noteStaleTemps(found: StaleTemps): void {
  for (const r of found.removed) process.stderr.write(`note: removed ${r.path} left by process ${r.pid} (interrupted earlier run)\n`);
  for (const k of found.kept) process.stderr.write(`warning: ${k.error}, left by process ${k.pid} (interrupted earlier run): kept\n`);
}

function writeTo(stream: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> {
  return new Promise((res, rej) => {
    const ok = stream.write(chunk, (err) => err && rej(err));
    if (ok) res();
    else stream.once('drain', () => res());
  });
}

/** An archive to read: a file (opened again for each pass) or stdin (one pass only). */
export interface ArchiveSource {
  readonly name: string;
  readonly size?: number;
  readonly rereadable: boolean;
  open(): AsyncIterable<Uint8Array>;
}

export function openArchiveSource(filename: string): ArchiveSource {
  if (filename === '-') {
    if (process.stdin.isTTY) throw new UserError('refusing to read an archive from a terminal: pipe one in or give a file name');
    let used = false;
    return {
      name: 'stdin',
      rereadable: false,
      open() {
        if (used) throw new Error('stdin can be read once');
        used = true;
        return process.stdin;
      },
    };
  }
  const path = resolve(filename);
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UserError(`archive ${path} not found`);
  }
  if (!st.isFile()) throw new UserError(`archive ${path} is not a file`);
  return { name: path, size: st.size, rereadable: true, open: () => createReadStream(path, { highWaterMark: 256 * 1024 }) };
}

export function parseBlockNumberArg(name: string) {
  return (value: string | undefined): bigint | undefined => {
    if (value === undefined) return undefined;
    if (!/^\d{1,19}$/.test(value)) throw new InvalidArgumentError(`${name} "${value}" is not a block number`);
    return BigInt(value);
  };
}

/**
 * Write a file produced by `produce` (export, snapshot): to a hidden partial file renamed when
 * complete, removed on failure or CTRL-C, with a progress reporter. Returns the result and the name.
 */
export async function produceFile<T>(
  filename: string,
  opts: { force: boolean; quiet: boolean; json: boolean; label: string },
  produce: (sink: ArchiveSink, progress: ProgressReporter) => Promise<T>,
): Promise<{ result: T; name: string }> {
  if (opts.json && filename === '-') throw new UserError(`--json prints to stdout, which the ${opts.label} already uses: write it to a file`);
  const sink = openArchiveSink(filename, opts.force);
  const progress = new ProgressReporter(opts.label, { quiet: opts.quiet });
  const onSignal = () => {
    progress.stop();
    sink.abort();
    process.stderr.write(`${opts.label} interrupted: partial file removed\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await produce(sink, progress);
    await sink.commit();
    return { result, name: sink.name };
  } catch (err) {
    sink.abort();
    throw err;
  } finally {
    progress.stop();
  }
}
