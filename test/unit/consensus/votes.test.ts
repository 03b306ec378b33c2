import { describe, expect, it } from 'vitest';
import { MAX_IBFT_VALIDATORS, decodeIbftExtra, encodeIbftExtra, IbftExtraError, type IbftExtra } from '../../../src/consensus/ibft/extra.js';
import {
  MAX_PENDING_VOTES_PER_VOTER,
  applyBlockVote,
  isEpochBlock,
  joiningNext,
  MAX_JOINING,
  type ValidatorSnapshot,
  VoteError,
  voteRefusal,
} from '../../../src/consensus/ibft/votes.js';

const addr = (n: number) => new Uint8Array(20).fill(n);
const [A, B, C, D, E] = [1, 2, 3, 4, 5].map(addr) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
const names = new Map([A, B, C, D, E].map((a, i) => [a[0]!, 'ABCDE'[i]!]));
const set = (s: ValidatorSnapshot) => s.validators.map((v) => names.get(v[0]!)).join('');
const start = (validators: Uint8Array[], number = 0n): ValidatorSnapshot => ({ number, validators, votes: [] });

/** Apply blocks one after another: [proposer, vote?] each. */
function run(snap: ValidatorSnapshot, blocks: [Uint8Array, { candidate: Uint8Array; authorize: boolean }?][], epoch = 100_000n): ValidatorSnapshot {
  for (const [proposer, vote] of blocks) snap = applyBlockVote(snap, { number: snap.number + 1n, proposer, vote }, epoch);
  return snap;
}
const add = (candidate: Uint8Array) => ({ candidate, authorize: true });
const drop = (candidate: Uint8Array) => ({ candidate, authorize: false });

describe('validator votes (issue #23, Polygon Edge PoA rules)', () => {
  it('adds a candidate once more than half of the validators voted for it, last in the order, from the next block', () => {
    let s = run(start([A, B, C, D]), [[A, add(E)], [B, add(E)], [C]]);
    expect(set(s)).toBe('ABCD'); // 2 of 4 is not more than half
    expect(s.votes).toHaveLength(2);
    s = run(s, [[D, add(E)]]);
    expect(set(s)).toBe('ABCDE');
    expect(s.number).toBe(4n);
    expect(s.votes).toEqual([]); // the votes about E are settled
  });

  it("drops a validator on a majority, and the dropped validator's own pending votes go with it", () => {
    const E2 = addr(6);
    let s = run(start([A, B, C, D]), [
      [D, add(E2)],
      [A, drop(D)],
      [B, drop(D)],
    ]);
    expect(set(s)).toBe('ABCD');
    expect(s.votes).toHaveLength(3);
    s = run(s, [[C, drop(D)]]);
    expect(set(s)).toBe('ABC');
    expect(s.votes).toEqual([]); // D's vote for E2 is gone with D
  });

  it('a validator votes once about a candidate; votes about members, non-members and by outsiders are refused', () => {
    const s = run(start([A, B, C, D]), [[A, add(E)]]);
    expect(() => run(s, [[A, add(E)]])).toThrow(new VoteError(`block 2: ${voteRefusal(s, A, add(E))}`));
    expect(voteRefusal(s, A, add(E))).toMatch(/has voted to add 0x0505.* already/);
    expect(voteRefusal(s, A, add(B))).toMatch(/^0x0202.* is a validator already$/);
    expect(voteRefusal(s, A, drop(E))).toMatch(/^0x0505.* is not a validator: it cannot be dropped$/);
    expect(voteRefusal(s, E, add(addr(9)))).toMatch(/^0x0505.* is not a validator: only validators vote$/);
    expect(voteRefusal(s, B, add(E))).toBeUndefined();
  });

  it('a validator has at most MAX_PENDING_VOTES_PER_VOTER votes pending (a faulty one cannot make every node hold votes for made-up candidates without bound)', () => {
    const many = Array.from({ length: MAX_PENDING_VOTES_PER_VOTER }, (_, i) => {
      const c = new Uint8Array(20);
      c[0] = 0xf0;
      c[19] = i;
      return [A, add(c)] as [Uint8Array, { candidate: Uint8Array; authorize: boolean }];
    });
    const s = run(start([A, B, C, D]), many);
    expect(s.votes).toHaveLength(MAX_PENDING_VOTES_PER_VOTER);
    expect(voteRefusal(s, A, add(E))).toMatch(/has 64 votes pending already/);
    expect(() => run(s, [[A, add(E)]])).toThrow(VoteError);
    expect(voteRefusal(s, B, add(E))).toBeUndefined(); // the others are not affected
    expect(() => run(s, [[A, drop(B)]])).toThrow(/has 64 votes pending already/); // a vote to drop counts the same
  });

  it('a full set (MAX_IBFT_VALIDATORS) takes no vote to add: its blocks could not be decoded', () => {
    const full = Array.from({ length: MAX_IBFT_VALIDATORS }, (_, i) => {
      const v = new Uint8Array(20);
      v[0] = 0xe0;
      v[18] = i >> 8;
      v[19] = i & 0xff;
      return v;
    });
    const s = start([A, ...full.slice(1)]);
    expect(voteRefusal(s, A, add(E))).toMatch(/^the set has 1024 validators, the most it may have$/);
    expect(() => run(s, [[A, add(E)]])).toThrow(/the most it may have/);
    expect(voteRefusal(s, A, drop(full[1]!))).toBeUndefined();
    expect(voteRefusal(start([A, ...full.slice(2)]), A, add(E))).toBeUndefined();
  });

  it('a validator may vote to drop itself; the last validator cannot be dropped', () => {
    let s = run(start([A, B]), [[A, drop(A)]]);
    expect(set(s)).toBe('AB'); // 1 of 2
    s = run(s, [[B, drop(A)]]);
    expect(set(s)).toBe('B');
    expect(voteRefusal(s, B, drop(B))).toMatch(/is the last validator/);
    expect(() => run(s, [[B, drop(B)]])).toThrow(VoteError);
  });

  it('votes are forgotten at each epoch block, which carries none', () => {
    const epoch = 4n;
    let s = run(start([A, B, C, D]), [[A, add(E)], [B, add(E)], [C]], epoch);
    expect(s.votes).toHaveLength(2);
    expect(isEpochBlock(4n, epoch)).toBe(true);
    expect(() => run(s, [[D, add(E)]], epoch)).toThrow(/block 4 is an epoch block: it carries no vote/);
    s = run(s, [[D]], epoch);
    expect(s.votes).toEqual([]);
    // After the epoch, the same validators vote again from nothing.
    s = run(
      s,
      [
        [A, add(E)],
        [B, add(E)],
      ],
      epoch,
    );
    expect(set(s)).toBe('ABCD');
    s = run(s, [[C, add(E)]], epoch);
    expect(set(s)).toBe('ABCDE');
  });

  it('down to 2 validators and back up to 3 (Polygon Edge #1255): each change needs a majority of the set of its time', () => {
    let s = run(start([A, B, C, D]), [
      [A, drop(D)],
      [B, drop(D)],
      [C, drop(D)],
    ]);
    expect(set(s)).toBe('ABC');
    s = run(s, [
      [A, drop(C)],
      [B, drop(C)],
    ]);
    expect(set(s)).toBe('AB');
    s = run(s, [[A, add(E)]]);
    expect(set(s)).toBe('AB'); // 1 of 2 is not more than half
    s = run(s, [[B, add(E)]]);
    expect(set(s)).toBe('ABE');
  });

  it('refuses a block that does not follow the snapshot', () => {
    expect(() => applyBlockVote(start([A], 5n), { number: 7n, proposer: A })).toThrow(/block 7 does not follow the snapshot of block 5/);
  });
});

describe('joiningNext: candidates the next block may add', () => {
  it('names a candidate one add vote from a majority, none further, none already in, none by drop votes, none before an epoch block', () => {
    const four = start([A, B, C, D]);
    expect(joiningNext(run(four, [[A, add(E)]]), 100n)).toEqual([]); // 2 of 4 would be no majority
    const two = run(four, [
      [A, add(E)],
      [B, add(E)],
    ]);
    expect(joiningNext(two, 100n)).toEqual([E]); // a third vote adds it
    expect(set(run(two, [[C, add(E)]]))).toBe('ABCDE');
    expect(joiningNext({ ...two, number: 99n }, 100n)).toEqual([]); // block 100 carries no vote
    const dropping = run(start([A, B, C]), [[A, drop(C)]]);
    expect(joiningNext(dropping, 100n)).toEqual([]);
    expect(joiningNext(start([A]), 100n)).toEqual([]); // no votes pending
    expect(joiningNext({ number: 5n, validators: [A, B], votes: [{ voter: A, candidate: B, authorize: true }] }, 100n)).toEqual([]);
  });

  it(`names at most ${MAX_JOINING}`, () => {
    const voters = Array.from({ length: 9 }, (_, i) => addr(10 + i));
    const candidates = Array.from({ length: MAX_JOINING + 2 }, (_, i) => addr(100 + i));
    // 9 validators: 4 votes each puts every candidate one vote from 5 of 9.
    const votes = candidates.flatMap((candidate) => voters.slice(0, 4).map((voter) => ({ voter, candidate, authorize: true })));
    expect(joiningNext({ number: 1n, validators: voters, votes }, 100n).length).toBe(MAX_JOINING);
    // 10 validators: one vote more for the last candidate; only it is one vote from 6 of 10.
    const ten = [...voters, addr(50)];
    const more = [...votes, { voter: voters[4]!, candidate: candidates[MAX_JOINING + 1]!, authorize: true }];
    expect(joiningNext({ number: 1n, validators: ten, votes: more }, 100n)).toEqual([candidates[MAX_JOINING + 1]!]);
  });
});

describe('a vote in IBFT extraData', () => {
  const base: IbftExtra = {
    vanity: new Uint8Array(32),
    validators: [A, B],
    proposerSeal: new Uint8Array(65).fill(7),
    committedSeals: [new Uint8Array(65).fill(8)],
  };

  it('round-trips either way; a block without one keeps the three-item encoding of earlier blocks', async () => {
    const { RLP } = await import('@ethereumjs/rlp');
    for (const vote of [add(E), drop(B)]) expect(decodeIbftExtra(encodeIbftExtra({ ...base, vote })).vote).toEqual(vote);
    const plain = encodeIbftExtra(base);
    expect(decodeIbftExtra(plain).vote).toBeUndefined();
    // 32 bytes of vanity, then an RLP list of exactly three items
    expect((RLP.decode(plain.subarray(32)) as unknown[]).length).toBe(3);
  });

  it('refuses a malformed vote with one reason', async () => {
    const { RLP } = await import('@ethereumjs/rlp');
    const withVote = (vote: unknown) => {
      const body = RLP.encode([base.validators, base.proposerSeal, base.committedSeals, vote] as Parameters<typeof RLP.encode>[0]);
      const out = new Uint8Array(32 + body.length);
      out.set(body, 32);
      return out;
    };
    expect(() => decodeIbftExtra(withVote([E, Uint8Array.of(2)]))).toThrow(new IbftExtraError('the vote in extraData is neither 0x01 (add) nor empty (drop)'));
    expect(() => decodeIbftExtra(withVote([E, Uint8Array.of(0)]))).toThrow(IbftExtraError);
    expect(() => decodeIbftExtra(withVote([new Uint8Array(19), Uint8Array.of(1)]))).toThrow(/vote candidate of 19 bytes/);
    expect(() => decodeIbftExtra(withVote([E]))).toThrow(/must be \[candidate, authorize\]/);
    expect(() => decodeIbftExtra(withVote([[E], Uint8Array.of(1)]))).toThrow(/must be \[candidate, authorize\]/);
    expect(() => encodeIbftExtra({ ...base, vote: { candidate: new Uint8Array(19), authorize: true } })).toThrow(/vote candidate of 19 bytes/);
  });
});
