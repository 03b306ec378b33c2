import { privateToAddress, toChecksumAddress, bytesToHex, hexToBytes } from '@ethereumjs/util';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonRpcApis } from '../../../src/cli/server.js';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import type { IbftEngine } from '../../../src/consensus/ibft/engine.js';
import { VoteProposals } from '../../../src/consensus/ibft/proposals.js';
import { LocalIbftService, MAX_SNAPSHOT_LOADS } from '../../../src/node/ibft-service.js';
import type { Chain } from '../../../src/chain/chain.js';
import { until } from '../../helpers/until.js';
import { QuorumRule } from '../../../src/consensus/ibft/validators.js';
import { createTestChain, openTestChain, sealNext, testGenesis, testKey, type TestChain } from '../../helpers/chain-fixture.js';

let t: TestChain;
const BLOCKS = 8;

beforeAll(async () => {
  // Four validators; the fixture's committed seals come from the first three keys (a quorum), never the fourth.
  t = await createTestChain(4);
  for (let i = 0; i < BLOCKS; i++) await sealNext(t);
});
afterAll(async () => t.close());

const dispatcher = (apis?: Parameters<typeof ethMethods>[1]) =>
  new RpcDispatcher({ methods: ethMethods({ chain: t.chain, txpool: new TxPool(t.chain) }, apis), logger: pino({ level: 'silent' }) });
async function call<T>(d: RpcDispatcher, method: string, params: unknown[] = []): Promise<{ result?: T; error?: { code: number; message: string } }> {
  return JSON.parse(await d.handleText(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })));
}
const addr = (k: Uint8Array) => toChecksumAddress(bytesToHex(privateToAddress(k)));

describe('the ibft_ JSON-RPC namespace (issue #23)', () => {
  it('is off unless --jsonrpc-api names it: its methods do not exist for a wallet', async () => {
    const plain = dispatcher();
    expect((await call(plain, 'ibft_getValidatorsByBlockNumber', ['latest'])).error).toMatchObject({ code: -32601 });
    expect((await call(plain, 'eth_blockNumber')).result).toBe(`0x${BLOCKS.toString(16)}`);
    // Named alone, it is all there is.
    const only = dispatcher(['ibft']);
    expect((await call(only, 'eth_blockNumber')).error).toMatchObject({ code: -32601 });
    expect((await call<string[]>(only, 'ibft_getValidatorsByBlockNumber', ['0x0'])).result).toHaveLength(4);
  });

  it('ibft_getValidatorsByBlockNumber names the set of a block by number, tag or hash; beyond the head is one line', async () => {
    const d = dispatcher(['eth', 'ibft']);
    const set = t.keys.map(addr).sort();
    for (const tag of ['0x0', '0x3', 'latest', 'earliest'])
      expect([...(await call<string[]>(d, 'ibft_getValidatorsByBlockNumber', [tag])).result!].sort()).toEqual(set);
    const hash = (await call<{ hash: string }>(d, 'eth_getBlockByNumber', ['0x2', false])).result!.hash;
    expect([...(await call<string[]>(d, 'ibft_getValidatorsByBlockNumber', [hash])).result!].sort()).toEqual(set);
    expect((await call(d, 'ibft_getValidatorsByBlockNumber', ['0x99'])).error?.message).toBe(`header not found: block 153 is beyond the head ${BLOCKS}`);
    expect((await call(d, 'ibft_getValidatorsByBlockNumber', [])).error?.code).toBe(-32602);
    expect((await call(d, 'ibft_getValidatorsByBlockNumber', ['soon'])).error?.code).toBe(-32602);
  });

  it('ibft_getSignerMetrics counts the blocks each validator proposed and the seals it committed, and shows the one that never seals', async () => {
    const d = dispatcher(['ibft']);
    type Metric = { address: string; proposedBlockCount: string; lastProposedBlockNumber: string | null; committedSealCount: string };
    const all = (await call<Metric[]>(d, 'ibft_getSignerMetrics')).result!;
    expect(all).toHaveLength(4);
    const byAddress = new Map(all.map((m) => [m.address, m]));
    // Round-robin proposers: 8 blocks, 2 each.
    expect(all.map((m) => BigInt(m.proposedBlockCount))).toEqual([2n, 2n, 2n, 2n]);
    for (const k of t.keys.slice(0, 3)) expect(byAddress.get(addr(k))!.committedSealCount).toBe(`0x${BLOCKS.toString(16)}`);
    expect(byAddress.get(addr(t.keys[3]!))!.committedSealCount).toBe('0x0');
    const last = new Map<string, number>();
    for (let n = 1; n <= BLOCKS; n++) {
      const b = (await call<{ miner: string }>(dispatcher(), 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])).result!;
      last.set(toChecksumAddress(b.miner), n);
    }
    for (const [a, n] of last) expect(byAddress.get(a)!.lastProposedBlockNumber).toBe(`0x${n.toString(16)}`);
    // A range: block 3 alone.
    const one = (await call<Metric[]>(d, 'ibft_getSignerMetrics', ['0x3', '0x3'])).result!;
    expect(one.reduce((s, m) => s + BigInt(m.proposedBlockCount), 0n)).toBe(1n);
    expect(one.reduce((s, m) => s + BigInt(m.committedSealCount), 0n)).toBe(3n);
    expect((await call(d, 'ibft_getSignerMetrics', ['0x5', '0x2'])).error?.message).toBe('the range starts at block 5, after its end 2');
    expect((await call(d, 'ibft_getSignerMetrics', ['0x1', '0x999'])).error?.message).toMatch(/^header not found: block 2457 is beyond the head/);
    expect((await call(d, 'ibft_getSignerMetrics', ['0x1', '0x2', '0x3'])).error?.code).toBe(-32602);
  });

  it('--jsonrpc-api takes known namespaces only, in one line', () => {
    expect(parseJsonRpcApis('eth,net,ibft')).toEqual(['eth', 'net', 'ibft']);
    expect(parseJsonRpcApis('eth, eth')).toEqual(['eth']);
    for (const bad of ['admin', 'eth,,net', '', 'x'.repeat(1000)])
      expect(() => parseJsonRpcApis(bad)).toThrow(/is not a JSON-RPC namespace: use eth, net, web3, debug, txpool, ibft/);
  });
});

describe('validator votes through the operator service and ibft_ (issue #23): every input is hostile', () => {
  const log = pino({ level: 'silent' });
  const make = (opts: { networked?: boolean; ready?: boolean; key?: number } = {}) => {
    const engine = t.chain.engine as IbftEngine;
    const proposals = new VoteProposals();
    const service = new LocalIbftService(t.chain, engine, proposals, privateToAddress(testKey(opts.key ?? 0)), {
      networked: opts.networked ?? true,
      validator: () => undefined,
      logger: log,
      candidateReady: () => opts.ready ?? true,
    });
    const d = new RpcDispatcher({ methods: ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), ibft: service }, ['ibft']), logger: log });
    return { service, proposals, d };
  };
  const outsider = '0x00000000000000000000000000000000000000aa';

  it('propose, list and discard a vote; refusals are one line and change nothing', async () => {
    const { service, d } = make();
    await service.propose(outsider, 'auth');
    expect(await service.candidates()).toEqual([{ candidate: outsider, vote: 'auth' }]);
    expect((await call<Record<string, boolean>>(d, 'ibft_getPendingVotes')).result).toEqual({ [toChecksumAddress(outsider)]: true });
    await expect(service.propose(addr(t.keys[1]!), 'auth')).rejects.toThrow(/^vote refused: 0x.* is a validator already$/);
    await expect(service.propose(outsider, 'drop')).rejects.toThrow(/is not a validator: it cannot be dropped/);
    await expect(service.propose('0x1234', 'auth')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(service.propose('x'.repeat(10_000), 'auth')).rejects.toThrow(/is not an address: 0x and 40 hex digits$/);
    expect(await service.discard(outsider)).toBe(true);
    expect(await service.discard(outsider)).toBe(false);
    expect(await service.candidates()).toEqual([]);
  });

  it('refuses to add a key no connected, synced node holds, and any vote on a node without networking or outside the set', async () => {
    await expect(make({ ready: false }).service.propose(outsider, 'auth')).rejects.toThrow(/no node holding the key of 0x0{38}aa is connected/);
    await expect(make({ networked: false }).service.propose(outsider, 'auth')).rejects.toThrow(/without networking/);
    await expect(make({ key: 9 }).service.propose(addr(t.keys[1]!), 'drop')).rejects.toThrow(/is not a validator: only validators vote/);
    // A drop needs no running candidate.
    const { service } = make({ ready: false });
    await service.propose(addr(t.keys[3]!), 'drop');
    expect(await service.candidates()).toEqual([{ candidate: bytesToHex(privateToAddress(t.keys[3]!)), vote: 'drop' }]);
  });

  it('ibft_ vote methods check their parameters; snapshots beyond the head are refused', async () => {
    const { d } = make();
    expect((await call(d, 'ibft_proposeValidatorVote', [outsider])).error?.code).toBe(-32602);
    expect((await call(d, 'ibft_proposeValidatorVote', [outsider, 'yes'])).error?.code).toBe(-32602);
    expect((await call(d, 'ibft_proposeValidatorVote', [42, true])).error?.code).toBe(-32602);
    expect((await call(d, 'ibft_proposeValidatorVote', ['0xzz', true])).error).toMatchObject({ code: -32602 });
    expect((await call(d, 'ibft_proposeValidatorVote', [addr(t.keys[1]!), true])).error).toMatchObject({ code: -32000 });
    expect((await call(d, 'ibft_proposeValidatorVote', [outsider, true])).result).toBe(true);
    expect((await call(d, 'ibft_discardValidatorVote', [outsider])).result).toBe(true);
    type Snap = { number: string; validators: string[]; votes: unknown[]; epochSize: string };
    const snap = (await call<Snap>(d, 'ibft_getSnapshot', ['0x3'])).result!;
    expect([snap.number, snap.validators.length, snap.votes, snap.epochSize]).toEqual(['0x3', 4, [], '0x186a0']);
    expect((await call(d, 'ibft_getSnapshot', ['0x99'])).error?.message).toMatch(/beyond the head/);
    // Over MAX_PROPOSED_VOTES candidates at once: refused.
    const { service } = make();
    for (let i = 0; i < 64; i++) await service.propose(`0x${(0x100 + i).toString(16).padStart(40, '0')}`, 'auth');
    await expect(service.propose(outsider, 'auth')).rejects.toThrow(/64 votes are proposed already/);
  });

  it(`loads at most ${MAX_SNAPSHOT_LOADS} snapshots below the head at once: the next is refused at once (RESOURCE_EXHAUSTED; JSON-RPC -32005), the head's is served`, async () => {
    // The chain as the service sees it, its consensus records held until released.
    let reading = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const store = {
      canonicalHeader: (n: bigint) => t.chain.store.canonicalHeader(n),
      async *consensusRecords(from: bigint, to: bigint) {
        reading++;
        await held;
        yield* t.chain.store.consensusRecords(from, to);
      },
    };
    const chain = {
      get head() {
        return t.chain.head;
      },
      store,
    } as unknown as Chain;
    const service = new LocalIbftService(chain, t.chain.engine as IbftEngine, new VoteProposals(), privateToAddress(testKey(0)), {
      networked: true,
      validator: () => undefined,
      logger: log,
    });
    const d = new RpcDispatcher({ methods: ethMethods({ chain: t.chain, txpool: new TxPool(t.chain), ibft: service }, ['ibft']), logger: log });
    const running = [service.snapshot(2n), service.snapshot(3n)];
    await until(() => reading === MAX_SNAPSHOT_LOADS, 'two loads reading records');
    const busy = /^busy: 2 validator snapshots below the head are being loaded \(each replays up to an epoch of votes\): try again shortly$/;
    let third: unknown;
    void service.snapshot(4n).then(
      (s) => (third = s),
      (err: unknown) => (third = err),
    );
    // Answered, or (were it let through) reading records too.
    await until(() => third !== undefined || reading > MAX_SNAPSHOT_LOADS, 'the third answered');
    expect(third).toMatchObject({ code: 'RESOURCE_EXHAUSTED', message: expect.stringMatching(busy) });
    expect((await call(d, 'ibft_getSnapshot', ['0x4'])).error).toMatchObject({ code: -32005, message: expect.stringMatching(busy) });
    expect(reading, 'the refused ones read nothing').toBe(MAX_SNAPSHOT_LOADS);
    expect((await service.snapshot()).number, "the head's snapshot is in memory: never refused").toBe(BigInt(BLOCKS));
    release();
    expect((await Promise.all(running)).map((s) => s.number)).toEqual([2n, 3n]);
    expect((await service.snapshot(4n)).number, 'a place again').toBe(4n);
  });

  it('refuses a vote that would leave a set the legacy quorum lets fork, unless the quorum switch comes first; a proposal such a vote would now be waits', async () => {
    const legacyChain = async (quorumSwitchBlock?: number) => {
      const { genesis } = testGenesis(4);
      if (quorumSwitchBlock === undefined) delete genesis.params.engine.ibft.quorumSwitchBlock;
      else genesis.params.engine.ibft.quorumSwitchBlock = quorumSwitchBlock;
      const c = await openTestChain(genesis);
      const close = async () => {
        await c.close();
        rmSync(c.dir, { recursive: true, force: true });
      };
      const engine = c.chain.engine as IbftEngine;
      const service = new LocalIbftService(c.chain, engine, new VoteProposals(), privateToAddress(testKey(0)), {
        networked: true,
        validator: () => undefined,
        logger: log,
        candidateReady: () => true,
      });
      return { c: { close }, service };
    };
    // 4 validators under 2F+1: 5 (quorum 3) and 3 (quorum 1) let two groups without an honest validator in common each seal.
    const { c, service } = await legacyChain();
    try {
      await expect(service.propose(outsider, 'auth')).rejects.toThrow(
        /^vote refused: if it passes, 5 validators decide from block 2 under the legacy quorum: the quorum of 3 of 5 validators .*; switch to the safe quorum first: set params\.engine\.ibft\.quorumSwitchBlock to a block above the head/,
      );
      await expect(service.propose(addr(t.keys[3]!), 'drop')).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: /3 validators decide from block 2/,
      });
      expect(await service.candidates()).toEqual([]);
    } finally {
      await c.close();
    }
    // The switch after the block the new set would decide first: still refused; at it: taken.
    const late = await legacyChain(3);
    try {
      await expect(late.service.propose(outsider, 'auth')).rejects.toThrow(
        /vote once the head is at block 1, 2 blocks before the switch to the safe quorum \(params\.engine\.ibft\.quorumSwitchBlock 3\)$/,
      );
    } finally {
      await late.c.close();
    }
    const switched = await legacyChain(2);
    try {
      await switched.service.propose(outsider, 'auth');
      expect(await switched.service.candidates()).toEqual([{ candidate: outsider, vote: 'auth' }]);
    } finally {
      await switched.c.close();
    }
    // A proposal taken at 4 validators waits in a block whose new set would be unsafe (another vote changed the size since).
    const proposals = new VoteProposals();
    const four = Array.from({ length: 4 }, (_, i) => privateToAddress(testKey(i)));
    const candidate = hexToBytes(outsider);
    proposals.propose({ number: 0n, validators: four, votes: [] }, four[0]!, { candidate, authorize: true });
    const snap = { number: 5n, validators: four, votes: [] };
    expect(proposals.pick(snap, four[0]!, 6n, 100_000n, undefined, QuorumRule.LEGACY)).toBeUndefined();
    expect(proposals.pick(snap, four[0]!, 6n, 100_000n, undefined, new QuorumRule(7n))).toEqual({ candidate, authorize: true });
    expect(proposals.pick(snap, four[0]!, 6n, 100_000n, undefined, new QuorumRule(8n))).toBeUndefined();
  });
});
