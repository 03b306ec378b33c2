import { createBlockFromBytesArray } from '@ethereumjs/block';
import { bigIntToUnpaddedBytes } from '@ethereumjs/util';
import { afterEach, describe, expect, it } from 'vitest';
import { headerOpts } from '../../../src/chain/block-util.js';
import { BlockVerificationError, FutureBlockError } from '../../../src/chain/errors.js';
import { MAX_FUTURE_SECONDS } from '../../../src/chain/errors.js';
import { verifyIbftHeader, verifyIbftProposal } from '../../../src/consensus/ibft/verify.js';
import { createTestChain, openTestChain, sealNext } from '../../helpers/chain-fixture.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const nowS = () => BigInt(Math.floor(Date.now() / 1000));

/** A 4-validator chain whose clock runs 60 s ahead, with block 1 sealed `aheadS` seconds ahead of the true time. */
async function futureBlock(aheadS: bigint) {
  const src = await createTestChain(4, [], { now: () => Date.now() + 60_000 });
  cleanup.push(() => src.close());
  const genesisTs = src.chain.head.header.timestamp;
  const block = await sealNext(src, [], nowS() + aheadS - genesisTs);
  return { src, block, genesis: (await src.chain.blockByNumber(0n))! };
}

describe('a block from the future is held, not invalid', () => {
  it(`up to ${MAX_FUTURE_SECONDS} s ahead it is taken; further ahead FutureBlockError, checked last (after the seals)`, async () => {
    const { block, genesis } = await futureBlock(30n);
    const ts = block.header.timestamp;
    expect(() => verifyIbftHeader(block.header, genesis.header, ts - MAX_FUTURE_SECONDS)).not.toThrow();
    const err = (() => {
      try {
        verifyIbftHeader(block.header, genesis.header, ts - MAX_FUTURE_SECONDS - 5n);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(FutureBlockError);
    expect(err).toBeInstanceOf(BlockVerificationError); // callers that know nothing of clocks still refuse it
    expect((err as Error).message).toBe(`block 1 is invalid: timestamp ${ts} is in the future: 20 s ahead of this node's clock, 15 s allowed`);
    expect((err as FutureBlockError).waitMs).toBe(5000);
    expect(() => verifyIbftProposal(block.header, genesis.header, ts - 20n)).toThrow(FutureBlockError);

    // A forged block from the future is invalid for what is forged, not held: the timestamp is checked last.
    const raw = block.raw();
    const header = [...(raw[0] as Uint8Array[])];
    header[11] = bigIntToUnpaddedBytes(ts + 1n); // the seals no longer match
    const forged = createBlockFromBytesArray([header, raw[1], raw[2]] as never, headerOpts(block.common));
    let forgedErr: unknown;
    try {
      verifyIbftHeader(forged.header, genesis.header, ts - 30n);
    } catch (e) {
      forgedErr = e;
    }
    expect(forgedErr).toBeInstanceOf(BlockVerificationError);
    expect(forgedErr).not.toBeInstanceOf(FutureBlockError);
  });

  it('Chain.importBlock refuses it with FutureBlockError and writes nothing; once its clock is within the allowance, imports it', async () => {
    const { src, block } = await futureBlock(30n);
    const clock = { shiftMs: 0 };
    const dst = await openTestChain(src.genesis, undefined, { now: () => Date.now() + clock.shiftMs });
    cleanup.push(() => dst.close());
    await expect(dst.chain.importBlock(block)).rejects.toBeInstanceOf(FutureBlockError);
    expect(dst.chain.head.number).toBe(0n);
    expect(await dst.chain.canonicalHash(1n)).toBeUndefined();
    clock.shiftMs = 20_000;
    expect(await dst.chain.importBlock(block)).toBe('imported');
  });
});
