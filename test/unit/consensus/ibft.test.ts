import { rmSync } from 'node:fs';
import { bytesToHex, equalsBytes, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockWithHeader, headerWithExtraData } from '../../../src/chain/block-util.js';
import { MAX_IBFT_EXTRA_BYTES, MAX_IBFT_VALIDATORS, decodeIbftExtra, encodeIbftExtra, IbftExtraError } from '../../../src/consensus/ibft/extra.js';
import { blockHash, committedSealHash, proposerSealHash } from '../../../src/consensus/ibft/hash.js';
import { committedSeal, sealBlock } from '../../../src/consensus/ibft/seal.js';
import { QuorumRule, legacyQuorum, maxFaulty, nextProposer, optimalQuorum } from '../../../src/consensus/ibft/validators.js';
import { verifyCommittedSeals, verifyIbftHeader, verifyKnownSeals } from '../../../src/consensus/ibft/verify.js';
import { recoverAddress, signHash } from '../../../src/util/secp256k1.js';
import { createTestChain, openTestChain, sealNext, testGenesis, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { quorumRuleOf } from '../../../src/consensus/ibft/genesis.js';
import { IbftEngine } from '../../../src/consensus/ibft/engine.js';

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

  it('holds at most MAX_IBFT_VALIDATORS validators and committed seals, in at most MAX_IBFT_EXTRA_BYTES (refused before decoding)', () => {
    const address = (i: number) => Uint8Array.from({ length: 20 }, (_, k) => (k < 18 ? 0xaa : k === 18 ? i >> 8 : i & 0xff));
    const seal = new Uint8Array(65).fill(5);
    const extra = (validators: number, seals: number, vote = true) =>
      encodeIbftExtra({
        vanity: new Uint8Array(32).fill(0xff),
        validators: Array.from({ length: validators }, (_, i) => address(i)),
        proposerSeal: seal,
        committedSeals: Array.from({ length: seals }, () => seal),
        vote: vote ? { candidate: address(4000), authorize: true } : undefined,
      });
    // The largest valid one fits the bound.
    const largest = extra(MAX_IBFT_VALIDATORS, MAX_IBFT_VALIDATORS);
    expect(largest.length).toBeLessThanOrEqual(MAX_IBFT_EXTRA_BYTES);
    expect(decodeIbftExtra(largest).committedSeals).toHaveLength(MAX_IBFT_VALIDATORS);
    expect(() => decodeIbftExtra(extra(MAX_IBFT_VALIDATORS + 1, 0))).toThrow(/1025 validators, more than 1024/);
    expect(() => decodeIbftExtra(extra(4, MAX_IBFT_VALIDATORS + 1))).toThrow(/1025 committed seals, more than 1024/);
    // Empty seals pass the byte bound but not the count.
    const empties = encodeIbftExtra({
      vanity: new Uint8Array(),
      validators: [],
      proposerSeal: new Uint8Array(),
      committedSeals: Array.from({ length: 2000 }, () => new Uint8Array()),
    });
    expect(() => decodeIbftExtra(empties)).toThrow(/2000 committed seals, more than 1024/);
    // 100,000 copies of one seal: refused by its size alone.
    expect(() => decodeIbftExtra(extra(4, 100_000, false))).toThrow(new RegExp(`extraData is \\d+ bytes, more than the ${MAX_IBFT_EXTRA_BYTES}`));
  });

  it('computes the legacy quorum 2F+1 and round-robin proposers', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 10].map(legacyQuorum)).toEqual([1, 1, 1, 3, 3, 3, 5, 7]);
    const vs = [0, 1, 2, 3].map((i) => privateToAddress(testKey(i)));
    expect(bytesToHex(nextProposer(vs, undefined))).toBe(bytesToHex(vs[0]!));
    expect(bytesToHex(nextProposer(vs, vs[3]))).toBe(bytesToHex(vs[0]!));
    expect(bytesToHex(nextProposer(vs, vs[1], 1))).toBe(bytesToHex(vs[3]!));
  });
});

describe('IBFT quorum', () => {
  it('for N = 1…20 the optimal quorum is the smallest Q with which any two quorums share more than F validators, and the honest ones alone still form one', () => {
    for (let n = 1; n <= 20; n++) {
      const f = maxFaulty(n);
      const q = optimalQuorum(n);
      expect(q, `N=${n}`).toBe(Math.ceil((2 * n) / 3));
      // Two quorums overlap in at least 2Q - N validators: more than F means one honest in common.
      expect(2 * q - n, `N=${n}`).toBeGreaterThan(f);
      expect(2 * (q - 1) - n, `N=${n}: Q-1 would be unsafe`).toBeLessThanOrEqual(f);
      expect(q, `N=${n}: liveness with F down`).toBeLessThanOrEqual(n - f);
      // Exhaustively for small N: every pair of Q-subsets shares more than F members.
      if (n <= 10) {
        const subsets: number[] = [];
        for (let m = 0; m < 1 << n; m++) if (popcount(m) === q) subsets.push(m);
        let least = n;
        for (const a of subsets) for (const b of subsets) least = Math.min(least, popcount(a & b));
        expect(least, `N=${n}`).toBeGreaterThan(f);
      }
    }
    // F and Q as the README tabulates them.
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [maxFaulty(n), optimalQuorum(n)])).toEqual([
      [0, 1],
      [0, 2],
      [0, 2],
      [1, 3],
      [1, 4],
      [1, 4],
      [2, 5],
      [2, 6],
      [2, 6],
      [3, 7],
    ]);
  });

  it('the legacy 2F+1 fails the intersection property exactly when N is not 3F+1', () => {
    for (let n = 1; n <= 20; n++) {
      const unsafe = new QuorumRule(undefined).unsafeAt(1n, n);
      expect(unsafe === undefined, `N=${n}`).toBe(n % 3 === 1);
      expect(legacyQuorum(n) === optimalQuorum(n), `N=${n}`).toBe(n % 3 === 1);
    }
  });

  it('applies the legacy quorum below the switch block and the optimal one from it', () => {
    const rule = new QuorumRule(100n);
    expect([rule.at(99n, 6), rule.at(100n, 6), rule.at(101n, 6)]).toEqual([3, 4, 4]);
    expect(rule.unsafeAt(99n, 6)).toMatch(/3 of 6/);
    expect(rule.unsafeAt(100n, 6)).toBeUndefined();
    expect(QuorumRule.OPTIMAL.at(1n, 2)).toBe(2);
    expect(QuorumRule.LEGACY.at(1_000_000n, 2)).toBe(1);
  });
});

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

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
    const block = sealBlock(base, proposerKey, t.keys.slice(0, 3), t.chain.commonAt(0n));
    expect(() => verifyIbftHeader(block.header, parent)).not.toThrow();
    // The block hash leaves the committed seals out: a different quorum gives the same hash.
    const other = sealBlock(base, proposerKey, t.keys.slice(1, 4), t.chain.commonAt(0n));
    expect(bytesToHex(blockHash(other.header))).toBe(bytesToHex(blockHash(block.header)));
    expect(() => verifyIbftHeader(other.header, parent)).not.toThrow();
  });

  it('rejects too few committed seals', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const block = sealBlock(base, proposerKey, t.keys.slice(0, 2), t.chain.commonAt(0n));
    expect(() => verifyIbftHeader(block.header, parent)).toThrow(/2 committed seals, quorum is 3 of 4/);
  });

  it('rejects duplicate committed seals', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const block = sealBlock(base, proposerKey, [t.keys[0]!, t.keys[1]!, t.keys[1]!], t.chain.commonAt(0n));
    expect(() => verifyIbftHeader(block.header, parent)).toThrow(/duplicate committed seal/);
  });

  it('checks the validator set a block carries against its vote: exactly with the pending votes, by the vote alone without them', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const extra = decodeIbftExtra(base.header.extraData);
    const common = t.chain.commonAt(2n);
    const proposer = privateToAddress(proposerKey);
    const candidate = new Uint8Array(20).fill(9);
    const sealed = (validators: Uint8Array[], vote?: { candidate: Uint8Array; authorize: boolean }) => {
      const withVote = encodeIbftExtra({ ...extra, validators, vote });
      const b = blockWithHeader(base, headerWithExtraData(base.header, withVote, common), common);
      return sealBlock(b, proposerKey, t.keys.slice(0, 3), t.chain.commonAt(0n)).header;
    };
    const set = extra.validators;
    const grown = [...set, candidate];
    const auth = { candidate, authorize: true };
    const none = { epochSize: 100_000n, pending: [] };
    // One vote of four: the set stays.
    expect(decodeIbftExtra(sealed(set, auth).extraData).vote?.authorize).toBe(true); // the seals kept it
    expect(() => verifyIbftHeader(sealed(set, auth), parent, undefined, undefined, undefined, none)).not.toThrow();
    expect(() => verifyIbftHeader(sealed(grown, auth), parent, undefined, undefined, undefined, none)).toThrow(/not the one its vote leads to/);
    // Two others voted already: this third vote of four passes, and the set must grow.
    const others = set
      .filter((v) => bytesToHex(v) !== bytesToHex(proposer))
      .slice(0, 2)
      .map((voter) => ({ voter, candidate, authorize: true }));
    const passing = { epochSize: 100_000n, pending: others };
    expect(() => verifyIbftHeader(sealed(grown, auth), parent, undefined, undefined, undefined, passing)).not.toThrow();
    expect(() => verifyIbftHeader(sealed(set, auth), parent, undefined, undefined, undefined, passing)).toThrow(/not the one its vote leads to/);
    // Without the pending votes (a file checked on its own): either set, but only the vote's change.
    expect(() => verifyIbftHeader(sealed(set, auth), parent)).not.toThrow();
    expect(() => verifyIbftHeader(sealed(grown, auth), parent)).not.toThrow();
    expect(() => verifyIbftHeader(sealed([...set, new Uint8Array(20).fill(8)], auth), parent)).toThrow(/not the one its vote leads to/);
    // A set change without a vote, a vote for a validator already in, a vote in an epoch block: refused.
    expect(() => verifyIbftHeader(sealed(grown), parent)).toThrow(/differs from its parent without a vote/);
    expect(() => verifyIbftHeader(sealed(set, { candidate: set[0]!, authorize: true }), parent)).toThrow(/is a validator already/);
    expect(() => verifyIbftHeader(sealed(set, auth), parent, undefined, undefined, undefined, { epochSize: 2n })).toThrow(/epoch block: it carries no vote/);
  });

  it('rejects a proposer seal or committed seal by a key outside the validator set', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const outsider = testKey(20);
    const byOutsider = sealBlock(base, outsider, t.keys.slice(0, 3), t.chain.commonAt(0n));
    expect(() => verifyIbftHeader(byOutsider.header, parent)).toThrow(/not a validator/);
    const outsiderCommit = sealBlock(base, proposerKey, [t.keys[0]!, t.keys[1]!, outsider], t.chain.commonAt(0n));
    expect(() => verifyIbftHeader(outsiderCommit.header, parent)).toThrow(/committed seal by 0x[0-9a-f]+, not a validator/);
  });

  it('rejects a validator proposer that is not the coinbase, and seals over another hash', async () => {
    const { base, proposerKey, parent } = await freshBlock();
    const wrongSigner = t.keys.find((k) => k !== proposerKey)!;
    const block = sealBlock(base, wrongSigner, t.keys.slice(0, 3), t.chain.commonAt(0n));
    expect(() => verifyIbftHeader(block.header, parent)).toThrow(/coinbase .* is not the proposer/);
    // A committed seal over the proposer-seal hash instead of the commit message.
    const good = sealBlock(base, proposerKey, t.keys.slice(0, 2), t.chain.commonAt(0n));
    const extra = decodeIbftExtra(good.header.extraData);
    const wrongMsg = signHash(proposerSealHash(good.header), t.keys[2]!);
    const forged = headerWithExtraData(good.header, encodeIbftExtra({ ...extra, committedSeals: [...extra.committedSeals, wrongMsg] }), t.chain.commonAt(0n));
    expect(() => verifyIbftHeader(blockWithHeader(good, forged, t.chain.commonAt(0n)).header, parent)).toThrow(/not a validator|quorum/);
    expect(committedSealHash(blockHash(good.header))).not.toEqual(proposerSealHash(good.header));
  });

  it("recovers at most one seal per validator of a claimed head's set, stops at the seals it needs, and refuses a seal twice", async () => {
    const { base, proposerKey } = await freshBlock();
    const block = sealBlock(base, proposerKey, t.keys, t.chain.commonAt(0n));
    const extra = decodeIbftExtra(block.header.extraData);
    const validators = extra.validators;
    const hash = committedSealHash(blockHash(block.header));
    const signers = extra.committedSeals.map((s) => recoverAddress(hash, s));
    const outsider = committedSeal(block.header, testKey(20));
    // Other signatures by a validator and by the outsider (a signer other than ours picks its own nonce).
    const again = new Uint8Array(65).fill(7);
    const outsiderAgain = new Uint8Array(65).fill(8);
    const other = new Map([
      [bytesToHex(again), signers[0]!],
      [bytesToHex(outsiderAgain), privateToAddress(testKey(20))],
    ]);
    // A recover that counts its calls (each costs ~80 us for real), answering as the real one would.
    let recovered = 0;
    const counting = (h: Uint8Array, s: Uint8Array) => {
      recovered++;
      const i = extra.committedSeals.findIndex((x) => equalsBytes(x, s));
      return i >= 0 && equalsBytes(h, hash) ? signers[i]! : (other.get(bytesToHex(s)) ?? recoverAddress(h, s));
    };
    const claim = (seals: Uint8Array[], needed: number) => {
      recovered = 0;
      verifyKnownSeals(block.header, { ...extra, committedSeals: seals }, validators, needed, counting);
    };
    // 100,000 copies of one valid seal (a 16 MB block can carry 250,000): refused before any is recovered.
    expect(() =>
      claim(
        Array.from({ length: 100_000 }, () => extra.committedSeals[0]!),
        2,
      ),
    ).toThrow(/100000 committed seals, more than the 5/);
    expect(recovered).toBe(0);
    // The same seal twice, within the bound: refused before any is recovered, even where one is enough.
    expect(() => claim([extra.committedSeals[0]!, extra.committedSeals[0]!], 1)).toThrow(/duplicate committed seal \(the same bytes twice\)/);
    expect(recovered).toBe(0);
    // Two seals by one key, in or outside the set: refused at the second.
    expect(() => claim([outsider, outsiderAgain, extra.committedSeals[0]!], 1)).toThrow(/duplicate committed seal by 0x/);
    expect(recovered).toBe(2);
    expect(() => claim([extra.committedSeals[0]!, again], 2)).toThrow(/duplicate committed seal by 0x/);
    expect(recovered).toBe(2);
    // Enough seals found: the rest are not recovered.
    claim(extra.committedSeals, 2);
    expect(recovered).toBe(2);
    claim([outsider, ...extra.committedSeals], 2);
    expect(recovered).toBe(3);
    // The chain's check of a header: no more seals than its validators, refused before any is recovered.
    const five = [...extra.committedSeals, outsider];
    recovered = 0;
    expect(() => verifyCommittedSeals(block.header, { ...extra, committedSeals: five }, validators, QuorumRule.OPTIMAL, counting)).toThrow(
      /5 committed seals, more than the 4/,
    );
    expect(recovered).toBe(0);
    // A real claimed head carrying the 100,000 copies: its extraData is refused before it is decoded.
    const copies = encodeIbftExtra({ ...extra, committedSeals: Array.from({ length: 100_000 }, () => extra.committedSeals[0]!) });
    const huge = headerWithExtraData(block.header, copies, t.chain.commonAt(0n));
    expect(() => t.chain.engine.verifyClaimedHead(huge, t.chain.head.header)).toThrow(/extraData is \d+ bytes, more than/);
  });

  it('rejects a header that does not link to its parent', async () => {
    const { base, proposerKey } = await freshBlock();
    const block = sealBlock(base, proposerKey, t.keys.slice(0, 3), t.chain.commonAt(0n));
    const genesis = (await t.chain.blockByNumber(0n))!.header;
    expect(() => verifyIbftHeader(block.header, genesis)).toThrow(/does not follow parent/);
  });
});

describe('IBFT quorum switch (6 validators)', () => {
  it('verifies each block under the quorum of its height: 3 seals below params.engine.ibft.quorumSwitchBlock, 4 from it on; a chain without the field keeps 2F+1', async () => {
    const { genesis, keys } = testGenesis(6);
    genesis.params.engine.ibft.quorumSwitchBlock = 3;
    const opened = await openTestChain(genesis);
    const t = { chain: opened.chain, keys };
    try {
      // sealNext seals with the rule's quorum: 3 for blocks 1 and 2.
      const b1 = await sealNext(t);
      const b2 = await sealNext(t);
      expect(decodeIbftExtra(b1.header.extraData).committedSeals).toHaveLength(3);
      expect(decodeIbftExtra(b2.header.extraData).committedSeals).toHaveLength(3);
      // Block 3 with 3 seals is refused by the chain; with 4 it is imported.
      const head = t.chain.head.header;
      const extra = decodeIbftExtra(head.extraData);
      const proposer = nextProposer(extra.validators, head.coinbase.bytes);
      const proposerKey = keys.find((k) => bytesToHex(privateToAddress(k)) === bytesToHex(proposer))!;
      let base: Awaited<ReturnType<typeof sealBlock>> | undefined;
      await t.chain.produceBlock(
        { coinbase: proposer, timestamp: head.timestamp + 1n, extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(), committedSeals: [] }) },
        [],
        async (built) => {
          base = built.block;
          return undefined;
        },
      );
      const three = sealBlock(base!, proposerKey, keys.slice(0, 3), t.chain.commonAt(0n));
      await expect(t.chain.importBlock(three)).rejects.toThrow(/3 committed seals, quorum is 4 of 6/);
      expect(t.chain.head.number).toBe(2n);
      const engine = new IbftEngine(quorumRuleOf(genesis));
      expect(() => engine.verifyHeader(three.header, head)).toThrow(/quorum is 4 of 6/);
      // The same header under a genesis without the switch (legacy) passes with 3.
      expect(() => new IbftEngine(QuorumRule.LEGACY).verifyHeader(three.header, head)).not.toThrow();
      const four = sealBlock(base!, proposerKey, keys.slice(0, 4), t.chain.commonAt(0n));
      expect(await t.chain.importBlock(four)).toBe('imported');
      expect(t.chain.head.number).toBe(3n);
    } finally {
      await opened.close();
      rmSync(opened.dir, { recursive: true, force: true });
    }
  });

  it('refuses a genesis file that moves the quorum switch at or below the head, and records a move ahead of it', async () => {
    const { genesis, keys } = testGenesis(6);
    delete genesis.params.engine.ibft.quorumSwitchBlock;
    const opened = await openTestChain(genesis);
    const dir = opened.dir;
    try {
      await sealNext({ chain: opened.chain, keys });
      await sealNext({ chain: opened.chain, keys });
    } finally {
      await opened.close();
    }
    try {
      for (const at of [0, 2]) {
        const moved = structuredClone(genesis);
        moved.params.engine.ibft.quorumSwitchBlock = at;
        await expect(openTestChain(moved, dir)).rejects.toThrow(
          /moves the IBFT quorum switch \(params.engine.ibft.quorumSwitchBlock\) from unscheduled to \d, but this data dir already holds blocks up to 2/,
        );
      }
      const ahead = structuredClone(genesis);
      ahead.params.engine.ibft.quorumSwitchBlock = 3;
      const reopened = await openTestChain(ahead, dir);
      await reopened.close();
      // Recorded: dropping it again is now a move of a switch already scheduled (at 3, above the head: allowed).
      await expect(openTestChain(genesis, dir).then((c) => c.close())).resolves.toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
