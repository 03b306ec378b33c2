import { bigIntToHex } from '@ethereumjs/util';
import { SimulationSlots } from '../../chain/exec-guard.js';
import { CLIENT_VERSION } from '../../util/version.js';
import type { RpcContext, RpcMethods } from './methods/context.js';
import { blockMethods } from './methods/eth-blocks.js';
import { debugMethods } from './methods/debug.js';
import { extraMethods } from './methods/eth-extra.js';
import { txpoolMethods } from './methods/txpool.js';
import { ibftMethods } from './methods/ibft.js';
import { feeMethods } from './methods/eth-fees.js';
import { filterMethods } from './methods/eth-filters.js';
import { logMethods } from './methods/eth-logs.js';
import { sendMethods } from './methods/eth-send.js';
import { stateMethods } from './methods/eth-state.js';
import { expectParams } from './params.js';

export type { RpcMethods } from './methods/context.js';

/** The JSON-RPC namespaces (`--jsonrpc-api`), and those served unless it says otherwise. */
export const JSONRPC_APIS = ['eth', 'net', 'web3', 'debug', 'txpool', 'ibft'] as const;
export type JsonRpcApi = (typeof JSONRPC_APIS)[number];
/** Every namespace but `ibft`: its methods are for a validator's operator, not for any wallet. */
export const DEFAULT_JSONRPC_APIS: readonly JsonRpcApi[] = ['eth', 'net', 'web3', 'debug', 'txpool'];

/**
 * The node's JSON-RPC methods: thin adapters over the chain and the transaction pool, the namespaces
 * of `apis` only (a method of another answers "does not exist/is not available", as geth's).
 */
export function ethMethods(ctx: RpcContext, apis: readonly JsonRpcApi[] = DEFAULT_JSONRPC_APIS): RpcMethods {
  const served = new Set<string>(apis);
  return Object.fromEntries(Object.entries(allMethods(ctx)).filter(([name]) => served.has(name.slice(0, name.indexOf('_')))));
}

function allMethods(context: RpcContext): RpcMethods {
  // One bound on simulations for all of the node's clients, over HTTP and WebSocket alike.
  const ctx = { ...context, simulations: context.simulations ?? new SimulationSlots() };
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
    ...ibftMethods(ctx),
  };
}
