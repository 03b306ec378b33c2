import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RestoreProgress } from '../../../src/backup/restore.js';
import { ProgressReporter, restoreProgress, snapshotProgress } from '../../../src/cli/progress.js';
import type { SnapshotProgress } from '../../../src/backup/types.js';

/** What a restore reports, phase by phase: a repository's restore of a head at block 10 from 3 packs. */
const PHASES: RestoreProgress[] = [
  { phase: 'genesis', blocksDone: 0n, blocksTotal: 10n, nodes: 0, bytesRead: 100 },
  ...[1, 5, 10].map((b): RestoreProgress => ({ phase: 'blocks', blocksDone: BigInt(b), blocksTotal: 10n, nodes: 0, bytesRead: 100 * b })),
  ...[0, 1, 3].map(
    (done): RestoreProgress => ({ phase: 'packs', blocksDone: 10n, blocksTotal: 10n, nodes: 0, bytesRead: 2_000_000 * done, packs: { done, total: 3 } }),
  ),
  ...[500, 1000].map((nodes): RestoreProgress => ({ phase: 'state', blocksDone: 10n, blocksTotal: 10n, nodes, bytesRead: 7_000_000 })),
  { phase: 'check', blocksDone: 10n, blocksTotal: 10n, nodes: 1000, bytesRead: 7_000_000 },
];

function printed(quiet: boolean, fileBytes?: number): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  const tty = process.stderr.isTTY;
  process.stderr.isTTY = false; // plain lines, as in a log or cron mail
  try {
    const p = restoreProgress('restore', quiet, 0, fileBytes);
    for (const ev of PHASES) p.onProgress(ev);
    p.stop();
  } finally {
    process.stderr.isTTY = tty;
  }
  return lines;
}

describe('restore progress (plain lines)', () => {
  afterEach(() => vi.restoreAllMocks());

  it('says each phase in its own unit: the genesis check, blocks of the total, packs of the total, state nodes', () => {
    const lines = printed(false);
    expect(lines[0]).toMatch(/^restore: checking the genesis file against the backup's genesis hash/);
    expect(lines).toContain('restore: blocks: 10 blocks');
    expect(lines.some((l) => /^restore: blocks: 5\/10 blocks \(50\.0%\)/.test(l))).toBe(true);
    expect(lines).toContain('restore: packs: 3 packs');
    expect(lines.some((l) => /^restore: packs: 1\/3 packs \(33\.3%\), \d+(\.\d)? packs\/s, 2\.0 MB/.test(l))).toBe(true);
    expect(lines.some((l) => /^restore: state: 1000 nodes, \d+(\.\d)? nodes\/s, 7\.0 MB$/.test(l))).toBe(true);
    // Each phase's lines come after the one before it; nothing after the check.
    const first = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(first(/^restore: blocks/)).toBeLessThan(first(/^restore: packs/));
    expect(first(/^restore: packs/)).toBeLessThan(first(/^restore: state/));
    expect(lines.every((l) => l.startsWith('restore: '))).toBe(true);
  });

  it("counts the state in the file's megabytes, with an ETA, where the file's size is known", () => {
    // 3 packs' 6 MB before the state, a 10 MB file: 4 MB of state; the state phase reports 7 MB read.
    const lines = printed(false, 10_000_000);
    expect(lines).toContain('restore: state: 4 MB');
    expect(lines.some((l) => /^restore: state: 1\/4 MB \(25\.0%\), \d+(\.\d)? MB\/s, 7\.0 MB/.test(l))).toBe(true);
    expect(lines.some((l) => /nodes/.test(l))).toBe(false);
  });

  it('prints nothing with --quiet', () => {
    expect(printed(true)).toEqual([]);
  });
});

describe('snapshot progress (plain lines)', () => {
  afterEach(() => vi.restoreAllMocks());

  const run = (nodesExpected: number) => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return true;
    });
    const tty = process.stderr.isTTY;
    process.stderr.isTTY = false;
    // A second between reports: rates and ETAs to print.
    vi.useFakeTimers({ toFake: ['Date'] });
    let now = Date.now();
    try {
      const progress = new ProgressReporter('snapshot', { intervalMs: 0 });
      progress.start(12);
      const on = snapshotProgress(progress, 'snapshot');
      const ev = (phase: SnapshotProgress['phase'], blocksDone: bigint, nodes: number): SnapshotProgress => ({
        phase,
        blocksDone,
        blocksTotal: 12n,
        nodes,
        codes: 0,
        bytes: 1_000_000 + nodes * 100,
        nodesExpected,
      });
      const tick = () => vi.setSystemTime((now += 1000));
      for (const b of [6n, 12n]) tick(), on(ev('blocks', b, 0));
      for (const n of [0, 500, 1500]) tick(), on(ev('state', 12n, n));
      progress.stop();
    } finally {
      process.stderr.isTTY = tty;
      vi.useRealTimers();
    }
    return lines;
  };

  it('gives the state a bar of its own in nodes, with an ETA from the kept size, full when the state outgrew it', () => {
    const lines = run(1000);
    expect(lines[0]).toBe('snapshot: 12 blocks');
    expect(lines.some((l) => /^snapshot: 6\/12 blocks \(50\.0%\)/.test(l))).toBe(true);
    expect(lines).toContain('snapshot: state: 1000 nodes');
    expect(lines.some((l) => /^snapshot: state: 500\/1000 nodes \(50\.0%\), \d+(\.\d)? nodes\/s, 1\.1 MB, ETA \d+s$/.test(l))).toBe(true);
    expect(lines.some((l) => /^snapshot: state: 1500\/1500 nodes \(100\.0%\)/.test(l))).toBe(true);
  });

  it('counts the state without a total where the node keeps no size', () => {
    const lines = run(0);
    expect(lines.some((l) => /^snapshot: state: 500 nodes, \d+(\.\d)? nodes\/s, 1\.1 MB$/.test(l))).toBe(true);
    expect(lines.some((l) => /ETA/.test(l) && l.startsWith('snapshot: state'))).toBe(false);
  });
});
