import type { Logger } from '../util/log.js';

/**
 * The parts of a running node, started one after the other and stopped in reverse by one loop (as
 * geth's node.Lifecycle): adding a part is one `start` call, never an edit of start, stop and the error
 * path. A part that fails to start is not kept; the caller stops the ones started before it.
 */
export class Lifecycle {
  private readonly parts: { name: string; stopping: string | undefined; stop: () => Promise<void> | void }[] = [];
  private stopping?: Promise<void>;

  constructor(private readonly log: Logger) {}

  /**
   * Start a part: `start` brings it up and returns it, `stop` takes it down. `stopping` is logged (at
   * info) as it is taken down.
   */
  async start<T>(name: string, start: () => Promise<T> | T, stop: (part: T) => Promise<void> | void, stopping?: string): Promise<T> {
    if (this.stopping !== undefined) throw new Error(`cannot start ${name}: the node is stopping`);
    const part = await start();
    this.parts.push({ name, stopping, stop: () => stop(part) });
    return part;
  }

  /** Names of the parts started, in order. */
  get names(): string[] {
    return this.parts.map((p) => p.name);
  }

  /**
   * Stop every part started, the last first, each once: a part that fails to stop is logged and the
   * others are still stopped. The first failure is thrown at the end. Safe to call more than once.
   * `quiet`: without the parts' `stopping` lines (a start that failed: its error is the one line to see).
   */
  stopAll(opts: { quiet?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      let first: unknown;
      for (const p of this.parts.reverse()) {
        if (p.stopping && !opts.quiet) this.log.info(p.stopping);
        try {
          await p.stop();
        } catch (err) {
          first ??= err;
          this.log.error({ part: p.name, err: err instanceof Error ? err.message : String(err) }, 'a part of the node failed to stop');
        }
      }
      if (first !== undefined) throw first;
    })();
    return this.stopping;
  }
}
