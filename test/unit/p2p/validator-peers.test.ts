import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PeerId } from '@libp2p/interface';
import type { GossipSub } from '@chainsafe/libp2p-gossipsub';
import { createHost, HANDSHAKE_HEADROOM, type Host } from '../../../src/p2p/host.js';
import { STATUS_PROTOCOL, serveStatus } from '../../../src/p2p/handshake.js';
import { VALIDATOR_SCORE, colocationPenalty, type ColocationState } from '../../../src/p2p/scoring.js';
import { createTestChain } from '../../helpers/chain-fixture.js';
import { until, nodesStoppedAfterEach } from './net-fixture.js';

const { cleanup, node } = nodesStoppedAfterEach();

async function bareHost(isValidator?: (p: string) => boolean): Promise<Host> {
  const host = await createHost({
    key: randomBytes(32),
    host: '127.0.0.1',
    port: 0,
    maxPeers: 50,
    isBanned: () => false,
    ...(isValidator ? { isValidator } : {}),
  });
  cleanup.push(() => Promise.resolve(host.stop()));
  return host;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Dial, retrying: libp2p takes at most 5 inbound connections a second from one address (all of
 * these come from 127.0.0.1), so dials are spaced by 250 ms and a refused one is tried again.
 */
async function dialSpaced(from: Host, to: Host): Promise<void> {
  for (let i = 0; ; i++) {
    await sleep(250);
    const ok = await from.dial(to.getMultiaddrs()[0]!).then(
      () => true,
      (err: Error) => {
        if (i >= 10) throw err;
        return false;
      },
    );
    if (ok) return;
  }
}

const scoreOf = (host: Host, peer: PeerId) => (host.services.pubsub as unknown as GossipSub).getScore(peer.toString());

describe('gossipsub scoring of validators', () => {
  it('P6 as gossipsub computes it: surplus² x 5 per crowded address, whitelisted addresses aside', () => {
    const ips = new Map<string, Set<string>>([
      ['10.0.0.1', new Set(Array.from({ length: 15 }, (_, i) => `p${i}`))],
      ['10.0.0.2', new Set(['p0', 'q'])],
    ]);
    const state = (whitelist: string[] = []) =>
      ({
        params: { IPColocationFactorThreshold: 10, IPColocationFactorWeight: -5, IPColocationFactorWhitelist: new Set(whitelist) },
        peerStats: new Map([
          ['p0', { knownIPs: new Set(['10.0.0.1', '10.0.0.2']) }],
          ['q', { knownIPs: new Set(['10.0.0.2']) }],
        ]),
        peerIPs: ips,
      }) as unknown as ColocationState;
    expect(colocationPenalty('p0', state())).toBe(125);
    expect(colocationPenalty('q', state())).toBe(0);
    expect(colocationPenalty('unknown', state())).toBe(0);
    expect(colocationPenalty('p0', state(['10.0.0.1']))).toBe(0);
  });

  it('with 15 peers from one address the others are graylisted, a validator among them scores VALIDATOR_SCORE', async () => {
    let validator = '';
    const hub = await bareHost((p) => p === validator);
    const peers = await Promise.all(Array.from({ length: 15 }, () => bareHost()));
    validator = peers[0]!.peerId.toString();
    for (const p of peers) await dialSpaced(p, hub);
    const pubsub = hub.services.pubsub as unknown as GossipSub;
    await until(() => pubsub.score.peerStats.size === 15, 'gossipsub scoring all 15');
    // Scores are cached for a heartbeat: wait until they reflect all 15 on the one address.
    await until(() => scoreOf(hub, peers[1]!.peerId) === -125, 'an idle peer at 5 x (15 - 10)²', 5_000);
    expect(scoreOf(hub, peers[0]!.peerId)).toBe(VALIDATOR_SCORE);
    for (const p of peers.slice(1)) expect(scoreOf(hub, p.peerId)).toBeLessThan(pubsub.opts.scoreThresholds.graylistThreshold);
  });
});

describe('slots and redial for validators', () => {
  it('non-validators fill --max-peers less one slot per other validator; the validators still get in', async () => {
    const t = await createTestChain(3);
    cleanup.push(() => t.close());
    // maxPeers 3 with two other validators: one slot for everyone else.
    const a = await node(t.chain, { validatorKey: t.keys[0], maxPeers: 3 });
    const plain1 = await node(t.chain, { bootnodes: [a.addr] });
    await until(() => a.net.peerManager.isReady(plain1.net.host.peerId), 'first plain peer ready');
    const plain2 = await node(t.chain, { bootnodes: [a.addr] });
    await sleep(1_000); // its handshake is over by then
    expect(a.net.peerManager.isReady(plain2.net.host.peerId)).toBe(false);
    expect(a.net.peerManager.banned(plain2.net.host.peerId)).toBeUndefined(); // no slot is no offence
    const v1 = await node(t.chain, { validatorKey: t.keys[1], bootnodes: [a.addr] });
    const v2 = await node(t.chain, { validatorKey: t.keys[2], bootnodes: [a.addr] });
    await until(() => [v1, v2].every((v) => a.net.peerManager.isReady(v.net.host.peerId)), 'both validators ready');
    expect(a.net.peerManager.isReady(plain1.net.host.peerId)).toBe(true);
    expect(a.net.peerCount()).toBe(3);
  });

  it('a known validator is let in while peers in the handshake take all the headroom, an unknown peer is not', async () => {
    const t = await createTestChain(2);
    cleanup.push(() => t.close());
    const a = await node(t.chain, { validatorKey: t.keys[0], maxPeers: 1 });
    const key = randomBytes(32);
    let v = await node(t.chain, { validatorKey: t.keys[1], key, bootnodes: [a.addr] });
    await until(() => a.net.peerManager.isValidator(v.net.host.peerId), 'validator proven');
    const port = Number(v.addr.split('/')[4]);
    await v.net.stop();
    // Peers that never answer the status request: they hold their connection for the handshake's 5 s.
    const stallers = await Promise.all(Array.from({ length: HANDSHAKE_HEADROOM }, () => bareHost()));
    for (const s of stallers) await s.handle(STATUS_PROTOCOL, () => undefined);
    for (const s of stallers) await dialSpaced(s, a.net.host);
    const late = await bareHost(); // a staller too: let in, it would stay connected for seconds
    await late.handle(STATUS_PROTOCOL, () => undefined);
    await sleep(250);
    await late.dial(a.net.host.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
    await sleep(100);
    expect(late.getConnections(a.net.host.peerId)).toHaveLength(0); // refused by the gater
    v = await node(t.chain, { validatorKey: t.keys[1], key, port, bootnodes: [a.addr] });
    await until(() => a.net.peerManager.isReady(v.net.host.peerId), 'the validator back', 3_000);
  });

  it('--max-inbound-peers: a peer that dialled in is inbound by its connection, though it only answers the status (idle peers); past the limit the next is refused', async () => {
    const t = await createTestChain(1);
    cleanup.push(() => t.close());
    const hub = await node(t.chain, { maxInbound: 1 });
    // As test/helpers/idle-peers.mjs: each answers the hub's status request and never asks its own, so
    // the only exchange that ends is the hub's request (it took them all for peers it dialled).
    const idle = await Promise.all([0, 1, 2].map(() => bareHost()));
    const status = { chainId: t.chain.chainId, genesisHash: t.chain.genesisHash, headNumber: 0n, headHash: t.chain.genesisHash };
    for (const h of idle) {
      await serveStatus(
        h,
        () => status,
        () => undefined,
        () => undefined,
      );
    }
    for (const h of idle) await dialSpaced(h, hub.net.host);
    await until(() => hub.net.peerCount() === 1, 'one idle peer ready');
    await until(() => hub.net.host.getConnections().length === 1, 'the others hung up on');
    expect(hub.net.peerManager.peers().map((p) => p.direction)).toEqual(['inbound']);
    expect(hub.net.peersByDirection()).toEqual({ inbound: 1, outbound: 0 });
    await until(() => idle.filter((h) => h.getConnections(hub.net.host.peerId).length > 0).length === 1, 'two idle peers see the hang-up');
  });

  it('a validator that drops is redialled within seconds at its address, though it dials nobody', async () => {
    const t = await createTestChain(2);
    cleanup.push(() => t.close());
    const a = await node(t.chain, { validatorKey: t.keys[0] });
    const key = randomBytes(32);
    let v = await node(t.chain, { validatorKey: t.keys[1], key, bootnodes: [a.addr] });
    await until(() => a.net.peerManager.isValidator(v.net.host.peerId), 'validator proven');
    const port = Number(v.addr.split('/')[4]);
    await v.net.stop();
    await until(() => !a.net.peerManager.isReady(v.net.host.peerId), 'a sees it gone');
    v = await node(t.chain, { validatorKey: t.keys[1], key, port }); // no bootnodes: only a's redial reconnects them
    const t0 = Date.now();
    await until(() => a.net.peerManager.isReady(v.net.host.peerId), 'a redialled it', 5_000);
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(a.net.peerManager.isValidator(v.net.host.peerId)).toBe(true);
  });
});
