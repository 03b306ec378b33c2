// Snapshot-sync benchmark. Prints figures, asserts nothing. Usage: npm run bench:snapshot-sync
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench).
// A node holding the benchmark chain serves it over libp2p; a new node reaches its head with
// `--sync full` (every block fetched, verified and executed), then another with `--sync snapshot`
// (the head's snapshot without history fetched and verified as `restore` does, then the history
// back-filled from the peer), same chain, same run. Time: from
// the new node's process start to the log line that it holds the head. Bytes: what crossed the
// connection, both ways, counted by a TCP relay between the two nodes (noise and yamux included).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixture } from './lib/fixture.mjs';
import { startNode } from './lib/node.mjs';

const work = mkdtempSync(join(tmpdir(), 'basalt-bench-snapsync-'));
const nodes = [];
const servers = [];
const report = (line) => process.stdout.write(`${line}\n`);

const node = (args) => {
  const n = startNode(args);
  nodes.push(n);
  return n;
};

/** A TCP relay to host:port counting the bytes both ways. */
async function relay(port) {
  const counter = { bytes: 0 };
  const srv = createServer((inbound) => {
    const out = createConnection({ host: '127.0.0.1', port });
    inbound.on('data', (d) => (counter.bytes += d.length));
    out.on('data', (d) => (counter.bytes += d.length));
    inbound.pipe(out).on('error', () => undefined);
    out.pipe(inbound).on('error', () => undefined);
    inbound.on('error', () => out.destroy());
    out.on('error', () => inbound.destroy());
  });
  servers.push(srv);
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { port: srv.address().port, counter };
}

const mb = (b) => `${(b / 1e6).toFixed(2)} MB`;

try {
  const fx = await ensureFixture();
  report(`fixture: ${fx.blocks} blocks, ${fx.txs} transactions (transfers and contract storage writes)`);
  const src = join(work, 'src');
  cpSync(fx.dataDir, src, { recursive: true });
  const server = node(['--data-dir', src, '--chain', fx.genesisPath, '--libp2p', '127.0.0.1:0']);
  const addr = (await server.waitFor((l) => l.event === 'p2p.listening', 'source listening')).addresses[0];
  const [, , , , port, , peerId] = addr.split('/');
  const results = {};
  for (const mode of ['full', 'snapshot']) {
    const r = await relay(Number(port));
    const n = node([
      '--data-dir',
      join(work, mode),
      '--chain',
      fx.genesisPath,
      '--libp2p',
      '127.0.0.1:0',
      '--bootnode',
      `/ip4/127.0.0.1/tcp/${r.port}/p2p/${peerId}`,
      '--sync',
      mode,
    ]);
    const done = await n.waitFor(
      mode === 'full' ? (l) => l.event === 'sync.progress' && l.head === fx.blocks : (l) => l.event === 'snapshot-sync.restored' && l.head === fx.blocks,
      `${mode} sync to the head`,
    );
    results[mode] = { ms: done.time - n.started, bytes: r.counter.bytes };
    report(`--sync ${mode}: head ${fx.blocks} in ${results[mode].ms} ms from process start, ${mb(r.counter.bytes)} over the connection`);
    if (mode === 'snapshot') {
      // The snapshot holds no history: the node serves at its head, then back-fills from the peer.
      const filled = await n.waitFor((l) => l.event === 'history.backfilled', 'history back-filled');
      results.history = { ms: filled.time - n.started, bytes: r.counter.bytes };
      report(`--sync snapshot: whole history back-filled ${results.history.ms} ms from process start, ${mb(r.counter.bytes)} over the connection by then`);
    }
    await n.stop();
  }
  report(`snapshot/full: time ${(results.snapshot.ms / results.full.ms).toFixed(2)}x, bytes ${(results.snapshot.bytes / results.full.bytes).toFixed(2)}x`);
  report(
    `snapshot with its history back-filled / full: time ${(results.history.ms / results.full.ms).toFixed(2)}x, bytes ${(results.history.bytes / results.full.bytes).toFixed(2)}x`,
  );
  await server.stop();
} finally {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  for (const s of servers) s.close();
  rmSync(work, { recursive: true, force: true });
}
