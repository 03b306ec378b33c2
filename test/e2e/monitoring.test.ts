import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, processesKilledAfterAll, rpc, serverArgs, singleValidatorChain } from '../helpers/cli.js';

const running = processesKilledAfterAll();
const MONITORING = new URL('../../docs/monitoring/', import.meta.url);
const file = (name: string) => new URL(name, MONITORING).pathname;
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
const skipped = hasPromtool ? '' : " (skipped: promtool is not installed; .ci/run installs Debian's prometheus package)";

/** The metric families of an exposition text, with the label names their samples carry. */
function families(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) out.set(type[1]!, out.get(type[1]!) ?? new Set());
  }
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? /.exec(line);
    if (!m || line.startsWith('#')) continue;
    const family = out.has(m[1]!) ? m[1]! : m[1]!.replace(/_(bucket|sum|count)$/, '');
    const labels = out.get(family);
    if (!labels) continue;
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) if (l[1] !== 'le') labels.add(l[1]!);
  }
  return out;
}

/** Metric names a PromQL text refers to (ours and the process's). */
function metricNames(promql: string): string[] {
  return [...new Set([...promql.matchAll(/\b((?:basalt|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!))];
}
const familyOf = (name: string, known: Map<string, Set<string>>) => (known.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ''));

describe('monitoring: alert rules, their tests and the dashboard against a real node', () => {
  let text: string;
  let known: Map<string, Set<string>>;
  beforeAll(async () => {
    const c = singleValidatorChain();
    const node = new CliProcess(
      serverArgs(c.node1, c.genesis, [
        '--seal',
        '--block-time',
        '0.5',
        '--prometheus',
        '127.0.0.1:0',
        '--backup-dir',
        join(c.dir, 'backups'),
        '--backup-snapshot-interval',
        '1s',
      ]),
    );
    running.push(node);
    const url = await node.rpcUrl();
    await rpc(url, 'eth_blockNumber');
    await rpc(url, 'nobody_method').catch(() => undefined);
    await node.waitForEvent('backup.stored', (e) => e.kind === 'snapshot', 30_000);
    const metrics = `http://${(await node.waitForEvent('metrics.listening')).address}/metrics`;
    text = await (await fetch(metrics)).text();
    known = families(text);
  }, 60_000);

  it('every metric the rules, their tests and the dashboard use is one the node exposes, with the labels the tests give it', () => {
    const rules = readFileSync(file('alerts.yml'), 'utf8');
    const tests = readFileSync(file('alerts.test.yml'), 'utf8');
    const dashboard = JSON.parse(readFileSync(file('grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set([...metricNames(rules), ...dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr)))]);
    expect(used.size).toBeGreaterThan(15);
    for (const name of used) expect(known.has(familyOf(name, known)), `${name} is not in the node's /metrics`).toBe(true);
    const series = [...tests.matchAll(/series: '([a-z_]+)\{([^}]*)\}'/g)];
    expect(series.length).toBeGreaterThan(8);
    for (const [, name, labels] of series) {
      const family = familyOf(name!, known);
      expect(known.has(family), `${name} is not in the node's /metrics`).toBe(true);
      const labelNames = [...labels!.matchAll(/([a-z_]+)="/g)].map((m) => m[1]!).filter((l) => l !== 'instance' && l !== 'job');
      // Families the node has samples of (a validator alone misses no seal: that counter has none yet).
      if (known.get(family)!.size > 0) expect([...known.get(family)!].sort(), name).toEqual(labelNames.sort());
    }
    // The samples are there, not only the declarations.
    expect(text).toMatch(/^basalt_backup_last_success_timestamp_seconds\{kind="snapshot",target="[^"]+"\} \d+/m);
    expect(text).toMatch(/^basalt_jsonrpc_requests_total\{method="eth_blockNumber"\} [1-9]/m);
    expect(text).toMatch(/^basalt_jsonrpc_requests_total\{method="other"\} 1$/m);
    expect(text).toMatch(/^basalt_peers_by_direction\{direction="inbound"\} 0$/m);
  });

  it.skipIf(!hasPromtool)(`promtool accepts the node's /metrics, the rules, and the rules' unit tests pass${skipped}`, () => {
    const metrics = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(metrics.status, `${metrics.stdout}${metrics.stderr}`).toBe(0);
    expect(`${metrics.stdout}${metrics.stderr}`.trim()).toBe('');
    const rules = spawnSync('promtool', ['check', 'rules', file('alerts.yml')], { encoding: 'utf8' });
    expect(rules.status, rules.stdout + rules.stderr).toBe(0);
    expect(rules.stdout).toContain('SUCCESS: 7 rules found');
    const unit = spawnSync('promtool', ['test', 'rules', file('alerts.test.yml')], { encoding: 'utf8', cwd: MONITORING.pathname });
    expect(unit.status, unit.stdout + unit.stderr).toBe(0);
    expect(unit.stdout).toContain('SUCCESS');
  });
});
