import { bigIntToHex } from '@ethereumjs/util';
import { CLIENT_VERSION } from '../../util/version.js';
import type { RpcContext, RpcMethods } from './methods/context.js';
import { blockMethods } from './methods/eth-blocks.js';
import { debugMethods } from './methods/debug.js';
import { extraMethods } from './methods/eth-extra.js';
import { txpoolMethods } from './methods/txpool.js';
import { feeMethods } from './methods/eth-fees.js';
import { filterMethods } from './methods/eth-filters.js';
import { logMethods } from './methods/eth-logs.js';
import { sendMethods } from './methods/eth-send.js';
import { stateMethods } from './methods/eth-state.js';
import { expectParams } from './params.js';

export type { RpcMethods } from './methods/context.js';

/** The node's Ethereum JSON-RPC methods: thin adapters over the chain and the transaction pool. */
export function ethMethods(ctx: RpcContext): RpcMethods {
  const { chain } = ctx;
  return {
    web3_clientVersion: () => CLIENT_VERSION,
    net_version: () => chain.chainId.toString(),
    net_listening: () => ctx.network?.listening ?? false,
    net_peerCount: () => bigIntToHex(BigInt(ctx.network?.peerCount() ?? 0)),
    eth_chainId: () => bigIntToHex(chain.chainId),
    eth_blockNumber: () => bigIntToHex(chain.head.number),
    eth_syncing: () => {
      const s = ctx.network?.syncing() ?? false;
      return s === false
        ? false
        : { startingBlock: bigIntToHex(s.startingBlock), currentBlock: bigIntToHex(s.currentBlock), highestBlock: bigIntToHex(s.highestBlock) };
    },
    eth_accounts: (p) => {
      expectParams(p, 0);
      return []; // Basalt holds no user keys: sign in the client
    },
    ...blockMethods(ctx),
    ...stateMethods(ctx),
    ...feeMethods(ctx),
    ...sendMethods(ctx),
    ...logMethods(ctx),
    ...filterMethods(ctx),
    ...debugMethods(ctx),
    ...extraMethods(ctx),
    ...txpoolMethods(ctx),
  };
}
