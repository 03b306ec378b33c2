import { expect, it } from 'vitest';
import '../../../src/util/promise-with-resolvers.js';

it('Promise.withResolvers exists and resolves and rejects as the specification says', async () => {
  const P = Promise as unknown as { withResolvers<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } };
  const a = P.withResolvers<number>();
  a.resolve(7);
  expect(await a.promise).toBe(7);
  const b = P.withResolvers<number>();
  b.reject(new Error('no'));
  await expect(b.promise).rejects.toThrow('no');
});
