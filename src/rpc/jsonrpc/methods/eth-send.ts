import { bytesToHex } from '@ethereumjs/util';
import { TxPoolError } from '../../../txpool/errors.js';
import { RpcError, RpcErrorCode } from '../errors.js';
import { expectParams, hexData } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';
import { TxDecodeError } from '../../../chain/ethereumjs-errors.js';
import { decodeRawTx } from '../../../txpool/validation.js';

export function sendMethods({ chain, txpool, allowUnprotectedTxs = false }: RpcContext): RpcMethods {
  return {
    eth_sendRawTransaction: async (p) => {
      expectParams(p, 1);
      const raw = hexData(p[0], 'transaction');
      // Decoded with the rules of the block it can first go into: a set-code (type 4) transaction is
      // refused before the prague fork.
      const common = chain.commonAt(chain.head.number + 1n);
      if (raw[0] === 4 && !common.isActivatedEIP(7702)) {
        throw new RpcError(
          RpcErrorCode.InvalidInput,
          'transaction type not supported: set-code (type 4) transactions need the prague fork, which this chain has not reached',
        );
      }
      let tx;
      try {
        tx = decodeRawTx(raw, common);
      } catch (err) {
        if (err instanceof TxPoolError) throw new RpcError(RpcErrorCode.InvalidInput, err.message); // oversized, before any decoding
        if (!(err instanceof TxDecodeError)) throw err;
        // In geth's words.
        if (err.kind === 'chain-id') throw new RpcError(RpcErrorCode.InvalidInput, `invalid chain id for signer: this chain is ${chain.chainId}`);
        throw new RpcError(RpcErrorCode.InvalidInput, `rlp: cannot decode transaction: ${err.message}`);
      }
      // v = 27/28 signs the same bytes on every chain: anyone could replay it elsewhere (EIP-155).
      if (!allowUnprotectedTxs && tx.type === 0 && (tx.v === 27n || tx.v === 28n)) {
        throw new RpcError(
          RpcErrorCode.InvalidInput,
          'only replay-protected (EIP-155) transactions allowed over RPC; start the node with --allow-unprotected-txs to accept them',
        );
      }
      try {
        return bytesToHex(await txpool.add(tx));
      } catch (err) {
        if (err instanceof TxPoolError) throw new RpcError(RpcErrorCode.InvalidInput, err.message);
        throw err;
      }
    },
  };
}
