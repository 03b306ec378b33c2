import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RestoreProgress } from '../../../src/backup/restore.js';
import { restoreProgress } from '../../../src/cli/progress.js';

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

function printed(quiet: boolean): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  const tty = process.stderr.isTTY;
  process.stderr.isTTY = false; // plain lines, as in a log or cron mail
  try {
    const p = restoreProgress('restore', quiet, 0);
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

  it('prints nothing with --quiet', () => {
    expect(printed(true)).toEqual([]);
  });
});
