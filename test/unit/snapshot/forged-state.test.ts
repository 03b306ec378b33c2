import { join } from 'node:path';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreFromEvents } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { StreamedStateCheck } from '../../../src/backup/state-walk.js';
import { readSnapshot, type SnapshotEvent } from '../../../src/snapshot/reader.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { collect } from '../../helpers/collect.js';

/**
 * A snapshot (a file, or a peer's stream) whose header names a state root of its own choosing: every
 * node it then sends hashes right and is referred to by the one before it, so only the root tells it
 * from the head's state. It is refused before any of that state is taken, not at the trailer.
 */
const SENDER = testKey(5);
let t: TestChain;
let bytes: Uint8Array;

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(SENDER)]);
  for (let i = 0; i < 3; i++) {
    const tx = createFeeMarket1559Tx(
      {
        nonce: BigInt(i),
        to: `0x${'ee'.repeat(20)}`,
        value: 1n + BigInt(i),
        gasLimit: 21000n,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
      },
      { common: t.chain.commonAt(t.chain.head.number + 1n) },
    ).sign(SENDER);
    await sealNext(t, [tx]);
  }
  bytes = await collect((await createSnapshot(t.chain, { compression: 'zstd' })).chunks);
});
afterAll(async () => {
  await t?.close();
});

describe('a snapshot whose header names another state root', () => {
  it('is refused at its first state record, before any node of that state is taken', async () => {
    // Block 1's state: a real state of this chain, not the head's.
    const other = (await t.chain.blockByNumber(1n))!.header.stateRoot;
    const view = t.chain.openReadView();
    const otherRoot = (await view.state.node(other))!;
    await view.close();
    const marker = new Error('the stream went on: its nodes were taken');
    async function* forged(): AsyncGenerator<SnapshotEvent> {
      for await (const ev of readSnapshot(once(bytes))) {
        if (ev.kind === 'header') yield { ...ev, header: { ...ev.header, head: { ...ev.header.head, stateRoot: bytesToHex(other) } } };
        else if (ev.kind === 'nodes') {
          // the forged state's root node, which the header's root awaits; then the attacker's endless rest
          yield { kind: 'nodes', items: [otherRoot], bytesRead: ev.bytesRead };
          throw marker;
        } else yield ev;
      }
    }
    await expect(restoreFromEvents(forged(), { dataDir: join(tempDir(), 'forged-root'), genesis: t.genesis })).rejects.toThrow(
      "snapshot header names a state root that is not its head block's",
    );
    // the snapshot as written restores
    const r = await restoreFromEvents(readSnapshot(once(bytes)), { dataDir: join(tempDir(), 'honest'), genesis: t.genesis });
    expect(r.head).toBe(t.chain.head.number);
  });
});

/** A distinct 32-byte hash for each `i`. */
const hash = (i: number) => Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? i >> 8 : k === 1 ? i & 0xff : 7));

describe('contract codes no account claims', () => {
  it('are refused once they pass 1 GiB, not at the end of the stream', () => {
    const check = new StreamedStateCheck(new Uint8Array(32).fill(1), 'tree');
    // (the sizes are what the restore passes; the codes themselves need not be there to count)
    for (let i = 0; i < 255; i++) check.code(hash(i), 4 * 1024 * 1024);
    expect(() => check.code(hash(255), 4 * 1024 * 1024)).not.toThrow();
    expect(() => check.code(hash(256), 1)).toThrow(/more than 1073741824 bytes of contract codes given before any account has them/);
  });
});
