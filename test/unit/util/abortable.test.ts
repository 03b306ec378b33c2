import { describe, expect, it } from 'vitest';
import { abortable, untilAborted } from '../../../src/util/abortable.js';

describe('abortable waits', () => {
  it('abortable: the promise when it settles first, the abort reason when the signal comes first', async () => {
    expect(await abortable(Promise.resolve(7), new AbortController().signal)).toBe(7);
    const ac = new AbortController();
    const p = abortable(new Promise(() => undefined), ac.signal);
    ac.abort(new Error('stopping'));
    await expect(p).rejects.toThrow('stopping');
    await expect(abortable(Promise.resolve(1), AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('untilAborted: the items, then at the abort the reason at once though the source waits on, and the source closed once its wait ends', async () => {
    let release: () => void = () => undefined;
    let closed = false;
    async function* source() {
      try {
        yield 1;
        yield 2;
        await new Promise<void>((r) => (release = r)); // a wait it cannot cancel
        yield 3;
      } finally {
        closed = true;
      }
    }
    const ac = new AbortController();
    const seen: number[] = [];
    const began = Date.now();
    setTimeout(() => ac.abort(new Error('stopping')), 50);
    await expect(
      (async () => {
        for await (const v of untilAborted(source(), ac.signal)) seen.push(v);
      })(),
    ).rejects.toThrow('stopping');
    expect(seen).toEqual([1, 2]);
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(closed).toBe(false);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  });

  it('untilAborted: a source that ends, or fails, is passed through', async () => {
    async function* ok() {
      yield 'a';
    }
    async function* bad() {
      yield 'a';
      throw new Error('broken');
    }
    const out: string[] = [];
    for await (const v of untilAborted(ok(), new AbortController().signal)) out.push(v);
    expect(out).toEqual(['a']);
    await expect(
      (async () => {
        for await (const _ of untilAborted(bad(), new AbortController().signal)) {
          // reading it
        }
      })(),
    ).rejects.toThrow('broken');
  });
});
