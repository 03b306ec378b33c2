import { createReadStream, createWriteStream, existsSync, fsyncSync, openSync, closeSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { UserError } from '../util/errors.js';
import type { ByteSink } from '../backup/types.js';
import { ProgressReporter } from './progress.js';

/** Where an archive goes: a file (written under a temporary name, renamed when complete) or stdout. */
export interface ArchiveSink extends ByteSink {
  /** Make the archive visible under its name. */
  commit(): Promise<void>;
  /** Remove what was written (failed or cancelled export). */
  abort(): void;
  readonly name: string;
}

export function openArchiveSink(filename: string, force: boolean): ArchiveSink {
  if (filename === '-') {
    if (process.stdout.isTTY) throw new UserError('refusing to write a binary archive to a terminal: redirect stdout or give a file name');
    return {
      name: 'stdout',
      write: (chunk) => writeTo(process.stdout, chunk),
      commit: async () => undefined,
      abort: () => undefined,
    };
  }
  const path = resolve(filename);
  if (existsSync(path) && !force) throw new UserError(`${path} already exists: choose another file name or pass --force`);
  if (!existsSync(dirname(path))) throw new UserError(`folder ${dirname(path)} does not exist`);
  const tmp = join(dirname(path), `.${basename(path)}.partial-${process.pid}`);
  const out = createWriteStream(tmp, { flags: 'wx' });
  let failed: Error | undefined;
  out.on('error', (err) => (failed = err));
  return {
    name: path,
    async write(chunk) {
      if (failed) throw new UserError(`cannot write ${tmp}: ${failed.message}`);
      await writeTo(out as NodeJS.WritableStream, chunk);
    },
    async commit() {
      await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
      if (failed) throw new UserError(`cannot write ${tmp}: ${failed.message}`);
      const fd = openSync(tmp, 'r');
      try {
        fsyncSync(fd); // the archive is on disk before it gets its name
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    },
    abort() {
      out.destroy();
      rmSync(tmp, { force: true });
    },
  };
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
