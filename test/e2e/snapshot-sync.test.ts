import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, expectOneLineError, rpc, runCli, runCliAsync, serverArgs, tempDir, reservedPort, processesKilledAfterAll } from '../helpers/cli.js';
import { DEV_ADDRESS, DEV_KEY } from '../helpers/load.js';
import { until } from '../helpers/until.js';

/** Hostile snapshot servers (test/helpers/snapshot-peers.mjs), run with node. */
const SNAPSHOT_PEERS = resolve(import.meta.dirname, '../helpers/snapshot-peers.mjs');

const running = processesKilledAfterAll();
const children: ReturnType<typeof spawn>[] = [];
function start(args: string[]): CliProcess {
  const p = new CliProcess(args);
  running.push(p);
  return p;
}
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
});

const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;

describe('server --sync snapshot', () => {
  // One validator for the tests below; its genesis file names it as bootnode, `lonely` is the same chain without.
  let dir: string;
  let genesis: string;
  let lonely: string;
  let v: { validatorAddress: string; nodeId: string };
  let validator: CliProcess;
  beforeAll(async () => {
    dir = tempDir();
    const init = runCli(['secrets', 'init', '--data-dir', join(dir, 'validator'), '--json']);
    expect(init.code, init.stderr).toBe(0);
    v = JSON.parse(init.stdout) as { validatorAddress: string; nodeId: string };
    const port = await reservedPort();
    const bootnode = `/ip4/127.0.0.1/tcp/${port}/p2p/${v.nodeId}`;
    genesis = join(dir, 'genesis.json');
    const g = runCli(['genesis', '--dir', genesis, '--ibft-validator', v.validatorAddress, '--premine', DEV_ADDRESS, '--bootnode', bootnode]);
    expect(g.code, g.stderr).toBe(0);
    lonely = join(dir, 'genesis-no-bootnodes.json');
    writeFileSync(lonely, JSON.stringify({ ...JSON.parse(readFileSync(genesis, 'utf8')), bootnodes: [] }));
    validator = start(serverArgs(join(dir, 'validator'), genesis, ['--seal', '--block-time', '0.5', '--libp2p', `127.0.0.1:${port}`]));
    await validator.rpcUrl();
  }, 30_000);

  it('a new node restores a peer snapshot, reaches the head with the same hashes, and refuses historical state like a restored node', async () => {
    const vUrl = await validator.rpcUrl();
    // Two transfers in different blocks: the state after the first is neither the genesis's nor the head's.
    const wallet = new Wallet(DEV_KEY);
    const mined: number[] = [];
    for (const nonce of [0, 1]) {
      const raw = await wallet.signTransaction({
        type: 2,
        chainId: 100,
        nonce,
        maxFeePerGas: 10n ** 10n,
        maxPriorityFeePerGas: 1n,
        gasLimit: 21_000,
        to: `0x${'44'.repeat(20)}`,
        value: 5n,
      });
      const txHash = await rpc<string>(vUrl, 'eth_sendRawTransaction', [raw]);
      let receipt: { blockNumber: string } | null = null;
      await until(async () => (receipt = await rpc<{ blockNumber: string } | null>(vUrl, 'eth_getTransactionReceipt', [txHash])) !== null, 'transfer mined');
      mined.push(Number(BigInt(receipt!.blockNumber)));
    }
    const historical = `0x${mined[0]!.toString(16)}`;
    await validator.waitForBlock(8);

    const node = start(serverArgs(join(dir, 'new'), genesis, ['--sync', 'snapshot']));
    const restored = await node.waitForEvent('snapshot-sync.restored');
    expect(restored.peer).toBe(v.nodeId);
    expect(restored.head as number).toBeGreaterThanOrEqual(8);
    const url = await node.rpcUrl();
    const vh = await head(vUrl);
    await until(async () => (await head(url)) >= vh, 'new node at the head');
    // The snapshot held no history (snapshot protocol 3): the blocks below its head come from the peer.
    // (the back-fill starts last, after the servers: the node may answer at its head before it logs)
    expect(await node.waitForEvent('history.backfill-started')).toMatchObject({ from: 1, to: (restored.head as number) - 1, source: 'peers' });
    await node.waitForEvent('history.backfilled');
    for (const n of [1, restored.head as number, vh]) expect(await hashAt(url, n)).toBe(await hashAt(vUrl, n));
    expect(await rpc(url, 'eth_getBlockReceipts', [`0x${mined[0]!.toString(16)}`])).toEqual(
      await rpc(vUrl, 'eth_getBlockReceipts', [`0x${mined[0]!.toString(16)}`]),
    );
    expect(await rpc(url, 'eth_getBalance', [DEV_ADDRESS, 'latest'])).toBe(
      await rpc(vUrl, 'eth_getBalance', [DEV_ADDRESS, `0x${(await head(url)).toString(16)}`]),
    );
    // History is there, its state is not (as on a node restored from a snapshot): a clear refusal.
    expect(await rpc(vUrl, 'eth_getBalance', [DEV_ADDRESS, historical])).not.toBe(await rpc(vUrl, 'eth_getBalance', [DEV_ADDRESS, 'latest']));
    await expect(rpc(url, 'eth_getBalance', [DEV_ADDRESS, historical])).rejects.toThrow(
      new RegExp(`historical state for block ${mined[0]} is not available: this node keeps the states from block \\d+ on`),
    );
    // The data dir is the node's own: keys kept, no leftover build folder.
    expect(readdirSync(join(dir, 'new')).sort()).toEqual(expect.arrayContaining(['blockchain', 'consensus', 'keystore', 'trie']));
    expect(readdirSync(dir).filter((f) => f.includes('snapshot-sync'))).toEqual([]);

    // Restarted with --sync snapshot, it has a chain now: block sync from its head.
    expect((await node.stop('SIGINT')).code).toBe(0);
    const again = start(serverArgs(join(dir, 'new'), genesis, ['--sync', 'snapshot']));
    await again.waitForEvent('snapshot-sync.skipped');
    const ua = await again.rpcUrl();
    const vh2 = await head(vUrl);
    await until(async () => (await head(ua)) >= vh2, 'caught up after restart');
    expect(await hashAt(ua, vh2)).toBe(await hashAt(vUrl, vh2));
  }, 60_000);

  it('with --history full, it fills the history below the snapshot from its peer before it serves every method', async () => {
    const vUrl = await validator.rpcUrl();
    await validator.waitForBlock(8);
    const node = start(serverArgs(join(dir, 'full-history'), genesis, ['--sync', 'snapshot', '--history', 'full']));
    try {
      const restored = await node.waitForEvent('snapshot-sync.restored');
      expect(await node.waitForEvent('history.waiting')).toMatchObject({ from: 1, to: (restored.head as number) - 1 });
      const everyMethod = (l: { msg: string }) => l.msg === 'JSON-RPC serving every method';
      await node.waitFor(() => node.logs.some(everyMethod), 'every method served');
      // Back-filled first (without --history full the back-fill starts after the servers, last).
      const filled = node.logs.findIndex((l) => l.event === 'history.backfilled');
      expect(filled).toBeGreaterThan(-1);
      expect(filled).toBeLessThan(node.logs.findIndex(everyMethod));
      const url = await node.rpcUrl();
      for (const n of [1, (restored.head as number) - 1]) expect(await hashAt(url, n)).toBe(await hashAt(vUrl, n));
    } finally {
      await node.stop('SIGINT');
    }
  }, 30_000);

  /**
   * Two hostile snapshot servers (one trickling, one sending more than it announced), shared by the
   * steps below, in order: the first starts two new nodes, each with one of them as its only bootnode.
   */
  describe.sequential('hostile snapshot servers', () => {
    let vUrl: string;
    let vGrpc: string;
    const hostile: Record<string, string> = {};
    /** The head they claim: 64 past their snapshot's. */
    let claimed = 0;
    const connections: { mode: string; connected: string }[] = [];
    let trickled: CliProcess;
    let overrun: CliProcess;
    const idOf = (addr: string) => addr.split('/p2p/')[1]!;
    // An honest peer joins as soon as the node listens: the validator dials it (and keeps redialling it).
    // A dial can meet the node between its sync network and its own (a reset): tried again, as an operator would.
    const addValidator = async (p: CliProcess) => {
      let added = await runCliAsync(['peers', 'add', '--addr', await p.p2pAddress(), '--grpc-address', vGrpc]);
      for (let i = 0; i < 4 && added.code !== 0 && /ECONNRESET|ECONNREFUSED/.test(added.stderr); i++) {
        await new Promise((r) => setTimeout(r, 1_000));
        added = await runCliAsync(['peers', 'add', '--addr', await p.p2pAddress(), '--grpc-address', vGrpc]);
      }
      expect(added.code, added.stderr).toBe(0);
    };
    const banOf = (p: CliProcess, peer: string) => p.waitForEvent('peer.banned', (l) => l.peer === idOf(peer), 30_000);

    beforeAll(async () => {
      vUrl = await validator.rpcUrl();
      vGrpc = await validator.grpcAddress();
      await validator.waitForBlock(4);
      // The validator's snapshot: the hostile servers serve its bytes (a valid start).
      const file = join(dir, 'validator.bsn');
      const snap = await runCliAsync(['snapshot', file, '--grpc-address', vGrpc, '--quiet']);
      expect(snap.code, snap.stderr).toBe(0);
      const genesisHash = (await rpc<{ hash: string }>(vUrl, 'eth_getBlockByNumber', ['0x0', false])).hash;
      const helper = spawn(process.execPath, [SNAPSHOT_PEERS, '100', genesisHash, file, 'trickle', 'overlong'], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(helper);
      const lines = createInterface({ input: helper.stdout! });
      await new Promise<void>((resolve) =>
        lines.on('line', (line) => {
          const h = JSON.parse(line) as { mode: string; address?: string; head?: number; connected?: string };
          if (h.address) hostile[h.mode] = h.address;
          if (h.head) claimed = h.head;
          if (h.connected) connections.push({ mode: h.mode, connected: h.connected });
          if (Object.keys(hostile).length === 2) resolve();
        }),
      );
    }, 60_000);

    it('a node restoring from them answers JSON-RPC on its port meanwhile: who it is, eth_syncing, and refusals of state and /health', async () => {
      // A 2 s window at 64 KB/s: the trickle (512 bytes every 20 s) is cut 2 s after its answer.
      // Fixed libp2p ports: the address the validator is given stays the node's after its snapshot sync.
      const flags = async () => [
        '--sync',
        'snapshot',
        '--snapshot-min-rate',
        '64KB',
        '--snapshot-rate-window',
        '2s',
        '--prometheus',
        '127.0.0.1:0',
        '--libp2p',
        `127.0.0.1:${await reservedPort()}`,
      ];
      trickled = start(serverArgs(join(dir, 'trickled'), lonely, [...(await flags()), '--bootnode', hostile.trickle!]));
      overrun = start(serverArgs(join(dir, 'overrun'), lonely, [...(await flags()), '--bootnode', hostile.overlong!]));

      // The node dialled its bootnode, the trickle, first, and asks it first (the higher head); once the
      // trickle is dropped it restores from the validator if that is ready by then (the CLI dialling it
      // may take longer on a busy machine), or else syncs block by block from it.
      const adding = addValidator(trickled);

      // JSON-RPC is up during the phase, on the configured port: who it is, eth_syncing, refusals.
      const url = await trickled.rpcUrl();
      const asked = (p: CliProcess, peer: string) => p.waitForEvent('snapshot-sync.asking', (l) => l.peer === idOf(peer));
      await asked(trickled, hostile.trickle!);
      expect(await rpc(url, 'eth_syncing')).toMatchObject({ startingBlock: '0x0', currentBlock: '0x0', highestBlock: `0x${claimed.toString(16)}` });
      expect(await rpc(url, 'eth_chainId')).toBe('0x64');
      expect(await rpc(url, 'net_version')).toBe('100');
      expect(await rpc(url, 'eth_blockNumber')).toBe('0x0');
      await expect(rpc(url, 'eth_getBalance', [DEV_ADDRESS, 'latest'])).rejects.toThrow(/not available yet: the node is restoring from a peer's snapshot/);
      expect((await fetch(`${url.replace(/\/$/, '')}/health`)).status).toBe(503);
      await adding;
    }, 60_000);

    it('the trickling server is banned a window (2 s) after its answer', async () => {
      const slowBan = await banOf(trickled, hostile.trickle!);
      expect(slowBan.reason).toMatch(
        /^served a snapshot too slowly: .*snapshot\/2: \d+ bytes in the last 2\.0 s of waiting, below the floor of 64000 bytes\/s$/,
      );
      const announced = trickled.events('snapshot-sync.announced').find((l) => l.peer === idOf(hostile.trickle!))!;
      const cutAfter = (slowBan.time as number) - (announced.time as number);
      expect(cutAfter).toBeGreaterThanOrEqual(1_900);
      expect(cutAfter).toBeLessThan(5_000);
    }, 40_000);

    it('the server sending more than it announced is banned at once; with no other peer, that node falls back to block sync', async () => {
      const overBan = await banOf(overrun, hostile.overlong!);
      expect(overBan.reason).toMatch(/^served a bad snapshot: .*snapshot\/2: the snapshot is longer than the \d+ bytes announced$/);
      // The validator joins once it runs.
      await overrun.waitForEvent('snapshot-sync.fallback');
      await overrun.waitForEvent('node.started');
      await addValidator(overrun);
    }, 90_000);

    it("both nodes reach the validator's head (from its snapshot, or block by block), on the same JSON-RPC port", async () => {
      for (const p of [trickled, overrun]) {
        const pUrl = await p.rpcUrl();
        const vh = Number(BigInt(await rpc<string>(vUrl, 'eth_blockNumber')));
        await until(async () => Number(BigInt(await rpc<string>(pUrl, 'eth_blockNumber'))) >= vh, 'caught up', 30_000);
        expect(await rpc(pUrl, 'eth_getBalance', [DEV_ADDRESS, 'latest'])).toMatch(/^0x/);
      }
      const restored = trickled.events('snapshot-sync.restored')[0];
      if (restored) expect(restored.peer).toBe(v.nodeId);
      else await trickled.waitForEvent('snapshot-sync.fallback');
    }, 75_000);

    it('the bans outlive the snapshot sync: counted by the running nodes, each hostile peer (a bootnode) connected once, by the snapshot sync', async () => {
      // Not dialled again once the node runs.
      for (const [p, kind] of [
        [trickled, 'slow-snapshot'],
        [overrun, 'invalid-data'],
      ] as const) {
        const metrics = await (await fetch(`http://${(await p.waitForEvent('metrics.listening')).address}/metrics`)).text();
        expect(metrics).toContain(`basalt_p2p_bans_total{reason="${kind}"} 1`);
      }
      expect(connections.filter((c) => c.mode === 'trickle')).toHaveLength(1);
      expect(connections.filter((c) => c.mode === 'overlong')).toHaveLength(1);
    }, 40_000);
  });

  it('a new node told to stop while it waits for a snapshot stops then, without writing the genesis state; the next start writes it', async () => {
    const nodeDir = join(tempDir(), 'stopped');
    // No bootnode: it would wait 30 s for a peer, then write the genesis state and sync block by block.
    const p = start(serverArgs(nodeDir, lonely, ['--sync', 'snapshot']));
    await p.waitFor(() => p.stderr.includes("snapshot sync: the data dir has no chain; restoring from a peer's snapshot"), 'the snapshot sync');
    expect((await p.stop()).code).toBe(0);
    expect(p.stderr).toContain('snapshot sync: stopped (the node is stopping)');
    expect(p.events('snapshot-sync.fallback')).toEqual([]);
    expect(p.stderr).not.toContain('wrote the genesis state');
    // Its genesis block alone: an offline command says so in one line.
    expectOneLineError(
      runCli(['db', 'check', '--data-dir', nodeDir]),
      /^error: the data dir's first start has not finished: its genesis state is not written yet/,
    );
    // Started again without --sync snapshot, it writes the state and serves it.
    const again = start(serverArgs(nodeDir, lonely));
    const url = await again.rpcUrl();
    expect(again.stderr).toContain('wrote the genesis state');
    expect(BigInt(await rpc<string>(url, 'eth_getBalance', [DEV_ADDRESS, 'latest']))).toBeGreaterThan(0n);
    expect((await again.stop()).code).toBe(0);
  }, 40_000);

  it('refuses a bad --sync mode, a bad --history mode, and --sync snapshot without networking, with one error line', () => {
    const dir = join(tempDir(), 'node');
    expectOneLineError(
      runCli(['server', '--data-dir', dir, '--chain', join(dir, 'g.json'), '--sync', 'fast']),
      /^error: option '--sync <mode>' argument 'fast' is invalid\. "fast" is not full or snapshot$/,
    );
    expectOneLineError(
      runCli(['server', '--data-dir', dir, '--chain', join(dir, 'g.json'), '--history', `x${'y'.repeat(5000)}`]),
      /^error: option '--history <mode>' argument 'xy{39}…' is invalid\. "xy{39}" is not backfill or full$/,
    );
    expectOneLineError(
      runCli(['server', '--data-dir', dir, '--chain', join(dir, 'g.json'), '--sync', 'snapshot', '--no-libp2p']),
      /^error: --sync snapshot restores from peers: it needs networking/,
    );
  });
});
