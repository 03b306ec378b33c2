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

  it('holders with a group: at most `perGroup` places for one group, `grouped` in all; the rest are kept for holders without one', async () => {
    const s = new Semaphore(6, 2, { perGroup: 3, grouped: 4 });
    const held: string[] = [];
    const take = (key: string, group?: string) => void s.acquire(undefined, key, group).then(() => held.push(key));
    for (const key of ['a1', 'a2', 'a3', 'a4']) take(key, '10.0.0.1'); // a4 waits: three for 10.0.0.1
    take('b1', '10.0.0.2');
    take('b2', '10.0.0.2'); // waits: the grouped hold four
    take('v1');
    take('v2'); // without a group: the two places kept
    await new Promise((r) => setTimeout(r, 0));
    expect(held.sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'v1', 'v2']);
    expect(s.tryAcquire('v3')).toBe(false); // all six held
    s.release('v1');
    expect(s.tryAcquire('c1', '10.0.0.3')).toBe(false); // the grouped hold four still
    expect(s.tryAcquire('v3')).toBe(true);
    // 10.0.0.1 gives a place back: b2 (whose group holds one) goes before a4 (whose group holds two), which came first.
    s.release('a1', '10.0.0.1');
    await new Promise((r) => setTimeout(r, 0));
    expect(held.at(-1)).toBe('b2');
    expect(held).not.toContain('a4');
  });

  it('a place given back goes to the key holding fewest, not back to the key that gave it while another waits', async () => {
    const s = new Semaphore(4, 2);
    for (const key of ['a', 'a', 'b', 'b']) await s.acquire(undefined, key);
    const order: string[] = [];
    // a and b each queue more behind the places they hold, before the honest asker h comes.
    for (const key of ['a', 'b', 'a', 'h']) void s.acquire(undefined, key).then(() => order.push(key));
    s.release('a'); // a holds one, h none: h first, though a's waits came before it
    await new Promise((r) => setTimeout(r, 0));
    expect(order).toEqual(['h']);
    // Where the keys waiting hold as many, one of another key goes first: b, not a again.
    const t = new Semaphore(2, 2);
    await t.acquire(undefined, 'a');
    await t.acquire(undefined, 'c');
    const order2: string[] = [];
    for (const key of ['a', 'b']) void t.acquire(undefined, key).then(() => order2.push(key));
    t.release('a');
    await new Promise((r) => setTimeout(r, 0));
    expect(order2).toEqual(['b']);
    t.release('c');
    await new Promise((r) => setTimeout(r, 0));
    expect(order2).toEqual(['b', 'a']);
  });
});
