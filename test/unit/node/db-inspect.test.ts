import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectDataDir } from '../../../src/node/db-inspect.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const SENDER = testKey(9);
let t: TestChain;

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(SENDER)]);
  for (let i = 0; i < 5; i++) {
    const tx = createFeeMarket1559Tx(
      { nonce: BigInt(i), to: `0x${'42'.repeat(20)}`, value: 1n, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
      { common: t.chain.commonAt(t.chain.head.number + 1n) },
    ).sign(SENDER);
    await sealNext(t, i % 2 === 0 ? [tx] : []);
    if (i % 2 === 1) await sealNext(t, [tx]);
  }
  await t.chain.close();
  for (const db of t.dbs) await db.close();
});

afterAll(async () => {
  const { rmSync } = await import('node:fs');
  rmSync(t.dir, { recursive: true, force: true });
});

describe('db inspect', () => {
  it('counts every entry of both databases by what it is, with its bytes', async () => {
    const seen: number[] = [];
    const r = await inspectDataDir(t.dir, { onEntries: (n) => seen.push(n) });
    const row = (database: string, kind: string) => r.rows.find((x) => x.database === database && x.kind === kind);
    const blocks = 8; // genesis and 7 sealed (5 with a transaction)
    expect(row('blockchain', 'headers (h)')?.entries).toBe(blocks);
    expect(row('blockchain', 'bodies (b)')?.entries).toBe(blocks);
    expect(row('blockchain', 'receipts (r)')?.entries).toBe(blocks);
    expect(row('blockchain', 'canonical index (c)')?.entries).toBe(blocks);
    expect(row('blockchain', 'block numbers by hash (H)')?.entries).toBe(blocks);
    expect(row('blockchain', 'transaction lookups (l)')?.entries).toBe(5);
    expect(row('blockchain', 'head pointer (LastBlock)')).toMatchObject({ entries: 1, valueBytes: 32 });
    expect(row('blockchain', 'genesis file pieces (GenesisFile-)')?.entries).toBe(1);
    expect(row('trie', 'trie nodes')!.entries).toBeGreaterThan(2);
    expect(r.rows.filter((x) => x.kind === 'other')).toEqual([]);
    // every entry counted once, bytes as stored
    expect(seen.at(-1)).toBe(r.rows.reduce((n, x) => n + x.entries, 0));
    expect(row('blockchain', 'headers (h)')!.keyBytes).toBe(blocks * 41);
    expect(r.onDisk.blockchain).toBeGreaterThan(0);
    expect(r.onDisk.trie).toBeGreaterThan(0);
  });

  it('a folder that is not a data dir is one line', async () => {
    await expect(inspectDataDir(`${t.dir}/nothing`)).rejects.toThrow(/is not a Basalt data dir \(no blockchain\/ database\)/);
  });
});
