// Export/import benchmark (issue #4). Prints figures, asserts nothing. Usage: npm run bench:archive
//   BASALT_BENCH_BLOCKS (default 2000), BASALT_BENCH_CACHE (default ~/.cache/basalt-bench)
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFixture } from './lib/fixture.mjs';
import { startNode } from './lib/node.mjs';
import { dirBytes, mb, percentile, runCliMeasured } from './lib/util.mjs';

const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);
const { secp256k1Backend } = await dist('util/native-secp256k1.js');
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-'));
const out = [];
const report = (line) => {
  out.push(line);
  process.stdout.write(`${line}\n`);
};

try {
  const fx = await ensureFixture();
  const src = join(work, 'src');
  cpSync(fx.dataDir, src, { recursive: true });
  report(
    `fixture: ${fx.blocks} blocks, ${fx.txs} transactions (transfers and contract storage writes); blockchain/ ${mb(await dirBytes(join(src, 'blockchain')))} MB, trie/ ${mb(await dirBytes(join(src, 'trie')))} MB`,
  );
  report(`signature recovery: ${secp256k1Backend}`);

  // --- export (offline, so the figure is the exporter's own) vs tar of blockchain/ ---
  for (const compression of ['zstd', 'gzip', 'none']) {
    const file = join(work, `chain-${compression}.bsa`);
    const r = await runCliMeasured(['export', file, '--data-dir', src, '--compression', compression, '--quiet', '--json']);
    if (r.code !== 0) throw new Error(r.stderr);
    const s = JSON.parse(r.stdout);
    const size = statSync(file).size;
    report(
      `export ${compression.padEnd(4)}: ${(fx.blocks / (s.durationMs / 1000)).toFixed(0)} blocks/s, ${mb(size / (s.durationMs / 1000))} MB/s of archive, ${mb(size)} MB, export ${s.durationMs} ms (process ${r.ms.toFixed(0)} ms), peak RSS ${mb(r.peakRss)} MB`,
    );
    if (compression === 'zstd') {
      const t0 = performance.now();
      const tar = spawnSync('sh', ['-c', `tar -cf ${join(work, 'bc.tar')} -C ${src} blockchain`]);
      const tarMs = performance.now() - t0;
      if (tar.status !== 0) throw new Error(String(tar.stderr));
      const tarSize = statSync(join(work, 'bc.tar')).size;
      const tzs = performance.now();
      spawnSync('sh', [
        '-c',
        `zstd -q -3 -f ${join(work, 'bc.tar')} -o ${join(work, 'bc.tar.zst')} 2>/dev/null || gzip -c ${join(work, 'bc.tar')} > ${join(work, 'bc.tar.zst')}`,
      ]);
      const tarZMs = performance.now() - tzs;
      report(
        `  tar blockchain/: ${tarMs.toFixed(0)} ms, ${mb(tarSize)} MB (+ compress ${tarZMs.toFixed(0)} ms -> ${mb(statSync(join(work, 'bc.tar.zst')).size)} MB); export/tar time ratio ${(s.durationMs / tarMs).toFixed(2)}x (process ${(r.ms / tarMs).toFixed(2)}x), size ratio ${(size / tarSize).toFixed(3)}`,
      );
    }
  }

  // --- import (offline, full verification and execution) vs bare @ethereumjs/vm replay in memory ---
  const archive = join(work, 'chain-zstd.bsa');
  const dst = join(work, 'dst');
  const imp = await runCliMeasured(['import', archive, '--data-dir', dst, '--chain', fx.genesisPath, '--quiet', '--json']);
  if (imp.code !== 0) throw new Error(imp.stderr);
  const is = JSON.parse(imp.stdout);
  const importSec = is.durationMs / 1000;
  report(
    `import: ${(fx.blocks / importSec).toFixed(0)} blocks/s, ${(fx.txs / importSec).toFixed(0)} tx/s (${is.durationMs} ms; process ${imp.ms.toFixed(0)} ms incl. pre-check), peak RSS ${mb(imp.peakRss)} MB`,
  );
  // Same import with signature recovery forced onto the pure-JS default: what libsecp256k1 buys.
  const pureJs = await runCliMeasured(['import', archive, '--data-dir', join(work, 'dst-purejs'), '--chain', fx.genesisPath, '--quiet', '--json'], {
    env: { BASALT_PURE_JS_CRYPTO: '1' },
  });
  if (pureJs.code !== 0) throw new Error(pureJs.stderr);
  const pjMs = JSON.parse(pureJs.stdout).durationMs;
  report(
    `  import with pure-JS secp256k1 (BASALT_PURE_JS_CRYPTO=1): ${(fx.blocks / (pjMs / 1000)).toFixed(0)} blocks/s (${pjMs} ms); ${secp256k1Backend} import is ${(pjMs / is.durationMs).toFixed(2)}x faster`,
  );
  const bareMs = await bareReplay(archive, fx.genesisPath);
  report(
    `  bare @ethereumjs/vm replay in memory: ${bareMs.toFixed(0)} ms (${(fx.blocks / (bareMs / 1000)).toFixed(0)} blocks/s); import/bare time ratio ${(is.durationMs / bareMs).toFixed(2)}x`,
  );

  // --- JSON-RPC latency, idle vs during an online export ---
  await latencyDuringExport(src, fx.genesisPath);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Replay the archive's blocks with runBlock on an in-memory state: the execution floor. */
async function bareReplay(archivePath, genesisPath) {
  const { readArchive } = await dist('archive/reader.js');
  const { decodeBlockRecord } = await dist('backup/block-records.js');
  const { readGenesisFile, createChainRules } = await dist('chain/chain-config.js');
  const { createVM, runBlock } = await import('@ethereumjs/vm');
  const { Account, createAddressFromString } = await import('@ethereumjs/util');
  const { createReadStream } = await import('node:fs');
  const genesis = readGenesisFile(genesisPath);
  // The benchmark chain schedules no fork after genesis: one set of rules for every block.
  const common = createChainRules(genesis).commonAt(0n);
  const blocks = [];
  let compression;
  for await (const ev of readArchive(createReadStream(archivePath))) {
    if (ev.kind === 'header') compression = ev.header.compression;
    if (ev.kind === 'block') blocks.push(await decodeBlockRecord(ev.record, compression, common));
  }
  const vm = await createVM({ common });
  for (const [addr, e] of Object.entries(genesis.genesis.alloc))
    await vm.stateManager.putAccount(createAddressFromString(addr), new Account(0n, BigInt(e.balance)));
  const t0 = performance.now();
  for (const block of blocks) await runBlock(vm, { block, skipHeaderValidation: true, skipHardForkValidation: true });
  return performance.now() - t0;
}

async function latencyDuringExport(dataDir, genesisPath) {
  const node = startNode(['--data-dir', dataDir, '--chain', genesisPath]);
  try {
    const url = `http://${(await node.waitForEvent('jsonrpc.listening', 'JSON-RPC', 30_000)).address}`;
    const grpcPort = (await node.waitForEvent('grpc.listening', 'gRPC', 30_000)).port;
    const call = async () => {
      const t0 = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["latest",false]}',
      });
      await res.json();
      return performance.now() - t0;
    };
    for (let i = 0; i < 50; i++) await call(); // warm up
    const idle = [];
    for (let i = 0; i < 500; i++) idle.push(await call());
    const busy = [];
    const exp = runCliMeasured(['export', join(work, 'online.bsa'), '--grpc-address', `127.0.0.1:${grpcPort}`, '--quiet', '--json']);
    let done = false;
    void exp.then(() => (done = true));
    while (!done) busy.push(await call());
    const r = await exp;
    if (r.code !== 0) throw new Error(r.stderr);
    const s = JSON.parse(r.stdout);
    idle.sort((a, b) => a - b);
    busy.sort((a, b) => a - b);
    report(`online export over gRPC: ${s.durationMs} ms (${(Number(s.blocks) / (s.durationMs / 1000)).toFixed(0)} blocks/s)`);
    report(
      `JSON-RPC eth_getBlockByNumber latency: idle p50 ${percentile(idle, 50).toFixed(2)} ms p99 ${percentile(idle, 99).toFixed(2)} ms (n=${idle.length}); during export p50 ${percentile(busy, 50).toFixed(2)} ms p99 ${percentile(busy, 99).toFixed(2)} ms (n=${busy.length}); p50 ratio ${(percentile(busy, 50) / percentile(idle, 50)).toFixed(2)}x`,
    );
  } finally {
    await node.stop();
  }
}
