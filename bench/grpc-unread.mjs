// Unread operator streams (hardening issue): a node's RSS while N export or snapshot calls are open
// on a connection whose client has stopped reading (it sent the requests, then never reads its
// socket again). Prints figures, asserts nothing. Usage: npm run bench:grpc-unread
//   BASALT_BENCH_UNREAD (default 60), BASALT_BENCH_UNREAD_KIND (Export | Snapshot, default Export;
//   uncompressed, the whole chain), BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench),
//   BASALT_BENCH_SERVER_ARGS: extra server flags (e.g. "--grpc-max-streams 100" to let every call in),
//   BASALT_BENCH_CLI: another build's dist/cli/main.js, to compare.
// (A paused @grpc/grpc-js client is no such client: it goes on reading into its own memory.)
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixture } from './lib/fixture.mjs';
import { CLI, mb } from './lib/util.mjs';

const N = Number(process.env.BASALT_BENCH_UNREAD ?? 60);
const KIND = process.env.BASALT_BENCH_UNREAD_KIND ?? 'Export';
const extra = (process.env.BASALT_BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean);
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-unread-'));
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let node;
try {
  const fx = await ensureFixture();
  const src = join(work, 'src');
  cpSync(fx.dataDir, src, { recursive: true });
  const cli = process.env.BASALT_BENCH_CLI ?? CLI;
  node = spawn(
    process.execPath,
    [cli, 'server', '--data-dir', src, '--chain', fx.genesisPath, '--no-jsonrpc', '--grpc-address', '127.0.0.1:0', '--log-format', 'json', ...extra],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  node.stderr.on('data', (d) => (log += d));
  let port;
  for (let i = 0; i < 100 && !port; i++) {
    await sleep(200);
    port = Number(/"port":(\d+)[^\n]*gRPC operator API listening/.exec(log)?.[1]) || undefined;
  }
  if (!port) throw new Error(`no port: ${log}`);
  const before = rss(node.pid);
  let sock;
  const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => (sock = net.connect(port, '127.0.0.1')) });
  session.on('error', () => undefined);
  const statuses = [];
  // compression "none" (ExportRequest field 3, SnapshotRequest field 1)
  const msg = Buffer.concat([Buffer.from([KIND === 'Export' ? 0x1a : 0x0a, 4]), Buffer.from('none')]);
  const request = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
  for (let i = 0; i < N; i++) {
    const req = session.request({ ':method': 'POST', ':path': `/basalt.operator.v1.Operator/${KIND}`, 'content-type': 'application/grpc', te: 'trailers' });
    req.on('error', () => undefined);
    req.on('response', (h) => h['grpc-status'] && statuses.push(h['grpc-status'])); // trailers-only: refused
    req.end(request);
  }
  await sleep(500);
  sock.pause(); // from now on the client reads nothing
  let peak = before;
  for (let t = 0; t < 20; t++) {
    await sleep(500);
    peak = Math.max(peak, rss(node.pid));
  }
  const held = rss(node.pid);
  session.destroy();
  await sleep(3000);
  const after = rss(node.pid);
  const refused = statuses.filter((s) => s === '8').length;
  process.stdout.write(
    `fixture: ${fx.blocks} blocks; ${N} ${KIND} calls never read (${refused} refused with RESOURCE_EXHAUSTED); node RSS before ${mb(before)} MB, peak ${mb(peak)} MB, after 10 s ${mb(held)} MB, 3 s after the client left ${mb(after)} MB\n`,
  );
} finally {
  node?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
