// A chain at real state size (issue #19): a genesis of N funded accounts and one contract with M storage
// slots (a chain migrated from another). Measures the first `basalt server` start (until JSON-RPC answers
// eth_blockNumber: genesis state written), its peak RSS, trie/ against the state it holds, and a second
// start; each beside the same run's tiny-genesis baseline. Then, on that chain: an online snapshot over
// gRPC while the node seals at --block-time 1 (time, peak RSS of the node and of the CLI, the block
// interval while it ran), a restore of the file (time, peak RSS, nodes/s), and `db check --full` of
// the restored data dir.
//
//   npm run bench:scale                                   # N = M = 1,000,000 (a ~230 MB genesis file)
//   BASALT_SCALE_ACCOUNTS=100000 BASALT_SCALE_SLOTS=100000 npm run bench:scale
//   BASALT_SCALE_BLOCKS=0 (no history) · BASALT_SCALE_KEEP=1 (keep the work dir: data dirs, snapshot)
//   BASALT_SCALE_BACKUPS=20 BASALT_SCALE_BACKUP_BLOCKS=1000 BASALT_SCALE_BACKUP_TX=12 (phase 'backup repository':
//   incremental backups, each after that many blocks of that many transfers)
//   BASALT_SCALE_SKIP='snapshot sync,db check --full' (phases left out, by name; 'prune', last, prunes the node)
//   BASALT_SCALE_MEMORY_LIMIT_MB=512 (phase 'in 512 MiB': first start, restore, db check, the node serving an online
//   snapshot, a repository's first backup and its restore, again in a memory cgroup; root only)
//
// Phases run in order over one context (`ctx`): append more (snapshot, restore, db check, blocks) to PHASES.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { CLI, dirBytes, dropCaches, inCgroup, mb, memoryCgroup, percentile, procMemory, runCliMeasured } from './lib/util.mjs';

const ACCOUNTS = Number(process.env.BASALT_SCALE_ACCOUNTS ?? 1_000_000);
const SLOTS = Number(process.env.BASALT_SCALE_SLOTS ?? 1_000_000);
/** Light (empty) blocks sealed on the large chain before the snapshot: its history. */
const BLOCKS = Number(process.env.BASALT_SCALE_BLOCKS ?? 100_000);
/** Phases to leave out, by name, comma-separated (e.g. BASALT_SCALE_SKIP='snapshot sync,db check --full'). */
const SKIP = new Set((process.env.BASALT_SCALE_SKIP ?? '').split(',').filter(Boolean));
const dist = (p) => import(new URL(`../dist/${p}`, import.meta.url).href);
const report = (line) => process.stdout.write(`${line}\n`);
const cli = (args) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};
const hex32 = (n) => `0x${n.toString(16).padStart(64, '0')}`;
/** Transfers in each block sealed before each incremental backup of the repository phase (0: empty blocks). */
const BACKUP_TX = Number(process.env.BASALT_SCALE_BACKUP_TX ?? 12);
/** Incremental backups in the repository phase, each after BACKUP_BLOCKS more blocks. */
const BACKUPS = Number(process.env.BASALT_SCALE_BACKUPS ?? 20);
const BACKUP_BLOCKS = Number(process.env.BASALT_SCALE_BACKUP_BLOCKS ?? 1000);
/** The transfers' sender, premined in the genesis (a key for benches only). */
const SENDER_KEY = new Uint8Array(32).fill(0x11);
/** The i-th account the large genesis funds. */
const generatedAccount = (i) => `0x${(i + 1).toString(16).padStart(8, '0')}${'5a'.repeat(16)}`;
async function senderNonce(chain) {
  const { createAddressFromPrivateKey } = await import('@ethereumjs/util');
  const state = await chain.stateAt(chain.head.header);
  return (await state.getAccount(createAddressFromPrivateKey(SENDER_KEY)))?.nonce ?? 0n;
}

/** Write `base` (a genesis file) with N extra accounts and one contract of M slots, piece by piece. */
function writeLargeGenesis(path, base, accounts, slots) {
  const g = JSON.parse(readFileSync(base, 'utf8'));
  // Room for the blocks sealed a second apart before now (a block's timestamp may not be in the future).
  g.genesis.timestamp = `0x${(Math.floor(Date.now() / 1000) - BLOCKS - (BACKUPS + 1) * BACKUP_BLOCKS - 3600).toString(16)}`;
  const premine = Object.entries(g.genesis.alloc);
  g.genesis.alloc = '@ALLOC@';
  const [head, tail] = JSON.stringify(g).split('"@ALLOC@"');
  const fd = openSync(path, 'w');
  let buf = '';
  const out = (s) => {
    buf += s;
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = '';
    }
  };
  out(`${head}{`);
  for (const [a, e] of premine) out(`${JSON.stringify(a)}:${JSON.stringify(e)},`);
  for (let i = 0; i < accounts; i++) out(`"${generatedAccount(i)}":{"balance":"0x${(10n ** 18n + BigInt(i)).toString(16)}"},`);
  // A contract whose code returns; its storage: slot i -> i + 1 (never zero).
  out(`"0x${'c0'.repeat(20)}":{"balance":"0x0","code":"0x60006000f3","storage":{`);
  for (let i = 0; i < slots; i++) out(`${i ? ',' : ''}"${hex32(i)}":"${hex32(i + 1)}"`);
  out(`}}}${tail}`);
  writeSync(fd, buf);
  closeSync(fd);
}

/** `basalt server` without networking or WebSocket, JSON-RPC on a free port, JSON logs on stderr (in `cgroup`, if any). */
function spawnServer(dataDir, genesis, extra, cgroup) {
  const [cmd, ...pre] = inCgroup([process.execPath], cgroup);
  const args = [...pre, CLI, 'server', '--data-dir', dataDir, '--chain', genesis, '--jsonrpc', '127.0.0.1:0', '--no-ws', '--no-libp2p', '--log-format', 'json'];
  return spawn(cmd, [...args, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Start `basalt server` on `dataDir` with `genesis` (no sealing, no libp2p, JSON-RPC on a free port),
 * wait until eth_blockNumber answers, and stop it. Returns the time to that answer and the peak RSS
 * until then (VmHWM polled every 100 ms, plus the child's own maxRSS report).
 */
async function startUntilServing(dataDir, genesis, opts = {}) {
  const t0 = opts.t0 ?? performance.now();
  const node = spawnServer(dataDir, genesis, ['--no-grpc-address'], opts.cgroup);
  let logs = '';
  node.stderr.on('data', (d) => (logs += d));
  let exited = false;
  node.on('exit', () => (exited = true));
  let peak = 0;
  let peakAnon = 0;
  const poll = setInterval(() => {
    const m = procMemory(node.pid);
    if (m.hwm > peak) peak = m.hwm;
    if (m.anon > peakAnon) peakAnon = m.anon;
  }, 100);
  try {
    let url;
    while (!url) {
      if (exited) throw new Error(`server exited:\n${logs.split('\n').slice(-6).join('\n')}`);
      const m = /"address":"([^"]+)","msg":"JSON-RPC listening"/.exec(logs);
      if (m) url = `http://${m[1]}`;
      else await new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
    });
    const body = await res.json();
    if (body.result === undefined) throw new Error(`eth_blockNumber: ${JSON.stringify(body)}`);
    const ms = performance.now() - t0;
    const m = procMemory(node.pid);
    peak = Math.max(peak, m.hwm);
    const wrote = /"stateNodes":(\d+),"codes":(\d+),"stateBytes":(\d+),"ms":(\d+)[^\n]*"msg":"wrote genesis block"/.exec(logs);
    // Then, if asked, until a log line (the history back-fill's end): the time from t0 to it.
    let untilMs;
    while (opts.until && untilMs === undefined) {
      if (exited) throw new Error(`server exited:\n${logs.split('\n').slice(-6).join('\n')}`);
      if (opts.until.test(logs)) untilMs = performance.now() - t0;
      else await new Promise((r) => setTimeout(r, 50));
    }
    return {
      untilMs,
      ms,
      peak,
      peakAnon: Math.max(peakAnon, m.anon),
      rssServing: m.rss,
      wrote: wrote ? { nodes: Number(wrote[1]), codes: Number(wrote[2]), bytes: Number(wrote[3]), ms: Number(wrote[4]) } : undefined,
    };
  } finally {
    clearInterval(poll);
    if (!exited) {
      node.kill('SIGINT');
      await new Promise((r) => node.on('exit', r));
    }
  }
}

/** Keys in a stopped node's trie/ database (trie nodes and codes). */
async function countTrieKeys(dataDir) {
  const db = new ClassicLevel(join(dataDir, 'trie'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open({ createIfMissing: false });
  let n = 0;
  for await (const _ of db.keys()) n++;
  await db.close();
  return n;
}

/** Peak RSS, and of it the anonymous memory (the rest: files mapped, LevelDB's tables: page cache). */
const fmtPeak = (rss, anon) => `peak RSS ${mb(rss)} MB (anonymous ${mb(anon)} MB)`;
const fmtStart = (r) => `${(r.ms / 1000).toFixed(1)} s, ${fmtPeak(r.peak, r.peakAnon)} (RSS once serving ${mb(r.rssServing)} MB)`;

/**
 * Seal `count` blocks on the stopped node at `dataDir`, offline, by the chain's one validator, one a
 * second, through the node's own pipeline (Chain.produceBlock: executed, committed), as a node would
 * have sealed them: empty, or with `txs` transfers each from SENDER (premined in the genesis) to the
 * genesis's generated accounts. `after(chain)` runs on the open chain once they are sealed. Returns
 * the seconds sealing took and the raw bytes of the blocks with their receipts (RLP).
 */
async function sealBlocks(dataDir, count, { txs = 0, after } = {}) {
  const { openOfflineChain } = await dist('node/offline.js');
  const { loadValidatorKey } = await dist('keys/keyfile.js');
  const { sealBlock } = await dist('consensus/ibft/seal.js');
  const { decodeIbftExtra, encodeIbftExtra } = await dist('consensus/ibft/extra.js');
  const { encodeReceipts } = await dist('storage/receipts.js');
  const { createFeeMarket1559Tx } = await import('@ethereumjs/tx');
  const { privateToAddress } = await import('@ethereumjs/util');
  const key = loadValidatorKey(dataDir);
  const { chain, close } = await openOfflineChain(dataDir);
  const t0 = performance.now();
  let rawBytes = 0;
  let seconds;
  let afterResult;
  try {
    let nonce = txs > 0 ? await senderNonce(chain) : 0n;
    for (let n = 1; n <= count; n++) {
      const head = chain.head.header;
      const extra = decodeIbftExtra(head.extraData);
      const list = [];
      for (let i = 0; i < txs; i++) {
        list.push(
          createFeeMarket1559Tx(
            {
              nonce: nonce++,
              to: generatedAccount(Number((nonce * 7919n) % BigInt(Math.max(1, ACCOUNTS)))),
              value: 1n,
              gasLimit: 21000n,
              maxFeePerGas: 10n ** 10n,
              maxPriorityFeePerGas: 1n,
              chainId: chain.chainId,
            },
            { common: chain.commonAt(head.number + 1n) },
          ).sign(SENDER_KEY),
        );
      }
      const r = await chain.produceBlock(
        {
          coinbase: privateToAddress(key),
          timestamp: head.timestamp + 1n,
          extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] }),
        },
        list,
        async (built) => sealBlock(built.block, key, [key], chain.commonAt(built.block.header.number)),
      );
      if (r === undefined || r.block.transactions.length !== txs)
        throw new Error(`block ${head.number + 1n}: ${r?.block.transactions.length ?? 'none'} of ${txs} transfers included`);
      rawBytes += r.block.serialize().length + encodeReceipts(r.built.receipts).length;
      if (n % 20_000 === 0) process.stderr.write(`sealing: ${n}/${count} blocks\n`);
    }
    seconds = (performance.now() - t0) / 1000;
    if (after) afterResult = await after(chain);
  } finally {
    await close();
  }
  return { seconds, rawBytes, after: afterResult };
}

/**
 * An online `basalt snapshot` over gRPC into `file` while the node (in the memory cgroup `cgroup`, if
 * any) seals at --block-time 1: the snapshot's figures, the node's RSS polled from the snapshot's start
 * (VmHWM would hold the start's own peak), and the block intervals meanwhile.
 */
async function onlineSnapshot(ctx, file, cgroup) {
  const node = spawnServer(ctx.dataDir, ctx.genesis, ['--seal', '--block-time', '1', '--grpc-address', '127.0.0.1:0'], cgroup);
  const sealedAt = [];
  const pruned = [];
  let grpc;
  let partial = '';
  node.stderr.setEncoding('utf8').on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    for (const l of lines) {
      if (l.includes('"msg":"sealed block"') || l.includes('"msg":"consensus reached"')) sealedAt.push(JSON.parse(l).time);
      // The node's own state pruning (a data dir with more blocks than --state-history + the interval prunes at start).
      if (l.includes('"event":"state.pruned"')) {
        const j = JSON.parse(l);
        pruned.push({ from: j.time - j.ms, to: j.time });
      }
      if (l.includes('"msg":"gRPC operator API listening"')) {
        const j = JSON.parse(l);
        grpc = `${String(j.address).replace(/:\d+$/, '')}:${j.port}`;
      }
    }
  });
  // From the snapshot's start (VmHWM would hold the start's own peak): RSS and anonymous RSS polled.
  let peak = 0;
  let peakAnon = 0;
  let measuring = false;
  const poll = setInterval(() => {
    if (!measuring) return;
    const m = procMemory(node.pid);
    peak = Math.max(peak, m.rss);
    peakAnon = Math.max(peakAnon, m.anon);
  }, 100);
  try {
    while (grpc === undefined || sealedAt.length < 5) await new Promise((r) => setTimeout(r, 100));
    const rssBefore = procMemory(node.pid).rss;
    measuring = true;
    const t0 = Date.now();
    const r = await runCliMeasured(['snapshot', file, '--grpc-address', grpc, '--json']);
    const t1 = Date.now();
    if (r.code !== 0) throw new Error(`snapshot: ${r.stderr}`);
    await new Promise((r) => setTimeout(r, 2_000));
    const s = JSON.parse(r.stdout);
    const during = sealedAt.filter((t) => t >= t0 - 1_000 && t <= t1 + 1_000);
    const gaps = during
      .slice(1)
      .map((t, i) => t - during[i])
      .sort((a, b) => a - b);
    const prunedMeanwhile = pruned.filter((p) => p.to >= t0 && p.from <= t1).map((p) => p.to - p.from);
    return { ms: r.ms, bytes: statSync(file).size, nodes: Number(s.nodes), cli: r, rssBefore, peak, peakAnon, gaps, prunedMeanwhile };
  } finally {
    clearInterval(poll);
    node.kill('SIGINT');
    await new Promise((r) => node.on('exit', r));
  }
}

const PHASES = [
  {
    name: 'setup',
    async run(ctx) {
      ctx.work = mkdtempSync(join(tmpdir(), 'basalt-bench-scale-'));
      // The large chain's data dir holds the validator key: the node seals on it in the snapshot phase.
      ctx.dataDir = join(ctx.work, 'node');
      ctx.validator = JSON.parse(cli(['secrets', 'init', '--data-dir', ctx.dataDir, '--json'])).validatorAddress;
      ctx.tinyGenesis = join(ctx.work, 'tiny.json');
      const { bytesToHex, privateToAddress } = await import('@ethereumjs/util');
      cli(['genesis', '--dir', ctx.tinyGenesis, '--ibft-validator', ctx.validator, '--premine', `${bytesToHex(privateToAddress(SENDER_KEY))}:${10n ** 24n}`]);
      ctx.genesis = join(ctx.work, 'genesis.json');
      const t0 = performance.now();
      writeLargeGenesis(ctx.genesis, ctx.tinyGenesis, ACCOUNTS, SLOTS);
      report(
        `genesis: ${ACCOUNTS.toLocaleString('en')} accounts + 1 contract with ${SLOTS.toLocaleString('en')} slots, ${mb(statSync(ctx.genesis).size)} MB file (written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
    },
  },
  {
    name: 'baseline',
    async run(ctx) {
      const dir = join(ctx.work, 'tiny');
      const first = await startUntilServing(dir, ctx.tinyGenesis);
      const second = await startUntilServing(dir, ctx.tinyGenesis);
      ctx.baseline = { first, second };
      report(`baseline (tiny genesis): first start ${fmtStart(first)}; second start ${fmtStart(second)}`);
    },
  },
  {
    name: 'first start',
    async run(ctx) {
      const r = await startUntilServing(ctx.dataDir, ctx.genesis);
      ctx.first = r;
      report(`first start (writes the genesis state): ${fmtStart(r)}`);
      const trieBytes = await dirBytes(join(ctx.dataDir, 'trie'));
      const keys = await countTrieKeys(ctx.dataDir);
      const w = r.wrote;
      report(
        `trie/: ${mb(trieBytes)} MB on disk, ${keys.toLocaleString('en')} keys` +
          (w
            ? `; genesis state: ${w.nodes.toLocaleString('en')} trie nodes + ${w.codes} codes (${mb(w.bytes)} MB) written in ${(w.ms / 1000).toFixed(1)} s`
            : '; (no "wrote genesis block" figures in the log)') +
          (w && keys !== w.nodes + w.codes ? `  MISMATCH: trie/ holds ${keys - w.nodes - w.codes} keys more than the state` : ''),
      );
    },
  },
  {
    name: 'second start',
    async run(ctx) {
      const r = await startUntilServing(ctx.dataDir, ctx.genesis);
      ctx.second = r;
      report(`second start (same genesis file): ${fmtStart(r)}`);
    },
  },
  {
    name: 'history',
    async run(ctx) {
      if (BLOCKS === 0) return;
      // A tenth of the history first, backed up into a repository of its own: the same state, a tenth
      // of the history (the restore-to-serving comparison of the 'backup repository' phase).
      const short = Math.floor(BLOCKS / 10);
      let s = (await sealBlocks(ctx.dataDir, short)).seconds;
      ctx.shortRepo = join(ctx.work, 'repository-short');
      const b = await runCliMeasured(['backup', 'create', '--data-dir', ctx.dataDir, '--backup-dir', ctx.shortRepo, '--json', '--quiet']);
      if (b.code !== 0) throw new Error(`backup create: ${b.stderr}`);
      s += (await sealBlocks(ctx.dataDir, BLOCKS - short)).seconds;
      report(
        `history: ${BLOCKS.toLocaleString('en')} empty blocks sealed offline in ${s.toFixed(1)} s (${Math.round(BLOCKS / s)} blocks/s); blockchain/ ${mb(await dirBytes(join(ctx.dataDir, 'blockchain')))} MB, trie/ ${mb(await dirBytes(join(ctx.dataDir, 'trie')))} MB`,
      );
    },
  },
  {
    name: 'backup repository',
    async run(ctx) {
      // The stopped node backed up into a repository (issue #21): the first backup, then BACKUPS more,
      // each after BACKUP_BLOCKS blocks of BACKUP_TX transfers to the generated accounts (within the
      // genesis timestamp's room: before the online snapshot's node seals at the clock's time), as a
      // node's scheduled backups would; the phase 'backup restore' restores the newest.
      const repo = join(ctx.work, 'repository');
      const create = async () => {
        const r = await runCliMeasured(['backup', 'create', '--data-dir', ctx.dataDir, '--backup-dir', repo, '--json', '--quiet']);
        if (r.code !== 0) throw new Error(`backup create: ${r.stderr}`);
        return { ...JSON.parse(r.stdout), ms: r.ms, peakRss: r.peakRss, peakAnon: r.peakAnon };
      };
      const fmtAdded = (b) =>
        `${mb(b.added.bytes)} MB stored (${Number(b.added.blocks).toLocaleString('en')} blocks, ${b.added.nodes.toLocaleString('en')} trie nodes)`;
      const first = await create();
      ctx.repository = { dir: repo, firstMs: first.ms };
      report(
        `backup repository: first backup (block ${first.head}) ${(first.ms / 1000).toFixed(1)} s, ${fmtAdded(first)}, ${fmtPeak(first.peakRss, first.peakAnon)}`,
      );
      // The same-run baseline of what each incremental backup must store (issue #21: at most 1.2 x the
      // new blocks and the trie nodes they changed): the blocks' raw bytes as sealed, and the nodes and
      // codes of the new head state that no earlier backed-up head state holds, found by a walk of each
      // new head below what earlier walks saw (a set of every node seen: bench memory, not the node's).
      const { HashSet } = await dist('util/hash-set.js');
      const { stateItems } = await dist('backup/state-walk.js');
      const seen = { nodes: new HashSet(), code: new HashSet() };
      const changedSince = async (chain) => {
        const view = chain.openReadView();
        let nodes = 0;
        let codes = 0;
        let bytes = 0;
        try {
          const skip = { marked: (kind, h) => seen[kind].has(h) };
          for await (const item of stateItems(view.state, chain.head.header.stateRoot, skip, 'tree')) {
            if (!seen[item.kind === 'node' ? 'nodes' : 'code'].add(item.hash)) continue;
            if (item.kind === 'node') nodes++;
            else codes++;
            bytes += item.data.length;
          }
        } finally {
          await view.close();
        }
        return { nodes, codes, bytes };
      };
      const t0 = performance.now();
      const base = (await sealBlocks(ctx.dataDir, 0, { after: changedSince })).after;
      report(
        `backup repository: the first backup's head state walked for the baseline: ${base.nodes.toLocaleString('en')} nodes, ${mb(base.bytes)} MB (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
      const snapshotAt = async (name) => {
        const file = join(ctx.work, name);
        const r = await runCliMeasured(['snapshot', file, '--data-dir', ctx.dataDir, '--json', '--quiet']);
        if (r.code !== 0) throw new Error(`snapshot: ${r.stderr}`);
        const bytes = statSync(file).size;
        rmSync(file, { force: true });
        return bytes;
      };
      const snapshotFirst = await snapshotAt('at-first-backup.bsn');
      const ratios = [];
      const times = [];
      let peak = { rss: 0, anon: 0 };
      for (let k = 1; k <= BACKUPS; k++) {
        const sealed = await sealBlocks(ctx.dataDir, BACKUP_BLOCKS, { txs: BACKUP_TX, after: changedSince });
        const next = await create();
        const changed = sealed.after;
        const ratio = next.added.bytes / (sealed.rawBytes + changed.bytes);
        ratios.push(ratio);
        times.push(next.ms);
        if (next.peakRss > peak.rss) peak = { rss: next.peakRss, anon: next.peakAnon };
        if (k === 1 || k === BACKUPS)
          report(
            `backup repository: backup ${k} of ${BACKUPS}, after ${BACKUP_BLOCKS.toLocaleString('en')} more blocks of ${BACKUP_TX} transfers (sealed in ${sealed.seconds.toFixed(1)} s): ${(next.ms / 1000).toFixed(1)} s, ${fmtAdded(next)}, ${fmtPeak(next.peakRss, next.peakAnon)}; ` +
              `the blocks ${mb(sealed.rawBytes)} MB raw, the state's changed nodes ${changed.nodes.toLocaleString('en')} (${mb(changed.bytes)} MB) and codes ${changed.codes}: stored ${ratio.toFixed(3)}x (new blocks + changed nodes)`,
          );
      }
      if (BACKUPS > 0) {
        const snapshotLast = await snapshotAt('at-last-backup.bsn');
        // A snapshot at each of the BACKUPS + 1 points: the history grows by the same blocks between each.
        const snapshots = ((BACKUPS + 1) * (snapshotFirst + snapshotLast)) / 2;
        const repoBytes = await dirBytes(repo);
        const sorted = [...times].sort((a, b) => a - b);
        report(
          `backup repository: ${BACKUPS} incremental backups: ${(sorted[Math.floor(sorted.length / 2)] / 1000).toFixed(1)} s median, ${(sorted.at(-1) / 1000).toFixed(1)} s at most, ${fmtPeak(peak.rss, peak.anon)} at most; stored/(new blocks + changed nodes) ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}x; ` +
            `repository ${mb(repoBytes)} MB after ${BACKUPS + 1} backups against ${mb(snapshots)} MB for a snapshot at each (${mb(snapshotFirst)} MB at the first, ${mb(snapshotLast)} MB at the last): ${(snapshots / repoBytes).toFixed(1)}x less`,
        );
      }
    },
  },
  {
    name: 'backup restore',
    async run(ctx) {
      if (!ctx.repository) return;
      const repo = ctx.repository.dir;
      const restored = join(ctx.work, 'restored-from-repository');
      const r = await runCliMeasured(['backup', 'restore', '--backup-dir', repo, '--data-dir', restored, '--chain', ctx.genesis, '--json', '--quiet']);
      if (r.code !== 0) throw new Error(`backup restore: ${r.stderr}`);
      ctx.repository.restoreMs = r.ms;
      report(
        `backup repository: restore of block ${JSON.parse(r.stdout).head} with --history full ${(r.ms / 1000).toFixed(1)} s, ${fmtPeak(r.peakRss, r.peakAnon)}`,
      );
      rmSync(restored, { recursive: true, force: true });
      // Restore to a node serving at the head, and to the whole history back-filled: the backup of a
      // tenth of the history against the newest (same state).
      const toServing = async (from, label) => {
        const t0 = performance.now();
        const dir = join(ctx.work, `restored-${label}`);
        const rr = await runCliMeasured(['backup', 'restore', '--backup-dir', from, '--data-dir', dir, '--chain', ctx.genesis, '--json', '--quiet']);
        if (rr.code !== 0) throw new Error(`backup restore: ${rr.stderr}`);
        const head = JSON.parse(rr.stdout).head;
        const served = await startUntilServing(dir, ctx.genesis, { t0, until: /"event":"history.backfilled"/ });
        rmSync(dir, { recursive: true, force: true });
        return { head, restoreMs: rr.ms, servingMs: served.ms, fullMs: served.untilMs, peakRss: rr.peakRss, nodePeak: served.peak };
      };
      if (ctx.shortRepo) {
        const a = await toServing(ctx.shortRepo, 'short');
        const z = await toServing(repo, 'long');
        const line = (x) =>
          `block ${Number(x.head).toLocaleString('en')}: serving at the head ${(x.servingMs / 1000).toFixed(1)} s after the restore began (restore ${(x.restoreMs / 1000).toFixed(1)} s, peak RSS ${mb(x.peakRss)} MB), whole history ${(x.fullMs / 1000).toFixed(1)} s`;
        report(`backup repository, restore to serving (history back-filled): ${line(a)}; ${line(z)}; serving ratio ${(z.servingMs / a.servingMs).toFixed(2)}`);
      }
    },
  },
  {
    name: 'online snapshot',
    async run(ctx) {
      ctx.snapshotFile = join(ctx.work, 'large.bsn');
      const o = await onlineSnapshot(ctx, ctx.snapshotFile);
      ctx.snapshot = o;
      report(
        `online snapshot: ${(o.ms / 1000).toFixed(1)} s, ${mb(o.bytes)} MB file, ${o.nodes.toLocaleString('en')} nodes (${Math.round(o.nodes / (o.ms / 1000)).toLocaleString('en')} nodes/s); ` +
          `CLI ${fmtPeak(o.cli.peakRss, o.cli.peakAnon)}; node RSS ${mb(o.rssBefore)} MB before, ${fmtPeak(o.peak, o.peakAnon)} meanwhile; ` +
          `block interval meanwhile: ${o.gaps.length} intervals, p50 ${percentile(o.gaps, 50) ?? '-'} ms, p99 ${percentile(o.gaps, 99) ?? '-'} ms (--block-time 1)` +
          (o.prunedMeanwhile.length > 0
            ? `; the node pruned its states meanwhile (${o.prunedMeanwhile.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')})`
            : ''),
      );
    },
  },
  {
    name: 'restore',
    async run(ctx) {
      ctx.restored = join(ctx.work, 'restored');
      const r = await runCliMeasured(['restore', ctx.snapshotFile, '--data-dir', ctx.restored, '--chain', ctx.genesis, '--json']);
      if (r.code !== 0) throw new Error(`restore: ${r.stderr}`);
      ctx.restoreMs = r.ms;
      report(
        `restore: ${(r.ms / 1000).toFixed(1)} s (${Math.round(ctx.snapshot.nodes / (r.ms / 1000)).toLocaleString('en')} nodes/s, ${mb(ctx.snapshot.bytes / (r.ms / 1000))} MB/s of file), ${fmtPeak(r.peakRss, r.peakAnon)}; trie/ ${mb(await dirBytes(join(ctx.restored, 'trie')))} MB`,
      );
    },
  },
  {
    name: 'snapshot sync',
    async run(ctx) {
      // The large chain's node serves; a new node with the same genesis file syncs with --sync snapshot.
      const serve = (dir, extra) => {
        const child = spawn(
          process.execPath,
          [
            CLI,
            'server',
            '--data-dir',
            dir,
            '--chain',
            ctx.genesis,
            '--jsonrpc',
            '127.0.0.1:0',
            '--no-ws',
            '--no-grpc-address',
            '--libp2p',
            '127.0.0.1:0',
            '--log-format',
            'json',
            ...extra,
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        const logs = [];
        let partial = '';
        child.stderr.setEncoding('utf8').on('data', (d) => {
          const lines = (partial + d).split('\n');
          partial = lines.pop();
          for (const l of lines) {
            try {
              logs.push(JSON.parse(l));
            } catch {}
          }
        });
        let peak = 0;
        let peakAnon = 0;
        const poll = setInterval(() => {
          const m = procMemory(child.pid);
          peak = Math.max(peak, m.rss || 0);
          peakAnon = Math.max(peakAnon, m.anon || 0);
        }, 100);
        const waitFor = async (pred, what) => {
          for (;;) {
            const hit = logs.find(pred);
            if (hit) return hit;
            if (child.exitCode !== null) throw new Error(`node exited while waiting for ${what}: ${JSON.stringify(logs.slice(-3))}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        const stop = async () => {
          clearInterval(poll);
          if (child.exitCode === null) {
            child.kill('SIGINT');
            await new Promise((r) => child.on('exit', r));
          }
        };
        /** What the node said about the snapshot sync (warnings, fallbacks), for the report. */
        const said = () => logs.filter((l) => l.level >= 40 || /snapshot/.test(l.msg)).map((l) => `${l.msg}${l.err ? `: ${l.err}` : ''}`);
        return { waitFor, stop, said, memory: () => ({ peak, peakAnon }) };
      };
      const source = serve(ctx.dataDir, []);
      let sync;
      try {
        const addr = (await source.waitFor((l) => l.event === 'p2p.listening', 'the source listening')).addresses[0];
        const t0 = Date.now();
        sync = serve(join(ctx.work, 'synced'), ['--bootnode', addr, '--sync', 'snapshot']);
        // Restored from the peer's snapshot, or (when that failed) synced block by block to the head.
        const done = await sync.waitFor((l) => l.event === 'snapshot-sync.restored' || (l.event === 'sync.progress' && l.head >= BLOCKS), 'the snapshot sync');
        const ms = done.time - t0;
        const s = source.memory();
        const n = sync.memory();
        const how =
          done.event === 'sync.progress'
            ? `NOT by snapshot (block by block instead; the node said: ${[...new Set(sync.said())].slice(0, 6).join(' | ')})`
            : 'by snapshot';
        report(
          `snapshot sync: head ${done.head} in ${(ms / 1000).toFixed(1)} s from the new node's start, ${how}; new node ${fmtPeak(n.peak, n.peakAnon)}; serving node ${fmtPeak(s.peak, s.peakAnon)}`,
        );
        // The history below the snapshot's head, back-filled from the serving peer (history/1) while the node serves.
        if (done.event === 'snapshot-sync.restored' && done.head > 1) {
          const started = await sync.waitFor((l) => l.event === 'history.backfill-started', 'the back-fill');
          const filled = await sync.waitFor((l) => l.event === 'history.backfilled', 'the history back-filled');
          const blocks = started.to - started.from + 1;
          const m = sync.memory();
          report(
            `snapshot sync: history back-filled from the peer, ${blocks.toLocaleString('en')} blocks in ${(filled.ms / 1000).toFixed(1)} s (${Math.round(blocks / (filled.ms / 1000)).toLocaleString('en')} blocks/s), ${((filled.time - t0) / 1000).toFixed(1)} s from the new node's start; new node ${fmtPeak(m.peak, m.peakAnon)} by then`,
          );
        }
      } finally {
        await sync?.stop();
        await source.stop();
      }
    },
  },
  {
    name: 'db check --full',
    async run(ctx) {
      const r = await runCliMeasured(['db', 'check', '--data-dir', ctx.restored, '--full', '--json']);
      if (r.code !== 0) throw new Error(`db check: ${r.stderr}${r.stdout}`);
      ctx.dbCheckMs = r.ms;
      report(
        `db check --full (restored): ${(r.ms / 1000).toFixed(1)} s (${Math.round(ctx.snapshot.nodes / (r.ms / 1000)).toLocaleString('en')} nodes/s), ${fmtPeak(r.peakRss, r.peakAnon)}`,
      );
    },
  },
  {
    // Peak RSS counts the pages of LevelDB's table files mapped into the process (up to the size of
    // trie/): page cache, which the kernel takes back under a memory limit. Whether the commands run
    // within the issue's 512 MB is what a container's limit decides: here, the same restore and db check
    // in a memory cgroup of that size (which counts the page cache they read too), cold cache first.
    name: 'in 512 MiB',
    async run(ctx) {
      const limit = Number(process.env.BASALT_SCALE_MEMORY_LIMIT_MB ?? 512);
      const cg = memoryCgroup(limit * 1024 * 1024);
      if (!cg) return report(`in a ${limit} MiB memory cgroup: not measured (this machine gives no writable memory cgroup: run as root)`);
      try {
        // The first start (the genesis state written), on a new data dir: the largest of the node's.
        const fresh = join(ctx.work, 'first-start-limited');
        const coldStart = dropCaches();
        const before = cg.stats();
        const f = await startUntilServing(fresh, ctx.genesis, { cgroup: cg.path });
        const after = cg.stats();
        report(
          `first start in a ${limit} MiB memory cgroup${coldStart ? ' (cold cache)' : ''}: serving in ${(f.ms / 1000).toFixed(1)} s (${(f.ms / ctx.first.ms).toFixed(2)}x the run without a limit), ${fmtPeak(f.peak, f.peakAnon)}; limit reached ${after.limitHit - before.limitHit} times, OOM kills ${after.oomKills - before.oomKills}`,
        );
        rmSync(fresh, { recursive: true, force: true });
        const target = join(ctx.work, 'restored-limited');
        const runs = [
          ['restore', ['restore', ctx.snapshotFile, '--data-dir', target, '--chain', ctx.genesis, '--json'], ctx.restoreMs],
          ['db check --full', ['db', 'check', '--data-dir', ctx.restored, '--full', '--json'], ctx.dbCheckMs],
        ];
        for (const [what, args, unlimitedMs] of runs) {
          const cold = dropCaches();
          const before = cg.stats();
          const r = await runCliMeasured(args, { cgroup: cg.path });
          const after = cg.stats();
          report(
            `${what} in a ${limit} MiB memory cgroup${cold ? ' (cold cache)' : ''}: ${r.code === 0 ? 'completed' : `FAILED (exit ${r.code})`} in ${(r.ms / 1000).toFixed(1)} s (${(r.ms / unlimitedMs).toFixed(2)}x the run without a limit), ${fmtPeak(r.peakRss, r.peakAnon)}; limit reached ${after.limitHit - before.limitHit} times, OOM kills ${after.oomKills - before.oomKills}`,
          );
        }
        rmSync(target, { recursive: true, force: true });
        // The node while it serves an online snapshot (its walk's reads and the stream), sealing meanwhile.
        {
          const cold = dropCaches();
          const before = cg.stats();
          const file = join(ctx.work, 'limited.bsn');
          const o = await onlineSnapshot(ctx, file, cg.path);
          const after = cg.stats();
          rmSync(file, { force: true });
          report(
            `online snapshot, the node in a ${limit} MiB memory cgroup${cold ? ' (cold cache)' : ''}: ${(o.ms / 1000).toFixed(1)} s (${(o.ms / ctx.snapshot.ms).toFixed(2)}x the run without a limit), node ${fmtPeak(o.peak, o.peakAnon)}; block interval p99 ${percentile(o.gaps, 99) ?? '-'} ms; limit reached ${after.limitHit - before.limitHit} times, OOM kills ${after.oomKills - before.oomKills}`,
          );
        }
        // A first backup into a new repository, and its restore (a LevelDB index or scratch database beside the node's).
        if (ctx.repository) {
          const repo = join(ctx.work, 'repository-limited');
          const restored = join(ctx.work, 'restored-limited-repository');
          const repoRuns = [
            ['backup create (first)', ['backup', 'create', '--data-dir', ctx.dataDir, '--backup-dir', repo, '--json', '--quiet'], ctx.repository.firstMs],
            [
              'backup restore',
              ['backup', 'restore', '--backup-dir', repo, '--data-dir', restored, '--chain', ctx.genesis, '--json', '--quiet'],
              ctx.repository.restoreMs,
            ],
          ];
          for (const [what, args, unlimitedMs] of repoRuns) {
            const cold = dropCaches();
            const before = cg.stats();
            const r = await runCliMeasured(args, { cgroup: cg.path });
            const after = cg.stats();
            report(
              `${what} in a ${limit} MiB memory cgroup${cold ? ' (cold cache)' : ''}: ${r.code === 0 ? 'completed' : `FAILED (exit ${r.code}: ${r.stderr.trim().split('\n').pop()})`} in ${(r.ms / 1000).toFixed(1)} s (${(r.ms / unlimitedMs).toFixed(2)}x the run without a limit), ${fmtPeak(r.peakRss, r.peakAnon)}; limit reached ${after.limitHit - before.limitHit} times, OOM kills ${after.oomKills - before.oomKills}`,
            );
          }
          rmSync(repo, { recursive: true, force: true });
          rmSync(restored, { recursive: true, force: true });
        }
      } finally {
        cg.remove();
      }
    },
  },
  {
    name: 'prune',
    async run(ctx) {
      // `basalt prune` of the large chain's stopped node (issue #22): a walk of the head's state and of
      // each older kept one below what is marked already, then a sweep of trie/ (same run: the first
      // start's trie/ figures above).
      const r = await runCliMeasured(['prune', '--data-dir', ctx.dataDir, '--state-history', '128', '--json', '--quiet']);
      if (r.code !== 0) throw new Error(`prune: ${r.stderr}`);
      const p = JSON.parse(r.stdout);
      report(
        `prune --state-history 128: ${(r.ms / 1000).toFixed(1)} s, ${fmtPeak(r.peakRss, r.peakAnon)}; kept blocks ${p.keptFrom}-${p.head} (${p.nodesKept.toLocaleString('en')} trie nodes), deleted ${p.deleted.toLocaleString('en')} of ${p.keysScanned.toLocaleString('en')} entries; trie/ ${mb(p.bytesBefore)} -> ${mb(p.bytesAfter)} MB`,
      );
    },
  },
];

const ctx = {};
try {
  for (const phase of PHASES) if (!SKIP.has(phase.name)) await phase.run(ctx);
} finally {
  if (ctx.work && process.env.BASALT_SCALE_KEEP === '1') report(`kept: ${ctx.work}`);
  else if (ctx.work) rmSync(ctx.work, { recursive: true, force: true });
}
