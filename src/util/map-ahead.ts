/**
 * `f` of each item of `source`, in order, with up to `ahead` calls under way at once: work that runs
 * off the event loop (compression on libuv's thread pool) overlaps while the caller uses what came
 * before. Memory: at most `ahead` results waiting. A failing call throws when its turn comes.
 */
export async function* mapAhead<T, R>(source: AsyncIterable<T>, ahead: number, f: (item: T) => Promise<R>): AsyncGenerator<R> {
  const it = source[Symbol.asyncIterator]();
  const queue: Promise<R>[] = [];
  let exhausted = false;
  const fill = async () => {
    while (!exhausted && queue.length < ahead) {
      const r = await it.next();
      if (r.done) {
        exhausted = true;
        break;
      }
      const p = f(r.value);
      p.catch(() => undefined); // awaited in order below; an early failure must not go unhandled
      queue.push(p);
    }
  };
  try {
    await fill();
    while (queue.length > 0) {
      const result = await queue.shift()!;
      await fill();
      yield result;
    }
  } finally {
    if (!exhausted) await it.return?.();
  }
}
