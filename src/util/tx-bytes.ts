import type { Block } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { Capability, type TypedTransaction } from '@ethereumjs/tx';

/**
 * A transaction's bytes, encoded once. @ethereumjs encodes a transaction again at each `serialize()`
 * (~9 µs for a transfer), and a block of 1,428 transfers had its transactions encoded five times
 * between its build and its commit (transactions root, the proposal, the sign journal, the body).
 */
const encoded = new WeakMap<TypedTransaction, Uint8Array>();

export function txBytes(tx: TypedTransaction): Uint8Array {
  let bytes = encoded.get(tx);
  if (bytes === undefined) {
    bytes = tx.serialize();
    encoded.set(tx, bytes);
  }
  return bytes;
}

/**
 * `block.serialize()` ([header, transactions, uncles, withdrawals if any]) from the transactions'
 * bytes encoded once: a typed transaction is a string of its bytes, a legacy one its RLP list as it is.
 */
export function blockBytes(block: Block): Uint8Array {
  const txs = block.transactions.map((tx) => (tx.supports(Capability.EIP2718TypedTransaction) ? RLP.encode(txBytes(tx)) : txBytes(tx)));
  const parts = [RLP.encode(block.header.raw()), rlpList(txs), RLP.encode(block.uncleHeaders.map((h) => h.raw()))];
  if (block.withdrawals !== undefined) parts.push(RLP.encode(block.withdrawals.map((w) => w.raw())));
  return rlpList(parts);
}

/** The RLP list of items already encoded. */
function rlpList(items: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const item of items) length += item.length;
  const header = listHeader(length);
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  let at = header.length;
  for (const item of items) {
    out.set(item, at);
    at += item.length;
  }
  return out;
}

function listHeader(length: number): Uint8Array {
  if (length < 56) return Uint8Array.of(0xc0 + length);
  const len: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) len.unshift(n % 256);
  return Uint8Array.of(0xf7 + len.length, ...len);
}
