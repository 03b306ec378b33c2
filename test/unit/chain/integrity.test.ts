import { describe, expect, it } from 'vitest';
import { Chain } from '../../../src/chain/chain.js';
import { checkHead } from '../../../src/chain/integrity.js';
import { IbftEngine } from '../../../src/consensus/ibft/engine.js';
import { DamageMonitor, StorageDamageError, damageReporter } from '../../../src/storage/damage.js';
import * as schema from '../../../src/storage/schema.js';
import { BlockStore } from '../../../src/storage/block-store.js';
import { TrieNodeStore } from '../../../src/storage/trie-node-store.js';
import { UserError } from '../../../src/util/errors.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { blockHash } from '../../../src/consensus/ibft/hash.js';

/** A chain of `n` blocks whose state is not empty (a premined account). */
async function chainOf(n: number): Promise<TestChain> {
  const t = await createTestChain(1, [addressOf(testKey(7))]);
  for (let i = 0; i < n; i++) await sealNext(t);
  return t;
}

async function reopen(t: TestChain, damage?: DamageMonitor): Promise<Chain> {
  const [blockchainDb, trieDb] = t.dbs;
  return Chain.open({
    blockchainDb: blockchainDb!,
    trieDb: trieDb!,
    genesis: t.genesis,
    engine: new IbftEngine(),
    ...(damage ? { damage: damageReporter(damage, { blockchain: '/d/blockchain', trie: '/d/trie' }) } : {}),
  });
}

describe('start-up consistency check', () => {
  it('finds nothing wrong with an intact chain', async () => {
    const t = await chainOf(4);
    try {
      const { head, problems } = await checkHead(t.chain.store, t.chain.trie, blockHash);
      expect(problems).toEqual([]);
      expect(head?.number).toBe(4n);
    } finally {
      await t.close();
    }
  });

  it('reports every problem: head receipts, a hole in the index, a missing body, the head state root', async () => {
    const t = await chainOf(6);
    try {
      const store = t.chain.store;
      const [db, trieDb] = t.dbs;
      const h6 = t.chain.head.hash;
      const h3 = (await store.canonicalHash(3n))!;
      await db!.del(schema.receiptsKey(6n, h6));
      await db!.del(schema.canonicalHashKey(2n));
      await db!.del(schema.bodyKey(3n, h3));
      await trieDb!.del(schema.trieNodeKey(t.chain.head.header.stateRoot));
      // A store without the chain's guard (as at start-up): a hole in the index reads as missing, not as a throw.
      const { problems } = await checkHead(new BlockStore(db!, t.chain.rules), new TrieNodeStore(trieDb!), blockHash);
      expect(problems).toEqual([
        'block 2: missing from the canonical index',
        expect.stringMatching(/^block 3 \(0x[0-9a-f]{64}\): body missing$/),
        expect.stringMatching(/^block 6 \(0x[0-9a-f]{64}\): receipts missing$/),
        expect.stringMatching(/^the state of the head block 6 \(root 0x[0-9a-f]{64}\) is missing from trie\/$/),
      ]);
    } finally {
      await t.close();
    }
  });

  it('reports a header that does not link to its parent', async () => {
    const t = await chainOf(3);
    try {
      const [db] = t.dbs;
      // Point the index at block 1 to another block's hash (with that block's header stored under it).
      const h2 = (await t.chain.store.canonicalHash(2n))!;
      const header2 = (await t.chain.store.headerRLP(2n, h2))!;
      await db!.put(schema.canonicalHashKey(1n), h2);
      await db!.put(schema.headerKey(1n, h2), header2);
      const { problems } = await checkHead(t.chain.store, t.chain.trie, blockHash);
      expect(problems.some((p) => /^block 1 .*its header says number 2/.test(p))).toBe(true);
      expect(problems.some((p) => /^block 2 .*parentHash 0x[0-9a-f]{64} does not link to block 1/.test(p))).toBe(true);
    } finally {
      await t.close();
    }
  });

  it('refuses to open a damaged data dir with one line saying what is missing and what to do', async () => {
    const t = await chainOf(3);
    try {
      await t.dbs[1]!.del(schema.trieNodeKey(t.chain.head.header.stateRoot));
      const err = await reopen(t).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).code).toBe('DATA_LOSS');
      expect((err as Error).message).toMatch(
        /^the data dir is damaged: the state of the head block 3 .* is missing from trie\/; restore the data dir from a snapshot \(`basalt restore`\)/,
      );
      expect((err as Error).message).not.toContain('\n');
    } finally {
      await t.close();
    }
  });
});

describe('run-time damage: a canonical block missing below the head', () => {
  it('is reported and thrown, never served as "not found"; blocks beyond the head still are "not found"', async () => {
    const t = await chainOf(4);
    try {
      const monitor = new DamageMonitor();
      const chain = await reopen(t, monitor);
      await t.dbs[0]!.del(schema.canonicalHashKey(1n)); // damage after the start-up check (it only looks at the last blocks anyway)
      expect(await chain.blockByNumber(9n)).toBeUndefined();
      expect(monitor.damage).toBeUndefined();
      await expect(chain.blockByNumber(1n)).rejects.toBeInstanceOf(StorageDamageError);
      await expect(chain.canonicalHash(1n)).rejects.toThrow(/canonical block 1 is missing from the index, below the head 4/);
      expect(monitor.damage?.database).toBe('blockchain');

      // An indexed block whose body is gone is damage too, by number and by hash.
      const h3 = (await chain.canonicalHash(3n))!;
      await t.dbs[0]!.del(schema.bodyKey(3n, h3));
      await expect(chain.blockByNumber(3n)).rejects.toThrow(/block 3 .* is indexed but its header or body is missing/);
      await expect(chain.blockByHash(h3)).rejects.toBeInstanceOf(StorageDamageError);
      await chain.close();
    } finally {
      await t.close();
    }
  });
});

describe('genesis is written only into an empty database', () => {
  it('refuses a database that lost its genesis index entry or its head pointer, and writes nothing', async () => {
    for (const lose of ['genesis', 'head'] as const) {
      const t = await chainOf(2);
      try {
        const [db] = t.dbs;
        await db!.del(lose === 'genesis' ? schema.canonicalHashKey(0n) : schema.HEAD_BLOCK_KEY);
        await expect(reopen(t)).rejects.toThrow(
          lose === 'genesis'
            ? /^the data dir is damaged: the genesis block is missing from the canonical index; restore/
            : /^the data dir is damaged: the head block pointer \(LastBlock\) is missing; restore/,
        );
        expect(await db!.get(lose === 'genesis' ? schema.canonicalHashKey(0n) : schema.HEAD_BLOCK_KEY)).toBeUndefined();
      } finally {
        await t.close();
      }
    }
  });
});
