/**
 * Wait for a condition, the one way tests wait: `pred` is polled every `everyMs` until it gives a value
 * other than undefined or false (a throw counts as "not yet": a node may not answer while it starts),
 * which is returned; after `ms` it fails naming `what`. Tests wait on conditions, never on sleeps.
 */
export async function until<T>(pred: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 40_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve()
      .then(pred)
      .catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
