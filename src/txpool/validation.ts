import type { TypedTransaction } from '@ethereumjs/tx';
import { TxPoolError } from './errors.js';

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

/** Checks that need no state: signature, chain, size, gas, fees. */
export function validateStateless(tx: TypedTransaction, limits: StatelessLimits): void {
  if (!tx.isSigned()) throw new TxPoolError('transaction is not signed');
  if (tx.serialize().length > MAX_TX_BYTES) throw new TxPoolError(`oversized data: transaction is larger than ${MAX_TX_BYTES} bytes`);
  if (tx.type !== 0 || tx.supports(155)) {
    if (tx.common.chainId() !== limits.chainId) throw new TxPoolError(`invalid chain id: have ${tx.common.chainId()}, want ${limits.chainId}`);
  }
  try {
    tx.getSenderAddress();
  } catch {
    throw new TxPoolError('invalid sender: the signature does not recover');
  }
  if (tx.gasLimit > limits.blockGasLimit) throw new TxPoolError(`exceeds block gas limit: gas ${tx.gasLimit} > ${limits.blockGasLimit}`);
  if (tx.gasLimit < tx.getIntrinsicGas()) throw new TxPoolError(`intrinsic gas too low: have ${tx.gasLimit}, want ${tx.getIntrinsicGas()}`);
  if (!tx.isValid()) throw new TxPoolError(`invalid transaction: ${tx.getValidationErrors().join('; ')}`);
  if (maxFee(tx) < limits.nextBaseFee) {
    throw new TxPoolError(`transaction underpriced: max fee per gas ${maxFee(tx)} is below the base fee ${limits.nextBaseFee}`);
  }
  if (maxTip(tx) < limits.minTip) throw new TxPoolError(`transaction underpriced: tip ${maxTip(tx)} is below the pool's minimum ${limits.minTip}`);
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
