import type { Common } from '@ethereumjs/common';
import type { TypedTransaction } from '@ethereumjs/tx';
import { TxPoolError } from './errors.js';
import { txBytes } from '../util/tx-bytes.js';
import { TxDecodeError, decodeTransaction } from '../chain/ethereumjs-errors.js';
import { checkRlp, MAX_BLOCK_RECEIPTS_BYTES, mostReceiptBytes, RlpBoundsError } from '../util/rlp-bounds.js';

/** Largest transaction accepted, in bytes (geth's txMaxSize). */
export const MAX_TX_BYTES = 128 * 1024;

/**
 * Most RLP items a transaction from outside may hold: MAX_TX_BYTES of the densest list a transaction
 * has, EIP-7702 authorizations (7 items in 27 bytes at the least), make ~34,000.
 */
const MAX_TX_ITEMS = 40_000;

const oversized = () => new TxPoolError(`oversized data: transaction is larger than ${MAX_TX_BYTES} bytes`, 'invalid');

/**
 * A raw transaction from outside (eth_sendRawTransaction, gossip) decoded under `common`. Bounded
 * before the decoder sees it, which spends about a microsecond an item and recurses on nested lists
 * (5 MiB of one-byte items took 1.4 s, 60 KB of nested lists 0.5 s before overflowing the stack): over
 * MAX_TX_BYTES is refused as the pool refuses it (TxPoolError); more than MAX_TX_ITEMS items, or lists
 * deeper than a transaction's (payload, access list, entry, storage keys), is a TxDecodeError.
 */
export function decodeRawTx(raw: Uint8Array, common: Common): TypedTransaction {
  if (raw.length > MAX_TX_BYTES) throw oversized();
  // A typed transaction is its type byte (under 0x80) and its payload list; a legacy one a flat list.
  const typed = raw.length > 0 && raw[0]! < 0x80;
  try {
    checkRlp(raw, { maxDepth: typed ? 4 : 1, budget: { items: MAX_TX_ITEMS } }, typed ? 1 : 0);
  } catch (err) {
    if (!(err instanceof RlpBoundsError)) throw err;
    throw new TxDecodeError('malformed', err.message === 'too many items' ? `more than ${MAX_TX_ITEMS} RLP items` : err.message);
  }
  return decodeTransaction(raw, common);
}

export interface StatelessLimits {
  chainId: bigint;
  blockGasLimit: bigint;
  /** Base fee of the next block: a transaction that cannot pay it is underpriced. */
  nextBaseFee: bigint;
  /** Smallest tip per gas accepted (geth's --txpool.pricelimit). */
  minTip: bigint;
}

/**
 * Checks that need no state: signature, chain, size, gas, fees. The cheap ones come first: a
 * transaction that fails on its chain id, gas or fees costs no signature recovery.
 */
export function validateStateless(tx: TypedTransaction, limits: StatelessLimits): void {
  const invalid = (message: string) => new TxPoolError(message, 'invalid');
  if (!tx.isSigned()) throw invalid('transaction is not signed');
  if (txBytes(tx).length > MAX_TX_BYTES) throw oversized();
  if (tx.type !== 0 || tx.supports(155)) {
    if (tx.common.chainId() !== limits.chainId) throw invalid(`invalid chain id: have ${tx.common.chainId()}, want ${limits.chainId}`);
  }
  if (tx.gasLimit > limits.blockGasLimit) throw invalid(`exceeds block gas limit: gas ${tx.gasLimit} > ${limits.blockGasLimit}`);
  if (mostReceiptBytes(tx.gasLimit) > MAX_BLOCK_RECEIPTS_BYTES) {
    throw invalid(`gas limit ${tx.gasLimit} pays for more logs than a block's ${MAX_BLOCK_RECEIPTS_BYTES} bytes of receipts may hold`);
  }
  if (tx.gasLimit < tx.getIntrinsicGas()) throw invalid(`intrinsic gas too low: have ${tx.gasLimit}, want ${tx.getIntrinsicGas()}`);
  // Below the base fee or this node's tip floor: the price may do elsewhere or later (not a fault).
  if (maxFee(tx) < limits.nextBaseFee) {
    throw new TxPoolError(`transaction underpriced: max fee per gas ${maxFee(tx)} is below the base fee ${limits.nextBaseFee}`);
  }
  if (maxTip(tx) < limits.minTip)
    throw new TxPoolError(`transaction underpriced: tip ${maxTip(tx)} is below the pool's minimum ${limits.minTip}`, undefined, true);
  try {
    tx.getSenderAddress();
  } catch {
    throw invalid('invalid sender: the signature does not recover');
  }
  if (!tx.isValid()) throw invalid(`invalid transaction: ${tx.getValidationErrors().join('; ')}`);
}

/** What the sender commits to pay at most: value + gas * max fee. */
export function maxCost(tx: TypedTransaction): bigint {
  return tx.value + tx.gasLimit * maxFee(tx);
}

export function maxFee(tx: TypedTransaction): bigint {
  return 'maxFeePerGas' in tx ? tx.maxFeePerGas : tx.gasPrice;
}

export function maxTip(tx: TypedTransaction): bigint {
  return 'maxPriorityFeePerGas' in tx ? tx.maxPriorityFeePerGas : tx.gasPrice;
}

/** The tip per gas the proposer gets at `baseFee`. */
export function effectiveTip(tx: TypedTransaction, baseFee: bigint): bigint {
  const fee = maxFee(tx) - baseFee;
  const tip = maxTip(tx);
  return fee < tip ? fee : tip;
}
