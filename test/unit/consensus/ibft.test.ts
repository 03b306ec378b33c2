import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockWithHeader, headerWithExtraData } from '../../../src/chain/block-util.js';
import { decodeIbftExtra, encodeIbftExtra, IbftExtraError } from '../../../src/consensus/ibft/extra.js';
import { blockHash, committedSealHash, proposerSealHash } from '../../../src/consensus/ibft/hash.js';
import { sealBlock } from '../../../src/consensus/ibft/seal.js';
import { nextProposer, quorumSize } from '../../../src/consensus/ibft/validators.js';
import { verifyIbftHeader } from '../../../src/consensus/ibft/verify.js';
import { signHash } from '../../../src/util/secp256k1.js';
import { createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

describe('IBFT extraData', () => {
  it('round-trips validators, proposer seal and committed seals after a 32-byte vanity', () => {
    const extra = {
      vanity: new Uint8Array(32).fill(7),
      validators: [privateToAddress(testKey(0)), privateToAddress(testKey(1))],
      proposerSeal: new Uint8Array(65).fill(1),
      committedSeals: [new Uint8Array(65).fill(2), new Uint8Array(65).fill(3)],
    };
    const encoded = encodeIbftExtra(extra);
    expect(encoded.subarray(0, 32)).toEqual(extra.vanity);
    expect(decodeIbftExtra(encoded)).toEqual(extra);
  });

  it('rejects short, malformed and wrongly shaped extraData', () => {
    expect(() => decodeIbftExtra(new Uint8Array(10))).toThrow(IbftExtraError);
    expect(() => decodeIbftExtra(new Uint8Array([...new Uint8Array(32), 0xf8]))).toThrow(/not valid IBFT RLP/);
    const badValidator = encodeIbftExtra({ vanity: new Uint8Array(), validators: [new Uint8Array(19)], proposerSeal: new Uint8Array(), committedSeals: [] });
    expect(() => decodeIbftExtra(badValidator)).toThrow(/19 bytes/);
  });

  it('computes quorum 2F+1 and round-robin proposers', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map(quorumSize)).toEqual([1, 1, 1, 3, 3, 3, 5, 7]);
    const vs = [0, 1, 2, 3].map((i) => privateToAddress(testKey(i)));
    expect(bytesToHex(nextProposer(vs, undefined))).toBe(bytesToHex(vs[0]!));
    expect(bytesToHex(nextProposer(vs, vs[3]))).toBe(bytesToHex(vs[0]!));
    expect(bytesToHex(nextProposer(vs, vs[1], 1))).toBe(bytesToHex(vs[3]!));
  });
});

describe('IBFT seal verification (4 validators)', () => {
  let t: TestChain;
  beforeAll(async () => {
    t = await createTestChain(4);
    await sealNext(t);
  });
  afterAll(async () => t.close());

  async function freshBlock() {
    // Build block 2 without committing it: seal inside produceBlock, then abandon.
    let sealedBase: Awaited<ReturnType<typeof sealBlock>> | undefined;
    const head = t.chain.head.header;
    const extra = decodeIbftExtra(head.extraData);
    const proposer = nextProposer(extra.validators, head.coinbase.bytes);
    await t.chain.produceBlock(
      { coinbase: proposer, timestamp: head.timestamp + 1n, extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(), committedSeals: [] }) },
      [],
      async (built) => {
        sealedBase = built.block;
        return undefined;
      },
    );
    const proposerKey = t.keys.find((k) => bytesToHex(privateToAddress(k)) === bytesToHex(proposer))!;
    return { base: sealedBase!, proposerKey, parent: head };
  }

  it('accepts a block with the proposer seal and a quorum of committed seals', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const block = sealBlock(base, proposerKey, t.keys.slice(0, 3), t.chain.common);
    expect(() => verifyIbftHeader(block.header, parent)).not.toThrow();
    // The block hash leaves the committed seals out: a different quorum gives the same hash.
    const other = sealBlock(base, proposerKey, t.keys.slice(1, 4), t.chain.common);
    expect(bytesToHex(blockHash(other.header))).toBe(bytesToHex(blockHash(block.header)));
    expect(() => verifyIbftHeader(other.header, parent)).not.toThrow();
  });

  it('rejects too few committed seals', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const block = sealBlock(base, proposerKey, t.keys.slice(0, 2), t.chain.common);
    expect(() => verifyIbftHeader(block.header, parent)).toThrow(/2 committed seals, quorum is 3 of 4/);
  });

  it('rejects duplicate committed seals', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const block = sealBlock(base, proposerKey, [t.keys[0]!, t.keys[1]!, t.keys[1]!], t.chain.common);
    expect(() => verifyIbftHeader(block.header, parent)).toThrow(/duplicate committed seal/);
  });

  it('rejects a proposer seal or committed seal by a key outside the validator set', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const outsider = testKey(20);
    const byOutsider = sealBlock(base, outsider, t.keys.slice(0, 3), t.chain.common);
    expect(() => verifyIbftHeader(byOutsider.header, parent)).toThrow(/not a validator/);
    const outsiderCommit = sealBlock(base, proposerKey, [t.keys[0]!, t.keys[1]!, outsider], t.chain.common);
    expect(() => verifyIbftHeader(outsiderCommit.header, parent)).toThrow(/committed seal by 0x[0-9a-f]+, not a validator/);
  });

  it('rejects a validator proposer that is not the coinbase, and seals over another hash', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const wrongSigner = t.keys.find((k) => k !== proposerKey)!;
    const block = sealBlock(base, wrongSigner, t.keys.slice(0, 3), t.chain.common);
    expect(() => verifyIbftHeader(block.header, parent)).toThrow(/coinbase .* is not the proposer/);
    // A committed seal over the proposer-seal hash instead of the commit message.
    const good = sealBlock(base, proposerKey, t.keys.slice(0, 2), t.chain.common);
    const extra = decodeIbftExtra(good.header.extraData);
    const wrongMsg = signHash(proposerSealHash(good.header), t.keys[2]!);
    const forged = headerWithExtraData(good.header, encodeIbftExtra({ ...extra, committedSeals: [...extra.committedSeals, wrongMsg] }), t.chain.common);
    expect(() => verifyIbftHeader(blockWithHeader(good, forged, t.chain.common).header, parent)).toThrow(/not a validator|quorum/);
    expect(committedSealHash(blockHash(good.header))).not.toEqual(proposerSealHash(good.header));
  });

  it('rejects a header that does not link to its parent', async () => {
    const { base, proposerKey } = await freshBlock();
    const block = sealBlock(base, proposerKey, t.keys.slice(0, 3), t.chain.common);
    const genesis = (await t.chain.blockByNumber(0n))!.header;
    expect(() => verifyIbftHeader(block.header, genesis)).toThrow(/does not follow parent/);
  });
});
