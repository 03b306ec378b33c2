import type { Block } from '@ethereumjs/block';
import { bigIntToHex } from '@ethereumjs/util';
import type { BasaltNode } from '../../node/node.js';
import { CLIENT_VERSION } from '../../node/version.js';
import { formatBlock } from './format.js';
import { blockTag, bool, expectParams } from './params.js';

export type RpcMethods = Record<string, (params: unknown[]) => Promise<unknown> | unknown>;

/**
 * The node's Ethereum JSON-RPC methods: thin adapters over the chain. (The full eth_ surface and the
 * transaction pool methods come with the JSON-RPC work; these let the node be observed.)
 */
export function ethMethods(node: BasaltNode): RpcMethods {
  const chain = node.chain;

  async function blockAt(tag: ReturnType<typeof blockTag>): Promise<Block | undefined> {
    if (tag.kind === 'hash') return chain.blockByHash(tag.hash);
    const num = resolveNumber(tag);
    return num === undefined ? undefined : chain.blockByNumber(num);
  }

  function resolveNumber(tag: ReturnType<typeof blockTag>): bigint | undefined {
    if (tag.kind === 'number') return tag.number;
    if (tag.kind === 'tag') return tag.tag === 'earliest' ? 0n : chain.head.number; // IBFT blocks are final at once
    return undefined;
  }

  return {
    web3_clientVersion: () => CLIENT_VERSION,
    net_version: () => chain.chainId.toString(),
    net_listening: () => true,
    net_peerCount: () => '0x0',
    eth_chainId: () => bigIntToHex(chain.chainId),
    eth_blockNumber: () => bigIntToHex(chain.head.number),
    eth_syncing: () => false,
    eth_getBlockByNumber: async (params) => {
      expectParams(params, 1, 2);
      const block = await blockAt(blockTag(params[0]));
      return block ? formatBlock(block, bool(params[1] ?? false, 'fullTransactions')) : null;
    },
  };
}
