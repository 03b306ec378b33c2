import { UserError } from '../util/errors.js';

/** An archive that cannot be used as it is: corrupt, truncated, foreign, hostile or for another chain. */
export class ArchiveError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}
