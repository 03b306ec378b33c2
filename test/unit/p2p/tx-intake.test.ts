import type { PeerId } from '@libp2p/interface';
import { describe, expect, it } from 'vitest';
import { TxIntake, type TxIntakeLimits, type TxOutcome } from '../../../src/p2p/tx-intake.js';
import { MessageError } from '../../../src/p2p/messages.js';

let peers = 0;
/** The intake only tells peers apart by their string form. */
const peer = async (): Promise<PeerId> => {
  const id = `peer-${++peers}`;
  return { toString: () => id, equals: (other: unknown) => String(other) === id } as unknown as PeerId;
};
const raw = (i: number) => new Uint8Array([i & 0xff, i >> 8]);

/** An intake whose clock the test moves, validating with `outcome` and recording what it saw. */
function intake(outcome: (peer: PeerId, raw: Uint8Array) => TxOutcome | Promise<TxOutcome>, limits: Partial<TxIntakeLimits> = {}) {
  let now = 1_000_000;
  const validated: string[] = [];
  const bans: { peer: string; reason: string }[] = [];
  const drops: string[] = [];
  const i = new TxIntake({
    validate: async (p, r) => {
      validated.push(p.toString());
      return outcome(p, r);
    },
    onBan: (p, reason) => bans.push({ peer: p.toString(), reason }),
    onDrop: (reason) => drops.push(reason),
    limits,
    now: () => now,
  });
  return { i, validated, bans, drops, advance: (ms: number) => (now += ms) };
}

describe('TxIntake: gossiped transactions per peer', () => {
  it('maps outcomes to gossip verdicts: accepted relays, invalid is rejected, the rest ignored; a thrown decode error reaches the caller', async () => {
    const a = await peer();
    const outcomes: TxOutcome[] = ['accepted', 'refused', 'unexecutable', 'invalid'];
    const t = intake((_p, r) => outcomes[r[0]!]!);
    expect(await Promise.all(outcomes.map((_o, k) => t.i.submit(a, raw(k))))).toEqual(['accept', 'ignore', 'ignore', 'reject']);
    const thrower = new TxIntake({ validate: async () => Promise.reject(new MessageError('cannot be decoded')), onBan: () => undefined });
    await expect(thrower.submit(a, raw(0))).rejects.toThrow(/cannot be decoded/);
  });

  it("drops a peer's transactions past its rate before they are validated, and lets it go on as the bucket refills", async () => {
    const a = await peer();
    const t = intake(() => 'accepted', { perPeerRate: 10, perPeerBurst: 5 });
    const verdicts = await Promise.all(Array.from({ length: 8 }, (_v, k) => t.i.submit(a, raw(k))));
    expect(verdicts.filter((v) => v === 'accept')).toHaveLength(5);
    expect(t.validated).toHaveLength(5);
    expect(t.drops.filter((d) => d === 'tx-rate')).toHaveLength(3);
    t.advance(200); // two tokens
    expect(await Promise.all([t.i.submit(a, raw(9)), t.i.submit(a, raw(10)), t.i.submit(a, raw(11))])).toEqual(['accept', 'accept', 'ignore']);
  });

  it("bounds one peer's queue while another peer is still served", async () => {
    const [a, b] = [await peer(), await peer()];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = intake(
      async (): Promise<TxOutcome> => {
        await gate;
        return 'accepted';
      },
      { concurrency: 1, perPeerQueue: 3 },
    );
    const fromA = Array.from({ length: 7 }, (_v, k) => t.i.submit(a, raw(k))); // one being validated, three waiting, three dropped
    const fromB = t.i.submit(b, raw(100));
    await new Promise((r) => setImmediate(r));
    release();
    const va = await Promise.all(fromA);
    expect(va.filter((v) => v === 'ignore')).toHaveLength(3);
    expect(t.drops.filter((d) => d === 'tx-queue')).toHaveLength(3);
    expect(await fromB).toBe('accept');
  });

  it("serves peers round-robin: one peer's backlog does not delay another's transaction", async () => {
    const [a, b] = [await peer(), await peer()];
    const t = intake(() => 'accepted', { concurrency: 1 });
    const fromA = Array.from({ length: 50 }, (_v, k) => t.i.submit(a, raw(k)));
    const fromB = t.i.submit(b, raw(100));
    await Promise.all([...fromA, fromB]);
    expect(t.validated.indexOf(b.toString())).toBeLessThanOrEqual(2);
  });

  it('starts each validation on a fresh turn of the event loop: a message arriving meanwhile is handled before the backlog is worked off', async () => {
    const a = await peer();
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const t = intake(
      () => {
        busy(2); // a signature recovery and a state read, synchronously
        return 'accepted';
      },
      { concurrency: 2 },
    );
    const all = Array.from({ length: 100 }, (_v, k) => t.i.submit(a, raw(k)));
    let doneWhenConsensusRan = -1;
    setTimeout(() => (doneWhenConsensusRan = t.validated.length), 0); // an IBFT message, as I/O would deliver it
    await Promise.all(all);
    expect(doneWhenConsensusRan).toBeGreaterThanOrEqual(0);
    expect(doneWhenConsensusRan).toBeLessThan(20);
  });

  it('throttles a peer whose transactions are mostly refused: one in sampleEvery is validated, the rest are dropped unread', async () => {
    const a = await peer();
    const t = intake(() => 'refused', { throttleAfter: 10, sampleEvery: 10, banAfter: 1000 });
    for (let k = 0; k < 11; k++) await t.i.submit(a, raw(k));
    expect(t.i.isThrottled(a)).toBe(true);
    const before = t.validated.length;
    for (let k = 0; k < 100; k++) await t.i.submit(a, raw(k));
    expect(t.validated.length - before).toBe(10);
    expect(t.drops.filter((d) => d === 'tx-throttled')).toHaveLength(90);
    expect(t.bans).toEqual([]); // refusals that are no one's fault are never a ban
    t.advance(60_000); // the minute passes: the peer is heard in full again
    expect(t.i.isThrottled(a)).toBe(false);
  });

  it('bans a peer past banAfter faults a minute, once; a relayer whose faults are few against what it got accepted is not banned', async () => {
    const [bad, honest] = [await peer(), await peer()];
    const t = intake((p, r) => (p.equals(honest) ? (r[0]! % 10 === 0 ? 'unexecutable' : 'accepted') : 'unexecutable'), {
      banAfter: 20,
      throttleAfter: 1000,
      perPeerRate: 1e6,
      perPeerBurst: 1e6,
    });
    for (let k = 0; k < 40; k++) await t.i.submit(bad, raw(k));
    expect(t.bans).toHaveLength(1);
    expect(t.bans[0]).toMatchObject({ peer: bad.toString() });
    expect(t.bans[0]!.reason).toMatch(/^sent 21 transactions per minute that can never execute/);
    for (let k = 0; k < 400; k++) await t.i.submit(honest, raw(k)); // 40 faults, 360 accepted
    expect(t.bans).toHaveLength(1);
  });

  it('forgets peers beyond its bound (fresh identities cannot grow memory) and stops cleanly', async () => {
    const t = intake(() => 'accepted');
    const peers = await Promise.all(Array.from({ length: 1030 }, () => peer()));
    for (const p of peers) await t.i.submit(p, raw(0));
    expect((t.i as unknown as { peers: Map<string, unknown> }).peers.size).toBeLessThanOrEqual(1024);
    t.i.stop();
    expect(await t.i.submit(peers[0]!, raw(1))).toBe('ignore');
  });
});
