/**
 * A fixed number of slots for long server streams (export, snapshot, import): each holds LevelDB
 * snapshots, a producer and buffers for as long as its client takes to read it, so their number is
 * bounded. BackupNow calls waiting for their backup take slots of their own kind too.
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
