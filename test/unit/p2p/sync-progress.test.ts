import { describe, expect, it } from 'vitest';
import type { ReadyPeer } from '../../../src/p2p/peers.js';
import { Syncer, type SyncPeers, type SyncTarget } from '../../../src/sync/syncer.js';
import { silentLogger } from '../../../src/util/log.js';
import type { Host } from '../../../src/p2p/host.js';

function fixture(local: bigint, peerHeads: bigint[]) {
  const chain = { head: { number: local } } as unknown as SyncTarget & { head: { number: bigint } };
  const peers: SyncPeers = {
    peers: () => peerHeads.map((head) => ({ head }) as ReadyPeer),
    lowerHead: () => undefined,
    punish: () => undefined,
    on: () => undefined,
    off: () => undefined,
  };
  return { chain, syncer: new Syncer({} as Host, chain, peers, silentLogger()) };
}

describe('sync progress (eth_syncing)', () => {
  it('reports current and highest while more than one block behind the best peer', () => {
    const { syncer } = fixture(10n, [40n, 100n]);
    expect(syncer.progress()).toEqual({ startingBlock: 10n, currentBlock: 10n, highestBlock: 100n });
  });

  it('is false with no peers, with peers behind, and one block behind (following the head)', () => {
    expect(fixture(10n, []).syncer.progress()).toBe(false);
    expect(fixture(10n, [3n, 10n]).syncer.progress()).toBe(false);
    expect(fixture(10n, [11n]).syncer.progress()).toBe(false);
    expect(fixture(10n, [12n]).syncer.progress()).not.toBe(false);
  });
});
