import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** The first buffer readUpTo allocates when the size is not known (a pipe, a device). */
const FIRST_CHUNK = 16 * 1024;

/**
 * Read `fd` from where it stands to its end, but never more than `max + 1` bytes: a result longer than
 * `max` says the source is too large without reading the rest of it. A pipe or a device (/dev/zero,
 * /dev/urandom) has no size to check first, and may have no end; readFileSync would read it until
 * memory runs out. `sizeHint`: the size fstat gave, so that a regular file is read into one buffer.
 */
export function readUpTo(fd: number, max: number, sizeHint = 0): Buffer {
  let buf = Buffer.alloc(Math.min(max + 1, Math.max(sizeHint + 1, FIRST_CHUNK)));
  let size = 0;
  while (size <= max) {
    if (size === buf.length) {
      const grown = Buffer.alloc(Math.min(max + 1, buf.length * 2));
      buf.copy(grown, 0, 0, size);
      buf = grown;
    }
    const n = readSync(fd, buf, size, buf.length - size, null);
    if (n === 0) break;
    size += n;
  }
  return buf.subarray(0, size);
}

/** Why readBoundedFile refused a file: its message follows the file's name ("… is a directory"). */
export class FileRefused extends Error {
  constructor(
    message: string,
    readonly tooLarge: boolean,
  ) {
    super(message);
    this.name = 'FileRefused';
  }
}

/**
 * The whole of a small file, opened once (the file checked is the file read), never more than `max`
 * bytes of it: a directory, or anything larger than `max`, is refused with FileRefused; a regular file
 * larger than `max` before a byte of it is read. `regularOnly`: refuse anything but a regular file, and
 * open without blocking, so that a FIFO at the path is refused rather than waited on (a node's own
 * files); otherwise pipes and devices are read, up to the bound (a --passphrase-file of `<(pass show x)`).
 * Failures of the file system are thrown as they are (ENOENT, EACCES...), for the caller to name.
 */
export function readBoundedFile(path: string, max: number, opts: { regularOnly: boolean }): Buffer {
  const fd = openSync(path, opts.regularOnly ? constants.O_RDONLY | constants.O_NONBLOCK : constants.O_RDONLY);
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new FileRefused('is a directory', false);
    if (opts.regularOnly && !st.isFile()) throw new FileRefused('is not a regular file', false);
    const tooLarge = () => new FileRefused(`is larger than ${max} bytes`, true);
    if (st.isFile() && st.size > max) throw tooLarge();
    const bytes = readUpTo(fd, max, st.isFile() ? st.size : 0);
    if (bytes.length > max) throw tooLarge();
    return bytes;
  } finally {
    closeSync(fd);
  }
}
