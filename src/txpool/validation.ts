import type { TypedTransaction } from '@ethereumjs/tx';
import { TxPoolError } from './errors.js';
import { txBytes } from '../util/tx-bytes.js';

/** Largest transaction accepted, in bytes (geth's txMaxSize). */
export const MAX_TX_BYTES = 128 * 1024;

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
  if (txBytes(tx).length > MAX_TX_BYTES) throw invalid(`oversized data: transaction is larger than ${MAX_TX_BYTES} bytes`);
  if (tx.type !== 0 || tx.supports(155)) {
    if (tx.common.chainId() !== limits.chainId) throw invalid(`invalid chain id: have ${tx.common.chainId()}, want ${limits.chainId}`);
  }
  if (tx.gasLimit > limits.blockGasLimit) throw invalid(`exceeds block gas limit: gas ${tx.gasLimit} > ${limits.blockGasLimit}`);
  if (tx.gasLimit < tx.getIntrinsicGas()) throw invalid(`intrinsic gas too low: have ${tx.gasLimit}, want ${tx.getIntrinsicGas()}`);
  // Below the base fee or this node's tip floor: the price may do elsewhere or later (not a fault).
  if (maxFee(tx) < limits.nextBaseFee) {
    throw new TxPoolError(`transaction underpriced: max fee per gas ${maxFee(tx)} is below the base fee ${limits.nextBaseFee}`);
  }
  if (maxTip(tx) < limits.minTip) throw new TxPoolError(`transaction underpriced: tip ${maxTip(tx)} is below the pool's minimum ${limits.minTip}`);
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
