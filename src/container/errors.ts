import { UserError, type ErrorCode } from '../util/errors.js';

/**
 * A backup file (archive or snapshot) that cannot be used as it is: corrupt, truncated, foreign,
 * hostile, or of another chain. Its code says which (CORRUPT_FILE unless stated).
 */
export class BackupFileError extends UserError {
  constructor(message: string, opts: { code?: ErrorCode; cause?: unknown } = {}) {
    super(message, { code: opts.code ?? 'CORRUPT_FILE', cause: opts.cause });
    this.name = 'BackupFileError';
  }
}
