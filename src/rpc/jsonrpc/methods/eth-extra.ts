import { getMerkleStateProof } from '@ethereumjs/statemanager';
import { bigIntToHex, bytesToHex, setLengthLeft } from '@ethereumjs/util';
import { createAccessList } from '../../../chain/access-list.js';
import { ExecutionRefused, ExecutionTimeout } from '../../../chain/exec-guard.js';
import { blockReceipts, transactionByHash } from '../../../chain/lookup.js';
import { Simulator, StateUnavailable } from '../../../chain/simulate.js';
import { formatDuration } from '../../../util/duration.js';
import { RpcError, RpcErrorCode, invalidParams } from '../errors.js';
import { blockTag, expectParams, hexData } from '../params.js';
import {
  DEFAULT_RPC_EVM_TIMEOUT_MS,
  DEFAULT_RPC_GAS_CAP,
  blockAt,
  requireBlock,
  stateAfter,
  withStateErrors,
  type RpcMethods,
  type SimulatingContext,
} from './context.js';
import { formatReceipt } from './eth-blocks.js';
import { address, callRequest, checkAuthorizationFork, revertError } from './eth-state.js';

/** Most storage slots one eth_getProof proves. */
export const MAX_PROOF_SLOTS = 1024;

const latest = (v: unknown) => (v === undefined || v === null ? { kind: 'tag' as const, tag: 'latest' as const } : blockTag(v));

/** eth_getBlockReceipts, eth_getRawTransactionByHash, eth_getProof (EIP-1186), eth_createAccessList. */
export function extraMethods({
  chain,
  txpool,
  rpcGasCap = DEFAULT_RPC_GAS_CAP,
  rpcEvmTimeoutMs = DEFAULT_RPC_EVM_TIMEOUT_MS,
  simulations,
}: SimulatingContext): RpcMethods {
  return withStateErrors(chain, {
    eth_getBlockReceipts: async (p) => {
      expectParams(p, 1);
      const block = await blockAt(chain, blockTag(p[0]));
      const receipts = block && (await blockReceipts(chain, block));
      return receipts ? receipts.map(formatReceipt) : null;
    },
    eth_getRawTransactionByHash: async (p) => {
      expectParams(p, 1);
      const hash = hexData(p[0], 'transaction hash', 32);
      const tx = (await transactionByHash(chain, hash))?.tx ?? txpool.get(hash);
      return tx ? bytesToHex(tx.serialize()) : null;
    },
    eth_getProof: async (p) => {
      expectParams(p, 2, 3);
      const a = address(p[0]);
      if (!Array.isArray(p[1])) throw invalidParams('storage keys must be an array');
      if (p[1].length > MAX_PROOF_SLOTS) throw invalidParams(`at most ${MAX_PROOF_SLOTS} storage keys per proof`);
      const slots = p[1].map((k: unknown) => {
        const bytes = hexData(typeof k === 'string' && k.length % 2 === 1 ? `0x0${k.slice(2)}` : k, 'storage key');
        if (bytes.length > 32) throw invalidParams('storage keys must be at most 32 bytes');
        return setLengthLeft(bytes, 32);
      });
      const state = await stateAfter(chain, await requireBlock(chain, latest(p[2])));
      const proof = await getMerkleStateProof(state, a, slots);
      // Values are quantities ("0x6", not the trie's "0x06").
      return {
        ...proof,
        storageProof: proof.storageProof.map((s, i) => ({ ...s, key: bytesToHex(slots[i]!), value: bigIntToHex(s.value === '0x' ? 0n : BigInt(s.value)) })),
      };
    },
    eth_createAccessList: async (p) => {
      expectParams(p, 1, 2);
      const req = callRequest(p[0]);
      const block = await requireBlock(chain, latest(p[1]));
      checkAuthorizationFork(req, block);
      await stateAfter(chain, block);
      const asked = req.gas ?? block.header.gasLimit;
      const gas = rpcGasCap > 0n && asked > rpcGasCap ? rpcGasCap : asked;
      const intrinsic = Simulator.intrinsicGas(req);
      if (gas < intrinsic) throw new RpcError(RpcErrorCode.InvalidInput, `intrinsic gas too low: have ${gas}, want ${intrinsic}`);
      let r;
      try {
        const deadline = rpcEvmTimeoutMs > 0 ? performance.now() + rpcEvmTimeoutMs : Infinity;
        r = await simulations.run(deadline, () => createAccessList(chain, block, req, gas, deadline));
      } catch (err) {
        if (err instanceof ExecutionTimeout) throw new RpcError(RpcErrorCode.InvalidInput, `execution aborted (timeout = ${formatDuration(rpcEvmTimeoutMs)})`);
        if (err instanceof ExecutionRefused) throw new RpcError(RpcErrorCode.LimitExceeded, err.message);
        if (err instanceof StateUnavailable) throw new RpcError(RpcErrorCode.InvalidInput, err.message);
        throw err;
      }
      const accessList = r.accessList.map((i) => ({ address: bytesToHex(i.address), storageKeys: i.storageKeys.map((k) => bytesToHex(k)) }));
      const error = r.error === undefined ? undefined : r.error === 'revert' ? revertError(r.returnValue).message : r.error;
      return { accessList, gasUsed: bigIntToHex(r.gasUsed), ...(error !== undefined ? { error } : {}) };
    },
  });
}
