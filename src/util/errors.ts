/**
 * What went wrong, as a code that crosses process boundaries: the gRPC operator API sends it as the
 * call's status, the CLI turns it into an exit code, and code that must tell failures apart branches on
 * it, never on a message's text. One table maps each code to both (gRPC status numbers are the
 * protocol's own, from grpc/status.proto).
 */
export const ERROR_CODES = {
  /** A flag, argument or request field is malformed or out of range. */
  INVALID_ARGUMENT: { grpcStatus: 3, exitCode: 1 },
  /** A file or stream is corrupt, truncated, hostile or not of the expected format. */
  CORRUPT_FILE: { grpcStatus: 3, exitCode: 1 },
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
