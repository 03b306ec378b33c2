import cliProgress from 'cli-progress';

export interface ProgressUpdate {
  done: number;
  total: number;
  bytes: number;
}

/**
 * Progress for long operations, on stderr: a bar with blocks/s and ETA on a TTY, a plain line every
 * few seconds otherwise (logs, cron mail), and nothing at all with `quiet`.
 */
export class ProgressReporter {
  private bar?: cliProgress.SingleBar;
  private readonly began = Date.now();
  /** The first plain line comes one interval after the start: a rate over less than that is noise. */
  private lastLine = this.began;
  private last: ProgressUpdate = { done: 0, total: 0, bytes: 0 };

  constructor(
    private readonly label: string,
    /** `unit`: what is counted (default blocks). */
    private readonly opts: { quiet?: boolean; intervalMs?: number; unit?: string } = {},
  ) {}

  private get unit(): string {
    return this.opts.unit ?? 'blocks';
  }

  /** `total` 0: not known beforehand (a count and a rate, no bar, no ETA). */
  start(total: number): void {
    this.last.total = total;
    if (this.opts.quiet) return;
    const unit = this.unit;
    if (process.stderr.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          format:
            total > 0
              ? `${this.label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | {mb} MB | ETA {eta_formatted}`
              : `${this.label} {value} ${unit} | {rate} ${unit}/s | {mb} MB`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total > 0 ? total : Number.MAX_SAFE_INTEGER, 0, { rate: '0', mb: '0.0' });
    } else if (total > 0) {
      process.stderr.write(`${this.label}: ${total} ${unit}\n`);
    }
  }

  update(u: ProgressUpdate): void {
    this.last = u;
    if (this.opts.quiet) return;
    const rate = this.rate(u.done);
    if (this.bar) {
      if (u.total > 0 && u.total !== this.bar.getTotal()) this.bar.setTotal(u.total);
      this.bar.update(u.done, { rate: rate.toFixed(0), mb: (u.bytes / 1e6).toFixed(1) });
      return;
    }
    const now = Date.now();
    if (now - this.lastLine < (this.opts.intervalMs ?? 5000)) return;
    this.lastLine = now;
    const unit = this.unit;
    if (u.total <= 0) {
      process.stderr.write(`${this.label}: ${u.done} ${unit}, ${rate.toFixed(0)} ${unit}/s, ${(u.bytes / 1e6).toFixed(1)} MB\n`);
      return;
    }
    const eta = rate > 0 ? Math.round((u.total - u.done) / rate) : undefined;
    process.stderr.write(
      `${this.label}: ${u.done}/${u.total} ${unit} (${pct(u.done, u.total)}), ${rate.toFixed(0)} ${unit}/s, ${(u.bytes / 1e6).toFixed(1)} MB${eta === undefined ? '' : `, ETA ${eta}s`}\n`,
    );
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  elapsedMs(): number {
    return Date.now() - this.began;
  }

  private rate(done: number): number {
    const s = (Date.now() - this.began) / 1000;
    return s > 0 ? done / s : 0;
  }
}

function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '-';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${(ms / 1000).toFixed(1)}s`;
}
