import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { bigIntToHex, bytesToBigInt, bytesToHex, intToHex } from '@ethereumjs/util';
import { blockHash } from '../../consensus/ibft/hash.js';

/** A block as eth_getBlockBy* returns it (geth's field set; Basalt's IBFT hash as `hash`). */
export function formatBlock(block: Block, fullTransactions: boolean): Record<string, unknown> {
  const h = block.header;
  const hash = bytesToHex(blockHash(h));
  return {
    number: bigIntToHex(h.number),
    hash,
    parentHash: bytesToHex(h.parentHash),
    nonce: bytesToHex(h.nonce),
    sha3Uncles: bytesToHex(h.uncleHash),
    logsBloom: bytesToHex(h.logsBloom),
    transactionsRoot: bytesToHex(h.transactionsTrie),
    stateRoot: bytesToHex(h.stateRoot),
    receiptsRoot: bytesToHex(h.receiptTrie),
    miner: h.coinbase.toString(),
    difficulty: bigIntToHex(h.difficulty),
    // Genesis has difficulty 1 and block n has difficulty n (IBFT), so the sum is 1 + n(n+1)/2.
    totalDifficulty: bigIntToHex(1n + (h.number * (h.number + 1n)) / 2n),
    extraData: bytesToHex(h.extraData),
    size: intToHex(block.serialize().length),
    gasLimit: bigIntToHex(h.gasLimit),
    gasUsed: bigIntToHex(h.gasUsed),
    timestamp: bigIntToHex(h.timestamp),
    mixHash: bytesToHex(h.mixHash),
    baseFeePerGas: h.baseFeePerGas === undefined ? undefined : bigIntToHex(h.baseFeePerGas),
    transactions: block.transactions.map((tx, i) => (fullTransactions ? formatTransaction(tx, block, i) : bytesToHex(tx.hash()))),
    uncles: [],
  };
}

/** A mined transaction as eth_getTransactionBy* returns it. */
export function formatTransaction(tx: TypedTransaction, block: Block | undefined, index: number | undefined): Record<string, unknown> {
  const json = tx.toJSON() as Record<string, unknown>;
  const baseFee = block?.header.baseFeePerGas;
  const gasPrice = 'gasPrice' in tx ? tx.gasPrice : baseFee !== undefined ? minBig(tx.maxFeePerGas, baseFee + tx.maxPriorityFeePerGas) : tx.maxFeePerGas;
  return {
    ...json,
    type: intToHex(tx.type),
    hash: bytesToHex(tx.hash()),
    from: tx.getSenderAddress().toString(),
    to: tx.to?.toString() ?? null,
    gas: bigIntToHex(tx.gasLimit),
    gasLimit: undefined,
    gasPrice: bigIntToHex(gasPrice),
    input: bytesToHex(tx.data),
    data: undefined,
    blockHash: block ? bytesToHex(blockHash(block.header)) : null,
    blockNumber: block ? bigIntToHex(block.header.number) : null,
    transactionIndex: index === undefined ? null : intToHex(index),
    // A pre-EIP-155 legacy transaction (v = 27/28) names no chain: geth omits chainId.
    chainId: tx.type === 0 && (tx.v === 27n || tx.v === 28n) ? undefined : bigIntToHex(tx.common.chainId()),
    blockTimestamp: block ? bigIntToHex(block.header.timestamp) : null,
    // @ethereumjs writes an authorization's numbers as raw bytes ('0x' for 0, '0x05'): quantities here.
    ...('authorizationList' in tx
      ? {
          authorizationList: tx.authorizationList.map(([chainId, address, nonce, yParity, r, s]) => ({
            chainId: quantity(chainId),
            address: bytesToHex(address),
            nonce: quantity(nonce),
            yParity: quantity(yParity),
            r: quantity(r),
            s: quantity(s),
          })),
        }
      : {}),
  };
}

function quantity(b: Uint8Array): string {
  return bigIntToHex(bytesToBigInt(b));
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
