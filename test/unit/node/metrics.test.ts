import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { NodeMetrics } from '../../../src/node/metrics.js';

let m: NodeMetrics | undefined;
afterEach(async () => {
  await m?.close();
});

it('serves the backup, chain and pool metrics on GET /metrics, basalt_peers and the clock gauges once networking sets them, 404 elsewhere', async () => {
  let head = 7n;
  const dir = mkdtempSync(join(tmpdir(), 'basalt-metrics-'));
  mkdirSync(join(dir, 'blockchain'));
  writeFileSync(join(dir, 'blockchain', '000001.ldb'), new Uint8Array(1000));
  writeFileSync(join(dir, 'blockchain', 'MANIFEST-000002'), new Uint8Array(24));
  let diskLow = false;
  m = new NodeMetrics({
    headBlock: () => head,
    validators: () => 4,
    txpool: () => ({ pending: 3, queued: 2 }),
    trieCache: () => ({ bytes: 1234, limitBytes: 8 * 1024 * 1024 }),
    diskLow: () => diskLow,
    dataDir: { blockchain: join(dir, 'blockchain'), trie: join(dir, 'trie') }, // trie/ missing: 0
  });
  const at = await m.listen({ host: '127.0.0.1', port: 0 }, pino({ level: 'silent' }));
  const url = `http://127.0.0.1:${at.port}`;
  m.backupStored('snapshot', '/b', 1500, 4096, 1_800_000_000_000);
  m.backupFailed('archive', 's3://x/y');
  m.backupFailed('archive', 's3://x/y');
  head = 9n;
  let text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toContain('basalt_backup_last_success_timestamp_seconds{kind="snapshot",target="/b"} 1800000000');
  expect(text).toContain('basalt_backup_bytes{kind="snapshot",target="/b"} 4096');
  expect(text).toContain('basalt_backup_duration_seconds_sum{kind="snapshot",target="/b"} 1.5');
  expect(text).toContain('basalt_backup_failures_total{kind="archive",target="s3://x/y"} 2');
  expect(text).toContain('basalt_chain_head_block 9');
  expect(text).toContain('basalt_ibft_validators 4');
  expect(text).toContain('basalt_txpool_pending 3');
  expect(text).toMatch(/^basalt_txpool_queued 2$/m);
  expect(text).toMatch(/^basalt_disk_guard_active 0$/m);
  expect(text).toMatch(/^basalt_db_size_bytes\{db="blockchain"\} 1024$/m);
  expect(text).toMatch(/^basalt_db_size_bytes\{db="trie"\} 0$/m);
  // The process metrics prom-client collects, unprefixed.
  expect(text).toMatch(/^process_cpu_seconds_total /m);
  expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  // JSON-RPC calls by method; a method the node does not serve is 'other', never its own series.
  m.jsonrpcCall('eth_call', true, 0.003);
  m.jsonrpcCall('eth_call', false, 0.2);
  m.jsonrpcCall('other', false, 0);
  diskLow = true;
  text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toMatch(/^basalt_jsonrpc_requests_total\{method="eth_call"\} 2$/m);
  expect(text).toMatch(/^basalt_jsonrpc_errors_total\{method="eth_call"\} 1$/m);
  expect(text).toMatch(/^basalt_jsonrpc_errors_total\{method="other"\} 1$/m);
  expect(text).toMatch(/^basalt_jsonrpc_request_duration_seconds_bucket\{le="0.005",method="eth_call"\} 1$/m);
  expect(text).not.toMatch(/^basalt_jsonrpc_request_duration_seconds_count\{method="other"\}/m);
  expect(text).toMatch(/^basalt_disk_guard_active 1$/m);
  expect(text).toMatch(/^basalt_trie_cache_bytes 1234$/m);
  expect(text).toMatch(/^basalt_trie_cache_limit_bytes 8388608$/m);
  expect(text).not.toMatch(/^basalt_peers /m);
  expect(text).not.toMatch(/^basalt_ibft_round /m); // no validator yet
  let consensus: { round: number | undefined; roundChanges: number } = { round: 0, roundChanges: 0 };
  m.setConsensus(() => consensus);
  m.blockCommitted(2, []);
  m.blockCommitted(7, ['0xaa']);
  consensus = { round: 2, roundChanges: 3 };
  text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toMatch(/^basalt_ibft_round 2$/m);
  expect(text).toMatch(/^basalt_ibft_round_changes_total 3$/m);
  expect(text).toMatch(/^basalt_ibft_block_interval_seconds_bucket\{le="2"\} 1$/m);
  expect(text).toMatch(/^basalt_ibft_block_interval_seconds_count 2$/m);
  expect(text).toMatch(/^basalt_ibft_missing_seals_total\{validator="0xaa"\} 1$/m);
  consensus = { round: undefined, roundChanges: 5 };
  text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toMatch(/^basalt_ibft_round -1$/m);
  expect(text).toMatch(/^basalt_ibft_round_changes_total 5$/m); // counted once, not again
  m.setPeers(() => 4);
  expect(text).not.toMatch(/^basalt_sync_target_block /m);
  m.setSync({ peersByDirection: () => ({ inbound: 1, outbound: 3 }), targetBlock: () => 12n });
  text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toMatch(/^basalt_peers 4$/m);
  expect(text).toMatch(/^basalt_peers_by_direction\{direction="inbound"\} 1$/m);
  expect(text).toMatch(/^basalt_peers_by_direction\{direction="outbound"\} 3$/m);
  expect(text).toMatch(/^basalt_sync_target_block 12$/m);
  expect(text).not.toMatch(/^basalt_clock_offset_seconds /m);
  let clock: { offsetMs: number | undefined; skewed: boolean } = { offsetMs: undefined, skewed: false };
  m.setClock(() => clock);
  text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toMatch(/^basalt_clock_offset_seconds nan$/im); // not measured yet (prom-client writes "Nan", which Prometheus parses)
  expect(text).toMatch(/^basalt_clock_skewed 0$/m);
  clock = { offsetMs: -20_250, skewed: true };
  text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toMatch(/^basalt_clock_offset_seconds -20.25$/m);
  expect(text).toMatch(/^basalt_clock_skewed 1$/m);
  expect((await fetch(`${url}/`)).status).toBe(404);
  expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(404);
});
