/**
 * `p`, or the abort of `signal`, whichever comes first: a wait the caller gives up when it stops. What
 * `p` does goes on (nothing here cancels it); its result or failure is then ignored.
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined); // its failure, if any, is ignored as the comment says
    return Promise.reject(signal.reason);
  }
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
 * `source` is closed in the background (its `return` runs once its wait ends). A consumer that stops
 * reading without an abort closes `source` before it goes on.
 */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      signal.throwIfAborted();
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
    // Closed now when the consumer stops reading (a break, a failure of its own); in the background
    // only after an abort, when the source may be in a wait that never ends.
    if (!finished) {
      if (signal.aborted) void Promise.resolve(it.return?.()).catch(() => undefined);
      else await it.return?.();
    }
  }
}
