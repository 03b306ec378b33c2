import { createTxFromRLP } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { TxPoolError } from '../../../txpool/errors.js';
import { RpcError, RpcErrorCode } from '../errors.js';
import { expectParams, hexData } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';

export function sendMethods({ chain, txpool }: RpcContext): RpcMethods {
  return {
    eth_sendRawTransaction: async (p) => {
      expectParams(p, 1);
      const raw = hexData(p[0], 'transaction');
      let tx;
      try {
        tx = createTxFromRLP(raw, { common: chain.common });
      } catch (err) {
        const msg = (err as Error).message;
        if (/chain ?id/i.test(msg)) throw new RpcError(RpcErrorCode.InvalidInput, `invalid chain id: this chain is ${chain.chainId} (${msg.split('\n')[0]})`);
        throw new RpcError(RpcErrorCode.InvalidInput, `rlp: cannot decode transaction: ${msg.split('\n')[0]}`);
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
