import type { IbftService } from '../../../consensus/ibft/service.js';
import type { Block, BlockHeader } from '@ethereumjs/block';
import type { MerkleStateManager } from '@ethereumjs/statemanager';
import type { Chain } from '../../../chain/chain.js';
import type { SimulationSlots } from '../../../chain/exec-guard.js';
import type { TxPool } from '../../../txpool/txpool.js';
import type { NetworkView } from '../../../sync/sync-state.js';
import { RpcError, RpcErrorCode } from '../errors.js';
import type { BlockTag } from '../params.js';
import type { LogQueryBudget } from '../filters.js';
import { isMissingTrieNode } from '../../../chain/ethereumjs-errors.js';

/** What a method is told of the call besides its params. */
export interface RpcCall {
  /**
   * The calling client's address (addressKey: an IPv6 client's /64) where its server tells clients
   * apart, i.e. listens beyond loopback; undefined on loopback, where a reverse proxy is every client's
   * address. Per-client shares of node-wide bounds (filters) count under it.
   */
  client?: string;
}

export type RpcMethods = Record<string, (params: unknown[], call?: RpcCall) => Promise<unknown> | unknown>;

/** What the JSON-RPC methods need from the node. */
export interface RpcContext {
  chain: Chain;
  txpool: TxPool;
  /** The node's peers and sync state; undefined when it runs without networking. */
  network?: NetworkView;
  /** Accept legacy transactions signed without EIP-155 replay protection (geth: --rpc.allow-unprotected-txs). */
  allowUnprotectedTxs?: boolean;
  /** Most gas an eth_call / eth_estimateGas may use; 0: no cap (geth: --rpc.gascap). Default 50,000,000. */
  rpcGasCap?: bigint;
  /** Time limit of one eth_call / eth_estimateGas in ms; 0: none (geth: --rpc.evmtimeout). Default 5 s. */
  rpcEvmTimeoutMs?: number;
  /** The sealer's block time: eth_call/eth_estimateGas at latest run at the timestamp the next block would get. */
  blockTimeMs?: number;
  /** The node's validator-set service (the ibft_ namespace's votes); undefined: those methods fail. */
  ibft?: IbftService;
  /** The bound on log filters' entries, shared with the logs subscriptions of WebSocket; undefined: one of their own. */
  logQueryBudget?: LogQueryBudget;
  /** The node-wide bound on simulations running and waiting; ethMethods makes one when not given. */
  simulations?: SimulationSlots;
}

/** The context of the methods that run simulations: one SimulationSlots for all of them. */
export type SimulatingContext = RpcContext & Required<Pick<RpcContext, 'simulations'>>;

export const DEFAULT_RPC_GAS_CAP = 50_000_000n;
export const DEFAULT_RPC_EVM_TIMEOUT_MS = 5000;

/** The block a tag names; IBFT blocks are final at once, so latest = safe = finalized = pending's parent. */
export async function blockAt(chain: Chain, tag: BlockTag): Promise<Block | undefined> {
  if (tag.kind === 'hash') return chain.blockByHash(tag.hash);
  const num = tag.kind === 'number' ? tag.number : tag.tag === 'earliest' ? 0n : chain.head.number;
  return chain.blockByNumber(num);
}

export async function requireBlock(chain: Chain, tag: BlockTag): Promise<Block> {
  const block = await blockAt(chain, tag);
  if (!block) throw headerNotFound(chain, tag);
  return block;
}

/**
 * The header a tag names, read without its body (so it answers for blocks whose bodies a restored node
 * has not back-filled yet); beyond the head, or an unknown hash, is "header not found".
 */
export async function requireHeader(chain: Chain, tag: BlockTag): Promise<BlockHeader> {
  const num = tag.kind === 'hash' ? undefined : tag.kind === 'number' ? tag.number : tag.tag === 'earliest' ? 0n : chain.head.number;
  const header =
    num === undefined
      ? (await chain.blockByHash((tag as { hash: Uint8Array }).hash))?.header
      : num <= chain.head.number
        ? await chain.store.canonicalHeader(num)
        : undefined;
  if (!header) throw headerNotFound(chain, tag);
  return header;
}

function headerNotFound(chain: Chain, tag: BlockTag): RpcError {
  return new RpcError(
    RpcErrorCode.InvalidInput,
    tag.kind === 'number' ? `header not found: block ${tag.number} is beyond the head ${chain.head.number}` : 'header not found',
  );
}

/** The state after a block; a node restored from a head-state snapshot lacks older states. */
export async function stateAfter(chain: Chain, block: Block): Promise<MerkleStateManager> {
  if (!(await chain.hasStateAt(block.header))) throw new RpcError(RpcErrorCode.InvalidInput, await chain.stateUnavailable(block.header.number));
  return chain.stateAt(block.header);
}

/**
 * Wrap state-reading methods so that a trie node missing below a state root (a node restored from a
 * head-state snapshot keeps no older state) is reported plainly instead of as an internal error.
 */
export function withStateErrors(chain: Chain, methods: RpcMethods): RpcMethods {
  const out: RpcMethods = {};
  for (const [name, fn] of Object.entries(methods)) {
    out[name] = async (params) => {
      // A read of state under way: a state pruner waits for it before it deletes (Chain.readers).
      try {
        return await chain.readers.during(async () => fn(params));
      } catch (err) {
        if (!(err instanceof RpcError) && isMissingTrieNode(err)) {
          throw new RpcError(
            RpcErrorCode.InvalidInput,
            'historical state for that block is not available on this node (pruned, or restored from a later block)',
          );
        }
        throw err;
      }
    };
  }
  return out;
}
