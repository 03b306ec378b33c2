import { randomBytes } from 'node:crypto';
import { RLP } from '@ethereumjs/rlp';
import { createLegacyTx } from '@ethereumjs/tx';
import { bytesToHex, privateToAddress } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { MessageType, encodeEnvelope } from '../../../src/consensus/ibft/core/messages.js';
import { signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { Strikes, banKind } from '../../../src/p2p/bans.js';
import { IbftGossipCheck, MAX_VOTE_BYTES, REPEAT_MS } from '../../../src/p2p/ibft-gossip-check.js';
import { MAX_IBFT_GOSSIP_BYTES, MessageError } from '../../../src/p2p/messages.js';
import { createChainRules } from '../../../src/chain/chain-config.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { mockBlock } from '../../helpers/ibft-net.js';

const validators = new Set([0, 1, 2, 3].map((i) => bytesToHex(privateToAddress(testKey(i)))));
const hash = new Uint8Array(32).fill(1);

/** A block of height 11 proposed by validator 0 of the four (what the PREPREPAREs and certificates name), and its rules. */
function blockAt11() {
  const common = createChainRules(testGenesis(4).genesis).commonAt(1n);
  const validators = [...Array(4).keys()].map((i) => privateToAddress(testKey(i)));
  return { common, block: mockBlock(common, testKey(0), validators, 11n, new Uint8Array(32), 1n) };
}

function setup(head = 10n) {
  let now = 1_000_000;
  const check = new IbftGossipCheck({ head: () => head, isValidator: (a) => validators.has(bytesToHex(a)), validatorCount: () => 4 }, () => now);
  return { check, tick: (ms: number) => (now += ms) };
}

const prepare = (key: number, over: Partial<{ height: bigint; round: number }> = {}) =>
  signMessage({ type: MessageType.Prepare, height: 11n, round: 0, hash, ...over }, testKey(key));

describe('IBFT gossip checks, cheapest first', () => {
  it('accepts a validator’s message for the next heights, once', () => {
    const { check } = setup();
    const m = prepare(1);
    const r = check.check(m);
    expect(r.verdict).toBe('accept');
    expect(bytesToHex(r.message!.sender)).toBe(bytesToHex(privateToAddress(testKey(1))));
    expect(check.check(prepare(1, { height: 12n })).verdict).toBe('accept');
  });

  it("a candidate the head's next block may add (one vote from a majority) is a validator for the height after that block only; a stranger never is; once that block did not add it, what was relayed meanwhile is no one's fault", () => {
    const joining = bytesToHex(privateToAddress(testKey(4)));
    const check = new IbftGossipCheck({
      head: () => 10n,
      isValidator: (a) => validators.has(bytesToHex(a)),
      isJoining: (a) => bytesToHex(a) === joining,
      validatorCount: () => 4,
    });
    expect(check.check(prepare(4, { height: 12n })).verdict).toBe('accept');
    expect(check.check(prepare(4, { height: 11n }))).toMatchObject({ verdict: 'reject', reason: 'non-validator' });
    expect(check.check(prepare(9, { height: 12n }))).toMatchObject({ verdict: 'reject', reason: 'non-validator' });
    // Without candidates (a restored node, votes unknown), the head's set only, as before.
    const { check: plain } = setup();
    expect(plain.check(prepare(4, { height: 12n }))).toMatchObject({ verdict: 'reject', reason: 'non-validator' });
    // The head's block could have added it and did not: nodes a block behind relayed its message for the
    // next height in good faith: ignored, not counted against them ('unjoined'); a stranger's still is.
    const after = new IbftGossipCheck({
      head: () => 11n,
      isValidator: (a) => validators.has(bytesToHex(a)),
      wasJoining: (a) => bytesToHex(a) === joining,
      validatorCount: () => 4,
    });
    expect(after.check(prepare(4, { height: 12n }))).toMatchObject({ verdict: 'ignore', reason: 'unjoined' });
    expect(after.check(prepare(9, { height: 12n }))).toMatchObject({ verdict: 'reject', reason: 'non-validator' });
    expect(after.check(prepare(4, { height: 13n }))).toMatchObject({ verdict: 'reject', reason: 'non-validator' });
  });

  it('ignores stale and far-future heights without recovering a signature', () => {
    const { check } = setup();
    expect(check.check(prepare(1, { height: 10n }))).toEqual({ verdict: 'ignore', reason: 'stale', behind: 0n });
    expect(check.check(prepare(1, { height: 10n }))).toEqual({ verdict: 'ignore', reason: 'stale', behind: 0n });
    expect(check.check(prepare(1, { height: 7n }))).toEqual({ verdict: 'ignore', reason: 'stale', behind: 3n });
    expect(check.recoveries).toBe(0);
  });

  it('a replay costs a hash lookup: ignored as a duplicate without a second recovery; the same message may come again after a second', () => {
    const { check, tick } = setup();
    const m = prepare(2);
    check.check(m);
    for (let i = 0; i < 100; i++) expect(check.check(m)).toEqual({ verdict: 'ignore', reason: 'duplicate' });
    expect(check.recoveries).toBe(1);
    tick(REPEAT_MS - 1);
    expect(check.check(m).reason).toBe('duplicate');
    tick(1);
    expect(check.check(m).verdict).toBe('accept'); // its sender repeats the round's messages every base timeout
    expect(check.check(m).reason).toBe('duplicate');
  });

  it('a proposer restarted mid-round proposes its block again with another round-change certificate: relayed; another block is still equivocation', () => {
    const { check } = setup();
    const rcs = [1, 2, 3].map((k) => signMessage({ type: MessageType.RoundChange, height: 11n, round: 1 }, testKey(k)));
    const pp = (block: Uint8Array, roundChanges: Uint8Array[]) =>
      signMessage({ type: MessageType.Preprepare, height: 11n, round: 1, block, roundChanges }, testKey(0));
    const block = Uint8Array.of(0xc1, 1);
    expect(check.check(pp(block, rcs)).verdict).toBe('accept');
    expect(check.check(pp(block, [rcs[2]!, rcs[0]!, rcs[1]!])).verdict).toBe('accept');
    expect(check.check(pp(block, rcs.slice(1))).verdict).toBe('accept');
    expect(check.check(pp(Uint8Array.of(0xc1, 2), rcs))).toEqual({ verdict: 'ignore', reason: 'equivocation' });
  });

  it("relays one PREPREPARE per validator, height and round: the validator's second, different one is not relayed (no peer blamed); copies of the first are, a second apart", () => {
    const { check, tick } = setup();
    const pp = (key: number, v: number, round = 0) =>
      signMessage({ type: MessageType.Preprepare, height: 11n, round, block: Uint8Array.of(0xc1, v), roundChanges: [] }, testKey(key));
    expect(check.check(pp(1, 1)).verdict).toBe('accept');
    expect(check.check(pp(1, 2))).toEqual({ verdict: 'ignore', reason: 'equivocation' });
    expect(check.check(pp(1, 2, 1)).verdict).toBe('accept'); // another round
    expect(check.check(pp(2, 2)).verdict).toBe('accept'); // another validator
    tick(REPEAT_MS);
    expect(check.check(pp(1, 1)).verdict).toBe('accept');
    expect(check.check(pp(1, 3)).reason).toBe('equivocation');
  });

  it("only a ROUND-CHANGE's prepared block travels unsigned, and only the block its certificate names: any other attachment is ignored (no blame), before and after the signed original, which then is a repeat", () => {
    const { check, tick } = setup();
    const { common, block } = blockAt11();
    const blockHash_ = blockHash(block.header);
    const junk = randomBytes(4096);
    const pp = signMessage({ type: MessageType.Preprepare, height: 11n, round: 0, block: block.serialize(), roundChanges: [] }, testKey(0), junk);
    const ignored = { verdict: 'ignore', reason: 'attachment' };
    expect(check.check(pp)).toEqual(ignored);
    expect(check.check(signMessage({ type: MessageType.Prepare, height: 11n, round: 0, hash }, testKey(1), junk.subarray(0, 100)))).toEqual(ignored);
    expect(
      check.check(signMessage({ type: MessageType.Commit, height: 11n, round: 0, hash, seal: new Uint8Array(65) }, testKey(1), junk.subarray(0, 100))),
    ).toEqual(ignored);
    // A ROUND-CHANGE carrying the block prepared at round 0, as signed, and as a peer could re-wrap it.
    const prepares = [0, 1, 2].map((k) => signMessage({ type: MessageType.Prepare, height: 11n, round: 0, hash: blockHash_ }, testKey(k)));
    const body = { type: MessageType.RoundChange, height: 11n, round: 1, prepared: { round: 0, hash: blockHash_, prepares } } as const;
    const rc = (attachment: Uint8Array) => signMessage(body, testKey(1), attachment);
    const tx = createLegacyTx({ nonce: 0n, gasLimit: 21_000n, gasPrice: 1n, value: 1n, to: new Uint8Array(20) }, { common }).sign(testKey(3));
    const otherBody = RLP.encode([block.header.raw(), [tx.raw()], []]); // its header, but not its transactions
    const other = mockBlock(common, testKey(0), [privateToAddress(testKey(0))], 11n, new Uint8Array(32), 1n, 7).serialize();
    expect(check.check(rc(otherBody))).toEqual(ignored); // its header, not its transactions
    expect(check.check(rc(other))).toEqual(ignored);
    expect(check.check(rc(junk))).toEqual(ignored);
    expect(check.check(rc(new Uint8Array(0)))).toEqual(ignored);
    // Its transactions are checked (a trie of up to 4 MiB) only for a block F+1 validators prepared.
    const forgedPrepares = [7, 8].map((k) => signMessage({ type: MessageType.Prepare, height: 11n, round: 0, hash: blockHash_ }, testKey(k)));
    const uncertified = signMessage({ ...body, prepared: { ...body.prepared, prepares: forgedPrepares } }, testKey(1), otherBody);
    expect(check.check(uncertified)).toEqual({ verdict: 'ignore', reason: 'uncertified' });
    expect(check.check(rc(block.serialize())).verdict).toBe('accept');
    // after it: a copy with junk attached is no repeat of the relayer's (repeats count toward a ban), the original is
    expect(check.check(rc(junk))).toEqual(ignored);
    expect(check.check(rc(block.serialize()))).toEqual({ verdict: 'ignore', reason: 'duplicate' });
    tick(REPEAT_MS);
    expect(check.check(rc(otherBody))).toEqual(ignored);
    expect(check.check(rc(block.serialize())).verdict).toBe('accept');
  });

  it('mixed versions: a copy of an honest PREPARE or ROUND-CHANGE re-wrapped with junk (as a node of the previous release relays it) is ignored without blame, and the signed original is taken after it', () => {
    const { check } = setup();
    const { common, block } = blockAt11();
    const h = blockHash(block.header);
    const rewrap = (signed: Uint8Array, attachment: Uint8Array) => {
      const [body, signature] = RLP.decode(signed) as Uint8Array[];
      return encodeEnvelope({ body: body!, signature: signature!, attachment });
    };
    const honestPrepare = prepare(2);
    const ignored = { verdict: 'ignore', reason: 'attachment' };
    expect(check.check(rewrap(honestPrepare, randomBytes(200)))).toEqual(ignored); // no MessageError: the relayer is not banned
    expect(check.check(honestPrepare).verdict).toBe('accept');
    const prepares = [0, 1, 2].map((k) => signMessage({ type: MessageType.Prepare, height: 11n, round: 0, hash: h }, testKey(k)));
    const honestRc = signMessage(
      { type: MessageType.RoundChange, height: 11n, round: 1, prepared: { round: 0, hash: h, prepares } },
      testKey(3),
      block.serialize(),
    );
    expect(check.check(rewrap(honestRc, randomBytes(300)))).toEqual(ignored);
    const tx = createLegacyTx({ nonce: 0n, gasLimit: 21_000n, gasPrice: 1n, value: 1n, to: new Uint8Array(20) }, { common }).sign(testKey(3));
    expect(check.check(rewrap(honestRc, RLP.encode([block.header.raw(), [tx.raw()], []])))).toEqual(ignored); // its header, other transactions
    expect(check.check(honestRc).verdict).toBe('accept');
    // Once the original is seen, a re-wrapped copy is still no repeat of the relayer's (a repeat counts
    // toward a ban): ignored as an attachment fault, while the original again is a repeat.
    expect(check.check(rewrap(honestRc, randomBytes(300)))).toEqual(ignored);
    expect(check.check(honestRc)).toEqual({ verdict: 'ignore', reason: 'duplicate' });
  });

  it('a ROUND-CHANGE resent with the same prepared block costs neither the certificate recoveries nor a transactions root; another attachment for that block is ignored at once', () => {
    const { check, tick } = setup();
    const { common, block } = blockAt11();
    const h = blockHash(block.header);
    const prepares = [0, 1, 2].map((k) => signMessage({ type: MessageType.Prepare, height: 11n, round: 0, hash: h }, testKey(k)));
    const rc = (key: number, attachment: Uint8Array) =>
      signMessage({ type: MessageType.RoundChange, height: 11n, round: 1, prepared: { round: 0, hash: h, prepares } }, testKey(key), attachment);
    expect(check.check(rc(3, block.serialize())).verdict).toBe('accept');
    expect([check.recoveries, check.rootsComputed]).toEqual([3, 1]); // the sender and F+1 = 2 PREPAREs
    const before = check.recoveries;
    tick(REPEAT_MS);
    expect(check.check(rc(3, block.serialize())).verdict).toBe('accept');
    expect(check.check(rc(1, block.serialize())).verdict).toBe('accept'); // another validator's, same block
    expect([check.recoveries - before, check.rootsComputed]).toEqual([2, 1]); // the senders only
    const tx = createLegacyTx({ nonce: 0n, gasLimit: 21_000n, gasPrice: 1n, value: 1n, to: new Uint8Array(20) }, { common }).sign(testKey(3));
    expect(check.check(rc(2, RLP.encode([block.header.raw(), [tx.raw()], []])))).toEqual({ verdict: 'ignore', reason: 'attachment' });
    expect([check.recoveries - before, check.rootsComputed]).toEqual([2, 1]);
  });

  it('rejects a message signed outside the validator set (after one recovery), and remembers it', () => {
    const { check } = setup();
    const m = prepare(9);
    expect(check.check(m)).toEqual({ verdict: 'reject', reason: 'non-validator' });
    expect(check.check(m).reason).toBe('duplicate');
    expect(check.recoveries).toBe(1);
  });

  it('throws (the peer is banned) for undecodable, oversized-for-its-type and badly signed messages, before any recovery where the bytes alone tell', () => {
    const { check } = setup();
    expect(() => check.check(new Uint8Array(MAX_IBFT_GOSSIP_BYTES + 1))).toThrow(MessageError);
    expect(() => check.check(new Uint8Array([0xc3, 1, 2]))).toThrow(/cannot be decoded/);
    // A PREPARE padded past what a PREPARE can be: an attachment of junk.
    const fat = signMessage({ type: MessageType.Prepare, height: 11n, round: 0, hash }, testKey(1), new Uint8Array(MAX_VOTE_BYTES));
    expect(() => check.check(fat)).toThrow(/PREPARE of \d+ bytes/);
    // A ROUND-CHANGE without a prepared certificate that carries a block anyway.
    const rcJunk = signMessage({ type: MessageType.RoundChange, height: 11n, round: 1 }, testKey(1), new Uint8Array(10));
    expect(() => check.check(rcJunk)).toThrow(/carries a block/);
    // A prepared certificate longer than the validator set.
    const many = Array.from({ length: 5 }, () => prepare(1));
    const rcMany = signMessage({ type: MessageType.RoundChange, height: 11n, round: 1, prepared: { round: 0, hash, prepares: many } }, testKey(1));
    expect(() => check.check(rcMany)).toThrow(/more than the 4 validators/);
    const ppMany = signMessage({ type: MessageType.Preprepare, height: 11n, round: 1, block: new Uint8Array([0xc0]), roundChanges: many }, testKey(1));
    expect(() => check.check(ppMany)).toThrow(/more than the 4 validators/);
    expect(check.recoveries).toBe(0);
    // A signature that recovers to nothing.
    const bad = Uint8Array.from(prepare(1));
    bad[bad.length - 2]! ^= 0xff;
    bad[bad.length - 3] = 0xff;
    expect(() => check.check(bad)).toThrow(MessageError);
  });
});

describe('strikes and ban reasons', () => {
  it('counts offences per peer over a sliding minute', () => {
    let now = 0;
    const s = new Strikes(3, 60_000, () => now);
    expect([s.hit('a'), s.hit('a'), s.hit('a')]).toEqual([false, false, false]);
    expect(s.hit('b')).toBe(false);
    expect(s.hit('a')).toBe(true);
    now += 60_000;
    expect(s.hit('a')).toBe(false); // the old ones left the window
  });

  it('weighs an offence by what it cost: a heavy one counts as several', () => {
    let now = 0;
    const s = new Strikes(10, 60_000, () => now);
    expect([s.hit('a', 4), s.hit('a', 4)]).toEqual([false, false]);
    expect(s.hit('a', 4)).toBe(true);
    now += 30_000;
    expect(s.hit('b', 10)).toBe(false);
    expect(s.hit('b', 1)).toBe(true);
    now += 60_000;
    expect(s.hit('a', 4)).toBe(false);
  });

  it('labels ban reasons with a small fixed set', () => {
    expect(banKind('peer runs another chain (chain ID 5 …)')).toBe('wrong-chain');
    expect(banKind('sent an invalid block: bad state root')).toBe('invalid-data');
    expect(banKind('relayed IBFT messages signed by keys outside the validator set (more than 10 in a minute)')).toBe('flood');
    expect(banKind('IBFT message cannot be decoded: x')).toBe('ibft');
    expect(banKind('claims blocks it does not serve (head, 3 times in a row)')).toBe('false-head');
    expect(banKind('something else')).toBe('protocol');
  });
});
