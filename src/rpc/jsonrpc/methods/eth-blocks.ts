import type { Block } from '@ethereumjs/block';
import { bigIntToHex, bytesToHex, intToHex } from '@ethereumjs/util';
import { Bloom } from '@ethereumjs/vm';
import { blockHash } from '../../../consensus/ibft/hash.js';
import type { Chain } from '../../../chain/chain.js';
import { receiptOf, transactionByHash, type FullReceipt } from '../../../chain/lookup.js';
import { RpcError, RpcErrorCode } from '../errors.js';
import { formatBlock, formatTransaction } from '../format.js';
import { formatLog } from './eth-logs.js';
import { blockTag, bool, expectParams, hexData, hexQuantity } from '../params.js';
import { blockAt, type RpcContext, type RpcMethods } from './context.js';

export function formatReceipt(r: FullReceipt): Record<string, unknown> {
  const at = { number: r.block.header.number, hash: blockHash(r.block.header), timestamp: r.block.header.timestamp };
  const bh = bytesToHex(at.hash);
  const txHash = bytesToHex(r.tx.hash());
  return {
    transactionHash: txHash,
    transactionIndex: intToHex(r.index),
    blockHash: bh,
    blockNumber: bigIntToHex(r.block.header.number),
    from: r.from.toString(),
    to: r.tx.to?.toString() ?? null,
    cumulativeGasUsed: bigIntToHex(r.receipt.cumulativeGasUsed),
    gasUsed: bigIntToHex(r.gasUsed),
    effectiveGasPrice: bigIntToHex(r.effectiveGasPrice),
    contractAddress: r.contractAddress?.toString() ?? null,
    logs: r.receipt.logs.map((log, i) => formatLog({ log, block: at, txHash: r.tx.hash(), txIndex: r.index, logIndex: r.firstLogIndex + i })),
    logsBloom: bytesToHex(logsBloom(r)),
    type: intToHex(r.tx.type),
    status: intToHex(r.receipt.status),
  };
}

function logsBloom(r: FullReceipt): Uint8Array {
  // Per-receipt bloom, derived from its logs (the block header carries the block-wide one).
  const bloom = new Bloom(undefined, r.block.common);
  for (const [address, topics] of r.receipt.logs) {
    bloom.add(address);
    for (const t of topics) bloom.add(t);
  }
  return bloom.bitvector;
}

export function blockMethods({ chain, txpool }: RpcContext): RpcMethods {
  const txAt = (block: Block | undefined, idx: unknown) => {
    if (!block) return null;
    const i = Number(hexQuantity(idx, 'index'));
    const tx = block.transactions[i];
    return tx ? formatTransaction(tx, block, i) : null;
  };
  const countOf = async (num: bigint, hash: Uint8Array) => {
    const n = await chain.store.transactionCount(num, hash);
    return n === undefined ? null : intToHex(n);
  };
  const countByHash = async (hash: Uint8Array) => {
    const num = await chain.store.blockNumber(hash);
    return num === undefined ? null : countOf(num, hash);
  };
  return {
    eth_getBlockByNumber: async (p) => {
      expectParams(p, 1, 2);
      const block = await blockAt(chain, blockTag(p[0]));
      return block ? formatBlock(block, bool(p[1] ?? false, 'fullTransactions')) : null;
    },
    eth_getBlockByHash: async (p) => {
      expectParams(p, 1, 2);
      const block = await chain.blockByHash(hexData(p[0], 'block hash', 32));
      return block ? formatBlock(block, bool(p[1] ?? false, 'fullTransactions')) : null;
    },
    eth_getBlockTransactionCountByNumber: async (p) => {
      expectParams(p, 1);
      const tag = blockTag(p[0]);
      if (tag.kind === 'hash') return countByHash(tag.hash);
      const num = tag.kind === 'number' ? tag.number : tag.tag === 'earliest' ? 0n : chain.head.number;
      const hash = await chain.store.canonicalHash(num);
      return hash ? countOf(num, hash) : null;
    },
    eth_getBlockTransactionCountByHash: async (p) => {
      expectParams(p, 1);
      return countByHash(hexData(p[0], 'block hash', 32));
    },
    eth_getTransactionByBlockNumberAndIndex: async (p) => {
      expectParams(p, 2);
      return txAt(await blockAt(chain, blockTag(p[0])), p[1]);
    },
    eth_getTransactionByBlockHashAndIndex: async (p) => {
      expectParams(p, 2);
      return txAt(await chain.blockByHash(hexData(p[0], 'block hash', 32)), p[1]);
    },
    eth_getTransactionByHash: async (p) => {
      expectParams(p, 1);
      const hash = hexData(p[0], 'transaction hash', 32);
      const located = await transactionByHash(chain, hash);
      if (located) return formatTransaction(located.tx, located.block, located.index);
      const pending = txpool.get(hash);
      if (pending) return formatTransaction(pending, undefined, undefined);
      await notIndexedYet(chain);
      return null;
    },
    eth_getTransactionReceipt: async (p) => {
      expectParams(p, 1);
      const located = await transactionByHash(chain, hexData(p[0], 'transaction hash', 32));
      const r = located && (await receiptOf(chain, located));
      if (!r) await notIndexedYet(chain);
      return r ? formatReceipt(r) : null;
    },
  };
}

/**
 * A transaction not found while the history is back-filled may be in a block not back yet: not "no such
 * transaction" (geth's "transaction indexing is in progress"), but 4444 as for those blocks.
 */
async function notIndexedYet(chain: Chain): Promise<void> {
  const gap = await chain.store.historyGap();
  if (gap) {
    throw new RpcError(
      RpcErrorCode.PrunedHistory,
      `transaction not found, but this node's history is still being back-filled (blocks ${gap.from}-${gap.to}): it may be in one of them`,
    );
  }
}
