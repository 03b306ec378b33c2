export interface RetryPolicy {
  /** Attempts in all (1: no retry). */
  attempts: number;
  /** Delay before the first retry; doubled for each later one, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** The delay before retry number `n` (1-based): exponential backoff with a cap. */
export function backoffMs(n: number, p: RetryPolicy): number {
  return Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (n - 1));
}

/**
 * Run `fn` until it succeeds, at most `policy.attempts` times, waiting with exponential backoff between
 * tries and telling `onRetry` about each failure that will be retried. Throws the last error, or
 * `signal`'s reason as soon as it is aborted.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; onRetry?: (err: unknown, attempt: number, delayMs: number) => void } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn();
    } catch (err) {
      if (attempt >= policy.attempts || opts.signal?.aborted) throw err;
      const delay = backoffMs(attempt, policy);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
