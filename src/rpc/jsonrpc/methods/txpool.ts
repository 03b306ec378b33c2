import type { TypedTransaction } from '@ethereumjs/tx';
import { intToHex, toChecksumAddress } from '@ethereumjs/util';
import { MAX_BATCH_RESPONSE_BYTES } from '../dispatch.js';
import { RpcError, RpcErrorCode } from '../errors.js';
import { formatTransaction } from '../format.js';
import { expectParams } from '../params.js';
import type { RpcContext, RpcMethods } from './context.js';

type BySender<T> = Record<string, Record<string, T>>;

/** txpool_status, txpool_content, txpool_inspect, in geth's shapes (nonces as decimal keys). */
export function txpoolMethods({ txpool }: RpcContext): RpcMethods {
  // An answer is bounded as a batch's answers are (geth's 25 MB): the pool may hold 128 MiB of
  // transactions, over 256 MiB of JSON, built and then written again for one request.
  const group = <T>(method: string, f: (tx: TypedTransaction) => T) => {
    const out: { pending: BySender<T>; queued: BySender<T> } = { pending: {}, queued: {} };
    let bytes = 0;
    const count = (n: number) => {
      bytes += n;
      if (bytes > MAX_BATCH_RESPONSE_BYTES) {
        throw new RpcError(
          RpcErrorCode.LimitExceeded,
          `${method} answer too large: the pool's transactions passed ${MAX_BATCH_RESPONSE_BYTES} bytes of JSON (txpool_status counts them)`,
        );
      }
    };
    const byNonce = (txs: TypedTransaction[]) =>
      Object.fromEntries(
        txs.map((tx) => {
          const value = f(tx);
          count(JSON.stringify(value).length + 24); // and its key, a nonce, quoted
          return [tx.nonce.toString(), value];
        }),
      );
    for (const { sender, pending, queued } of txpool.content()) {
      const key = toChecksumAddress(sender.toString());
      count(2 * (key.length + 6));
      if (pending.length > 0) out.pending[key] = byNonce(pending);
      if (queued.length > 0) out.queued[key] = byNonce(queued);
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
      return group('txpool_content', (tx) => formatTransaction(tx, undefined, undefined));
    },
    txpool_inspect: (p) => {
      expectParams(p, 0);
      return group('txpool_inspect', (tx) => {
        const price = 'gasPrice' in tx ? tx.gasPrice : tx.maxFeePerGas;
        return `${tx.to ? toChecksumAddress(tx.to.toString()) : 'contract creation'}: ${tx.value} wei + ${tx.gasLimit} gas × ${price} wei`;
      });
    },
  };
}
