import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/consensus/ibft/core/messages.js';
import { openMessage, signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { IbftNet } from '../../helpers/ibft-net.js';

/*
 * A second process running one validator's key (a key backup started while its original still runs):
 * once its journal is complete (the start guard lifted), a message of its key that this process did
 * not sign shows another process holds the key, and it signs nothing more. Its own messages, coming
 * back however they come, never do.
 */

/** Advance 100 ms at a time until `pred` holds (at most 30 s of the fake clock). */
async function until(net: IbftNet, pred: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !pred(); i++) await net.advance(100);
  expect(pred()).toBe(true);
}

/** The network past the start guard (a block proposed 15 s after the start is committed). */
async function pastGuard(): Promise<IbftNet> {
  const net = new IbftNet(4, { baseTimeoutMs: 1000 });
  net.start();
  await net.advance(20_000);
  expect(net.committed(1).length).toBeGreaterThan(15);
  return net;
}

describe('IBFT: a second instance of a validator key', () => {
  it('a PREPARE of its key it did not sign, at the height it decides: it signs nothing more, and the others go on', async () => {
    const net = await pastGuard();
    const height = net.nodes[1]!.core.position!.height;
    net.deliver(1, signMessage({ type: MessageType.Prepare, height, round: 0, hash: randomBytes(32) }, net.keys[1]!));
    await net.settle();
    expect(net.nodes[1]!.core.refused).toMatch(/another process signs with this validator's key/);
    const sent = net.nodes[1]!.sent.length;
    const before = net.committed(0).length;
    await net.advance(20_000);
    expect(net.nodes[1]!.sent.length, 'messages node 1 signed after it saw its twin').toBe(sent);
    expect(net.committed(0).length - before, 'blocks the three others committed meanwhile').toBeGreaterThan(10);
    expect(net.nodes[1]!.core.refused).toMatch(/another process/);
  });

  it('a PREPARE of its key for the next height (kept until it gets there): refused there', async () => {
    const net = await pastGuard();
    const height = net.nodes[1]!.core.position!.height + 1n;
    net.deliver(1, signMessage({ type: MessageType.Prepare, height, round: 0, hash: randomBytes(32) }, net.keys[1]!));
    await net.advance(3_000);
    expect(net.nodes[1]!.core.refused).toMatch(/another process/);
  });

  it('its own messages sent back to it (relayed, replayed, inside certificates), across round changes: it keeps signing', async () => {
    const net = await pastGuard();
    // Rounds change: validator 3 is away and 0 hears nobody for a while, so no height has a quorum.
    net.filter = (from, to) => to !== 0 && from !== 3 && to !== 3;
    await net.advance(6_000);
    net.filter = () => true;
    const replay = async () => {
      for (const bytes of net.nodes[1]!.sent) net.deliver(1, bytes);
      await net.settle();
    };
    for (let i = 0; i < 10; i++) {
      await replay();
      await net.advance(1_000);
    }
    await replay();
    const roundsPast0 = net.sentBy(1).filter((m) => m.round > 0).length;
    expect(roundsPast0, 'messages of node 1 in rounds past 0').toBeGreaterThan(0);
    expect(net.nodes[1]!.core.refused).toBeUndefined();
    const sent = net.nodes[1]!.sent.length;
    await net.advance(3_000);
    expect(net.nodes[1]!.sent.length).toBeGreaterThan(sent);
  });

  it('its own messages of earlier rounds, long after this process stopped keeping their signatures: it keeps signing', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, maxTimeoutMs: 2000 });
    net.start();
    await net.advance(20_000);
    // No COMMIT reaches anyone: round after round at one height, each with its proposal and PREPAREs,
    // well past the signatures a process keeps of its own (4 x MAX_ROUNDS_AHEAD).
    net.filter = (_from, _to, bytes) => openMessage(bytes).body.type !== MessageType.Commit;
    const height = net.nodes[1]!.core.position!.height;
    const mark = net.nodes[1]!.sent.length;
    await net.advance(100_000);
    const atHeight = net.nodes[1]!.sent.slice(mark);
    expect(
      net
        .sentBy(1)
        .slice(mark)
        .filter((m) => m.type === MessageType.Prepare && m.height === height).length,
    ).toBeGreaterThan(20);
    expect(net.nodes[1]!.core.position!.round).toBeGreaterThan(45);
    for (const bytes of atHeight) net.deliver(1, bytes);
    await net.settle();
    expect(net.nodes[1]!.core.refused).toBeUndefined();
    net.filter = () => true;
    const before = net.committed(1).length;
    await net.advance(60_000);
    expect(net.committed(1).length).toBeGreaterThan(before);
    expect(net.nodes[1]!.core.refused).toBeUndefined();
  });

  it('its height started again in the same process (a pause), the proposal resent: its PREPARE again keeps the journal at its COMMIT, and its own COMMIT coming back is its own', async () => {
    const net = await pastGuard();
    // No COMMIT reaches anyone: node 1 prepares and commits the height's proposal, which nobody decides.
    net.filter = (_from, _to, bytes) => openMessage(bytes).body.type !== MessageType.Commit;
    const height = net.nodes[1]!.core.position!.height;
    await until(net, () => net.nodes[1]!.store.load()?.kind === 'commit' && net.nodes[1]!.store.load()?.height === height);
    const round = net.nodes[1]!.store.load()!.round;
    const sent = net.nodes[1]!.sent.map((b) => ({ b, m: openMessage(b).body }));
    const commit = sent.find(({ m }) => m.type === MessageType.Commit && m.height === height && m.round === round)!.b;
    const proposal = net.nodes
      .flatMap((n) => n.sent)
      .find((b) => {
        const m = openMessage(b).body;
        return m.type === MessageType.Preprepare && m.height === height && m.round === round;
      })!;
    // Sealing paused and resumed (disk low, a peer ahead): the core stops and starts at the same height.
    await net.nodes[1]!.core.stop();
    net.nodes[1]!.core.start();
    await net.settle();
    net.deliver(1, proposal);
    await net.settle();
    expect(net.nodes[1]!.store.load()?.kind).toBe('commit');
    net.deliver(1, commit);
    await net.settle();
    expect(net.nodes[1]!.core.refused).toBeUndefined();
  });

  it('during the start guard a message of its key is its lost self, journaled, not a twin', async () => {
    const net = new IbftNet(4, { baseTimeoutMs: 1000, scriptedAnswerRecall: true });
    net.filter = () => false;
    net.start(1);
    await net.advance(100);
    net.deliver(1, signMessage({ type: MessageType.Prepare, height: 1n, round: 2, hash: randomBytes(32) }, net.keys[1]!));
    await net.settle();
    expect(net.nodes[1]!.store.load()?.round).toBe(2);
    expect(net.nodes[1]!.core.refused).toBeUndefined();
  });
});
