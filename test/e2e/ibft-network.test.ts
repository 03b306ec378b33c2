import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Wallet } from 'ethers';
import { CliProcess, rpc, runCli, runCliAsync, serverArgs, tempDir, reservedPort, processesKilledAfterAll } from '../helpers/cli.js';
import { DEV_ADDRESS, DEV_KEY } from '../helpers/load.js';
import { until } from '../helpers/until.js';

const running = processesKilledAfterAll();

const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Four validator processes on loopback, one network shared by the steps below, in order: each step
 * starts from where the one before left the network.
 */
describe.sequential('IBFT rounds across validator processes', () => {
  let dir: string;
  let dirs: string[];
  let ports: number[];
  let genesis: string;
  let addresses: string[];
  const nodes: (CliProcess | undefined)[] = [];
  const urls: string[] = [];
  const launch = async (i: number, genesisFile = genesis, extra: string[] = []) => {
    const p = new CliProcess(serverArgs(dirs[i]!, genesisFile, ['--seal', '--block-time', '1', '--libp2p', `127.0.0.1:${ports[i]}`, ...extra]));
    running.push(p);
    nodes[i] = p;
    urls[i] = await p.rpcUrl();
  };
  const stop = async (i: number, signal: NodeJS.Signals) => {
    const r = await nodes[i]!.stop(signal);
    nodes[i] = undefined;
    return r;
  };
  const heads = (which: number[]) => Promise.all(which.map((i) => head(urls[i]!)));
  const allAt = (which: number[], n: number) => until(async () => (await heads(which)).every((h) => h >= n), `validators ${which.join(',')} at block ${n}`);
  const sameHashes = async (which: number[], n: number) => {
    const hashes = await Promise.all(which.map((i) => hashAt(urls[i]!, n)));
    expect(new Set(hashes).size, `hashes of block ${n}: ${hashes.join(' ')}`).toBe(1);
  };

  beforeAll(async () => {
    dir = tempDir();
    dirs = [0, 1, 2, 3].map((i) => join(dir, `v${i}`));
    const keys = dirs.map((d) => {
      const r = runCli(['secrets', 'init', '--data-dir', d, '--json']);
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as { validatorAddress: string; nodeId: string };
    });
    addresses = keys.map((k) => k.validatorAddress.toLowerCase());
    ports = await Promise.all(dirs.map(() => reservedPort()));
    genesis = join(dir, 'genesis.json');
    const g = runCli([
      'genesis',
      '--dir',
      genesis,
      '--ibft-validators-prefix-path',
      join(dir, 'v'),
      '--premine',
      `${DEV_ADDRESS}:${10n ** 21n}`,
      ...keys.flatMap((k, i) => ['--bootnode', `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${k.nodeId}`]),
    ]);
    expect(g.code, g.stderr).toBe(0);
    await Promise.all([0, 1, 2, 3].map((i) => launch(i)));
  }, 60_000);

  it('4 validators seal together: the same blocks on each, proposed by more than one of them', async () => {
    for (const p of nodes) await p!.waitForEvent('validator.started');
    await allAt([0, 1, 2, 3], 5);
    for (const n of [1, 3, 5]) await sameHashes([0, 1, 2, 3], n);
    const proposers = new Set<string>();
    for (let n = 1; n <= 5; n++)
      proposers.add((await rpc<{ miner: string }>(urls[0]!, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).miner.toLowerCase());
    expect(proposers.size).toBeGreaterThan(1);
  }, 60_000);

  it('a transaction sent to any validator is mined; a full node (no --seal) follows with the same hashes', async () => {
    const wallet = new Wallet(DEV_KEY);
    const raw = await wallet.signTransaction({
      to: '0x000000000000000000000000000000000000beef',
      value: 1000n,
      nonce: 0,
      gasLimit: 21000n,
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
      chainId: 100n,
      type: 2,
    });
    const txHash = await rpc<string>(urls[2]!, 'eth_sendRawTransaction', [raw]);
    await until(async () => (await rpc<{ status: string } | null>(urls[0]!, 'eth_getTransactionReceipt', [txHash]))?.status === '0x1', 'the transaction mined');
    const full = new CliProcess(serverArgs(join(dir, 'full'), genesis));
    running.push(full);
    const fullUrl = await full.rpcUrl();
    const hf = Math.max(...(await heads([0, 1, 2, 3]))) + 1;
    await until(async () => (await head(fullUrl)) >= hf, "the full node at the validators' head");
    expect(await hashAt(fullUrl, hf)).toBe(await hashAt(urls[0]!, hf));
    expect((await full.stop('SIGINT')).code).toBe(0);
  }, 60_000);

  it('one killed with -9: the other three (a quorum) go on; back, it catches up and agrees', async () => {
    await stop(3, 'SIGKILL');
    const h1 = Math.max(...(await heads([0, 1, 2])));
    await allAt([0, 1, 2], h1 + 2);
    await sameHashes([0, 1, 2], h1 + 2);
    await launch(3);
    const h2 = Math.max(...(await heads([0, 1, 2])));
    await allAt([0, 1, 2, 3], h2 + 1);
    await sameHashes([0, 1, 2, 3], h2 + 1);
  }, 60_000);

  it('two stopped: no quorum, the chain halts and the two left do not fork; one back, it resumes', async () => {
    expect((await stop(2, 'SIGINT')).code).toBe(0);
    expect((await stop(3, 'SIGINT')).code).toBe(0);
    await sleep(2_500); // a block in flight when they stopped lands (or not) by then
    const h3 = Math.max(...(await heads([0, 1])));
    await until(async () => (await heads([0, 1])).every((h) => h === h3), 'survivors on the same head');
    await sleep(5_000); // that nothing happens takes time to see: five block times
    expect(await heads([0, 1])).toEqual([h3, h3]);
    await sameHashes([0, 1], h3);
    await launch(2);
    await allAt([0, 1, 2], h3 + 2);
    await sameHashes([0, 1, 2], h3 + 2);
  }, 60_000);

  it('a validator backed up online (snapshot and key backup), lost and restored rejoins the quorum', async () => {
    // Its restored data dir has no sign journal: it signs once the others commit a block proposed after
    // its start, so validator 3 comes back to make their quorum, and is stopped again once it signs.
    const snapshot = join(dir, 'v2.bsn');
    const keysBackup = join(dir, 'v2-keys.bkb');
    const pass = join(dir, 'pass.txt');
    writeFileSync(pass, 'correct horse battery staple\n');
    const snap = await runCliAsync(['snapshot', snapshot, '--grpc-address', await nodes[2]!.grpcAddress(), '--quiet']);
    expect(snap.code, snap.stderr).toBe(0);
    const bk = runCli(['secrets', 'backup', keysBackup, '--data-dir', dirs[2]!, '--passphrase-file', pass]);
    expect(bk.code, bk.stderr).toBe(0);
    expect((await stop(2, 'SIGKILL')).code).not.toBe(0);
    rmSync(dirs[2]!, { recursive: true, force: true });
    const rs = await runCliAsync(['restore', snapshot, '--data-dir', dirs[2]!, '--chain', genesis, '--quiet']);
    expect(rs.code, rs.stderr).toBe(0);
    const sr = runCli(['secrets', 'restore', keysBackup, '--data-dir', dirs[2]!, '--passphrase-file', pass]);
    expect(sr.code, sr.stderr).toBe(0);
    await launch(3);
    await launch(2);
    await nodes[2]!.waitForEvent('consensus.restored-wait');
    // It takes part: it proposes a block.
    const from = Math.max(...(await heads([0, 1])));
    await until(
      async () => {
        const h = await head(urls[0]!);
        for (let n = from + 1; n <= h; n++) {
          const miner = (await rpc<{ miner: string }>(urls[0]!, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).miner.toLowerCase();
          if (miner === addresses[2]) return true;
        }
        return false;
      },
      'a block proposed by the restored validator',
      60_000,
    );
    expect((await stop(3, 'SIGKILL')).code).not.toBe(0);
    const h4 = Math.max(...(await heads([0, 1])));
    await allAt([0, 1, 2], h4 + 2); // 3 of 4: the restored validator is in the quorum
    await sameHashes([0, 1, 2], h4 + 2);
  }, 120_000);

  it("a validator's key lost for good (validator 3, no key backup): the others vote in a new key, which syncs and seals, and vote the lost one out; a snapshot after the votes restores, and one from before them restores and syncs past them", async () => {
    // Validator 3 is down since the steps above: treat its key as lost. A new node with a new key
    // follows the chain outside the set until voted in.
    const newDir = join(dir, 'v4');
    const made = runCli(['secrets', 'init', '--data-dir', newDir, '--json']);
    expect(made.code, made.stderr).toBe(0);
    const v4 = (JSON.parse(made.stdout) as { validatorAddress: string }).validatorAddress.toLowerCase();
    dirs[4] = newDir;
    ports[4] = await reservedPort();
    await launch(4);
    await nodes[4]!.waitForEvent('validator.outside-set');
    const grpc = await Promise.all([0, 1, 2, 4].map(async (i) => [i, await nodes[i]!.grpcAddress()] as const)).then((a) => new Map(a));
    const ibft = (i: number, args: string[]) => runCliAsync(['ibft', ...args, '--grpc-address', grpc.get(i)!]);
    const snapshotOf = async (i: number) => {
      const r = await ibft(i, ['snapshot', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { number: number; validators: string[]; votes: { voter: string; candidate: string; vote: string }[] };
    };
    const before = await snapshotOf(0);
    expect(before.validators.length).toBe(4);
    const v3 = addresses[3]!;
    expect(before.validators).toContain(v3);
    // A vote the rules refuse is one line: the new node is outside the set and cannot vote.
    const refused = await ibft(4, ['propose', '--addr', v3, '--vote', 'drop']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toMatch(/^error: vote refused: .* is not a validator: only validators vote$/);
    // A vote to add a key is taken once a node holding it is connected to the voter and synced.
    for (const i of [0, 1, 2]) {
      let last = '';
      await until(async () => {
        const r = await ibft(i, ['propose', '--addr', v4, '--vote', 'auth']);
        last = r.stderr;
        return r.code === 0;
      }, `validator ${i} takes the vote (${last})`);
    }
    // Three votes of four: the new key is in, and with it four of five validators are up (a quorum).
    await until(async () => (await snapshotOf(0)).validators.includes(v4), 'the new key voted in', 40_000);
    await nodes[4]!.waitForEvent('validator.in-set');
    for (const i of [0, 1, 2]) {
      const r = await ibft(i, ['propose', '--addr', v3, '--vote', 'drop']);
      expect(r.code, r.stderr).toBe(0);
    }
    await until(async () => !(await snapshotOf(0)).validators.includes(v3), 'the lost key voted out', 40_000);
    const after = await snapshotOf(4);
    expect(after.validators.sort()).toEqual([...before.validators.filter((v) => v !== v3), v4].sort());
    // Four validators again (one fault tolerated); the new one proposes and signs.
    const h5 = Math.max(...(await heads([0, 1, 2, 4])));
    await allAt([0, 1, 2, 4], h5 + 6);
    await sameHashes([0, 1, 2, 4], h5 + 6);
    await until(async () => {
      const st = JSON.parse((await ibft(4, ['status', '--json'])).stdout) as { inSet: boolean; sealing: boolean; lastProposed?: number };
      return st.inSet && st.sealing && st.lastProposed !== undefined && st.lastProposed > after.number;
    }, 'the new validator proposing');
    // A snapshot taken after the votes restores: every vote's tally is checked from the genesis on.
    const post = join(dir, 'post-vote.bsn');
    const ps = await runCliAsync(['snapshot', post, '--grpc-address', grpc.get(0)!, '--quiet']);
    expect(ps.code, ps.stderr).toBe(0);
    const pr = await runCliAsync(['restore', post, '--data-dir', join(dir, 'post-vote'), '--chain', genesis, '--quiet']);
    expect(pr.code, pr.stderr).toBe(0);
    // The snapshot taken before any vote restores and syncs past the votes (each checked against its tally).
    const old = join(dir, 'pre-vote');
    const rs = await runCliAsync(['restore', join(dir, 'v2.bsn'), '--data-dir', old, '--chain', genesis, '--quiet']);
    expect(rs.code, rs.stderr).toBe(0);
    const follower = new CliProcess(serverArgs(old, genesis));
    running.push(follower);
    const fUrl = await follower.rpcUrl();
    const target = Math.max(...(await heads([0, 1, 2, 4])));
    await until(async () => (await head(fUrl)) >= target, 'the restored node past the votes');
    expect(await hashAt(fUrl, target)).toBe(await hashAt(urls[0]!, target));
    expect((await follower.stop('SIGINT')).code).toBe(0);
  }, 150_000);

  it('2 of the 4 validators lost for good (no vote can pass): the emergency change in the genesis file brings the 2 left and a new key back to sealing from its block', async () => {
    // The set is 0, 1, 2 and the new key 4 since the step above; 1 and 2 are lost: 2 of 4, no quorum.
    await stop(1, 'SIGKILL');
    await stop(2, 'SIGKILL');
    await sleep(2_500); // a block in flight lands (or not) by then
    const h = Math.max(...(await heads([0, 4])));
    await until(async () => (await heads([0, 4])).every((x) => x === h), 'the two left on the same head');
    const made = runCli(['secrets', 'init', '--data-dir', join(dir, 'v5'), '--json']);
    expect(made.code, made.stderr).toBe(0);
    const v5 = (JSON.parse(made.stdout) as { validatorAddress: string }).validatorAddress.toLowerCase();
    const v4 = (
      await runCliAsync(['ibft', 'status', '--json', '--grpc-address', await nodes[4]!.grpcAddress()]).then((r) => JSON.parse(r.stdout) as { address: string })
    ).address;
    const set = [addresses[0]!, v4, v5];
    const changed = join(dir, 'genesis-changed.json');
    const g = JSON.parse(readFileSync(genesis, 'utf8')) as { params: { engine: { ibft: Record<string, unknown> } } };
    g.params.engine.ibft.validatorSetChanges = [{ block: h + 1, validators: set }];
    writeFileSync(changed, JSON.stringify(g, null, 2));
    // Every node left restarts with the changed genesis file. Two of the new set of three are a quorum:
    // 0 and 4 seal past the change before the new key's node starts.
    for (const i of [0, 4]) expect((await stop(i, 'SIGINT')).code).toBe(0);
    dirs[5] = join(dir, 'v5');
    ports[5] = await reservedPort();
    const debug = ['--log-level', 'debug'];
    await Promise.all([launch(0, changed, debug), launch(4, changed, debug)]);
    // While halted, validators 0 and 4 moved through round changes, each twice as long as the one before,
    // and a restarted validator resumes at the round its journal holds: the first block under the new
    // set can wait out one such round (up to ~32 s after a halt of this length), then blocks come
    // again. If 1 and 2 died between their PREPAREs and COMMITs, 0 and 4 hold a prepared lock of the
    // old set at h+1: released at restart (test/unit/consensus/ibft-set-change.test.ts).
    const diagnose = (err: unknown) => {
      // What each was doing (consensus, peers, sync), for a failure seen only under the full suite's load.
      const lines = [0, 4, 5].flatMap((i) =>
        (nodes[i]?.logs ?? [])
          .filter((l) => /consensus|recall|round|peer|sync|set|propos|refus|commit|error/i.test(`${l.msg} ${l.event ?? ''}`))
          .slice(-40)
          .map(
            ({ time, level, msg, pid: _p, hostname: _h, ...rest }) =>
              `v${i} ${new Date(time).toISOString().slice(11, 23)} ${level} ${msg} ${JSON.stringify(rest)}`,
          ),
      );
      throw new Error(`${(err as Error).message}\n${lines.join('\n')}`);
    };
    await until(async () => (await heads([0, 4])).every((x) => x >= h + 2), `validators 0,4 at block ${h + 2}`, 160_000).catch(diagnose);
    // The new key's node starts at block 0, behind the change: its peers' heads past it are sealed by
    // the change's set (one seal of its genesis set), and it takes them as proven, syncs and seals.
    await launch(5, changed, debug);
    await until(async () => (await heads([0, 4, 5])).every((x) => x >= h + 3), `validators 0,4,5 at block ${h + 3}`, 60_000).catch(diagnose);
    expect(nodes[5]!.logs.filter((l) => l.event === 'peer.banned')).toEqual([]);
    const g5 = await nodes[5]!.grpcAddress();
    await until(async () => {
      const st = JSON.parse((await runCliAsync(['ibft', 'status', '--json', '--grpc-address', g5])).stdout) as { lastProposed?: number };
      return st.lastProposed !== undefined && st.lastProposed > h + 1;
    }, 'the new key proposing');
    await sameHashes([0, 4, 5], h + 3);
    const snap = await runCliAsync(['ibft', 'snapshot', '--number', String(h + 1), '--json', '--grpc-address', g5]);
    expect(snap.code, snap.stderr).toBe(0);
    expect((JSON.parse(snap.stdout) as { validators: string[] }).validators).toEqual(set);
    // The first genesis file no longer opens these data dirs: the change is below their head.
    expect((await stop(5, 'SIGINT')).code).toBe(0);
    const refused = runCli(serverArgs(dirs[5]!, genesis, ['--seal']));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim()).toMatch(/^error: genesis file removes the emergency validator-set change at block \d+ .* after the head$/);
  }, 240_000);
});
