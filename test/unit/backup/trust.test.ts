import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { verifyArchive } from '../../../src/backup/verify-archive.js';
import { UserError } from '../../../src/util/errors.js';
import type { TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { chainWithBlocks, chunked, exportBytes } from '../archive/archive-fixture.js';

let source: TestChain;
let snapshot: Uint8Array;
beforeAll(async () => {
  source = await chainWithBlocks(4);
  const snap = await createSnapshot(source.chain, { compression: 'zstd' });
  const parts: Uint8Array[] = [];
  for (let r = await snap.chunks.next(); !r.done; r = await snap.chunks.next()) parts.push(r.value);
  snapshot = Buffer.concat(parts);
});
afterAll(async () => {
  await source?.close();
});

describe("the operator's trust anchor", () => {
  it('archive verify without a genesis says what it could not check; with one from block 1, nothing is left', async () => {
    const bytes = await exportBytes(source.chain);
    const bare = await verifyArchive(() => chunked(bytes), undefined);
    expect(bare.notChecked.map((n) => n.what)).toEqual(['chain binding', 'validator set', 'execution']);
    expect(bare.notChecked[0]!.why).toContain(bytesToHex(source.chain.genesisHash));
    expect((await verifyArchive(() => chunked(bytes), source.genesis)).notChecked).toEqual([]);
    const tailBytes = await exportBytes(source.chain, { start: 3n });
    const tail = await verifyArchive(() => chunked(tailBytes), source.genesis);
    expect(tail.notChecked.map((n) => n.what)).toEqual(['validator set', 'execution']);
  });

  it("restore takes the caller's genesis state root as known (a node's own), and a wrong one gives another chain", async () => {
    const root = (await source.chain.blockByNumber(0n))!.header.stateRoot;
    const ok = await restoreSnapshot(chunked(snapshot), { dataDir: join(tempDir(), 'r'), genesis: source.genesis, genesisStateRoot: root });
    expect(ok.genesisHash).toBe(bytesToHex(source.chain.genesisHash));
    const wrong = restoreSnapshot(chunked(snapshot), { dataDir: join(tempDir(), 'r'), genesis: source.genesis, genesisStateRoot: new Uint8Array(32).fill(7) });
    await expect(wrong).rejects.toThrow(/snapshot belongs to another chain/);
  });

  it('restore with a genesis hash uses the embedded genesis only when it has that hash, and reports the chain', async () => {
    const hash = bytesToHex(source.chain.genesisHash);
    const bad = join(tempDir(), 'r');
    const wrong = `0x${'ab'.repeat(32)}`;
    const err = await restoreSnapshot(chunked(snapshot), { dataDir: bad, genesisHash: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe('WRONG_CHAIN');
    expect((err as Error).message).toMatch(new RegExp(`has hash ${hash} .*not the expected ${wrong}`));
    expect(existsSync(bad)).toBe(false);
    const s = await restoreSnapshot(chunked(snapshot), { dataDir: join(tempDir(), 'r'), genesisHash: hash.toUpperCase().replace('0X', '0x') });
    expect([s.chainId, s.genesisHash, s.head]).toEqual(['100', hash, 4n]);
  });

  it('restore refuses a target that is a file, or whose parent is a file, with one line', async () => {
    const dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'file'), 'x');
    await expect(restoreSnapshot(chunked(snapshot), { dataDir: join(dir, 'file'), genesis: source.genesis })).rejects.toThrow(/exists and is not a folder/);
    await expect(restoreSnapshot(chunked(snapshot), { dataDir: join(dir, 'file', 'sub'), genesis: source.genesis })).rejects.toThrow(/is not a folder/);
  });
});
