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

export function decodeReceipts(data: Uint8Array): StoredReceipt[] {
  const list = RLP.decode(data) as unknown as [Uint8Array, Uint8Array, Log[]][];
  return list.map(([status, gas, logs]) => ({
    status: status.length > 0 && status[0] === 1 ? 1 : 0,
    cumulativeGasUsed: bytesToBigInt(gas),
    logs,
  }));
}
