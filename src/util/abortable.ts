/**
 * `p`, or the abort of `signal`, whichever comes first: a wait the caller gives up when it stops. What
 * `p` does goes on (nothing here cancels it); its result or failure is then ignored.
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/**
 * The items of `source` until `signal` aborts: then the iteration throws the abort's reason at once,
 * even while `source` is waiting on something it cannot cancel (a request without a signal), and
 * `source` is closed in the background (its `return` runs once its wait ends).
 */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const next = it.next();
      let r: IteratorResult<T>;
      try {
        r = await abortable(next, signal);
      } catch (err) {
        if (signal.aborted) next.catch(() => undefined); // its failure, if any, comes after we stopped listening
        throw err;
      }
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!finished) void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}
