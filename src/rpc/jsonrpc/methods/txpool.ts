import type { TypedTransaction } from '@ethereumjs/tx';
import { intToHex, toChecksumAddress } from '@ethereumjs/util';
import { formatTransaction } from '../format.js';
import { expectParams } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';

type BySender<T> = Record<string, Record<string, T>>;

/** txpool_status, txpool_content, txpool_inspect, in geth's shapes (nonces as decimal keys). */
export function txpoolMethods({ txpool }: RpcContext): RpcMethods {
  const group = <T>(f: (tx: TypedTransaction) => T) => {
    const out: { pending: BySender<T>; queued: BySender<T> } = { pending: {}, queued: {} };
    for (const { sender, pending, queued } of txpool.content()) {
      const key = toChecksumAddress(sender.toString());
      if (pending.length > 0) out.pending[key] = Object.fromEntries(pending.map((tx) => [tx.nonce.toString(), f(tx)]));
      if (queued.length > 0) out.queued[key] = Object.fromEntries(queued.map((tx) => [tx.nonce.toString(), f(tx)]));
    }
    return out;
  };
  return {
    txpool_status: (p) => {
      expectParams(p, 0);
      const s = txpool.status();
      return { pending: intToHex(s.pending), queued: intToHex(s.queued) };
    },
    txpool_content: (p) => {
      expectParams(p, 0);
      return group((tx) => formatTransaction(tx, undefined, undefined));
    },
    txpool_inspect: (p) => {
      expectParams(p, 0);
      return group((tx) => {
        const price = 'gasPrice' in tx ? tx.gasPrice : tx.maxFeePerGas;
        return `${tx.to ? toChecksumAddress(tx.to.toString()) : 'contract creation'}: ${tx.value} wei + ${tx.gasLimit} gas × ${price} wei`;
      });
    },
  };
}
