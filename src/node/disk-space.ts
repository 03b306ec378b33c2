import { EventEmitter } from 'node:events';
import { statfs } from 'node:fs/promises';

export interface DiskSpaceState {
  /** Below the floor: the node must not write. */
  low: boolean;
  freeBytes: number;
}

/**
 * Watches the free space of the file system holding the data dir. LevelDB fails every write after one
 * fails for lack of space (its error is sticky until the database is reopened), so the node stops
 * writing before that happens, as geth does with --datadir.minfreedisk: below `minFreeBytes` it is
 * `low`, and it recovers once space is back above the floor plus a margin (so it does not flap).
 */
export class DiskSpaceGuard extends EventEmitter<{ change: [DiskSpaceState] }> {
  private timer?: NodeJS.Timeout;
  state: DiskSpaceState = { low: false, freeBytes: Number.POSITIVE_INFINITY };

  constructor(
    private readonly path: string,
    readonly minFreeBytes: number,
    private readonly opts: { intervalMs?: number; statfs?: (path: string) => Promise<{ bavail: number; bsize: number }> } = {},
  ) {
    super();
  }

  /** Margin above the floor needed to leave the low state. */
  get resumeBytes(): number {
    return this.minFreeBytes + Math.max(this.minFreeBytes / 4, 8 * 1024 * 1024);
  }

  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check().catch(() => undefined), this.opts.intervalMs ?? 2000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Measure now; emits 'change' when the node crosses the floor either way. */
  async check(): Promise<DiskSpaceState> {
    if (this.minFreeBytes <= 0) return this.state;
    const s = await (this.opts.statfs ?? statfs)(this.path);
    const freeBytes = s.bavail * s.bsize;
    const low = this.state.low ? freeBytes < this.resumeBytes : freeBytes < this.minFreeBytes;
    const changed = low !== this.state.low;
    this.state = { low, freeBytes };
    if (changed) this.emit('change', this.state);
    return this.state;
  }
}
