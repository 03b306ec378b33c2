import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, tempDir } from '../helpers/cli.js';

const UNIT = new URL('../../docs/deploy/basalt.service', import.meta.url);
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** The unit's [Service] settings, key to values in order. */
function settings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

describe('docs/deploy/basalt.service', () => {
  const text = readFileSync(UNIT, 'utf8');
  const s = settings(text);

  it('stops the node gracefully, gives the flush time, restarts on failure, runs as its own user and writes only its data dir', () => {
    expect(s.get('KillSignal')).toEqual(['SIGINT']);
    expect(Number(s.get('TimeoutStopSec')![0])).toBeGreaterThanOrEqual(60);
    expect(s.get('Restart')).toEqual(['on-failure']);
    expect(s.get('RestartPreventExitStatus')).toEqual(['3']); // DATA_LOSS: restore, do not loop
    expect(Number(s.get('LimitNOFILE')![0])).toBeGreaterThanOrEqual(65536);
    expect(s.get('User')).toEqual(['basalt']);
    expect(s.get('ProtectSystem')).toEqual(['strict']);
    // The data dir of the README's production config is the one path it may write.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const dataDir = /^data-dir = "([^"]+)"$/m.exec(readme)?.[1];
    expect(s.get('ReadWritePaths')).toEqual([dataDir]);
    expect(s.get('ExecStart')![0]).toMatch(/ server --config \/etc\/basalt\/basalt\.toml /);
  });

  it.skipIf(!hasSystemdAnalyze)(
    `passes systemd-analyze verify without a warning${hasSystemdAnalyze ? '' : ' (skipped: systemd-analyze is not installed)'}`,
    () => {
      const dir = tempDir();
      const unit = join(dir, 'basalt.service');
      writeFileSync(unit, text.replace('ExecStart=/usr/local/bin/basalt', `ExecStart=${CLI}`));
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      // verify exits 0 on settings it cannot parse ("ignoring"): any output is a finding.
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
      // And it would have told: a broken setting is reported.
      writeFileSync(unit, text.replace('ExecStart=/usr/local/bin/basalt', `ExecStart=${CLI}`).replace('KillSignal=SIGINT', 'KillSignal=SIGNOPE'));
      expect(spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' }).stderr).toMatch(/signal/i);
    },
  );
});
