import { describe, expect, it } from 'vitest';
import { BlockStore } from '../../../src/storage/block-store.js';
import type { DamageReporter } from '../../../src/storage/damage.js';
import type { BytesDB } from '../../../src/storage/open-db.js';
import { createTestChain, sealNext } from '../../helpers/chain-fixture.js';

describe('the canonical index guard', () => {
  it('a read that races a commit (the head moves past the number while the read is under way) is not damage', async () => {
    const t = await createTestChain(1);
    try {
      await sealNext(t);
      let head = 1n;
      const reported: string[] = [];
      const reporter = { missing: (db: string, detail: string) => (reported.push(`${db}: ${detail}`), new Error(detail)) } as unknown as DamageReporter;
      // The database answers the read of block 2's index entry as it was before block 2 was committed,
      // and the commit finishes (the head moves to 2) before the answer arrives.
      const db = t.chain.store.db;
      const racing = new Proxy(db, {
        get(target, prop, receiver) {
          if (prop !== 'get') return Reflect.get(target, prop, receiver);
          return async (key: Uint8Array, opts: unknown) => {
            const v = await target.get(key, opts as never);
            head = 2n;
            return v;
          };
        },
      }) as BytesDB;
      const store = new BlockStore(racing, t.chain.rules);
      store.guardCanonical(() => head, reporter);
      expect(await store.canonicalHash(2n)).toBeUndefined();
      expect(reported).toEqual([]);
      // A number at or below the head before the read that is missing is damage.
      await db.del((await import('../../../src/storage/schema.js')).canonicalHashKey(1n));
      head = 1n;
      await expect(store.canonicalHash(1n)).rejects.toThrow(/canonical block 1 is missing from the index, below the head 1/);
      expect(reported).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});
