import { UserError } from '../util/errors.js';
import type { HistoryGap } from './schema.js';

/**
 * A canonical block's body or receipts asked for while they are not held: the block is in the history
 * gap a restore left for the back-fill (schema.HISTORY_GAP_KEY). Not damage: the header is there, the
 * rest is on its way. JSON-RPC answers it as a node whose history is pruned does (EIP-4444's 4444).
 */
export class HistoryUnavailableError extends UserError {
  constructor(
    readonly blockNumber: bigint,
    readonly gap: HistoryGap,
  ) {
    super(
      `pruned history unavailable: block ${blockNumber} is not held on this node yet (restored at its head; blocks ${gap.from}-${gap.to} are being back-filled, \`basalt status\` shows the progress)`,
      { code: 'FAILED_PRECONDITION' },
    );
    this.name = 'HistoryUnavailableError';
  }
}

export function inGap(gap: HistoryGap | undefined, num: bigint): gap is HistoryGap {
  return gap !== undefined && num >= gap.from && num <= gap.to;
}
