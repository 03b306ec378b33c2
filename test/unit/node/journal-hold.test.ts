import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { describe, expect, it } from 'vitest';
import { SIGN_JOURNAL_FILE } from '../../../src/consensus/ibft/core/sign-journal.js';
import { testKey } from '../../helpers/chain-fixture.js';
import { loneValidatorNodes } from '../../helpers/lone-validator.js';
import { until } from '../../helpers/until.js';

/**
 * A chain of one validator: its data dir restored from a backup (which never holds consensus/, the
 * sign journal) at an older head than its lost self sealed. Nobody else makes a quorum, so the core's
 * start guard cannot wait for the others: the node holds sealing until it has caught up with a peer,
 * or the operator says the key sealed nothing above the head (--seal-without-journal).
 */
interface Line {
  level: number;
  msg: string;
  event?: string;
  reason?: string;
  number?: number;
}

const { dataDirAt: restoredAt, startNode } = loneValidatorNodes<Line>('basalt-journal-hold-');

const journal = (dataDir: string) => join(dataDir, 'consensus', SIGN_JOURNAL_FILE);
const p2p = (bootnodes: string[] = []) => ({ listen: { host: '127.0.0.1', port: 0 }, bootnodes, maxPeers: 5, discovery: false });

describe('a validator that alone makes the quorum, started without its sign journal past genesis', () => {
  it('at the genesis too (a restored key in a new data dir, its peers not reached): held, block 1 not sealed', async () => {
    const dataDir = await restoredAt(0);
    const lines: Line[] = [];
    const node = await startNode(dataDir, lines);
    await until(() => lines.some((l) => l.event === 'sealing.held'), 'sealing held');
    await new Promise((r) => setTimeout(r, 400)); // twenty block times
    expect(node.chain.head.number).toBe(0n);
    expect(lines.some((l) => l.event === 'block.sealed')).toBe(false);
  });

  it('with no peer to ask, does not seal: sealing is held with one warning saying why and what to do', async () => {
    const dataDir = await restoredAt(3); // its lost self sealed on (4, 5, ...): the backup is older
    const lines: Line[] = [];
    const node = await startNode(dataDir, lines);
    await until(() => lines.some((l) => l.event === 'sealing.held'), 'sealing held');
    await new Promise((r) => setTimeout(r, 400)); // twenty block times: without the hold, block 4 is sealed at once
    expect(node.chain.head.number).toBe(3n);
    expect(node.nodeStatus().sealing).toBe(false);
    expect(lines.some((l) => l.event === 'block.sealed')).toBe(false);
    expect(existsSync(journal(dataDir))).toBe(false); // it signed nothing
    const held = lines.filter((l) => l.event === 'sealing.held');
    expect(held).toHaveLength(1);
    expect(held[0]!.level).toBe(40);
    expect(held[0]!.reason).toMatch(/^the sign journal is absent .* this validator alone makes the quorum: it seals only once caught up with a peer/);
    expect(held[0]!.msg).toMatch(/start it with --seal-without-journal 3 once you know the original is stopped and its key sealed nothing above block 3$/);
  });

  it('with --seal-without-journal, seals the next block at once; its journal then exists, so the next start needs no flag', async () => {
    const dataDir = await restoredAt(3);
    const lines: Line[] = [];
    // A head other than its own is refused: a flag left in a service's command line speaks for nobody.
    await expect(startNode(dataDir, [], { sealWithoutJournal: 2n })).rejects.toThrow(
      /^--seal-without-journal 2: this data dir's head is block 3; name the head whose blocks above you know this key never signed/,
    );
    expect(existsSync(journal(dataDir))).toBe(false);
    const node = await startNode(dataDir, lines, { sealWithoutJournal: 3n });
    await until(() => node.chain.head.number >= 4n, 'block 4');
    expect(lines.find((l) => l.event === 'validator.seal-without-journal')).toMatchObject({ level: 40, head: 3 });
    expect(lines.some((l) => l.event === 'sealing.held')).toBe(false);
    await node.stop();
    expect(existsSync(journal(dataDir))).toBe(true);

    const again: Line[] = [];
    const restarted = await startNode(dataDir, again);
    const from = restarted.chain.head.number;
    await until(() => restarted.chain.head.number > from, 'a block sealed after the restart, without the flag');
    expect(again.some((l) => l.event === 'sealing.held')).toBe(false);
  });

  it('with a peer holding the chain further, syncs to its head first and then seals on it, without the flag', async () => {
    const fullDir = await restoredAt(6, testKey(5), testKey(6)); // a full node that followed the validator to block 6
    const full = await startNode(fullDir, [], { seal: false, p2p: p2p() });
    const fullAddress = full.network!.addresses()[0]!;
    const dataDir = await restoredAt(3);
    const lines: Line[] = [];
    const node = await startNode(dataDir, lines, { p2p: p2p([fullAddress]) });
    await until(() => node.chain.head.number >= 7n, 'block 7, sealed on the synced head');
    const held = lines.find((l) => l.event === 'sealing.held');
    expect(held?.reason).toMatch(/^the sign journal is absent/);
    // Blocks 4-6 are the peer's, and the first block it sealed is 7: nothing sealed on its stale head.
    for (const n of [4n, 5n, 6n]) {
      expect(bytesToHex((await node.chain.canonicalHash(n))!)).toBe(bytesToHex((await full.chain.canonicalHash(n))!));
    }
    const sealed = lines.filter((l) => l.event === 'block.sealed').map((l) => l.number!);
    expect(sealed[0]).toBe(7);
    expect(lines.some((l) => l.event === 'peer.banned')).toBe(false);
  });

  it('with a peer at its own head block (nothing above it to sync), seals the next block, without the flag', async () => {
    const fullDir = await restoredAt(3, testKey(5), testKey(6));
    const full = await startNode(fullDir, [], { seal: false, p2p: p2p() });
    const dataDir = await restoredAt(3);
    const lines: Line[] = [];
    const node = await startNode(dataDir, lines, { p2p: p2p([full.network!.addresses()[0]!]) });
    await until(() => node.chain.head.number >= 4n, 'block 4');
    expect(lines.find((l) => l.event === 'sealing.held')?.reason).toMatch(/^the sign journal is absent/);
    expect(lines.find((l) => l.event === 'block.sealed')?.number).toBe(4);
  });

  it('with a peer at the same stale head and a bootnode not connected yet, waits for the bootnode, whose higher head it syncs to before it seals', async () => {
    // Two full nodes: one as stale as the backup (another node restored from it), one that followed the
    // lost self to block 6. The second is down when the validator starts and comes back after the
    // settle time (5 s): caught up with the stale one alone, the validator would seal its own block 4.
    const staleDir = await restoredAt(3, testKey(5), testKey(6));
    const stale = await startNode(staleDir, [], { seal: false, p2p: p2p() });
    const aheadDir = await restoredAt(6, testKey(7), testKey(8));
    const first = await startNode(aheadDir, [], { seal: false, p2p: p2p() });
    const aheadAddress = first.network!.addresses()[0]!;
    await first.stop();
    const dataDir = await restoredAt(3);
    const lines: Line[] = [];
    const node = await startNode(dataDir, lines, { p2p: p2p([stale.network!.addresses()[0]!, aheadAddress]) });
    await until(() => node.network!.peerCount() >= 1, 'connected to the stale peer');
    await new Promise((r) => setTimeout(r, 6_500)); // past the settle time: the bootnode is still missing
    expect(node.chain.head.number).toBe(3n);
    expect(lines.some((l) => l.event === 'block.sealed')).toBe(false);
    const port = Number(aheadAddress.split('/tcp/')[1]!.split('/')[0]);
    const ahead = await startNode(aheadDir, [], { seal: false, p2p: { ...p2p(), listen: { host: '127.0.0.1', port } } });
    await until(() => node.chain.head.number >= 7n, 'block 7, sealed on the head the bootnode showed', 30_000);
    expect(bytesToHex((await node.chain.canonicalHash(6n))!)).toBe(bytesToHex((await ahead.chain.canonicalHash(6n))!));
    expect(lines.filter((l) => l.event === 'block.sealed').map((l) => l.number!)[0]).toBe(7);
  }, 40_000);

  it('caught up with a stale peer, waits a moment: a peer that dials it then with a higher head is synced to first', async () => {
    const staleDir = await restoredAt(3, testKey(5), testKey(6));
    const stale = await startNode(staleDir, [], { seal: false, p2p: p2p() });
    const aheadDir = await restoredAt(6, testKey(7), testKey(8));
    const dataDir = await restoredAt(3);
    const lines: Line[] = [];
    const node = await startNode(dataDir, lines, { p2p: p2p([stale.network!.addresses()[0]!]) });
    await until(() => node.network!.peerCount() >= 1, 'connected to the stale peer');
    await new Promise((r) => setTimeout(r, 1_500)); // caught up with the stale peer for a while: not sealing yet
    expect(node.chain.head.number).toBe(3n);
    // Not a bootnode of the validator's: it dials in (a full node, the validator's address its bootnode).
    const ahead = await startNode(aheadDir, [], { seal: false, p2p: p2p([node.network!.addresses()[0]!]) });
    await until(() => node.chain.head.number >= 7n, 'block 7, sealed on the head the second peer showed');
    expect(bytesToHex((await node.chain.canonicalHash(6n))!)).toBe(bytesToHex((await ahead.chain.canonicalHash(6n))!));
    expect(lines.filter((l) => l.event === 'block.sealed').map((l) => l.number!)[0]).toBe(7);
  });

  it('a forward step of the wall clock does not end the wait for a bootnode early', async () => {
    const staleDir = await restoredAt(3, testKey(5), testKey(6));
    const stale = await startNode(staleDir, [], { seal: false, p2p: p2p() });
    const dataDir = await restoredAt(3);
    const lines: Line[] = [];
    // A bootnode that never answers (nothing listens at its port).
    const down = '/ip4/127.0.0.1/tcp/9/p2p/16Uiu2HAmBzjmdgYhYESFjSUcv7ZbDsKRn5MEojJAkcaZZe8KWKiq';
    const node = await startNode(dataDir, lines, { p2p: p2p([stale.network!.addresses()[0]!, down]) });
    await until(() => node.network!.peerCount() >= 1, 'connected to the stale peer');
    const realNow = Date.now;
    Date.now = () => realNow() + 3_600_000; // an hour ahead from now on (NTP stepping a VM's clock)
    try {
      await new Promise((r) => setTimeout(r, 6_500)); // past the settle time
      expect(node.chain.head.number).toBe(3n);
    } finally {
      Date.now = realNow;
    }
  });
});
