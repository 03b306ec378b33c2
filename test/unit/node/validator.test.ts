import { openRecallRequest, signRecallAnswer } from '../../../src/consensus/ibft/core/recall.js';
import { QuorumRule } from '../../../src/consensus/ibft/validators.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/consensus/ibft/core/messages.js';
import { openMessage, signMessage } from '../../../src/consensus/ibft/core/signing.js';
import { Validator, defaultIbftBaseTimeoutMs } from '../../../src/node/consensus.js';
import type { Network } from '../../../src/node/network.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { silentLogger } from '../../../src/util/log.js';
import { createTestChain, testKey } from '../../helpers/chain-fixture.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
});

/** The part of Network the validator uses: where accepted IBFT messages go, and what it publishes. */
/** The node's Network as the validator uses it; the other validators (keys 0, 2, 3) answer recall requests holding nothing of its. */
function fakeNetwork() {
  const net = {
    sink: undefined as ((m: Uint8Array) => void) | undefined,
    recallServer: undefined as ((req: Uint8Array) => Uint8Array) | undefined,
    published: [] as Uint8Array[],
    recalls: 0,
    setConsensusSink(s: ((m: Uint8Array) => void) | undefined) {
      net.sink = s;
    },
    setRecallServer(s: ((req: Uint8Array) => Uint8Array) | undefined) {
      net.recallServer = s;
    },
    publishConsensus(m: Uint8Array) {
      net.published.push(m);
    },
    recall(req: Uint8Array, onAnswer: (a: Uint8Array) => void) {
      net.recalls++;
      for (const k of [0, 2, 3]) onAnswer(signRecallAnswer(openRecallRequest(req), [], testKey(k)));
    },
  };
  return net;
}

describe('Validator (the IBFT core in the node)', () => {
  it('the default round 0 timeout is max(2 s, 2 x block time)', () => {
    expect(defaultIbftBaseTimeoutMs(500)).toBe(2000);
    expect(defaultIbftBaseTimeoutMs(1000)).toBe(2000);
    expect(defaultIbftBaseTimeoutMs(5000)).toBe(10_000);
  });

  it('is fed messages only while running: paused (behind its peers, disk full) the core is stopped and gets nothing', async () => {
    const t = await createTestChain(4);
    cleanup.push(() => t.close());
    const dir = mkdtempSync(join(tmpdir(), 'basalt-consensus-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const net = fakeNetwork();
    // validator 1 is not the proposer of height 1: it only answers what it hears
    const v = await Validator.create({
      chain: t.chain,
      network: net as unknown as Network,
      txs: new TxPool(t.chain),
      key: testKey(1),
      consensusDir: dir,
      blockTimeMs: 1000,
      baseTimeoutMs: 60_000,
      logger: silentLogger(),
      quorum: QuorumRule.OPTIMAL,
    });
    cleanup.push(() => v.stop());
    v.pause('behind the network');
    v.start();
    expect(v.sealing).toBe(false);
    expect(net.sink).toBeUndefined();
    v.resume();
    expect(v.sealing).toBe(true);
    expect(net.sink).toBeDefined();
    await v.core.idle();
    expect(v.core.position).toEqual({ height: 1n, round: 0 });
    await v.core.idle(); // the recall answers were queued by the first task
    // A process just started learns what its key signed here from a quorum (recall) before signing; it answers others' recalls.
    expect(net.recalls).toBeGreaterThan(0);
    expect(v.core.watching).toBe(false);
    expect(net.recallServer).toBeDefined();

    // A ROUND-CHANGE for round 1 from F+1 = 2 validators moves a running core there: it sends its own and,
    // proposer of round 1 with a quorum of them, proposes and prepares.
    const rc = (i: number) => signMessage({ type: MessageType.RoundChange, height: 1n, round: 1 }, testKey(i));
    v.pause('behind the network');
    expect(net.sink).toBeUndefined();
    await v.core.idle();
    v.resume();
    await v.core.idle();
    const before = net.published.length;
    net.sink!(rc(2));
    net.sink!(rc(3));
    await v.core.idle();
    expect(v.core.position).toEqual({ height: 1n, round: 1 });
    expect(net.published.slice(before).map((m) => openMessage(m).body.type)).toEqual([MessageType.RoundChange, MessageType.Preprepare, MessageType.Prepare]);

    await v.stop();
    expect(net.sink).toBeUndefined();
    expect(v.sealing).toBe(false);
  });
});
