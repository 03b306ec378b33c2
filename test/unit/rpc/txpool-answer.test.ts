import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { createAddressFromString } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestChain, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { MAX_BATCH_RESPONSE_BYTES } from '../../../src/rpc/jsonrpc/dispatch.js';
import { RpcError, RpcErrorCode } from '../../../src/rpc/jsonrpc/errors.js';
import { txpoolMethods } from '../../../src/rpc/jsonrpc/methods/txpool.js';
import type { TxPool } from '../../../src/txpool/txpool.js';

let t: TestChain;
beforeAll(async () => {
  t = await createTestChain(1, []);
});
afterAll(async () => {
  await t?.close();
});

describe('txpool_content and txpool_inspect', () => {
  /** A pool (its content only) of `senders` senders holding one transaction of 100 KB of calldata each. */
  const poolOf = (senders: number) => {
    const tx = createFeeMarket1559Tx(
      {
        nonce: 0n,
        to: '0x000000000000000000000000000000000000beef',
        gasLimit: 2_000_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
        data: new Uint8Array(100_000).fill(7),
      },
      { common: t.chain.commonAt(0n) },
    ).sign(testKey(60));
    const content = Array.from({ length: senders }, (_, i) => ({
      sender: createAddressFromString(`0x${(i + 1).toString(16).padStart(40, '0')}`),
      pending: [tx],
      queued: [],
    }));
    return { content: () => content, status: () => ({ pending: senders, queued: 0 }) } as unknown as TxPool;
  };
  const call = (txpool: TxPool, method: string) =>
    Promise.resolve()
      .then(() => txpoolMethods({ chain: t.chain, txpool })[method]!([]))
      .catch((err: unknown) => err);

  it('answer a pool of a few MB in full', async () => {
    const answer = (await call(poolOf(20), 'txpool_content')) as { pending: Record<string, unknown> };
    expect(Object.keys(answer.pending)).toHaveLength(20);
    expect(JSON.stringify(answer).length).toBeGreaterThan(4_000_000);
  });

  it('refuse an answer past 25 MB of JSON (-32005), as a batch past it is; txpool_inspect of the same pool is small', async () => {
    const pool = poolOf(300); // 300 transactions of 100 KB: 60 MB of hex
    const err = await call(pool, 'txpool_content');
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe(RpcErrorCode.LimitExceeded);
    expect((err as RpcError).message).toBe(
      `txpool_content answer too large: the pool's transactions passed ${MAX_BATCH_RESPONSE_BYTES} bytes of JSON (txpool_status counts them)`,
    );
    const inspect = (await call(pool, 'txpool_inspect')) as { pending: Record<string, unknown> };
    expect(Object.keys(inspect.pending)).toHaveLength(300);
  });
});
