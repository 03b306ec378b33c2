import cliProgress from 'cli-progress';
import type { RestoreProgress } from '../backup/restore.js';
import type { SnapshotProgress } from '../backup/types.js';

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
  /** When this phase began (next()): its rate is counted from then. */
  private phaseBegan = this.began;
  /** The first plain line comes one interval after the start: a rate over less than that is noise. */
  private lastLine = this.began;
  private last: ProgressUpdate = { done: 0, total: 0, bytes: 0 };

  constructor(
    private label: string,
    /** `unit`: what is counted (default blocks). */
    private readonly opts: { quiet?: boolean; intervalMs?: number; unit?: string } = {},
  ) {}

  /** Go on with another phase of the operation: a bar of its own, in its own unit, its rate counted from now. */
  next(label: string, unit: string, total: number): void {
    this.stop();
    this.label = label;
    this.opts.unit = unit;
    this.phaseBegan = this.lastLine = Date.now();
    this.last = { done: 0, total, bytes: this.last.bytes };
    this.start(total);
  }

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
      this.bar.update(u.done, { rate: formatRate(rate), mb: (u.bytes / 1e6).toFixed(1) });
      return;
    }
    const now = Date.now();
    if (now - this.lastLine < (this.opts.intervalMs ?? 5000)) return;
    this.lastLine = now;
    const unit = this.unit;
    if (u.total <= 0) {
      process.stderr.write(`${this.label}: ${u.done} ${unit}, ${formatRate(rate)} ${unit}/s, ${(u.bytes / 1e6).toFixed(1)} MB\n`);
      return;
    }
    const eta = rate > 0 ? Math.round((u.total - u.done) / rate) : undefined;
    process.stderr.write(
      `${this.label}: ${u.done}/${u.total} ${unit} (${pct(u.done, u.total)}), ${formatRate(rate)} ${unit}/s, ${(u.bytes / 1e6).toFixed(1)} MB${eta === undefined ? '' : `, ETA ${eta}s`}\n`,
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
    const s = (Date.now() - this.phaseBegan) / 1000;
    return s > 0 ? done / s : 0;
  }
}

/** A rate: whole numbers from 10 up, one decimal below (a few packs a second is not "0 packs/s"). */
function formatRate(r: number): string {
  return r >= 10 ? r.toFixed(0) : r.toFixed(1);
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

/**
 * A snapshot's progress on `progress` (started with the head's blocks): the blocks, then the state
 * in nodes, a bar of its own with an ETA where the node knows about how many it has (`nodesExpected`).
 */
export function snapshotProgress(progress: ProgressReporter, label: string): (p: SnapshotProgress) => void {
  let inState = false;
  return (p) => {
    if (p.phase === 'blocks') return progress.update({ done: Number(p.blocksDone), total: Number(p.blocksTotal), bytes: p.bytes });
    if (!inState) progress.next(`${label}: state`, 'nodes', p.nodesExpected);
    inState = true;
    // A state grown since it was measured: the count goes past the estimate, the bar stays full.
    progress.update({ done: p.nodes, total: p.nodesExpected > 0 ? Math.max(p.nodesExpected, p.nodes) : 0, bytes: p.bytes });
  };
}

/**
 * A restore's progress (`basalt restore`, `basalt backup restore`), phase by phase: a line when the
 * genesis is checked (about 30 s a million accounts, nothing to count), then a bar (or plain lines) for
 * each phase in its own unit and rate: blocks, a repository's packs, state nodes.
 */
export function restoreProgress(
  label: string,
  quiet: boolean,
  intervalMs?: number,
  /** The file's size, where known (not a pipe): the state phase then counts its bytes, with an ETA. */
  fileBytes?: number,
): { onProgress: (p: RestoreProgress) => void; stop: () => void } {
  let phase: RestoreProgress['phase'] | undefined;
  let bar: ProgressReporter | undefined;
  /** Bytes read when the state phase began (at the phase before's last report): what is left of the file is the state. */
  let stateFrom = 0;
  let lastBytes = 0;
  const begin = (next: RestoreProgress['phase'], unit: string, total: number) => {
    bar?.stop();
    phase = next;
    bar = new ProgressReporter(`${label}: ${next}`, { quiet, unit, ...(intervalMs !== undefined ? { intervalMs } : {}) });
    bar.start(total);
  };
  return {
    onProgress(p) {
      report(p);
      lastBytes = p.bytesRead;
    },
    stop() {
      bar?.stop();
      bar = undefined;
      phase = undefined;
    },
  };

  function report(p: RestoreProgress): void {
    if (p.phase === 'genesis' || p.phase === 'check') {
      if (phase === p.phase) return;
      bar?.stop();
      bar = undefined;
      phase = p.phase;
      if (!quiet && p.phase === 'genesis')
        process.stderr.write(
          `${label}: checking the genesis file against the backup's genesis hash (its state root: about 30 s a million accounts on 2 cores)\n`,
        );
      return;
    }
    if (p.phase === 'blocks') {
      if (phase !== 'blocks') begin('blocks', 'blocks', Number(p.blocksTotal));
      bar!.update({ done: Number(p.blocksDone), total: Number(p.blocksTotal), bytes: p.bytesRead });
    } else if (p.phase === 'packs') {
      const packs = p.packs ?? { done: 0, total: 0 };
      if (phase !== 'packs') begin('packs', 'packs', packs.total);
      bar!.update({ done: packs.done, total: packs.total, bytes: p.bytesRead });
    } else if (fileBytes !== undefined && fileBytes > 0) {
      // In MB of the file: nodes come in records of ~1 MiB, and their count ahead is not in the file.
      const mb = (n: number) => Math.round(n / 1e5) / 10;
      if (phase !== 'state') {
        stateFrom = lastBytes;
        begin('state', 'MB', mb(fileBytes - stateFrom));
      }
      bar!.update({ done: mb(p.bytesRead - stateFrom), total: mb(fileBytes - stateFrom), bytes: p.bytesRead });
    } else {
      if (phase !== 'state') begin('state', 'nodes', 0);
      bar!.update({ done: p.nodes, total: 0, bytes: p.bytesRead });
    }
  }
}
