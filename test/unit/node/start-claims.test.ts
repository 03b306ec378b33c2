import { randomBytes } from 'node:crypto';
import { bytesToHex } from '@ethereumjs/util';
import { multiaddr } from '@multiformats/multiaddr';
import { describe, expect, it } from 'vitest';
import type { BasaltNode } from '../../../src/node/node.js';
import { START_CLAIM_WAIT_MS } from '../../../src/sync/syncer.js';
import { serveStatus } from '../../../src/p2p/handshake.js';
import { createHost } from '../../../src/p2p/host.js';
import { blocksProtocol } from '../../../src/sync/block-protocol.js';
import { testKey } from '../../helpers/chain-fixture.js';
import { loneValidatorNodes } from '../../helpers/lone-validator.js';
import { until } from '../../helpers/until.js';

/**
 * A validator that starts (its sign journal present: a restart, not a restore) waits, until it first
 * seals, for the head any peer claims to be proven: a full node may be the only peer that knows the
 * chain went on. That wait is the node's, not each peer's: identities that come and go, each claiming
 * a head it never serves, cannot keep it from sealing.
 */
interface Line {
  event?: string;
  number?: number;
}

const { stops, dataDirAt, startNode } = loneValidatorNodes<Line>('basalt-start-claims-');

const p2p = (bootnodes: string[] = []) => ({ listen: { host: '127.0.0.1', port: 0 }, bootnodes, maxPeers: 10, discovery: false });
/** A bootnode nobody listens for: the validator waits for a peer (5 s at most) before it seals. */
const UNREACHABLE = '/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAm15HQvpWu8jEyRUMtgWPdkEvs97KpF4JSmBM6JVD4nVqA';

/**
 * A fresh identity that dials `target` and claims a head 1000 blocks past `node`'s with a random hash;
 * it takes block requests and never answers them (the proof of a stranger's claim times out after 3 s).
 */
async function liar(node: BasaltNode, target: string): Promise<{ id: string; stop: () => Promise<void> }> {
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 4, isBanned: () => false });
  const stop = () => Promise.resolve(host.stop());
  stops.push(stop);
  const { chain } = node;
  const head = chain.head.number + 1000n;
  const hash = randomBytes(32);
  await serveStatus(
    host,
    () => ({ chainId: chain.chainId, genesisHash: chain.genesisHash, headNumber: head, headHash: hash }),
    () => undefined,
    () => undefined,
  );
  await host.handle(blocksProtocol(chain.genesisHash), () => undefined); // read nothing, answer nothing
  void host.dial(multiaddr(target)).catch(() => undefined);
  return { id: host.peerId.toString(), stop };
}

describe('a starting validator and the heads its peers claim', () => {
  it('identities coming and going, each claiming a head it never serves, hold its sealing for START_CLAIM_WAIT_MS in all, not for ever', async () => {
    const dataDir = await dataDirAt(3);
    const lines: Line[] = [];
    // --seal-without-journal writes the journal: no journal hold, as at a restart.
    const node = await startNode(dataDir, lines, { sealWithoutJournal: 3n, p2p: p2p([UNREACHABLE]) });
    const target = node.network!.addresses()[0]!;
    // A new identity every 1.2 s, each gone after 2.7 s: before its proof times out (its first strike).
    let attacking = true;
    let identities = 0;
    const attack = (async () => {
      while (attacking) {
        const l = await liar(node, target);
        identities++;
        setTimeout(() => void l.stop(), 2_700).unref();
        await new Promise((r) => setTimeout(r, 1_200));
      }
    })();
    // What the gate sees meanwhile: a claim not proven yet, on the node's stale head.
    const seen: { head: bigint; claim: boolean }[] = [];
    const watch = setInterval(() => seen.push({ head: node.chain.head.number, claim: node.network!.unprovenPeerHead(0n, true) !== undefined }), 100);
    try {
      await until(() => node.chain.head.number >= 4n, 'a block sealed while the attack goes on', START_CLAIM_WAIT_MS + 9_000);
      const sealedWith = identities;
      await until(() => identities > sealedWith + 1, 'the attack going on after the block');
    } finally {
      attacking = false;
      clearInterval(watch);
      await attack;
    }
    expect(seen.filter((s) => s.head === 3n && s.claim).length).toBeGreaterThan(10); // the attack held it a while (a second and more)
    expect(lines.find((l) => l.event === 'block.sealed')?.number).toBe(4);
  }, 30_000);

  it('with a full node ahead as its only peer, syncs to the head it claims before it seals', async () => {
    const fullDir = await dataDirAt(6, testKey(5), testKey(6));
    const full = await startNode(fullDir, [], { seal: false, p2p: p2p() });
    const dataDir = await dataDirAt(3);
    const lines: Line[] = [];
    const node = await startNode(dataDir, lines, { sealWithoutJournal: 3n, p2p: p2p([full.network!.addresses()[0]!]) });
    await until(() => node.chain.head.number >= 7n, 'block 7, sealed on the synced head');
    for (const n of [4n, 5n, 6n]) {
      expect(bytesToHex((await node.chain.canonicalHash(n))!)).toBe(bytesToHex((await full.chain.canonicalHash(n))!));
    }
    expect(lines.find((l) => l.event === 'block.sealed')?.number).toBe(7);
  });
});
