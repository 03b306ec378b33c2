/**
 * What went wrong, as a code that crosses process boundaries: the gRPC operator API sends it as the
 * call's status, the CLI turns it into an exit code, and code that must tell failures apart branches on
 * it, never on a message's text. One table maps each code to both (gRPC status numbers are the
 * protocol's own, from grpc/status.proto).
 */
export const ERROR_CODES = {
  /** A flag, argument or request field is malformed or out of range. */
  INVALID_ARGUMENT: { grpcStatus: 3, exitCode: 1 },
  /** A file or stream is corrupt, hostile or not of the expected format. */
  CORRUPT_FILE: { grpcStatus: 3, exitCode: 1 },
  /**
   * A file or stream ends before it is complete (no trailer, a record cut short): as CORRUPT_FILE to the
   * operator, but told apart where a stream that simply stopped is nobody's fault (a peer's snapshot).
   */
  TRUNCATED: { grpcStatus: 3, exitCode: 1 },
  /** A file or peer belongs to another chain (chain ID or genesis differ). */
  WRONG_CHAIN: { grpcStatus: 3, exitCode: 1 },
  /** A block fails verification (seals, roots, execution). */
  INVALID_BLOCK: { grpcStatus: 3, exitCode: 1 },
  /** Blocks before the ones offered must come first (an archive that starts after the head). */
  MISSING_BLOCKS: { grpcStatus: 9, exitCode: 1 },
  /** The operation needs a state it is not in (no head block yet, data dir not empty...). */
  FAILED_PRECONDITION: { grpcStatus: 9, exitCode: 1 },
  NOT_FOUND: { grpcStatus: 5, exitCode: 1 },
  /** A database of the data dir is damaged (LevelDB corruption, I/O error, records missing): restore it. */
  DATA_LOSS: { grpcStatus: 15, exitCode: 3 },
  ALREADY_EXISTS: { grpcStatus: 6, exitCode: 1 },
  /** The data dir is held by another process (LevelDB's LOCK). */
  LOCKED: { grpcStatus: 9, exitCode: 1 },
  /** A node or service does not answer. */
  UNAVAILABLE: { grpcStatus: 14, exitCode: 1 },
  RESOURCE_EXHAUSTED: { grpcStatus: 8, exitCode: 1 },
  /** The operator or the client stopped it (CTRL-C, a cancelled call). */
  CANCELLED: { grpcStatus: 1, exitCode: 130 },
  INTERNAL: { grpcStatus: 13, exitCode: 1 },
} as const satisfies Record<string, { grpcStatus: number; exitCode: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.hasOwn(ERROR_CODES, v);
}

/**
 * An error caused by the operator's input or environment (bad flag, locked data dir, bad archive...).
 * The CLI prints its message as one line, with no stack trace, and exits with the code's exit code.
 */
export class UserError extends Error {
  readonly code: ErrorCode;

  constructor(message: string, opts: { code?: ErrorCode; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.code = opts.code ?? 'INVALID_ARGUMENT';
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exitCode;
  }
}

/** The code of any error: a UserError's own, INTERNAL for everything else. */
export function errorCode(err: unknown): ErrorCode {
  return err instanceof UserError ? err.code : 'INTERNAL';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What the CLI prints for an error that is not a UserError (a bug, or a failure no code path expected):
 * one `error:` line with the first line of its message, as for every other error, since a stack trace
 * tells the operator nothing and buries the line that does. `debug` (BASALT_DEBUG set): the stack
 * follows, for whoever reports or debugs it.
 */
export function unexpectedFailure(err: unknown, debug: boolean): string {
  // An error may have no message (an AggregateError of a dual-stack connect): its name, or code, then.
  const first = errorMessage(err).split('\n', 1)[0] || (err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.name) : String(err));
  const line = `error: unexpected failure: ${first}\n`;
  const stack = err instanceof Error ? err.stack : undefined;
  return debug && stack !== undefined ? `${line}${stack}\n` : line;
}

/**
 * One line for a failed file operation, naming the file (and the one that failed, when it is another:
 * a temp file, a folder on the path). `code`: the UserError's, for a failure that is not the operator's
 * input (a node's own file it cannot read).
 */
export function fileError(err: unknown, what: string, path: string, code?: ErrorCode): Error {
  if (err instanceof UserError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason =
    e.code === 'EACCES' || e.code === 'EPERM'
      ? 'permission denied'
      : e.code === 'EISDIR'
        ? 'it is a directory'
        : e.code === 'ENOTDIR'
          ? 'a folder on its path is not a directory'
          : e.code === 'ENOENT'
            ? 'not found'
            : (e.code ?? e.message);
  const where = e.path !== undefined && e.path !== path ? ` (${e.path})` : '';
  return new UserError(`cannot ${what} ${path}: ${reason}${where}`, code === undefined ? {} : { code });
}

/** The most characters of a value from a file that `quoteUntrusted` puts in a message (escapes counted). */
const QUOTED_CHARS = 80;
/** Characters a message never carries as they are: controls (C0, DEL, C1), format characters (bidi overrides, zero-width), line and paragraph separators, lone surrogates. */
const UNPRINTABLE = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]$/u;
const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/**
 * A value read from a file (a backup's header or trailer field) as a message may show it: a string
 * JSON-quoted with every unprintable character escaped (so it can forge no second line and send no
 * terminal escape), cut after QUOTED_CHARS characters with "…" after its closing quote; a number,
 * boolean or null as JSON writes it; anything else by its kind alone. Reads only what it shows of a
 * long string.
 */
export function quoteUntrusted(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v !== 'string') return v === undefined ? 'nothing' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
  let out = '';
  // Each character shows as one or more: no more than this many of a long string can show.
  for (const c of v.slice(0, 2 * QUOTED_CHARS)) {
    const piece =
      SHORT_ESCAPES[c] ?? (UNPRINTABLE.test(c) ? [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('') : c);
    if (out.length + piece.length > QUOTED_CHARS) return `"${out}"…`;
    out += piece;
  }
  return `"${out}"`;
}
