import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { exportChain } from '../../../src/backup/export.js';
import type { Compression } from '../../../src/container/compression.js';
import type { Chain } from '../../../src/chain/chain.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

export const SENDER = testKey(10);
const RECIPIENT = '0x000000000000000000000000000000000000beef';

/** A 4-validator chain (so seals need a 3-of-4 quorum) with `blocks` blocks of mixed transfers. */
export async function chainWithBlocks(blocks: number, timestampDelta = 1n): Promise<TestChain> {
  const t = await createTestChain(4, [addressOf(SENDER)]);
  let nonce = 0n;
  for (let i = 0; i < blocks; i++) {
    const txs = [];
    for (let j = 0; j < i % 3; j++) {
      const tx =
        j % 2 === 0
          ? createFeeMarket1559Tx(
              { nonce, to: RECIPIENT, value: 1000n + nonce, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
              { common: t.chain.commonAt(0n) },
            )
          : createLegacyTx({ nonce, to: RECIPIENT, value: 7n, gasLimit: 21000n, gasPrice: 10n ** 10n }, { common: t.chain.commonAt(0n) });
      txs.push(tx.sign(SENDER));
      nonce++;
    }
    await sealNext(t, txs, timestampDelta);
  }
  return t;
}

export async function exportBytes(chain: Chain, opts: { start?: bigint; end?: bigint; compression?: Compression } = {}): Promise<Uint8Array> {
  const exp = await exportChain(chain, {
    compression: opts.compression ?? 'zstd',
    ...(opts.start !== undefined ? { startBlock: opts.start } : {}),
    ...(opts.end !== undefined ? { endBlock: opts.end } : {}),
  });
  const parts: Uint8Array[] = [];
  for (;;) {
    const r = await exp.chunks.next();
    if (r.done) break;
    parts.push(r.value);
  }
  return Buffer.concat(parts);
}

/** Feed bytes in small uneven chunks, like a network stream. */
export async function* chunked(bytes: Uint8Array, size = 777): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}
