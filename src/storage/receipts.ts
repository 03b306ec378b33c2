import { RLP } from '@ethereumjs/rlp';
import { bigIntToUnpaddedBytes, bytesToBigInt } from '@ethereumjs/util';

export type Log = [address: Uint8Array, topics: Uint8Array[], data: Uint8Array];

/** A transaction receipt as stored: the consensus fields less the bloom, which is derived from the logs. */
export interface StoredReceipt {
  status: 0 | 1;
  cumulativeGasUsed: bigint;
  logs: Log[];
}

export function encodeReceipts(receipts: StoredReceipt[]): Uint8Array {
  return RLP.encode(receipts.map((r) => [r.status === 1 ? Uint8Array.of(1) : new Uint8Array(0), bigIntToUnpaddedBytes(r.cumulativeGasUsed), r.logs]));
}

/**
 * Receipts as stored (or as a backup file or a peer sends them: every field's shape is checked, so
 * that what is not a list of `[status, cumulativeGasUsed, [[address, [topic…], data]…]]` is refused
 * here with one line, rather than failing somewhere later).
 */
export function decodeReceipts(data: Uint8Array): StoredReceipt[] {
  const list = RLP.decode(data) as unknown;
  if (!Array.isArray(list)) throw new Error('receipts are not a list');
  return list.map((r: unknown, i) => {
    if (!Array.isArray(r) || r.length !== 3) throw new Error(`receipt ${i} is not [status, cumulativeGasUsed, logs]`);
    const [status, gas, logs] = r as unknown[];
    if (!(status instanceof Uint8Array) || status.length > 1 || !(gas instanceof Uint8Array) || gas.length > 32 || !Array.isArray(logs))
      throw new Error(`receipt ${i} is not [status, cumulativeGasUsed, logs]`);
    for (const log of logs as unknown[]) {
      if (
        !Array.isArray(log) ||
        log.length !== 3 ||
        !(log[0] instanceof Uint8Array) ||
        log[0].length !== 20 ||
        !Array.isArray(log[1]) ||
        !(log[1] as unknown[]).every((t) => t instanceof Uint8Array && t.length === 32) ||
        !(log[2] instanceof Uint8Array)
      )
        throw new Error(`a log of receipt ${i} is not [address, [topic…], data]`);
    }
    return { status: status.length > 0 && status[0] === 1 ? 1 : 0, cumulativeGasUsed: bytesToBigInt(gas), logs: logs as Log[] };
  });
}
