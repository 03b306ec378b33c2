import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeIbftExtra } from '../../src/consensus/ibft/extra.js';
import { CliProcess, rpc, runCliAsync, serverArgs, tempDir, reservedPort, processesKilledAfterAll } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

/** A libp2p peer recording every IBFT message it is sent (test/helpers/ibft-spy.mjs), run with node. */
const SPY = resolve(import.meta.dirname, '../helpers/ibft-spy.mjs');

/*
 * Issue #18, "no equivocation after a restore", with real processes: 4 validators, one of which (V)
 * proposes and prepares a block A at a height H the network cannot finish (two validators killed),
 * then loses its disk and is brought back from an online snapshot and key backup taken earlier (the
 * README's disaster recovery). Its restored data dir has no sign journal: it signs nothing until the
 * others commit a block proposed after its start, so it waits for a quorum without it (validators 2
 * and 3 back). A libp2p spy records every IBFT message, and V's key must never sign two values at one
 * height and round across both processes.
 */

const TYPE = ['PREPREPARE', 'PREPARE', 'COMMIT', 'ROUND-CHANGE'] as const;

/** One IBFT message as the spy saw it (value: the block hash of a PREPREPARE, the hash of a PREPARE or COMMIT). */
interface SpyMsg {
  t: number;
  id: string;
  sender: string;
  type: 0 | 1 | 2 | 3;
  height: number;
  round: number;
  value: string | null;
  embedded?: boolean;
}

class Spy {
  readonly msgs: SpyMsg[] = [];
  connected = 0;
  private partial = '';

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (this.partial + d).split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) {
        const o = JSON.parse(line) as SpyMsg & { connected?: number };
        if (o.connected !== undefined) this.connected = o.connected;
        else if (o.sender !== undefined) this.msgs.push(o);
      }
    });
  }

  find(sender: string, type: number, height: number, round: number): SpyMsg | undefined {
    return this.msgs.find((m) => m.sender === sender && m.type === type && m.height === height && m.round === round && !m.embedded);
  }
}

const show = (ms: SpyMsg[]) =>
  ms.map((m) => `${TYPE[m.type]}(${m.height},${m.round}) ${m.value ?? '-'} at ${m.t}${m.embedded ? ' (in a certificate)' : ''}`).join('\n  ');

let dir: string | undefined;
const running = processesKilledAfterAll({ thenRemove: () => dir });
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
});

const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One network of 4 validators and the spy, shared by the steps below, in order: each step starts from
 * where the one before left the network.
 */
describe.sequential('a validator restored from its backups never signs twice (issue #18)', () => {
  // V: the validator restored; W: the one that stays up; X and Y are stopped, X comes back.
  const [V, W, X, Y] = [0, 1, 2, 3];
  let d: string;
  let dirs: string[];
  let ports: number[];
  let addrs: string[];
  let genesis: string;
  let address: string[];
  let vAddr: string;
  let beforeV: string;
  let spy: Spy;
  const nodes: (CliProcess | undefined)[] = [];
  const urls: string[] = [];
  const launch = async (i: number) => {
    const p = new CliProcess(serverArgs(dirs[i]!, genesis, ['--seal', '--block-time', '1', '--ibft-base-timeout', '1', '--libp2p', `127.0.0.1:${ports[i]}`]));
    running.push(p);
    nodes[i] = p;
    urls[i] = await p.rpcUrl();
    return p;
  };
  const heads = (which: number[]) => Promise.all(which.map((i) => head(urls[i]!)));
  const allAt = (which: number[], n: number, ms?: number) =>
    until(async () => (await heads(which)).every((h) => h >= n), `validators ${which.join(',')} at block ${n}`, ms, 200);

  // What the steps learn and pass on.
  let H = 0;
  let A = '';
  let restartedAt = 0;
  let snapshot: string;
  let keysBackup: string;
  let pass: string;
  let snapshotHead: number;
  let settled: number;
  const vSince = () => spy.msgs.filter((m) => m.sender === vAddr && m.t >= restartedAt && !m.embedded);
  const atH = <K extends 'consensus.recall-started' | 'consensus.recall-learned' | 'consensus.recall-done'>(name: K) =>
    nodes[V]!.events(name).filter((l) => l.height === H);

  beforeAll(async () => {
    dir = tempDir('basalt-e2e-restored-');
    d = dir;
    dirs = [0, 1, 2, 3].map((i) => join(d, `v${i}`));
    const keys = await Promise.all(
      dirs.map(async (dd) => {
        const r = await runCliAsync(['secrets', 'init', '--data-dir', dd, '--json']);
        if (r.code !== 0) throw new Error(r.stderr);
        return JSON.parse(r.stdout) as { validatorAddress: string; nodeId: string };
      }),
    );
    ports = await Promise.all(dirs.map(() => reservedPort()));
    addrs = keys.map((k, i) => `/ip4/127.0.0.1/tcp/${ports[i]}/p2p/${k.nodeId}`);
    genesis = join(d, 'genesis.json');
    const g = await runCliAsync(['genesis', '--dir', genesis, '--ibft-validators-prefix-path', join(d, 'v'), ...addrs.flatMap((a) => ['--bootnode', a])]);
    expect(g.code, g.stderr).toBe(0);
    // The round robin: the genesis validator order. Round 0 of the next block is the last proposer's successor's.
    const order = decodeIbftExtra(
      hexToBytes((JSON.parse(readFileSync(genesis, 'utf8')) as { genesis: { extraData: `0x${string}` } }).genesis.extraData),
    ).validators.map((a): string => bytesToHex(a));
    address = keys.map((k) => k.validatorAddress.toLowerCase());
    vAddr = address[V]!;
    beforeV = order[(order.indexOf(vAddr) + order.length - 1) % order.length]!;

    await Promise.all([V, W, X, Y].map(launch));
    const genesisHash = await hashAt(urls[V]!, 0);
    const chainId = String(BigInt(await rpc<string>(urls[V]!, 'eth_chainId')));
    const spyChild = spawn(process.execPath, [SPY, chainId, genesisHash, ...addrs], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(spyChild);
    spy = new Spy(spyChild);
  }, 60_000);

  // On a failure in any step: what V and W logged lately and what the spy saw V sign, to tell a slow machine from a bug.
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      const recent = (i: number) =>
        (nodes[i]?.logs ?? [])
          .filter((l) => l.level >= 30 && !/JSON-RPC|gRPC|listening/.test(l.msg))
          .slice(-15)
          .map((l) => `    ${JSON.stringify(l)}`)
          .join('\n');
      const signed = show((spy?.msgs ?? []).filter((m) => m.sender === vAddr && m.height >= H - 1));
      console.error(
        `H=${H} A=${A} V restarted at ${restartedAt}\nV's log:\n${recent(V)}\nW's log:\n${recent(W)}\nthe spy saw V sign (height >= H-1):\n  ${signed}`,
      );
    });
  });

  it('the 4 validators seal, and the disaster-recovery inputs are taken early while V runs: an online snapshot and the key backup', async () => {
    await allAt([V, W, X, Y], 2, 40_000);
    snapshot = join(d, 'v0.bsn');
    keysBackup = join(d, 'v0-keys.bkb');
    pass = join(d, 'pass.txt');
    writeFileSync(pass, 'correct horse battery staple\n');
    const [snap, bk] = await Promise.all([
      runCliAsync(['snapshot', snapshot, '--grpc-address', await nodes[V]!.grpcAddress(), '--quiet']),
      runCliAsync(['secrets', 'backup', keysBackup, '--data-dir', dirs[V]!, '--passphrase-file', pass]),
    ]);
    expect(snap.code, snap.stderr).toBe(0);
    expect(bk.code, bk.stderr).toBe(0);
    snapshotHead = Math.max(...(await heads([V, W])));
  }, 70_000);

  it('the spy hears all 4 validators, and V decides a height without recalling what its key signed (15 s after its start)', async () => {
    await until(() => spy.connected === 4, 'the spy connected to the 4 validators', 20_000);
    // A validator process recalls what its key signed at each height until a block proposed after its
    // start is committed (15 s). Until then V would sit out a height without a quorum answering, not
    // propose: the halt needs a V that signs from its own journal, so wait for a height it decided
    // without recalling.
    settled = await until(
      () => nodes[V]!.events('consensus.reached').find((r) => !nodes[V]!.events('consensus.recall-started').some((l) => l.height === r.height))?.height,
      'V deciding a height without recall (15 s after its start)',
      40_000,
      200,
    );
  }, 70_000);

  it('the chain halts at a height H whose round-0 proposer V proposed and prepared a block A: W signed no other value there, V and W stay at H-1', async () => {
    // As soon as W commits a block proposed by the validator before V, validators 2 and 3 are killed.
    for (let attempt = 1; ; attempt++) {
      const after = Math.max(snapshotHead, settled, ...(await heads([V, W])));
      const n = await until(
        () => {
          for (const l of nodes[W]!.events('consensus.reached')) {
            if (l.height <= after) continue;
            const proposal = spy.msgs.find((m) => m.type === 0 && m.height === l.height && m.value === l.hash);
            if (proposal?.sender === beforeV) return l.height;
          }
          return undefined;
        },
        'a block proposed by the validator before V',
        30_000,
        10,
      );
      nodes[X]!.child.kill('SIGKILL');
      nodes[Y]!.child.kill('SIGKILL');
      await Promise.all([X, Y].map((i) => nodes[i]!.exited));
      H = n + 1;
      // V proposes A at (H, 0) about a second after block H-1 and prepares it; W prepares it.
      const pre = await until(() => spy.find(vAddr, 0, H, 0), `V's PREPREPARE at (${H}, 0)`, 10_000, 50);
      A = pre.value!;
      await until(() => spy.find(vAddr, 1, H, 0), `V's PREPARE at (${H}, 0)`, 10_000, 50);
      await sleep(1_000); // COMMITs sent before the kill would have landed by now
      const committed = nodes[W]!.events('consensus.reached').some((l) => l.height === H) || (await heads([V, W])).some((h) => h >= H);
      if (!committed) break;
      // Too late: the two had prepared and committed H already. Bring them back and try a later height.
      expect(attempt, 'block H was committed before validators 2 and 3 were stopped, 3 times').toBeLessThan(3);
      await Promise.all([X, Y].map(launch));
      await allAt([V, W, X, Y], H + 1, 40_000);
    }
    expect(spy.find(vAddr, 1, H, 0)!.value).toBe(A);
    // W prepares A too, unless its round 0 ended before A arrived (a late block H-1 leaves round 0 one
    // base timeout): either way it holds V's messages for A, which is what V must learn (next step).
    const wAt0 = spy.msgs.filter((m) => m.sender === address[W] && m.height === H && m.round === 0 && m.type !== 3);
    expect(wAt0.filter((m) => m.value !== A)).toEqual([]);
    expect(await heads([V, W])).toEqual([H - 1, H - 1]);
  }, 120_000); // one attempt takes seconds; each retry (the two back, the chain past H) up to 50 s more

  it('V loses its disk and is restored from the snapshot and key backup: it catches up to H-1, signs nothing at H but A at round 0, and recalls what its key signed there, journaling A from W', async () => {
    // Restored as the README's disaster recovery says, on the same ports and bootnodes.
    await nodes[V]!.stop('SIGKILL');
    rmSync(dirs[V]!, { recursive: true, force: true });
    const rs = await runCliAsync(['restore', snapshot, '--data-dir', dirs[V]!, '--chain', genesis, '--quiet']);
    expect(rs.code, rs.stderr).toBe(0);
    const sr = await runCliAsync(['secrets', 'restore', keysBackup, '--data-dir', dirs[V]!, '--passphrase-file', pass]);
    expect(sr.code, sr.stderr).toBe(0);
    restartedAt = Date.now();
    await launch(V);
    // It catches up to H-1 from W. Then, for a few seconds: V signs nothing at H (with W and itself, 2
    // of the quorum of 3 that must tell it what its key signed there, it sits the height out).
    await allAt([V], H - 1, 30_000);
    await sleep(4_000);
    expect(await heads([V, W])).toEqual([H - 1, H - 1]);
    const conflicting = vSince().filter((m) => m.height === H && !(m.round === 0 && m.type !== 3 && m.value === A));
    expect(conflicting, `what the restored V signed at height ${H} (A = ${A}):\n  ${show(conflicting)}`).toEqual([]);
    // It is learning what its key signed at H (recall), and W, which held V's PREPREPARE and PREPARE
    // for A, answered with them: journaled.
    expect(atH('consensus.recall-started'), `V recalling at height ${H}`).not.toEqual([]);
    const learned = atH('consensus.recall-learned').find((l) => l.hash === A);
    expect(learned, `V journaling A at height ${H} from W's answer`).toMatchObject({ round: 0 });
    expect(atH('consensus.recall-done')).toEqual([]);
    // It said why it waits: its sign journal is absent.
    expect(nodes[V]!.events('consensus.restored-wait')[0]?.reason).toMatch(/sign journal is absent/);
  }, 90_000);

  it('validator 2 returns: a quorum answers V, but answers do not end the wait of a data dir without its journal (one may lie): V signs nothing at H, and the chain stays halted (V, W and X are the quorum)', async () => {
    await launch(X);
    await allAt([X], H - 1, 30_000);
    await sleep(5_000);
    expect(await heads([V, W, X])).toEqual([H - 1, H - 1, H - 1]);
    expect(atH('consensus.recall-done')).toEqual([]);
    const conflicting = vSince().filter((m) => m.height === H && !(m.round === 0 && m.type !== 3 && m.value === A));
    expect(conflicting, `what the restored V signed at height ${H} (A = ${A}):\n  ${show(conflicting)}`).toEqual([]);
  }, 60_000);

  it('validator 3 returns too: W, X and Y decide H without V, and once they commit a block proposed after its start V takes part; one block H everywhere', async () => {
    await launch(Y);
    await allAt([V, W, X, Y], H + 1, 60_000);
    const hashes = await Promise.all([V, W, X, Y].map((i) => hashAt(urls[i]!, H)));
    expect(new Set(hashes).size, `hashes of block ${H}: ${hashes.join(' ')}`).toBe(1);
    // V signs again: a COMMIT of a later height, heard by the spy.
    await until(() => vSince().find((m) => m.type === 2 && m.height > H), 'a COMMIT of the restored V', 60_000, 200);
  }, 150_000);

  it("across both of V's processes its key signed one value per height and round, and at (H, 0) proposed nothing but A", () => {
    const values = new Map<string, Set<string>>();
    for (const m of spy.msgs) {
      if (m.sender !== vAddr || m.type === 3 || m.value === null) continue;
      const k = `${m.height}/${m.round}`;
      values.set(k, (values.get(k) ?? new Set()).add(m.value));
    }
    expect(values.size).toBeGreaterThan(2);
    const twice = [...values].filter(([, s]) => s.size > 1).map(([k, s]) => `(${k}): ${[...s].join(' ')}`);
    expect(twice, 'heights/rounds where V signed two values').toEqual([]);
    const proposalsAtH = spy.msgs.filter((m) => m.sender === vAddr && m.type === 0 && m.height === H && m.round === 0);
    expect(new Set(proposalsAtH.map((m) => m.value))).toEqual(new Set([A]));
  }, 10_000);
});
