/**
 * A fixed number of slots for long server streams (export, snapshot): each holds LevelDB snapshots,
 * a producer and buffers for as long as its client takes to read it, so their number is bounded.
 */
export class StreamSlots {
  private used = 0;

  constructor(readonly max: number) {}

  /** A slot's release function (idempotent), or undefined when all are taken. */
  take(): (() => void) | undefined {
    if (this.used >= this.max) return undefined;
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
    };
  }

  get inUse(): number {
    return this.used;
  }
}
