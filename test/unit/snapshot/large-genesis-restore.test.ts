import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex, createAddressFromString } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { encodeJson, MAX_HEADER_BYTES } from '../../../src/container/framing.js';
import { openTestChain, sealNext, testGenesis, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { chunked } from '../archive/archive-fixture.js';

/**
 * A chain whose genesis funds 2,000 accounts: its genesis file (about 170 KB) does not fit in a
 * snapshot header, so the snapshot is of version 2, with the genesis in records of its own; it restores.
 */
const ACCOUNTS = Array.from({ length: 2_000 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}`);
let source: TestChain;
let snapshot: Uint8Array;
let bound: number;

beforeAll(async () => {
  const { genesis, keys } = testGenesis(1, ACCOUNTS);
  const opened = await openTestChain(genesis);
  source = { ...opened, keys, genesis };
  await sealNext(source);
  await sealNext(source);
  const snap = await createSnapshot(source.chain, { compression: 'zstd' });
  bound = await snap.sizeBound();
  const parts: Uint8Array[] = [];
  for (;;) {
    const r = await snap.chunks.next();
    if (r.done) break;
    parts.push(r.value);
  }
  snapshot = Buffer.concat(parts);
}, 60_000);
afterAll(async () => {
  await source?.close();
});

describe('a snapshot of a chain with a genesis too large for the header', () => {
  it('is of version 2, and within the size bound snapshot sync announces', () => {
    expect(encodeJson(source.genesis).length).toBeGreaterThan(MAX_HEADER_BYTES);
    expect(new DataView(snapshot.buffer, snapshot.byteOffset).getUint16(8)).toBe(2);
    expect(bound).toBeGreaterThanOrEqual(snapshot.length);
  });

  it('restores with the embedded genesis checked against the genesis hash, and writes that genesis beside the data', async () => {
    const dataDir = join(tempDir(), 'restored');
    const s = await restoreSnapshot(chunked(snapshot, 4096), { dataDir, genesisHash: bytesToHex(source.chain.genesisHash) });
    expect(s.head).toBe(2n);
    expect(s.headHash).toBe(bytesToHex(source.chain.head.hash));
    expect(JSON.parse(readFileSync(join(dataDir, 'genesis.json'), 'utf8'))).toEqual(source.genesis);
    const restored = await openTestChain(source.genesis, dataDir);
    try {
      const state = await restored.chain.stateAt(restored.chain.head.header);
      expect((await state.getAccount(createAddressFromString(ACCOUNTS[1_999]!)))?.balance).toBe(10n ** 24n);
    } finally {
      await restored.close();
    }
  });

  it("restores against the operator's genesis file too", async () => {
    const s = await restoreSnapshot(chunked(snapshot), { dataDir: join(tempDir(), 'r'), genesis: source.genesis });
    expect(s.head).toBe(2n);
  });
});
