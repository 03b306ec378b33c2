import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeGenesis } from '../../src/cli/genesis.js';
import { initNodeSecrets } from '../../src/node/new-keys.js';
import { CliProcess, rpc, runCliAsync, serverArgs, tempDir, type RunResult, reservedPort, processesKilledAfterAll } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

/**
 * Network splits of real validator processes under the IBFT quorum ⌈2N/3⌉ (issue #18). Under the
 * old 2F+1 a 6-validator network split 3/3 sealed two chains, and a 3-validator network split 1/2
 * sealed on both sides; one case here runs that 1/2 split under the old rule (a genesis file without
 * params.engine.ibft.quorumSwitchBlock) and shows the fork the new rule prevents.
 *
 * Every CLI process costs about 2 s of CPU to start, and CI runs on 2 cores: the three networks start
 * together and their cases share the processes (the 3-validator cases run while the 6 are watched or
 * agree on their first block), and the keys (and their "signed nothing" journal) are written in-process by the code `secrets init` runs.
 */

const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')));
const hashAt = async (url: string, n: number) => (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).hash;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sleepUntil = (t: number) => sleep(Math.max(0, t - Date.now()));

/** One validator: its data dir and keys, its fixed libp2p port, and its process once launched. */
interface Validator {
  name: string;
  dir: string;
  nodeId: string;
  /** Its libp2p multiaddr, /ip4/127.0.0.1/tcp/PORT/p2p/NODE_ID. */
  addr: string;
  port: number;
  node?: CliProcess;
  url?: string;
  /** When it began IBFT rounds. */
  since?: number;
}

const root = tempDir('basalt-e2e-quorum-');
const running = processesKilledAfterAll({ thenRemove: () => root });

/** Validators `<prefix>0`, `<prefix>1`, …: keys written as `secrets init` writes them. */
async function makeValidators(prefix: string, n: number): Promise<Validator[]> {
  const out: Validator[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}${i}`;
    const dir = join(root, name);
    const { nodeId } = initNodeSecrets(dir);
    const port = await reservedPort();
    out.push({ name, dir, nodeId, port, addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${nodeId}` });
  }
  return out;
}

/** `basalt genesis` for the validators of data dirs `<root>/<prefix>*`; no bootnodes in the file. */
async function genesisFor(prefix: string): Promise<{ path: string; result: RunResult }> {
  const path = join(root, `${prefix}-genesis.json`);
  const result = await runCliAsync(['genesis', '--dir', path, '--ibft-validators-prefix-path', join(root, prefix)]);
  if (result.code !== 0) throw new Error(result.stderr);
  return { path, result };
}

/** A sealing validator, 1 s blocks and 1 s round 0, dialling only `bootnodes` (its side of the split). */
async function launch(v: Validator, genesis: string, bootnodes: Validator[]): Promise<void> {
  const extra = ['--seal', '--block-time', '1', '--ibft-base-timeout', '1', '--libp2p', `127.0.0.1:${v.port}`];
  for (const b of bootnodes) if (b !== v) extra.push('--bootnode', b.addr);
  const p = new CliProcess(serverArgs(v.dir, genesis, extra));
  running.push(p);
  v.node = p;
  // Generous: a dozen node processes start on 2 cores.
  v.url = `http://${(await p.waitForEvent('jsonrpc.listening', undefined, 90_000)).address}`;
  await p.waitForEvent('validator.started', undefined, 30_000);
  v.since = Date.now();
}

const peersOf = (v: Validator) => new Set(v.node!.events('peer.connected').map((l) => l.peer));
const connected = (vs: Validator[]) =>
  Promise.all(
    vs.map((v) => v.node!.waitFor(() => vs.every((o) => o === v || peersOf(v).has(o.nodeId)), `${v.name} connected to ${vs.map((o) => o.name).join(',')}`)),
  );
const heads = (vs: Validator[]) => Promise.all(vs.map((v) => head(v.url!)));
const allAt = (vs: Validator[], n: number, ms?: number) =>
  until(async () => (await heads(vs)).every((h) => h >= n), `${vs.map((v) => v.name).join(',')} at block ${n}`, ms);
const decided = (v: Validator) => v.node!.events('consensus.reached').length;
const timedOut = (v: Validator) => v.node!.events('consensus.round-timeout').length > 0;

async function expectOneChain(vs: Validator[], blocks: number[]): Promise<void> {
  for (const n of blocks) {
    const hashes = await Promise.all(vs.map((v) => hashAt(v.url!, n)));
    expect(new Set(hashes).size, `hashes of block ${n} on ${vs.map((v) => v.name).join(',')}: ${hashes.join(' ')}`).toBe(1);
  }
}

/** `basalt peers add` on `from`'s gRPC operator API: it dials `to` (and keeps redialling it). */
async function peersAdd(from: Validator, to: Validator): Promise<void> {
  const r = await runCliAsync(['peers', 'add', '--addr', to.addr, '--grpc-address', await from.node!.grpcAddress()]);
  expect(r.code, r.stderr).toBe(0);
}

async function statusJson(v: Validator): Promise<Record<string, unknown>> {
  const r = await runCliAsync(['status', '--json', '--grpc-address', await v.node!.grpcAddress()]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('IBFT quorum ⌈2N/3⌉ across a network split of validator processes', { timeout: 90_000 }, () => {
  let six: Validator[]; // v0..v5, split into halves v0-v2 and v3-v5
  let three: Validator[]; // t0 alone, t1 and t2 together
  let legacy: Validator[]; // l0 alone, l1 and l2 together, on a chain of the old 2F+1
  let sixGenesis: RunResult;
  let threeGenesis: RunResult;
  let split = 0; // when both halves were each connected within themselves

  beforeAll(async () => {
    // All twelve start at once; the 3-validator cases run (and end) while the six are watched.
    six = await makeValidators('v', 6);
    three = await makeValidators('t', 3);
    legacy = await makeValidators('l', 3);
    const [g, t] = await Promise.all([genesisFor('v'), genesisFor('t')]);
    [sixGenesis, threeGenesis] = [g.result, t.result];
    // The old rule: a genesis file as `basalt genesis` writes it (the same code, in-process: one CLI
    // start less) without quorumSwitchBlock, like the files of chains made before the rule changed.
    const l = writeGenesis({
      dir: join(root, 'l-genesis.json'),
      name: 'basalt',
      consensus: 'ibft',
      ibftValidator: [],
      ibftValidatorsPrefixPath: join(root, 'l'),
      chainId: 100,
      premine: [],
    });
    const file = JSON.parse(readFileSync(l.path, 'utf8')) as { params: { engine: { ibft: Record<string, unknown> } } };
    delete file.params.engine.ibft.quorumSwitchBlock;
    writeFileSync(l.path, JSON.stringify(file, null, 2));

    const halves = [six.slice(0, 3), six.slice(3)];
    const [tSingle, ...tPair] = three as [Validator, Validator, Validator];
    const [lSingle, ...lPair] = legacy as [Validator, Validator, Validator];
    await Promise.all([
      ...halves.flatMap((half) => half.map((v) => launch(v, g.path, half))),
      launch(tSingle, t.path, []),
      ...tPair.map((v) => launch(v, t.path, tPair)),
      launch(lSingle, l.path, []),
      ...lPair.map((v) => launch(v, l.path, lPair)),
    ]);
    await Promise.all([...halves, tPair, lPair].map(connected));
    split = Date.now();
  }, 120_000);

  it('basalt genesis prints the quorum and fault tolerance, and warns on stderr for 3 validators (test/unit/cli/genesis-quorum.test.ts: other sizes)', async () => {
    expect(sixGenesis.stdout).toContain(
      '6 validators: each block needs 4 committed seals; sealing goes on with up to 2 down, and up to 1 faulty cannot fork the chain',
    );
    expect(sixGenesis.stderr).not.toMatch(/warning:/);
    expect(threeGenesis.stdout).toContain(
      '3 validators: each block needs 2 committed seals; sealing goes on with up to 1 down, and up to 0 faulty cannot fork the chain',
    );
    expect(threeGenesis.stderr).toMatch(/^warning: 3 validators tolerate no faulty validator \(F = 0\); 4 validators tolerate one$/m);
  });

  it('the same 1/2 split under the old 2F+1 (genesis without quorumSwitchBlock): both sides seal, two chains', async () => {
    const [single, ...pair] = legacy as [Validator, Validator, Validator];
    const [status] = await Promise.all([statusJson(single), allAt(legacy, 1)]);
    expect(status).toMatchObject({ validators: 3, quorum: 1, faultTolerance: 0, quorumSafe: false, peers: 0 });
    const [alone, together] = [await hashAt(single.url!, 1), await hashAt(pair[0].url!, 1)];
    expect(alone).not.toBe(together);
    await Promise.all(legacy.map((v) => v.node!.stop('SIGKILL')));
  });

  it('3 validators split 1/2: the pair seals, the single one does not in 10 s; joined, it follows the pair', async () => {
    const [single, ...pair] = three as [Validator, Validator, Validator];
    await allAt(pair, 3);
    await expectOneChain(pair, [1, 2, 3]);
    await sleepUntil(single.since! + 10_000);
    expect(await head(single.url!)).toBe(0);
    expect(decided(single)).toBe(0);
    expect(timedOut(single)).toBe(true);

    await peersAdd(single, pair[0]);
    const h = Math.max(...(await heads(pair)));
    await allAt(three, h);
    await expectOneChain(three, [1, 2, 3, h]);
    await Promise.all(three.map((v) => v.node!.stop('SIGKILL'))); // done with them: the CPU goes to the six
  });

  it('6 validators split 3/3 (each half a connected network of 3): neither half seals a block in 15 s', async () => {
    // `basalt status` shows the rule for the next block.
    expect(await statusJson(six[0]!)).toMatchObject({ validators: 6, quorum: 4, faultTolerance: 1, quorumSafe: true, number: 0, networking: true, peers: 2 });
    await sleepUntil(split + 15_000);
    expect(await heads(six)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(six.map(decided)).toEqual([0, 0, 0, 0, 0, 0]);
    // Not idle: in each half, rounds ended without a quorum (a validator that starts later may only
    // follow its two half-mates into their later rounds, without a timeout of its own).
    const [a, b] = [six.slice(0, 3), six.slice(3)];
    expect([a.some(timedOut), b.some(timedOut)]).toEqual([true, true]);
    // And the halves stayed apart all along.
    for (const [mine, other] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const v of mine)
        expect(
          other.filter((o) => peersOf(v).has(o.nodeId)).map((o) => o.name),
          `${v.name}'s peers in the other half`,
        ).toEqual([]);
    }
  });

  it('the halves joined by one `peers add`: v2 (first half) dials v3 (second half)', async () => {
    // One link; the gossip crosses it. v2 and v3 stay up below.
    await peersAdd(six[2]!, six[3]!);
    await connected([six[2]!, six[3]!]);
  });

  it('joined, the 6 seal one chain', async () => {
    // Each validator sends its round's messages again every base timeout (1 s), and recall requests and
    // answers travel by gossip across the one link: the join takes a few seconds (2.4 s seen), not the
    // rest of a long round (up to 28 s before both).
    await allAt(six, 3, 20_000);
    await expectOneChain(six, [1, 2, 3]);
  });

  it('one validator stopped, the other 5 go on; a second stopped, the 4 go on; a third stopped, the 3 halt without forking', async () => {
    const up = new Set(six);
    const stop = async (v: Validator) => {
      expect((await v.node!.stop('SIGINT')).code).toBe(0);
      up.delete(v);
    };
    // Not v2 or v3 (the link between the halves), and not neighbours in the proposer order.
    for (const v of [six[0]!, six[4]!]) {
      await stop(v);
      const h = Math.max(...(await heads([...up])));
      await allAt([...up], h + 3);
      await expectOneChain([...up], [h + 3]);
    }
    await stop(six[1]!);
    const rest = [...up];
    await sleep(1_500); // a block in flight when it stopped lands (or not) by then
    const h = Math.max(...(await heads(rest)));
    await until(async () => (await heads(rest)).every((x) => x === h), 'the 3 left on the same head');
    await sleep(3_000); // three block times
    expect(await heads(rest)).toEqual([h, h, h]);
    await expectOneChain(rest, [h]);
  });
});
