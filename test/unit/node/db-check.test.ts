import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDataDir } from '../../../src/node/db-check.js';
import { openOfflineChain } from '../../../src/node/offline.js';
import { StorageDamageError } from '../../../src/storage/damage.js';
import * as schema from '../../../src/storage/schema.js';
import { openBytesDB } from '../../../src/storage/open-db.js';
import { addressOf, createTestChain, sealNext, testKey } from '../../helpers/chain-fixture.js';

/** A stopped data dir (blockchain/ and trie/) holding `n` blocks over a non-empty state. */
async function dataDirOf(n: number): Promise<{ dir: string; stateRoot: Uint8Array; hashes: Uint8Array[] }> {
  const t = await createTestChain(
    1,
    [7, 8, 9, 10, 11].map((i) => addressOf(testKey(i))),
  );
  for (let i = 0; i < n; i++) await sealNext(t);
  const hashes: Uint8Array[] = [];
  for (let i = 0n; i <= BigInt(n); i++) hashes.push((await t.chain.canonicalHash(i))!);
  const stateRoot = t.chain.head.header.stateRoot;
  await t.chain.close();
  await Promise.all(t.dbs.map((d) => d.close()));
  return { dir: t.dir, stateRoot, hashes };
}

async function edit(path: string, f: (db: Awaited<ReturnType<typeof openBytesDB>>) => Promise<void>): Promise<void> {
  const db = await openBytesDB(path, 'test', path);
  try {
    await f(db);
  } finally {
    await db.close();
  }
}

describe('db check', () => {
  it('finds no problem in an intact data dir, with and without --full', async () => {
    const { dir } = await dataDirOf(5);
    const quick = await checkDataDir(dir);
    expect(quick.problems).toEqual([]);
    expect(quick.blocksChecked).toBe(6);
    expect(quick.head?.number).toBe(5n);
    expect(quick.state).toBeUndefined();
    const started: [number, number][] = [];
    const full = await checkDataDir(dir, { full: true, onStatesStart: (total, nodesExpected) => void started.push([total, nodesExpected]) });
    expect(full.problems).toEqual([]);
    expect(full.state?.nodes).toBeGreaterThan(0);
    // The states' walk is told the kept size (here the genesis state's, written at the first start): its bar's total.
    expect(started).toEqual([[6, expect.any(Number)]]);
    expect(started[0]![1]).toBeGreaterThan(0);
  });

  it('lists every problem along the whole chain, not just the first, and does not create missing databases', async () => {
    const { dir, hashes } = await dataDirOf(200);
    await edit(join(dir, 'blockchain'), async (db) => {
      await db.del(schema.headerKey(10n, hashes[10]!));
      await db.del(schema.canonicalHashKey(50n));
      await db.del(schema.receiptsKey(150n, hashes[150]!));
    });
    rmSync(join(dir, 'trie'), { recursive: true });
    const r = await checkDataDir(dir);
    expect(r.problems).toEqual([
      'trie/ is missing (no state at all)',
      expect.stringMatching(/^block 10 \(0x[0-9a-f]{64}\): header missing$/),
      'block 50: missing from the canonical index',
      expect.stringMatching(/^block 150 \(0x[0-9a-f]{64}\): receipts missing$/),
    ]);
    expect(r.blocksChecked).toBe(201);
    const again = await checkDataDir(dir);
    expect(again.problems[0]).toBe('trie/ is missing (no state at all)'); // the check did not create an empty trie/
  });

  it('finds an incomplete head state only with --full (a missing interior node), and a missing root always', async () => {
    const { dir, stateRoot } = await dataDirOf(2);
    // Remove every trie node but the root: the quick check sees the root, the full walk the hole.
    await edit(join(dir, 'trie'), async (db) => {
      for await (const key of db.keys()) if (!Buffer.from(key).equals(Buffer.from(stateRoot))) await db.del(key);
    });
    expect((await checkDataDir(dir)).problems).toEqual([]);
    const full = await checkDataDir(dir, { full: true });
    // Blocks 0-2 share their (empty blocks') state: each is named, none taken as complete because the walk of the one before marked its root.
    expect(full.problems).toEqual(
      [2, 1, 0].map((n) => expect.stringMatching(new RegExp(`^the state of block ${n} is incomplete: state trie node 0x[0-9a-f]{64} is missing$`))),
    );
    expect(full.state).toMatchObject({ from: 0n, to: 2n, complete: 0 });
    await edit(join(dir, 'trie'), (db) => db.del(stateRoot));
    expect((await checkDataDir(dir)).problems).toEqual([expect.stringMatching(/^the state of the head block 2 .* is missing from trie\/$/)]);
  });

  it("names a damaged record of the pruner or the back-fill as damage in one line, never a parse error's trace", async () => {
    const { dir } = await dataDirOf(1);
    type Store = Awaited<ReturnType<typeof openOfflineChain>>['chain']['store'];
    const cases: [Uint8Array, string, (s: Store) => Promise<unknown>, RegExp][] = [
      [
        schema.STATE_HISTORY_KEY,
        '{"keep": 5}',
        (s) => s.stateHistory(),
        /its StateHistory record cannot be read: neither \{"keep": "N"\} nor \{"archive": true\}/,
      ],
      [schema.STATE_HISTORY_KEY, 'null', (s) => s.stateHistory(), /its StateHistory record cannot be read/],
      [schema.STATE_HISTORY_KEY, '{"keep": "1000000000000000000000"}', (s) => s.stateHistory(), /its StateHistory record cannot be read/],
      [schema.STATE_FROM_KEY, 'abc', (s) => s.stateFrom(), /its StateFrom record cannot be read: corrupt block number: 3 bytes/],
      [
        schema.HISTORY_GAP_KEY,
        `${'\0'.repeat(7)}\x05${'\0'.repeat(7)}\x01`,
        (s) => s.historyGap(),
        /its HistoryGap record cannot be read: stored history gap .* is not a range/,
      ],
      [schema.HISTORY_SOURCE_KEY, '[1,2]', (s) => s.historySource(), /its HistorySource record cannot be read: not \{repository, backup\}/],
    ];
    for (const [key, value, read, message] of cases) {
      await edit(join(dir, 'blockchain'), (db) => db.put(key, Buffer.from(value)));
      const err = await (async () => {
        const { chain, close } = await openOfflineChain(dir);
        try {
          await read(chain.store);
        } finally {
          await close();
        }
      })().catch((e: unknown) => e);
      expect(err, value).toBeInstanceOf(StorageDamageError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).toMatch(/^the blockchain database at .* is damaged \(.*\); restore the data dir/);
      expect((err as Error).message).not.toContain('\n');
      await edit(join(dir, 'blockchain'), (db) => db.del(key));
    }
    expect((await checkDataDir(dir)).problems).toEqual([]); // whole again
  });

  it('refuses with one line while a node holds the data dir', async () => {
    const { dir } = await dataDirOf(1);
    const held = await openBytesDB(join(dir, 'blockchain'), 'blockchain', dir);
    try {
      await expect(checkDataDir(dir)).rejects.toThrow(/^data dir .* is locked by a running node: stop it first/);
    } finally {
      await held.close();
    }
  });
});

describe('db check and the sign journal', () => {
  it("reports a validator of a network rolled back below what its journal shows it signed (the IBFT core's journal)", async () => {
    const { FileSignedStore } = await import('../../../src/consensus/ibft/core/sign-journal.js');
    const { mkdirSync } = await import('node:fs');
    const { dir } = await dataDirOf(3);
    mkdirSync(join(dir, 'consensus'));
    const store = new FileSignedStore(join(dir, 'consensus'));
    const hash = new Uint8Array(32).fill(1);
    await store.save({ height: 4n, round: 2, hash, kind: 'commit' }); // deciding the block after the head: no roll-back
    expect((await checkDataDir(dir)).problems).toEqual([]);
    await store.save({ height: 9n, round: 0, hash, kind: 'prepare' });
    expect((await checkDataDir(dir)).problems).toEqual([
      `the chain was rolled back: its head is block 3, but this validator signed block 9 (0x${'01'.repeat(32)}) (consensus/ibft-sign-journal)`,
    ]);
  });

  it("reads an earlier version's consensus/signed.json the same way, without changing the data dir", async () => {
    const { mkdirSync, writeFileSync, readdirSync } = await import('node:fs');
    const { dir } = await dataDirOf(3);
    mkdirSync(join(dir, 'consensus'));
    const record = (number: number, committed: boolean) =>
      writeFileSync(join(dir, 'consensus', 'signed.json'), JSON.stringify({ version: 1, number: String(number), hash: `0x${'00'.repeat(32)}`, committed }));
    record(3, true);
    expect((await checkDataDir(dir)).problems).toEqual([]);
    record(4, false);
    expect((await checkDataDir(dir)).problems).toEqual([]); // signed, never committed (a crash): 4 may be signed again
    record(4, true);
    expect((await checkDataDir(dir)).problems).toEqual([
      expect.stringMatching(/^the chain was rolled back: its head is block 3, but this validator signed block 4 /),
    ]);
    record(9, false);
    expect((await checkDataDir(dir)).problems).toEqual([
      expect.stringMatching(/^the chain was rolled back: its head is block 3, but this validator signed block 9 .*consensus\/signed\.json/),
    ]);
    expect(readdirSync(join(dir, 'consensus'))).toEqual(['signed.json']);
  });

  it('reports a journal it cannot read (a sparse file of 3 GiB) as one problem naming it, and a record that is a folder', async () => {
    const { mkdirSync, writeFileSync, truncateSync } = await import('node:fs');
    const { dir } = await dataDirOf(3);
    const journal = join(dir, 'consensus', 'ibft-sign-journal');
    mkdirSync(join(dir, 'consensus'));
    writeFileSync(journal, '');
    truncateSync(journal, 3 * 1024 ** 3);
    expect((await checkDataDir(dir)).problems).toEqual([
      `consensus sign journal ${journal} is damaged (it is larger than 67108864 bytes); refusing to sign without it`,
    ]);
    rmSync(journal);
    mkdirSync(join(dir, 'consensus', 'signed.json'));
    expect((await checkDataDir(dir)).problems).toEqual([
      `${join(dir, 'consensus', 'signed.json')} is malformed (it is a directory); restore it from a backup of this data dir`,
    ]);
  });
});
