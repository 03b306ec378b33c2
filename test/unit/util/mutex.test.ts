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
});
