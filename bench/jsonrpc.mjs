// JSON-RPC benchmark (issue #3): sustained transactions per second from submission to inclusion, and
// eth_call / eth_getBalance latency. Prints figures, asserts nothing. Usage: npm run bench:jsonrpc
//   BASALT_BENCH_TXS (default 6000)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { startNode } from './lib/node.mjs';
import { CLI, percentile } from './lib/util.mjs';

const TXS = Number(process.env.BASALT_BENCH_TXS ?? 6000);
const SENDERS = 40;
const work = mkdtempSync(join(tmpdir(), 'basalt-bench-rpc-'));
const report = (line) => process.stdout.write(`${line}\n`);
const cli = (args) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};

const wallets = Array.from({ length: SENDERS }, (_, i) => new Wallet(`0x${(i + 1000).toString(16).padStart(64, '0')}`));
const dataDir = join(work, 'node');
const validator = JSON.parse(cli(['secrets', 'init', '--data-dir', dataDir, '--json'])).validatorAddress;
const genesis = join(work, 'genesis.json');
cli(['genesis', '--dir', genesis, '--ibft-validator', validator, ...wallets.flatMap((w) => ['--premine', `${w.address}:${10n ** 24n}`])]);

const node = startNode(['--data-dir', dataDir, '--chain', genesis, '--seal', '--block-time', '1', '--no-grpc-address'], {
  nodeArgs: process.env.BASALT_BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BASALT_BENCH_PROF] : [],
});
try {
  const url = `http://${(await node.waitForEvent('jsonrpc.listening', 'JSON-RPC', 30_000)).address}`;
  const call = async (method, params = []) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    const body = await res.json();
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
  const timed = async (n, fn) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await fn(i);
      out.push(performance.now() - t0);
    }
    return out.sort((a, b) => a - b);
  };

  // Latency, idle node.
  for (const [name, fn] of [
    ['eth_getBalance', (i) => call('eth_getBalance', [wallets[i % SENDERS].address, 'latest'])],
    ['eth_call', () => call('eth_call', [{ to: wallets[0].address, data: '0x' }, 'latest'])],
    ['eth_blockNumber', () => call('eth_blockNumber')],
  ]) {
    await timed(50, fn);
    const t = await timed(1000, fn);
    report(`${name}: p50 ${percentile(t, 50).toFixed(2)} ms, p99 ${percentile(t, 99).toFixed(2)} ms (n=${t.length})`);
  }

  // Throughput: sign everything first, then submit as fast as the pool takes it and wait for inclusion.
  const perSender = Math.ceil(TXS / SENDERS);
  const raws = [];
  for (let n = 0; n < perSender; n++) {
    for (const w of wallets) {
      raws.push(
        await w.signTransaction({
          type: 2,
          chainId: 100,
          nonce: n,
          to: wallets[(n + 1) % SENDERS].address,
          value: 1n,
          gasLimit: 21000,
          maxFeePerGas: 10n ** 11n,
          maxPriorityFeePerGas: 10n ** 9n,
        }),
      );
    }
  }
  const startBlock = BigInt(await call('eth_blockNumber'));
  // Read latency while the node takes transactions and seals full blocks.
  let loaded = true;
  const underLoad = [];
  const callsUnderLoad = [];
  const prober = (async () => {
    for (let i = 0; loaded; i++) {
      const t1 = performance.now();
      if (i % 2 === 0) {
        await call('eth_getBalance', [wallets[(i / 2) % SENDERS].address, 'latest']);
        underLoad.push(performance.now() - t1);
      } else {
        await call('eth_call', [{ to: wallets[0].address, data: '0x' }, 'latest']);
        callsUnderLoad.push(performance.now() - t1);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const t0 = performance.now();
  let _submitted = 0;
  const submitters = Array.from({ length: 8 }, async (_, k) => {
    for (let i = k; i < raws.length; i += 8) {
      for (;;) {
        try {
          await call('eth_sendRawTransaction', [raws[i]]);
          break;
        } catch (err) {
          if (!/full|nonce too high/.test(err.message)) throw err;
          await new Promise((r) => setTimeout(r, 50)); // pool full: wait for a block
        }
      }
      _submitted++;
    }
  });
  await Promise.all(submitters);
  const submitMs = performance.now() - t0;
  let included = 0;
  let head = startBlock;
  while (included < raws.length) {
    const h = BigInt(await call('eth_blockNumber'));
    for (let n = head + 1n; n <= h; n++) included += Number(await call('eth_getBlockTransactionCountByNumber', [`0x${n.toString(16)}`]));
    head = h;
    if (included < raws.length) await new Promise((r) => setTimeout(r, 100));
  }
  const totalMs = performance.now() - t0;
  loaded = false;
  await prober;
  underLoad.sort((a, b) => a - b);
  callsUnderLoad.sort((a, b) => a - b);
  report(
    `throughput: ${raws.length} transfers from ${SENDERS} senders submitted in ${submitMs.toFixed(0)} ms, all included after ${totalMs.toFixed(0)} ms in ${head - startBlock} blocks (1 s block time): ${(raws.length / (totalMs / 1000)).toFixed(0)} tx/s sustained (${((raws.length * 21_000) / totalMs / 1000).toFixed(1)} Mgas/s: plain transfers, 21,000 gas each)`,
  );
  report(
    `eth_getBalance during the load: p50 ${percentile(underLoad, 50).toFixed(2)} ms, p99 ${percentile(underLoad, 99).toFixed(2)} ms, max ${underLoad.at(-1).toFixed(0)} ms (n=${underLoad.length})`,
  );
  report(
    `eth_call during the load: p50 ${percentile(callsUnderLoad, 50).toFixed(2)} ms, p99 ${percentile(callsUnderLoad, 99).toFixed(2)} ms, max ${callsUnderLoad.at(-1).toFixed(0)} ms (n=${callsUnderLoad.length})`,
  );
} catch (err) {
  process.stderr.write(
    `node log tail:\n${node.logs
      .slice(-8)
      .map((l) => JSON.stringify(l))
      .join('\n')}\n`,
  );
  throw err;
} finally {
  await node.stop();
  rmSync(work, { recursive: true, force: true });
}
