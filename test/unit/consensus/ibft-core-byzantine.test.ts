import { createBlockFromRLP, type Block } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, equalsBytes, privateToAddress } from '@ethereumjs/util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { headerOpts } from '../../../src/chain/block-util.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { committedSeal } from '../../../src/consensus/ibft/seal.js';
import { MessageType, encodeEnvelope, type Body } from '../../../src/consensus/ibft/core/messages.js';
import { MAX_PENDING } from '../../../src/consensus/ibft/core/core.js';
import { FileSignedStore, MemorySignedStore } from '../../../src/consensus/ibft/core/sign-journal.js';
import { openMessage, signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { createChainRules } from '../../../src/chain/chain-config.js';
import { testGenesis, testKey } from '../../helpers/chain-fixture.js';
import { GENESIS_MS, IbftNet, hashHex, mockBlock, type MockBackend } from '../../helpers/ibft-net.js';

const ZERO = new Uint8Array(32);

function types(net: IbftNet, i: number, type: number, height = 1n) {
  return net.sentBy(i).filter((b) => b.type === type && b.height === height) as Array<Body & { hash?: Uint8Array; round: number }>;
}

function firstProposal(net: IbftNet, i: number): Block {
  const pp = net.sentBy(i).find((b) => b.type === MessageType.Preprepare)!;
  return createBlockFromRLP((pp as { block: Uint8Array }).block, headerOpts(net.common));
}

describe('IBFT core: hostile messages', () => {
  it('ignores duplicate, forged, late, wrong-round, oversized, malformed and non-validator messages', async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true });
    net.start(0); // validator 0 proposes height 1 round 0; the others are scripted here
    await net.advance(1000);
    const a = firstProposal(net, 0);
    const hash = blockHash(a.header);
    const prepare = (key: Uint8Array, over: Partial<{ height: bigint; round: number; hash: Uint8Array }> = {}) =>
      signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash, ...over }, key);
    const commits = () => types(net, 0, MessageType.Commit).length;
    expect(types(net, 0, MessageType.Prepare).length).toBe(1);

    const v1 = prepare(testKey(1));
    for (let k = 0; k < 3; k++) net.deliver(0, v1); // duplicates count once
    for (const k of [7, 8, 9]) net.deliver(0, prepare(testKey(k))); // not validators
    net.deliver(0, prepare(testKey(2), { height: 0n })); // late (a past height)
    net.deliver(0, prepare(testKey(2), { round: 1 })); // another round
    const forged = prepare(testKey(3));
    const env = RLP.decode(forged) as Uint8Array[];
    const body = Uint8Array.from(env[0]!);
    body[body.length - 1]! ^= 1; // the body changed after signing: another signer
    net.deliver(0, encodeEnvelope({ body, signature: env[1]!, attachment: env[2]! }));
    const badV = Uint8Array.from(env[1]!);
    badV[64] = 7;
    net.deliver(0, encodeEnvelope({ body: env[0]!, signature: badV, attachment: env[2]! }));
    net.deliver(0, encodeEnvelope({ body: env[0]!, signature: env[1]!, attachment: new Uint8Array(16 * 1024 * 1024 + 1) })); // oversized
    net.deliver(0, new Uint8Array([0xc3, 0x01, 0x02])); // not an envelope
    net.deliver(0, forged.subarray(0, forged.length - 3)); // truncated
    net.deliver(0, RLP.encode([RLP.encode([9, 1, 0, hash]), env[1]!, new Uint8Array()])); // unknown type
    await net.settle();
    expect(commits()).toBe(0); // only validator 0's and 1's PREPAREs count: 2 of the 3 needed

    net.deliver(0, prepare(testKey(2))); // validator 2's real PREPARE was not shadowed by its late one
    await net.settle();
    expect(commits()).toBe(1);

    const commit = (key: Uint8Array, sealKey = key) =>
      signMessage({ type: MessageType.Commit, height: 1n, round: 0, hash, seal: committedSeal(a.header, sealKey) }, key);
    net.deliver(0, commit(testKey(1), testKey(3))); // a seal that is not the sender's
    net.deliver(0, commit(testKey(2), testKey(3)));
    net.deliver(0, commit(testKey(8))); // not a validator
    await net.settle();
    expect(net.committed(0).length).toBe(0);
    net.deliver(0, commit(testKey(1)));
    await net.settle();
    expect(net.committed(0).length).toBe(0); // 2 of 3
    net.deliver(0, commit(testKey(2)));
    await net.settle();
    expect(net.committed(0).map(hashHex)).toEqual([bytesToHex(hash)]);
  });

  it('an equivocating proposer cannot get two values committed; the second proposal is ignored', async () => {
    const net = new IbftNet(4);
    net.start(1, 2, 3); // validator 0 is byzantine, scripted below
    const ts = BigInt(net.clock.nowMs / 1000) + 1n;
    const a = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, ts, 1);
    const b = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, ts, 2);
    const pp = (blk: Block) => signMessage({ type: MessageType.Preprepare, height: 1n, round: 0, block: blk.serialize(), roundChanges: [] }, testKey(0));
    net.deliver(1, pp(a));
    net.deliver(2, pp(a));
    net.deliver(3, pp(b));
    await net.settle();
    net.deliver(1, pp(b));
    net.deliver(3, pp(a));
    for (const blk of [a, b]) {
      // the byzantine proposer also votes for both values
      const h = blockHash(blk.header);
      for (const to of [1, 2, 3]) {
        net.deliver(to, signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash: h }, testKey(0)));
        net.deliver(to, signMessage({ type: MessageType.Commit, height: 1n, round: 0, hash: h, seal: committedSeal(blk.header, testKey(0)) }, testKey(0)));
      }
    }
    await net.advance(20_000);
    // (a round's messages are sent again every base timeout while it lasts: the values, not the copies, count)
    const prepared = (i: number) => [
      ...new Set(
        types(net, i, MessageType.Prepare)
          .filter((m) => m.round === 0)
          .map((m) => bytesToHex(m.hash!)),
      ),
    ];
    expect(prepared(1)).toEqual([hashHex(a)]);
    expect(prepared(3)).toEqual([hashHex(b)]);
    const firsts = [1, 2, 3]
      .map((i) => net.committed(i)[0])
      .filter((x) => x !== undefined)
      .map(hashHex);
    expect(firsts.length).toBeGreaterThanOrEqual(2);
    expect(new Set(firsts).size).toBe(1);
    expect(firsts[0]).toBe(hashHex(a));
  });

  it("one proposal a round is executed: a proposer's 200 different proposals that fail late, and their resends, cost one verification", async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true });
    net.start(1);
    await net.advance(10);
    let verified = 0;
    (net.nodes[1]!.backend as MockBackend).accept = () => {
      verified++;
      return false; // a valid header and seal, a wrong state root: found by execution
    };
    const ts = BigInt(Math.floor(net.clock.nowMs / 1000));
    const pps = Array.from({ length: 200 }, (_, v) =>
      signMessage(
        {
          type: MessageType.Preprepare,
          height: 1n,
          round: 0,
          block: mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, ts, v).serialize(),
          roundChanges: [],
        },
        testKey(0),
      ),
    );
    for (const pp of pps) net.deliver(1, pp);
    for (const pp of pps.slice(0, 3)) net.deliver(1, pp); // resends: the same bytes
    await net.settle();
    expect(verified).toBe(1);
    expect(types(net, 1, MessageType.Prepare)).toEqual([]);
  });

  it('large messages wait to be handled up to 64 MiB and 1,024 of them: a flood of them does not shut out the votes behind it', async () => {
    for (const size of [1024 * 1024, 2048]) {
      const net = new IbftNet(4, { scriptedAnswerRecall: true });
      net.start(1);
      await net.advance(10);
      const a = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000)), 1);
      net.deliver(1, signMessage({ type: MessageType.Preprepare, height: 1n, round: 0, block: a.serialize(), roundChanges: [] }, testKey(0)));
      await net.settle();
      expect(types(net, 1, MessageType.Prepare)).toHaveLength(1);
      // Before any of it is handled: more large messages than the queue takes (not messages at all:
      // each is dropped when its turn comes), then the votes that decide the height.
      const junk = new Uint8Array(size);
      for (let k = 0; k < MAX_PENDING + 100; k++) net.deliver(1, junk);
      const hash = blockHash(a.header);
      for (const k of [0, 2]) {
        net.deliver(1, signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash }, testKey(k)));
        net.deliver(1, signMessage({ type: MessageType.Commit, height: 1n, round: 0, hash, seal: committedSeal(a.header, testKey(k)) }, testKey(k)));
      }
      await net.settle();
      expect(net.committed(1).map(hashHex)).toEqual([hashHex(a)]);
    }
  });
});

describe('IBFT core: sign journal', () => {
  it('journals every PREPARE and COMMIT before it leaves', async () => {
    const net = new IbftNet(4);
    let checked = 0;
    net.filter = (from, _to, bytes) => {
      const b = openMessage(bytes).body;
      if (b.type === MessageType.Prepare || b.type === MessageType.Commit) {
        const j = net.nodes[from]!.store.load()!;
        expect([j.height, j.round, bytesToHex(j.hash)]).toEqual([b.height, b.round, bytesToHex(b.hash)]);
        if (b.type === MessageType.Commit) expect(j.kind).toBe('commit');
        checked++;
      }
      return true;
    };
    net.start();
    await net.advance(2000);
    expect(net.committed(0).length).toBe(2);
    expect(checked).toBeGreaterThan(0);
  });

  it('after a restart, refuses to sign a value conflicting with the journal (on disk)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'basalt-ibft-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const net = new IbftNet(4, { store: (i) => (i === 0 ? new FileSignedStore(join(dir, 'consensus')) : new MemorySignedStore()) });
    net.filter = (from) => from !== 0; // validator 0's round-0 proposal A never reaches anyone
    net.start();
    await net.advance(1000);
    const a = firstProposal(net, 0);
    expect(bytesToHex(net.nodes[0]!.store.load()!.hash)).toBe(hashHex(a));
    await net.crash(0);
    net.nodes[0]!.store = new FileSignedStore(join(dir, 'consensus')); // a new process reads the file
    (net.nodes[0]!.backend as MockBackend).vanity = 9; // it would now build another block B for the same slot
    net.nodes[0]!.sent.length = 0;
    net.restart(0);
    await net.advance(100);
    // same height, same round: B conflicts with A, so no PREPREPARE or PREPARE for it
    expect(net.sentBy(0).filter((m) => m.round === 0)).toEqual([]);
    net.filter = () => true;
    await net.advance(5000);
    // the network moves on in later rounds, validator 0 with it, and everyone agrees
    const first = [0, 1, 2, 3].map((i) => net.committed(i)[0]).map((x) => x && hashHex(x));
    expect(new Set(first).size).toBe(1);
    expect(first[0]).not.toBe(hashHex(a));
  });

  it('a validator that saw a value prepared does not sign another one on a certificate that ignores it', async () => {
    const { genesis, keys } = testGenesis(4);
    const validators = keys.map((k) => privateToAddress(k));
    const a = mockBlock(createChainRules(genesis).commonAt(1n), testKey(0), validators, 1n, ZERO, BigInt(GENESIS_MS / 1000) + 1n, 1);
    const aHash = blockHash(a.header);
    const prepares = [0, 1, 2].map((k) => signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash: aHash }, testKey(k)));
    const locked = new MemorySignedStore({
      height: 1n,
      round: 0,
      hash: aHash,
      kind: 'commit',
      prepared: { round: 0, hash: aHash, prepares, block: a.serialize() },
    });
    const net = new IbftNet(4, { store: (i) => (i === 0 ? locked : new MemorySignedStore()), scriptedAnswerRecall: true });
    net.filter = () => false; // scripted messages only
    net.start(0, 2);
    await net.advance(100);
    const rcs = [1, 2, 3].map((k) => signMessage({ type: MessageType.RoundChange, height: 1n, round: 1 }, testKey(k)));
    const c = mockBlock(net.common, testKey(1), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000)), 3);
    const pp = signMessage({ type: MessageType.Preprepare, height: 1n, round: 1, block: c.serialize(), roundChanges: rcs }, testKey(1));
    for (const to of [0, 2]) net.deliver(to, pp);
    await net.settle();
    const preparedC = (i: number) => types(net, i, MessageType.Prepare).some((m) => m.round === 1 && equalsBytes(m.hash!, blockHash(c.header)));
    expect(preparedC(2)).toBe(true); // a validator with nothing prepared follows the certificate
    expect(preparedC(0)).toBe(false); // validator 0 saw A prepared at round 0: the certificate must show it
    // its own ROUND-CHANGE carries A's certificate and block, so a proposer must re-propose A
    const rc = net.nodes[0]!.sent.map((x) => openMessage(x)).find((m) => m.body.type === MessageType.RoundChange)!;
    expect(bytesToHex((rc.body as { prepared?: { hash: Uint8Array } }).prepared!.hash)).toBe(bytesToHex(aHash));
    expect(bytesToHex(blockHash(createBlockFromRLP(rc.attachment, headerOpts(net.common)).header))).toBe(bytesToHex(aHash));
  });
});
