import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../../src/util/mutex.js';

describe('Semaphore', () => {
  it('holds at most `size` places, first come first served; a wait whose signal aborts gives its place in the queue up', async () => {
    const s = new Semaphore(1);
    await s.acquire();
    const gaveUp = new AbortController();
    const order: string[] = [];
    const second = s.acquire(gaveUp.signal).then(
      () => order.push('second'),
      (err: Error) => order.push(`second gave up: ${err.message}`),
    );
    const third = s.acquire().then(() => order.push('third'));
    gaveUp.abort(new Error('timed out'));
    await second;
    s.release(); // to the third, not to the second that left
    await third;
    expect(order).toEqual(['second gave up: timed out', 'third']);
    s.release();
    // Free again: taken at once, and one place only.
    await s.acquire();
    let fourth = false;
    void s.acquire().then(() => (fourth = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(fourth).toBe(false);
    s.release();
    await new Promise((r) => setTimeout(r, 0));
    expect(fourth).toBe(true);
  });

  it('holds at most `perKey` places for one key; a place given back goes to the first waiting under its share', async () => {
    const s = new Semaphore(3, 2);
    await s.acquire(undefined, 'a');
    await s.acquire(undefined, 'a');
    const order: string[] = [];
    const a3 = s.acquire(undefined, 'a').then(() => order.push('a3'));
    await s.acquire(undefined, 'b'); // a place is free, and b is under its share
    const b2 = s.acquire(undefined, 'b').then(() => order.push('b2'));
    await new Promise((r) => setTimeout(r, 0));
    expect(order).toEqual([]);
    s.release('b'); // to b2: a3 waits first but 'a' holds its share
    await b2;
    expect(order).toEqual(['b2']);
    s.release('a');
    await a3;
    expect(order).toEqual(['b2', 'a3']);
  });
});
