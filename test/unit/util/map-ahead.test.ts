import { describe, expect, it } from 'vitest';
import { mapAhead } from '../../../src/util/map-ahead.js';

async function* numbers(n: number, onReturn?: () => void) {
  try {
    for (let i = 0; i < n; i++) yield i;
  } finally {
    onReturn?.();
  }
}

describe('mapAhead', () => {
  it('gives results in order with at most `ahead` calls under way, whatever order they finish in', async () => {
    let running = 0;
    let most = 0;
    const out: number[] = [];
    for await (const v of mapAhead(numbers(50), 4, async (i) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      running--;
      return i * 2;
    }))
      out.push(v);
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    expect(most).toBeLessThanOrEqual(4);
    expect(most).toBeGreaterThan(1);
  });

  it('throws a failing call at its turn, after the results before it; a consumer that stops early closes the source', async () => {
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const v of mapAhead(numbers(10), 3, async (i) => (i === 5 ? Promise.reject(new Error('five')) : i))) got.push(v);
      })(),
    ).rejects.toThrow('five');
    expect(got).toEqual([0, 1, 2, 3, 4]);
    let closed = false;
    for await (const v of mapAhead(
      numbers(100, () => (closed = true)),
      3,
      async (i) => i,
    ))
      if (v === 2) break;
    expect(closed).toBe(true);
  });
});
