import type { Block } from '@ethereumjs/block';
import { randomBytes } from 'node:crypto';
import { RLP } from '@ethereumjs/rlp';
import { createLegacyTx } from '@ethereumjs/tx';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { MessageError, MessageType, encodeEnvelope } from '../../../src/consensus/ibft/core/messages.js';
import { committedSeal } from '../../../src/consensus/ibft/seal.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';
import { MAX_RECALL_MESSAGES, openRecallAnswer, openRecallRequest, signRecallAnswer, signRecallRequest } from '../../../src/consensus/ibft/core/recall.js';
import { MemorySignedStore, NOTHING_SIGNED, setDigest } from '../../../src/consensus/ibft/core/sign-journal.js';
import { openMessage, signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { privateKeyToAddress } from '../../../src/keys/address.js';
import { testKey } from '../../helpers/chain-fixture.js';
import { IbftNet, hashHex, mockBlock, type MockBackend } from '../../helpers/ibft-net.js';

const ZERO = new Uint8Array(32);

/** Every (height, round) at which node i's key signed more than one value, across all its incarnations. */
function doubleSigned(sent: Uint8Array[]): string[] {
  const values = new Map<string, Set<string>>();
  for (const bytes of sent) {
    const { body } = openMessage(bytes);
    let v: string | undefined;
    if (body.type === MessageType.Prepare || body.type === MessageType.Commit) v = bytesToHex(body.hash);
    if (v === undefined) continue;
    const k = `${body.height}/${body.round}`;
    values.set(k, (values.get(k) ?? new Set()).add(v));
  }
  return [...values].filter(([, s]) => s.size > 1).map(([k, s]) => `${k}: ${[...s].join(' ')}`);
}

describe('IBFT recall: a validator that lost its journal never signs twice', () => {
  it('restored while the network is halted at a height it proposed: it journals what the others held of its key, signs nothing until they commit a block proposed after its start, then keeps to it', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 4000 });
    net.start();
    await net.advance(16_000); // running for a while: every process knows its journal is complete
    // Cut validators 2 and 3 off right before a height whose round-0 proposer is validator 0.
    for (let k = 0; k < 50; k++) {
      const last = net.committed(0).at(-1)!;
      if (last.header.coinbase.toString() === net.nodes[3]!.address && net.nodes[0]!.core.position?.height === last.header.number + 1n) break;
      await net.advance(100);
    }
    const cut = (i: number) => i === 2 || i === 3;
    net.filter = (from, to) => !cut(from) && !cut(to);
    net.link = (from, to) => !cut(from) && !cut(to);
    const h = net.committed(0).length + 1;
    await net.advance(1500);
    // Validator 0 proposed A at height h, round 0, and prepared it; only validator 1 heard it. Halted.
    const aHash = net.sentBy(0).find((m) => m.type === MessageType.Prepare && m.height === BigInt(h) && m.round === 0) as { hash: Uint8Array } | undefined;
    expect(aHash).toBeDefined();
    expect(net.committed(1)).toHaveLength(h - 1);
    const before = [...net.nodes[0]!.sent];
    // Validator 0's disk is lost: a new process with no journal (a restored snapshot, `secrets restore`)
    // that would build another block B for the same slot.
    await net.crash(0);
    net.nodes[0]!.store = new MemorySignedStore();
    (net.nodes[0]!.backend as MockBackend).vanity = 9;
    net.nodes[0]!.sent.length = 0;
    net.restart(0);
    await net.advance(5000);
    // Only validator 1 answers: with itself 2 of the quorum of 3. It sits the height out: it signs nothing.
    expect(net.nodes[0]!.core.watching).toBe(true);
    expect(net.sentBy(0)).toEqual([]);
    // Validator 1 held validator 0's PREPREPARE and PREPARE for A: they are journaled already.
    const j = net.nodes[0]!.store.load()!;
    expect([j.height, j.round, bytesToHex(j.hash)]).toEqual([BigInt(h), 0, bytesToHex(aHash!.hash)]);

    // Validator 2 is back: a quorum answers, but a restored journal is not ended by answers (one could
    // lie): validator 0 still signs nothing, and validators 1 and 2 are no quorum without it.
    net.filter = (from, to) => from !== 3 && to !== 3;
    net.link = (from, to) => from !== 3 && to !== 3;
    await net.advance(5000);
    expect(net.nodes[0]!.core.watching).toBe(true);
    expect(net.sentBy(0)).toEqual([]);
    expect(net.committed(1)).toHaveLength(h - 1);
    // Validator 3 is back too: the three decide height h without it, and once they commit a block
    // proposed after its start, validator 0 takes part, never against what it signed.
    net.filter = () => true;
    net.link = () => true;
    await net.advance(20_000);
    expect(net.nodes[0]!.core.watching).toBe(false);
    expect(net.sentBy(0).some((m) => m.type === MessageType.Commit)).toBe(true);
    for (const i of [0, 1, 2, 3]) expect(net.committed(i).length).toBeGreaterThanOrEqual(h);
    const at = new Set([0, 1, 2, 3].map((i) => hashHex(net.committed(i)[h - 1]!)));
    expect(at.size).toBe(1);
    expect(doubleSigned([...before, ...net.nodes[0]!.sent])).toEqual([]);
    // Its round-0 messages at height h after the restore (if any) are for A only, and it proposed nothing there.
    for (const m of net.sentBy(0).filter((b) => b.height === BigInt(h) && b.round === 0)) {
      expect(m.type).not.toBe(MessageType.Preprepare);
      if (m.type === MessageType.Prepare || m.type === MessageType.Commit) expect(bytesToHex(m.hash)).toBe(bytesToHex(aHash!.hash));
    }
  });

  it('with nobody answering its recall, a restarted validator listens and signs nothing until a block proposed after its start is committed', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    net.link = (from, to) => from !== 0 && to !== 0; // gossip reaches validator 0, recall does not
    net.start();
    await net.advance(10_000);
    expect(net.committed(1).length).toBeGreaterThan(5); // the other three are a quorum
    expect(net.committed(0).length).toBe(net.committed(1).length); // it follows the commits it hears
    expect(net.nodes[0]!.sent).toEqual([]);
    expect(net.nodes[0]!.core.watching).toBe(true);
    await net.advance(10_000); // past the 15 s a proposer's clock may run ahead of its start
    expect(net.nodes[0]!.core.watching).toBe(false);
    expect(net.sentBy(0).some((m) => m.type === MessageType.Commit)).toBe(true);
  });

  it('stops asking once a block proposed after the process started is committed (the journal is complete from there)', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000 });
    net.start();
    await net.advance(3000);
    const asked = net.recallAnswers.get(0) ?? 0;
    expect(asked).toBeGreaterThan(0);
    await net.advance(16_000); // past the 15 s a proposer's clock may run ahead
    const later = net.recallAnswers.get(0) ?? 0;
    await net.advance(5000);
    expect(net.recallAnswers.get(0) ?? 0).toBe(later);
    expect(net.committed(0).length).toBeGreaterThan(15);
  });

  it('journals a message of its own key that reaches it from the network (a second instance) before signing anything else', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, scriptedAnswerRecall: true });
    net.filter = () => false;
    net.start(1);
    await net.advance(100);
    const hash = new Uint8Array(32).fill(5);
    net.deliver(1, signMessage({ type: MessageType.Prepare, height: 1n, round: 2, hash }, testKey(1)));
    await net.settle();
    const j = net.nodes[1]!.store.load()!;
    expect([j.height, j.round, j.kind, bytesToHex(j.hash)]).toEqual([1n, 2, 'prepare', bytesToHex(hash)]);
  });
});

describe('IBFT recall: a validator started without its sign journal past genesis', () => {
  it('takes no number of recall answers for the truth (a byzantine proposer answers empty): it signs nothing at the height until the others commit a block proposed after its start', async () => {
    // Block 1 (proposed by validator 0) is every node's head, and every journal but the restored one's
    // shows it: validator 1 proposes round 0 of height 2.
    const net = new IbftNet(4, { scriptedAnswerRecall: true, store: () => new MemorySignedStore({ height: 1n, round: 0, hash: ZERO, kind: 'commit' }) });
    const one = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000)));
    for (const n of net.nodes) await (n.backend as MockBackend).onCommit(one);
    const proposal = (vanity: number) => {
      const b = mockBlock(net.common, testKey(1), net.validators, 2n, blockHash(one.header), BigInt(Math.floor(net.clock.nowMs / 1000)), vanity);
      return {
        hash: blockHash(b.header),
        msg: signMessage({ type: MessageType.Preprepare, height: 2n, round: 0, block: b.serialize(), roundChanges: [] }, testKey(1)),
      };
    };
    const prepared = (hash: Uint8Array) =>
      net.sentBy(0).some((m) => m.type === MessageType.Prepare && m.height === 2n && m.round === 0 && equalsBytes(m.hash, hash));
    // Validator 0 alone is up (its journal shows block 1: a normal restart; the others answer its recall
    // with nothing). Validator 1 sends it a proposal A for (2, 0): it prepares A.
    net.start(0);
    await net.advance(100);
    const a = proposal(1);
    net.deliver(0, a.msg);
    await net.settle();
    expect(prepared(a.hash)).toBe(true);
    const before = [...net.nodes[0]!.sent];
    // Its disk is lost: a new process without a journal. Two validators answer its recall, with nothing
    // (validator 3 knows nothing; validator 1 lies): with itself, the quorum of 3.
    await net.crash(0);
    net.nodes[0]!.store = new MemorySignedStore();
    net.nodes[0]!.sent.length = 0;
    net.link = (from, to) => from !== 2 && to !== 2;
    net.restart(0);
    await net.advance(100);
    expect(net.recallAnswers.get(0)).toBeGreaterThanOrEqual(2);
    // Validator 1 now sends it another block B for (2, 0): B would be committed by 0, 1 and 2.
    const b = proposal(2);
    net.deliver(0, b.msg);
    await net.advance(5000);
    expect(prepared(b.hash)).toBe(false);
    expect(net.sentBy(0)).toEqual([]);
    expect(net.nodes[0]!.core.watching).toBe(true);
    // The others come back and decide without it; once they commit a block proposed after its start (its
    // clock may run 15 s ahead of it), validator 0 takes part.
    net.link = () => true;
    net.start(1, 2, 3);
    await net.advance(10_000);
    expect(net.committed(1).length).toBeGreaterThan(3);
    expect(net.sentBy(0)).toEqual([]);
    await net.advance(10_000);
    expect(net.nodes[0]!.core.watching).toBe(false);
    expect(net.sentBy(0).some((m) => m.type === MessageType.Commit)).toBe(true);
    expect(hashHex(net.committed(0)[1]!)).toBe(hashHex(net.committed(1)[1]!));
    expect(doubleSigned([...before, ...net.nodes[0]!.sent])).toEqual([]);
  });
});

describe('IBFT core: a journal that says its key signed nothing (a key made here)', () => {
  it('two validators past genesis, one of whose keys has signed nothing yet: it recalls as a restart does and the chain goes on; without any journal (restored) it would wait for a block the other cannot make alone', async () => {
    for (const journal of [NOTHING_SIGNED, undefined]) {
      const net = new IbftNet(2, {
        scriptedAnswerRecall: true,
        store: (i) => (i === 0 ? new MemorySignedStore({ height: 1n, round: 0, hash: ZERO, kind: 'commit' }) : new MemorySignedStore(journal)),
      });
      const one = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000) - 60));
      for (const n of net.nodes) await (n.backend as MockBackend).onCommit(one);
      net.start();
      await net.advance(30_000);
      if (journal === undefined) expect(net.committed(0), 'blocks after block 1, with no journal').toHaveLength(1);
      else expect(net.committed(0).length, 'blocks after block 1, with the journal of a new key').toBeGreaterThan(10);
    }
  });
});

describe('IBFT core: a restored data dir that starts at the genesis (a full sync from peers that came late)', () => {
  it("reaches the network's head with nothing signed here: recall answers do not end its wait there", async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true, store: (i) => (i === 0 ? new MemorySignedStore() : new MemorySignedStore(NOTHING_SIGNED)) });
    net.filter = () => false; // scripted messages only
    net.start(0);
    await net.advance(6_000); // no peer: it starts height 1 at the genesis
    // Block 1, ten minutes old, comes from a peer (synced), then validator 1's proposal for height 2.
    const one = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000) - 600));
    await (net.nodes[0]!.backend as MockBackend).onCommit(one);
    net.nodes[0]!.core.headChanged();
    await net.advance(3_000);
    expect(net.nodes[0]!.core.position?.height).toBe(2n);
    expect(net.recallAnswers.get(0)).toBeGreaterThanOrEqual(2);
    const b = mockBlock(net.common, testKey(1), net.validators, 2n, blockHash(one.header), BigInt(Math.floor(net.clock.nowMs / 1000)));
    net.deliver(0, signMessage({ type: MessageType.Preprepare, height: 2n, round: 0, block: b.serialize(), roundChanges: [] }, testKey(1)));
    await net.advance(5_000);
    expect(net.sentBy(0).filter((m) => m.height === 2n)).toEqual([]);
  });
});

describe('IBFT core: a key outside the set at its start, without a journal', () => {
  it('once a block proposed after its start is committed, its journal is complete: "signed nothing" is saved, so a restart recalls as a normal one', async () => {
    const net = new IbftNet(4, { store: (i) => new MemorySignedStore(i === 0 ? undefined : NOTHING_SIGNED) });
    // Validator 0's key is in no set: it follows the chain the other three decide.
    for (const n of net.nodes) (n.backend as MockBackend).validators = () => net.validators.slice(1);
    net.start();
    await net.advance(5_000);
    expect(net.nodes[0]!.store.load()).toBeUndefined();
    await net.advance(20_000);
    expect(net.committed(0).length).toBeGreaterThan(15);
    expect(net.nodes[0]!.store.load()).toEqual(NOTHING_SIGNED);
  });

  it('at an old head (no peer answered before the start: a backup from before the key was voted in), then in the set: it waits for a block proposed after its start, not for recall answers', async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true, store: (i) => new MemorySignedStore(i === 0 ? undefined : NOTHING_SIGNED) });
    const tenMinutesAgo = BigInt(Math.floor(net.clock.nowMs / 1000) - 600);
    const one = mockBlock(net.common, testKey(1), net.validators, 1n, ZERO, tenMinutesAgo);
    const two = mockBlock(net.common, testKey(2), net.validators, 2n, blockHash(one.header), tenMinutesAgo + 2n);
    const zero = net.nodes[0]!.backend as MockBackend;
    for (const n of net.nodes) await (n.backend as MockBackend).onCommit(one);
    // Validator 0's key is voted in by block 2: outside the set of block 2, in the set from block 3.
    zero.validators = (height?: bigint) => (height !== undefined && height <= 2n ? net.validators.slice(1) : net.validators);
    net.start(0);
    await net.advance(100);
    expect(net.nodes[0]!.core.refused).toMatch(/not in the validator set/);
    // It catches up (block 2, ten minutes old, from a peer) and is in the set: the others answer its
    // recall with nothing, a quorum with itself, which shows nothing of what its lost self signed.
    await zero.onCommit(two);
    net.nodes[0]!.core.headChanged();
    await net.advance(3000);
    expect(net.nodes[0]!.core.position?.height).toBe(3n);
    expect(net.recallAnswers.get(0)).toBeGreaterThanOrEqual(2);
    expect(net.nodes[0]!.core.watching).toBe(true);
    expect(net.sentBy(0)).toEqual([]);
  });
});

describe('IBFT core: a ROUND-CHANGE is journaled before it is sent', () => {
  it('killed after leaving round 0, a validator restarts in the round it asked for: the round-0 PREPAREs replayed make no COMMIT there, and it sends one ROUND-CHANGE body per round', async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true });
    net.filter = () => false; // scripted messages only
    net.start(1);
    await net.advance(10);
    const a = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000)));
    const hash = blockHash(a.header);
    const proposal = signMessage({ type: MessageType.Preprepare, height: 1n, round: 0, block: a.serialize(), roundChanges: [] }, testKey(0));
    net.deliver(1, proposal);
    await net.advance(2500); // it prepares A, round 0 times out (a block time and a base timeout): ROUND-CHANGE for round 1
    expect(net.sentBy(1).some((m) => m.type === MessageType.RoundChange && m.round === 1)).toBe(true);
    await net.crash(1);
    net.restart(1);
    await net.advance(10);
    // The round-0 proposal and PREPAREs of validators 0 and 2 arrive (late, or replayed).
    net.deliver(1, proposal);
    for (const k of [0, 2]) net.deliver(1, signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash }, testKey(k)));
    await net.advance(3000);
    expect(net.sentBy(1).filter((m) => m.type === MessageType.Commit && m.round === 0)).toEqual([]);
    const bodies = new Map<number, Set<string>>();
    for (const bytes of net.nodes[1]!.sent) {
      const m = openMessage(bytes);
      if (m.body.type !== MessageType.RoundChange) continue;
      const [body] = RLP.decode(bytes) as Uint8Array[];
      bodies.set(m.body.round, (bodies.get(m.body.round) ?? new Set()).add(bytesToHex(body!)));
    }
    expect(bodies.size).toBeGreaterThan(0);
    for (const [round, set] of bodies) expect(set.size, `ROUND-CHANGE bodies of round ${round}`).toBe(1);
  });
});

describe('IBFT recall: what others hold of a validator', () => {
  it('copies of its PREPARE with other attachments (anyone can make them) take none of its places: its COMMIT is still told, every message without attachment', async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true });
    net.start(1);
    await net.advance(10);
    const a = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, 1n, 0);
    const hash = blockHash(a.header);
    const v = testKey(2);
    const prepare = signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash }, v);
    net.deliver(1, prepare);
    net.deliver(1, signMessage({ type: MessageType.Commit, height: 1n, round: 0, hash, seal: committedSeal(a.header, v) }, v));
    const [body, signature] = RLP.decode(prepare) as Uint8Array[];
    for (let k = 0; k < 2 * MAX_RECALL_MESSAGES; k++) net.deliver(1, encodeEnvelope({ body: body!, signature: signature!, attachment: randomBytes(64) }));
    await net.settle();
    const told = openRecallAnswer(net.nodes[1]!.core.answerRecall(signRecallRequest(1n, new Uint8Array(32), v)), 1 << 24).messages.map((m) => openMessage(m));
    expect(told.map((m) => m.body.type)).toEqual([MessageType.Prepare, MessageType.Commit]);
    expect(told.map((m) => m.attachment.length)).toEqual([0, 0]);
  });
});

describe('IBFT core: a ROUND-CHANGE whose prepared block is not the one it signs', () => {
  it('is not counted: a proposer that did not see the prepared proposal re-proposes it as it was, not with a body a peer put in its place', async () => {
    const net = new IbftNet(4, { scriptedAnswerRecall: true });
    net.start(1); // proposer of round 1; it never saw validator 0's round-0 proposal A
    await net.advance(10);
    const a = mockBlock(net.common, testKey(0), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000)), 0);
    const hash = blockHash(a.header);
    const prepares = [0, 2, 3].map((k) => signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash }, testKey(k)));
    const rc = (k: number, attachment: Uint8Array) =>
      signMessage({ type: MessageType.RoundChange, height: 1n, round: 1, prepared: { round: 0, hash, prepares } }, testKey(k), attachment);
    const tx = createLegacyTx({ nonce: 0n, gasLimit: 21_000n, gasPrice: 1n, value: 1n, to: new Uint8Array(20) }, { common: net.common }).sign(testKey(3));
    const swapped = RLP.encode([a.header.raw(), [tx.raw()], []]); // A's header (its hash), another body
    for (const k of [0, 2, 3]) net.deliver(1, rc(k, swapped));
    await net.advance(3000);
    for (const k of [0, 2, 3]) net.deliver(1, rc(k, a.serialize()));
    await net.advance(100);
    const proposed = net.sentBy(1).filter((m) => m.type === MessageType.Preprepare) as Array<{ round: number; block: Uint8Array }>;
    expect(proposed.length).toBeGreaterThan(0);
    for (const p of proposed) expect(bytesToHex(p.block)).toBe(bytesToHex(a.serialize()));
  });
});

describe('IBFT recall: nothing to learn for a validator that did not lose anything', () => {
  it('its own ROUND-CHANGEs coming back inside others\' certificates are not "learned" (journaled once, before sending, never again from a certificate)', async () => {
    const saves = new Map<number, string[]>();
    const net = new IbftNet(4, {
      baseTimeoutMs: 1000,
      store: (i) => {
        const m = new MemorySignedStore();
        const save = m.save.bind(m);
        m.save = async (st) => {
          saves.set(i, [...(saves.get(i) ?? []), `${st.kind} ${st.height}/${st.round}`]);
          await save(st);
        };
        return m;
      },
    });
    net.start(1, 2, 3); // validator 0, proposer of height 1 round 0, is down: round changes with certificates
    await net.advance(8000);
    expect(net.committed(1).length).toBeGreaterThan(0);
    for (const i of [1, 2, 3]) {
      const rc = (saves.get(i) ?? []).filter((k) => k.startsWith('roundChange'));
      const sent = net.sentBy(i).filter((m) => m.type === MessageType.RoundChange);
      expect(rc.length).toBeGreaterThan(0);
      expect(new Set(rc).size).toBe(rc.length);
      expect(rc.sort()).toEqual([...new Set(sent.map((m) => `roundChange ${m.height}/${m.round}`))].sort());
    }
  });
});

describe('IBFT recall messages', () => {
  const req = { height: 7n, requester: privateKeyToAddress(testKey(0)), nonce: new Uint8Array(32).fill(3) };
  const signedReq = signRecallRequest(req.height, req.nonce, testKey(0));

  it('round-trips a signed request and a signed answer, and recovers the asking and the answering validator', () => {
    const r = openRecallRequest(signedReq);
    expect(r).toEqual(req);
    const m = signMessage({ type: MessageType.Prepare, height: 7n, round: 0, hash: new Uint8Array(32) }, testKey(0));
    const a = openRecallAnswer(signRecallAnswer(r, [m], testKey(2)), 1 << 20);
    expect(bytesToHex(a.signer)).toBe(bytesToHex(privateKeyToAddress(testKey(2))));
    expect(a.messages).toEqual([m]);
    expect(a.height).toBe(7n);
  });

  it('refuses malformed, oversized and tampered input with a MessageError (a changed message names another signer)', () => {
    expect(() => openRecallRequest(new Uint8Array(200))).toThrow(MessageError);
    expect(() => openRecallRequest(new Uint8Array([0xc0]))).toThrow(/must be/);
    expect(() => openRecallRequest(signRecallRequest(7n, new Uint8Array(8), testKey(0)))).toThrow(/nonce/);
    const tamperedReq = Uint8Array.from(signedReq);
    tamperedReq[2]! ^= 1; // the height
    let asker: string | undefined;
    try {
      asker = bytesToHex(openRecallRequest(tamperedReq).requester);
    } catch (err) {
      expect(err).toBeInstanceOf(MessageError);
    }
    expect(asker).not.toBe(bytesToHex(req.requester));
    const answer = signRecallAnswer(req, [], testKey(2));
    expect(() => openRecallAnswer(answer, answer.length - 1)).toThrow(/at most/);
    expect(() => openRecallAnswer(answer.subarray(0, answer.length - 2), 1 << 20)).toThrow(MessageError);
    const many = Array.from({ length: MAX_RECALL_MESSAGES + 1 }, () => new Uint8Array(1));
    expect(() => openRecallAnswer(signRecallAnswer(req, many, testKey(2)), 1 << 20)).toThrow(/at most/);
    const other = signRecallAnswer({ ...req, nonce: new Uint8Array(32).fill(4) }, [], testKey(2));
    // The same signature over another nonce recovers some other address, never validator 2.
    const forged = Uint8Array.from(answer);
    forged.set(other.subarray(other.length - 65), forged.length - 65);
    let signer: string | undefined;
    try {
      signer = bytesToHex(openRecallAnswer(forged, 1 << 20).signer);
    } catch (err) {
      expect(err).toBeInstanceOf(MessageError);
    }
    expect(signer).not.toBe(bytesToHex(privateKeyToAddress(testKey(2))));
  });
});

describe('IBFT recall: a lock learned from its lost self binds the restored validator', () => {
  /** Validator 0 with an empty journal (restored), its own `learned` message delivered, then a round-`round` proposal of another block C on ROUND-CHANGEs without certificates. */
  async function afterLearning(
    learned: ((a: Block, aHash: Uint8Array) => Uint8Array) | undefined,
    round: number,
    store?: (aHash: Uint8Array, set: Uint8Array[]) => MemorySignedStore,
  ) {
    const probe = new IbftNet(4);
    const aBlock = (at: IbftNet) => mockBlock(at.common, testKey(0), at.validators, 1n, ZERO, BigInt(Math.floor(at.clock.nowMs / 1000)), 1);
    const stored = store?.(blockHash(aBlock(probe).header), probe.validators);
    const net = new IbftNet(4, { scriptedAnswerRecall: true, ...(stored ? { store: (i: number) => (i === 0 ? stored : new MemorySignedStore()) } : {}) });
    net.filter = () => false; // scripted messages only
    net.start(0, 2);
    await net.advance(100);
    const a = aBlock(net);
    const aHash = blockHash(a.header);
    if (learned) net.deliver(0, learned(a, aHash));
    await net.settle();
    if (round > 33) {
      // F+1 validators ask for that round: too far ahead to be kept, they move this node there
      for (const k of [1, 2]) net.deliver(0, signMessage({ type: MessageType.RoundChange, height: 1n, round: round - 1 }, testKey(k)));
      for (const k of [1, 2]) net.deliver(2, signMessage({ type: MessageType.RoundChange, height: 1n, round: round - 1 }, testKey(k)));
      await net.settle();
    }
    const rcs = [1, 2, 3].map((k) => signMessage({ type: MessageType.RoundChange, height: 1n, round }, testKey(k)));
    const c = mockBlock(net.common, testKey(round % 4), net.validators, 1n, ZERO, BigInt(Math.floor(net.clock.nowMs / 1000)), 3);
    const pp = signMessage({ type: MessageType.Preprepare, height: 1n, round, block: c.serialize(), roundChanges: rcs }, testKey(round % 4));
    for (const to of [0, 2]) net.deliver(to, pp);
    await net.settle();
    const preparedC = (i: number) =>
      net.sentBy(i).some((m) => m.type === MessageType.Prepare && m.round === round && equalsBytes((m as { hash: Uint8Array }).hash, blockHash(c.header)));
    return { net, aHash, preparedC };
  }

  it('its own COMMIT of A at round 0: no PREPARE for another block at round 1 on a certificate that does not show A', async () => {
    const { net, aHash, preparedC } = await afterLearning(
      (_a, h) => signMessage({ type: MessageType.Commit, height: 1n, round: 0, hash: h, seal: new Uint8Array(65) }, testKey(0)),
      1,
    );
    expect(preparedC(2)).toBe(true); // a validator with nothing locked follows the certificate
    expect(preparedC(0)).toBe(false);
    const j = net.nodes[0]!.store.load()!;
    // It moved to round 1 (its ROUND-CHANGE there journaled), the lock kept.
    expect([j.kind, j.round, j.lock?.round, j.lock && bytesToHex(j.lock.hash)]).toEqual(['roundChange', 1, 0, bytesToHex(aHash)]);
  });

  it('its own ROUND-CHANGE of round 1 carrying A prepared at round 0: no PREPARE for another block at round 2', async () => {
    const { net, aHash, preparedC } = await afterLearning((a, h) => {
      const prepares = [0, 1, 2].map((k) => signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash: h }, testKey(k)));
      return signMessage({ type: MessageType.RoundChange, height: 1n, round: 1, prepared: { round: 0, hash: h, prepares } }, testKey(0), a.serialize());
    }, 2);
    expect(preparedC(2)).toBe(true);
    expect(preparedC(0)).toBe(false);
    const j = net.nodes[0]!.store.load()!;
    expect([j.kind, j.round, j.lock?.round, j.lock && bytesToHex(j.lock.hash)]).toEqual(['roundChange', 2, 0, bytesToHex(aHash)]);
  });

  it('its own COMMIT of a round too far ahead to be kept is journaled too: after the round jump, no PREPARE against it', async () => {
    const { net, aHash, preparedC } = await afterLearning(
      (_a, h) => signMessage({ type: MessageType.Commit, height: 1n, round: 40, hash: h, seal: new Uint8Array(65) }, testKey(0)),
      41,
    );
    expect(net.nodes[0]!.core.position?.round).toBeGreaterThanOrEqual(40); // it followed F+1 validators there
    const j = net.nodes[0]!.store.load()!;
    expect([j.lock?.round, j.lock && bytesToHex(j.lock.hash)]).toEqual([40, bytesToHex(aHash)]);
    expect(preparedC(0)).toBe(false);
  });

  it('a lock learned under another validator set (an emergency change since) is released at restart; one of this set is not', async () => {
    const other = setDigest([new Uint8Array(20).fill(1)]);
    const journal = (set: Uint8Array) => (aHash: Uint8Array) =>
      new MemorySignedStore({ height: 1n, round: 0, hash: new Uint8Array(32), kind: 'roundChange', lock: { round: 0, hash: aHash, set } });
    const released = await afterLearning(undefined, 1, journal(other));
    expect(released.preparedC(0)).toBe(true);
    expect(released.net.nodes[0]!.store.load()!.lock).toBeUndefined();
    const kept = await afterLearning(undefined, 1, (h, set) => journal(setDigest(set))(h));
    expect(kept.preparedC(0)).toBe(false);
  });

  it("its own ROUND-CHANGE carrying a certificate another set made (not this height's) teaches no lock", async () => {
    const { net, preparedC } = await afterLearning((a, h) => {
      const prepares = [20, 21, 22].map((k) => signMessage({ type: MessageType.Prepare, height: 1n, round: 0, hash: h }, testKey(k)));
      return signMessage({ type: MessageType.RoundChange, height: 1n, round: 1, prepared: { round: 0, hash: h, prepares } }, testKey(0), a.serialize());
    }, 2);
    expect(net.nodes[0]!.store.load()!.lock).toBeUndefined();
    expect(preparedC(0)).toBe(true);
  });
});
