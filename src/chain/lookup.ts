import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { Address, bigIntToBytes, generateAddress } from '@ethereumjs/util';
import type { Chain } from './chain.js';
import type { Log, StoredReceipt } from '../storage/receipts.js';

export interface LocatedTransaction {
  tx: TypedTransaction;
  block: Block;
  index: number;
}

/** A mined transaction by hash, through the transaction lookup index. */
export async function transactionByHash(chain: Chain, hash: Uint8Array): Promise<LocatedTransaction | undefined> {
  const l = await chain.store.txLookup(hash);
  if (!l) return undefined;
  const block = await chain.blockByNumber(l.blockNumber);
  const tx = block?.transactions[l.index];
  return block && tx ? { tx, block, index: l.index } : undefined;
}

export interface FullReceipt {
  tx: TypedTransaction;
  block: Block;
  index: number;
  receipt: StoredReceipt;
  from: Address;
  gasUsed: bigint;
  effectiveGasPrice: bigint;
  contractAddress?: Address;
  /** Index in the block of this receipt's first log. */
  firstLogIndex: number;
}

/** Everything eth_getTransactionReceipt reports, derived from the stored receipts of the block. */
export async function receiptOf(chain: Chain, located: LocatedTransaction): Promise<FullReceipt | undefined> {
  const { block, index, tx } = located;
  const receipts = await chain.store.receipts(block.header.number, chain.engine.blockHash(block.header));
  if (!receipts?.[index]) return undefined;
  let firstLogIndex = 0;
  for (let i = 0; i < index; i++) firstLogIndex += receipts[i]!.logs.length;
  return fullReceipt(tx, block, index, receipts, firstLogIndex);
}

/** Every receipt of a block, in order (eth_getBlockReceipts): one read of the block's stored receipts. */
export async function blockReceipts(chain: Chain, block: Block): Promise<FullReceipt[] | undefined> {
  const receipts = await chain.store.receipts(block.header.number, chain.engine.blockHash(block.header));
  if (!receipts) return undefined;
  let firstLogIndex = 0;
  return block.transactions.map((tx, index) => {
    const full = fullReceipt(tx, block, index, receipts, firstLogIndex);
    firstLogIndex += full.receipt.logs.length;
    return full;
  });
}

/** Transaction `index` of `block` with its stored receipt, and what follows from them. */
function fullReceipt(tx: TypedTransaction, block: Block, index: number, receipts: StoredReceipt[], firstLogIndex: number): FullReceipt {
  const receipt = receipts[index]!;
  const prev = index === 0 ? 0n : receipts[index - 1]!.cumulativeGasUsed;
  const from = tx.getSenderAddress();
  const baseFee = block.header.baseFeePerGas ?? 0n;
  const effectiveGasPrice = 'maxFeePerGas' in tx ? min(tx.maxFeePerGas, baseFee + tx.maxPriorityFeePerGas) : tx.gasPrice;
  const contractAddress =
    tx.to === undefined ? new Address(generateAddress(from.bytes, tx.nonce === 0n ? new Uint8Array(0) : bigIntToBytes(tx.nonce))) : undefined;
  return {
    tx,
    block,
    index,
    receipt,
    from,
    gasUsed: receipt.cumulativeGasUsed - prev,
    effectiveGasPrice,
    ...(contractAddress ? { contractAddress } : {}),
    firstLogIndex,
  };
}

/**
 * What a log's answer reports of its block (eth_getLogs' blockNumber, blockHash, blockTimestamp): one
 * object shared by the block's logs, so that a log held for an answer holds ~100 bytes of its block
 * rather than the whole decoded block (its transactions, its rules).
 */
export interface LogBlock {
  number: bigint;
  hash: Uint8Array;
  timestamp: bigint;
}

/** A log with its position: everything its answer reports, and nothing of its block but that. */
export interface LocatedLog {
  log: Log;
  block: LogBlock;
  txHash: Uint8Array;
  txIndex: number;
  logIndex: number;
}

function logBlockOf(chain: Chain, block: Block): LogBlock {
  return { number: block.header.number, hash: chain.engine.blockHash(block.header), timestamp: block.header.timestamp };
}

/**
 * The logs of a block, with their positions, in order; only those `keep` takes when given (only they
 * cost their transaction's hash). Each log's bytes are its own: the stored receipts decode to views of
 * one buffer, which a log held for an answer would otherwise keep whole (every other log of the block).
 */
export async function blockLogs(chain: Chain, block: Block, keep?: (log: Log, logIndex: number) => boolean): Promise<LocatedLog[]> {
  const receipts = await chain.store.receipts(block.header.number, chain.engine.blockHash(block.header));
  const out: LocatedLog[] = [];
  let at: LogBlock | undefined;
  let logIndex = 0;
  receipts?.forEach((r, txIndex) => {
    for (const log of r.logs) {
      if (!keep || keep(log, logIndex)) {
        at ??= logBlockOf(chain, block);
        out.push({ log: ownLog(log), block: at, txHash: block.transactions[txIndex]!.hash(), txIndex, logIndex });
      }
      logIndex++;
    }
  });
  return out;
}

/** A copy of `log` on buffers of its own (new Uint8Array copies; a Buffer's slice would be a view). */
function ownLog([address, topics, data]: Log): Log {
  return [new Uint8Array(address), topics.map((t) => new Uint8Array(t)), new Uint8Array(data)];
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
