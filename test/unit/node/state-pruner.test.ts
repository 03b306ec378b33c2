import { Writable } from 'node:stream';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import {
  bigIntToBytes,
  bytesToBigInt,
  concatBytes,
  Address,
  createAddressFromString,
  generateAddress,
  hexToBytes,
  privateToAddress,
  setLengthLeft,
} from '@ethereumjs/util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStateComplete } from '../../../src/backup/state-walk.js';
import { pruneStates, type PruneProgress } from '../../../src/node/prune.js';
import { StatePruner, resolveStateHistory } from '../../../src/node/state-pruner.js';
import { addressOf, createTestChain, sealNext, testKey, type TestChain } from '../../helpers/chain-fixture.js';

const SENDER = testKey(9);
const recipient = (i: number) => `0x${(0xdef000 + i).toString(16).padStart(40, '0')}` as const;
let t: TestChain;
let nonce = 0n;
/** Each recipient's balance after each block, as sealed. */
const balances = new Map<string, bigint>();

const sealTransfer = async () => {
  const i = Number(nonce);
  const tx = createFeeMarket1559Tx(
    { nonce: nonce++, to: recipient(i % 5), value: BigInt(i + 1), gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
    { common: t.chain.commonAt(t.chain.head.number + 1n) },
  ).sign(SENDER);
  const block = await sealNext(t, [tx]);
  const state = await t.chain.stateAt(block.header);
  for (let r = 0; r < 5; r++) balances.set(`${block.header.number}:${r}`, (await state.getAccount(createAddressFromString(recipient(r))))?.balance ?? 0n);
};

/** Every state from `from` to the head is whole and holds the balances it had when sealed. */
async function expectStatesWhole(from: bigint): Promise<void> {
  for (let n = from; n <= t.chain.head.number; n++) {
    const header = (await t.chain.blockByNumber(n))!.header;
    expect(await t.chain.hasStateAt(header)).toBe(true);
    await checkStateComplete(t.chain.trie, header.stateRoot);
    const state = await t.chain.stateAt(header);
    for (let r = 0; r < 5; r++) expect((await state.getAccount(createAddressFromString(recipient(r))))?.balance ?? 0n).toBe(balances.get(`${n}:${r}`));
  }
}

/** A logger whose JSON lines are kept, parsed, in `lines`. */
function capturedLog() {
  const lines: { event?: string; keptFrom?: number; head?: number; checked?: number; deleted?: number }[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  return { lines, logger };
}

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(SENDER)]);
  for (let i = 0; i < 20; i++) await sealTransfer();
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('state pruning while the chain goes on (issue #22)', () => {
  it('blocks sealed during a prune keep their states whole; the sweep waits for the reads of state that began before it', async () => {
    const reading = t.chain.readers.enter(); // an eth_call under way on an old state
    const phases: PruneProgress['phase'][] = [];
    const pruning = pruneStates(t.chain, { keep: 5n, onProgress: (p) => phases.push(p.phase) });
    for (let i = 0; i < 6; i++) await sealTransfer(); // while it marks and waits
    await expect.poll(() => phases.filter((p) => p === 'mark').length, { timeout: 10_000 }).toBe(5);
    await new Promise((r) => setTimeout(r, 200));
    expect(phases).not.toContain('sweep'); // still waiting for the read
    expect(await t.chain.store.stateFrom()).toBe(16n); // but the states below are refused already
    reading();
    const r = await pruning;
    expect(r).toMatchObject({ head: 20n, keptFrom: 16n, statesKept: 5 });
    expect(r.deleted).toBeGreaterThan(0);
    expect(phases).toContain('sweep');
    // the five states it kept, and the six of the blocks sealed while it ran
    await expectStatesWhole(16n);
    expect(await t.chain.hasStateAt((await t.chain.blockByNumber(15n))!.header)).toBe(false);
    await sealTransfer();
    await expectStatesWhole(16n);
  });

  it('a prune stopped (the node stopping) deletes nothing and moves nothing', async () => {
    const before = await t.chain.store.stateFrom();
    const stop = new AbortController();
    stop.abort(new Error('the node is stopping'));
    await expect(pruneStates(t.chain, { keep: 2n, signal: stop.signal })).rejects.toThrow(/the node is stopping/);
    expect(await t.chain.store.stateFrom()).toBe(before);
    await expectStatesWhole(before!);
  });

  it('a node stopping after the sweep does not wait for the compaction of trie/ (it cannot be cut short)', async () => {
    const trie = t.chain.trie;
    const [sweep, compact] = [trie.sweep.bind(trie), trie.compact.bind(trie)];
    let compactions = 0;
    trie.compact = async () => {
      compactions++;
      return compact();
    };
    try {
      const keep = t.chain.head.number + 1n; // every state kept: the prune changes nothing else
      expect((await pruneStates(t.chain, { keep })).compactMs).toBeGreaterThanOrEqual(0);
      expect(compactions).toBe(1); // the baseline: a prune compacts
      const stop = new AbortController();
      trie.sweep = async (...args) => {
        const swept = await sweep(...args);
        stop.abort(new Error('the node is stopping')); // the stop arrives as the sweep ends
        return swept;
      };
      const r = await pruneStates(t.chain, { keep, signal: stop.signal });
      expect([r.compactMs, compactions]).toEqual([0, 1]);
    } finally {
      trie.sweep = sweep;
      trie.compact = compact;
    }
  });

  it("a running node's pruner prunes every interval blocks to the last N states, in the background", async () => {
    const { lines, logger } = capturedLog();
    const pruner = new StatePruner(t.chain, { keep: 3n, interval: 4n, logger });
    try {
      // StateFrom is 16 and the head 27: 12 states held, more than 3 + 4: it prunes at once.
      await expect.poll(() => lines.filter((l) => l.event === 'state.pruned').length, { timeout: 10_000 }).toBe(1);
      await pruner.current;
      expect(await t.chain.store.stateFrom()).toBe(25n);
      // no new prune before 3 + 4 states are held again
      for (let i = 0; i < 3; i++) await sealTransfer();
      await pruner.current;
      expect(lines.filter((l) => l.event === 'state.pruned')).toHaveLength(1);
      await sealTransfer(); // head 31: 7 states from 25
      await expect.poll(() => lines.filter((l) => l.event === 'state.pruned').length, { timeout: 10_000 }).toBe(2);
      await pruner.current;
      expect(await t.chain.store.stateFrom()).toBe(29n);
      await expectStatesWhole(29n);
    } finally {
      await pruner.stop();
    }
  });

  it('with the default interval, a prune also starts once the blocks since the last one wrote as much to the trie as it kept', async () => {
    const { lines, logger } = capturedLog();
    const pruned = () => lines.filter((l) => l.event === 'state.pruned') as { why?: string; keptFrom?: number; keptBytes?: number }[];
    for (let i = 0; i < 2; i++) await sealTransfer();
    // No spacing here (the next test has it): what holds a prune back below is the growth alone.
    const pruner = new StatePruner(t.chain, { keep: 3n, interval: 1000n, growth: true, minGrowthBytes: 1, growthSpacing: 0, logger });
    try {
      // States are held below the window, but nothing was written since the pruner began: no prune.
      expect(t.chain.head.number + 1n - (await t.chain.store.stateFrom())!).toBeGreaterThan(3n);
      await pruner.current;
      expect(pruned()).toHaveLength(0);
      await sealTransfer(); // a block's nodes: past the (test's) 1-byte floor
      await expect.poll(() => pruned().length, { timeout: 10_000 }).toBe(1);
      await pruner.current;
      const first = pruned()[0]!;
      expect(first).toMatchObject({ why: 'growth', keptFrom: Number(t.chain.head.number) - 2 });
      expect(first.keptBytes).toBeGreaterThan(0);
      await expectStatesWhole(BigInt(first.keptFrom!));
      // Blocks that together wrote less than the kept states hold start none, however many states are held.
      const at = t.chain.trie.writtenBytes;
      let blocks = 0;
      while (t.chain.trie.writtenBytes - at < first.keptBytes!) {
        await pruner.current;
        expect(pruned()).toHaveLength(1);
        await sealTransfer();
        blocks++;
      }
      expect(blocks).toBeGreaterThan(1);
      // Past it, the next one starts: after the block that crossed it.
      await expect.poll(() => pruned().length, { timeout: 10_000 }).toBe(2);
      await pruner.current;
      expect(pruned()[1]).toMatchObject({ why: 'growth' });
      expect(await t.chain.store.stateFrom()).toBe(BigInt(pruned()[1]!.keptFrom!));
      await expectStatesWhole(BigInt(pruned()[1]!.keptFrom!));
    } finally {
      await pruner.stop();
    }
  });

  it("with the default interval, a prune waits its spacing after the last one, the interval's at most 4 intervals", async () => {
    const { lines, logger } = capturedLog();
    const pruned = () => lines.filter((l) => l.event === 'state.pruned') as { why?: string; keptBytes?: number }[];
    for (let i = 0; i < 2; i++) await sealTransfer();
    // A spacing no test outlives: after the first prune, growth alone starts no other.
    const pruner = new StatePruner(t.chain, { keep: 3n, interval: 6n, growth: true, minGrowthBytes: 1, growthSpacing: 1e9, logger });
    try {
      await sealTransfer();
      await expect.poll(() => pruned().length, { timeout: 10_000 }).toBe(1);
      await pruner.current;
      expect(pruned()[0]).toMatchObject({ why: 'growth' });
      const from = (await t.chain.store.stateFrom())!;
      const at = t.chain.trie.writtenBytes;
      // Past the growth that would start one, and short of 3 + 6 states: none.
      while (t.chain.trie.writtenBytes - at < pruned()[0]!.keptBytes! || t.chain.head.number + 1n - from < 6n) {
        await sealTransfer();
        await pruner.current;
      }
      expect(t.chain.head.number + 1n - from).toBeLessThan(9n);
      expect(pruned()).toHaveLength(1);
      // The interval (3 + 6 states) waits for it too, until 3 + 4 x 6 states are held.
      while (t.chain.head.number + 1n - from < 26n) {
        await sealTransfer();
        await pruner.current;
      }
      expect(pruned()).toHaveLength(1);
      await sealTransfer();
      await expect.poll(() => pruned().length, { timeout: 10_000 }).toBe(2);
      await pruner.current;
      expect(pruned()[1]).toMatchObject({ why: 'interval' });
      expect((await t.chain.store.stateFrom())! - from).toBe(24n); // 27 states held, 3 kept
    } finally {
      await pruner.stop();
    }
  });

  it('with the default interval and its spacing passed, the interval prunes at keep + interval states again', async () => {
    const { lines, logger } = capturedLog();
    const pruned = () => lines.filter((l) => l.event === 'state.pruned') as { why?: string }[];
    // No growth that any test writes; no spacing to wait: the interval alone, from the second prune on too.
    const pruner = new StatePruner(t.chain, { keep: 3n, interval: 6n, growth: true, minGrowthBytes: 1e12, growthSpacing: 0, logger });
    try {
      const held = async () => t.chain.head.number + 1n - ((await t.chain.store.stateFrom()) ?? 0n);
      await pruner.current; // one the states already held started at once
      while (pruned().length === 0) {
        await sealTransfer();
        await pruner.current;
      }
      expect(pruned()[0]).toMatchObject({ why: 'interval' });
      const from = (await t.chain.store.stateFrom())!;
      // The second, with the first's spacing (0) behind it: at 3 + 6 states held, not before.
      const need = 9n - (await held());
      expect(need).toBe(6n); // the first left 3 held
      for (let i = 0n; i < need; i++) {
        expect(pruned()).toHaveLength(1);
        await sealTransfer();
        await pruner.current;
      }
      await expect.poll(() => pruned().length, { timeout: 10_000 }).toBe(2);
      await pruner.current;
      expect(pruned()[1]).toMatchObject({ why: 'interval' });
      expect((await t.chain.store.stateFrom())! - from).toBe(6n);
    } finally {
      await pruner.stop();
    }
  });

  it('a prune started by growth waits 9x the last one times the share the node has been busy since (0.3 to 1)', async () => {
    type Pruned = { why: string; busy?: number; ms: number; spacingMs?: number; time: number };
    const seen: Pruned[][] = [];
    for (const share of [0.5, 0, Number.NaN, undefined]) {
      const { lines, logger } = capturedLog();
      const pruned = () => lines.filter((l) => l.event === 'state.pruned') as unknown as Pruned[];
      const pruner = new StatePruner(t.chain, {
        keep: 3n,
        interval: 1000n,
        growth: true,
        minGrowthBytes: 1,
        ...(share === undefined ? {} : { busyShare: () => share }),
        logger,
      });
      try {
        for (let i = 0; i < 200 && pruned().length < 2; i++) {
          await sealTransfer();
          await pruner.current;
          await new Promise((r) => setTimeout(r, 10));
        }
        expect(pruned()).toHaveLength(2);
        seen.push(pruned());
      } finally {
        await pruner.stop();
      }
    }
    const [half, idle, unknown, measured] = seen as [Pruned[], Pruned[], Pruned[], Pruned[]];
    for (const [runs, busy] of [
      [half, 0.5],
      [idle, 0.3],
      [unknown, 1],
      [measured, undefined],
    ] as const) {
      const [first, second] = runs as [Pruned, Pruned];
      // The first prune of a run has no spacing before it; the second waited what the share asked.
      expect(first.busy).toBeUndefined();
      expect(second.why).toBe('growth');
      if (busy !== undefined) expect(second.busy).toBe(busy);
      else {
        // The event loop's utilization since the first prune ended.
        expect(second.busy).toBeGreaterThanOrEqual(0.3);
        expect(second.busy).toBeLessThanOrEqual(1);
      }
      // 9 x the first prune's time (logged rounded: half a millisecond either way) x the share.
      expect(Math.abs(second.spacingMs! - 9 * second.busy! * first.ms)).toBeLessThanOrEqual(9 * 0.5 + 9 * 0.01 * first.ms + 1);
      // And it did wait that long: from the first one's end to the second one's start (the log's clock, a few ms apart).
      expect(second.time - second.ms - first.time).toBeGreaterThanOrEqual(second.spacingMs! - 5);
    }
  });

  it('a pruner that has not marked yet (a restarted node) takes the kept state size as the growth to wait for', async () => {
    const { lines, logger } = capturedLog();
    const pruned = () => lines.filter((l) => l.event === 'state.pruned') as { why?: string }[];
    const kept = (await t.chain.store.stateSize())!;
    await t.chain.store.writeStateSize({ ...kept, nodeBytes: 1e9 });
    for (let i = 0; i < 2; i++) await sealTransfer();
    const pruner = new StatePruner(t.chain, { keep: 3n, interval: 8n, growth: true, minGrowthBytes: 1, growthSpacing: 0, logger });
    try {
      const from = (await t.chain.store.stateFrom())!;
      while (t.chain.head.number + 1n - from < 11n) {
        await pruner.current;
        expect(pruned()).toHaveLength(0); // blocks write far less than a GB, and 3 + 8 states are not held yet
        await sealTransfer();
      }
      await expect.poll(() => pruned().length, { timeout: 10_000 }).toBe(1);
      await pruner.current;
      expect(pruned()[0]).toMatchObject({ why: 'interval' });
    } finally {
      await pruner.stop();
      await t.chain.store.writeStateSize(kept);
    }
  });

  it('a node that stops cleanly records the growth since its last prune, and its next start goes on counting from there', async () => {
    const { lines, logger } = capturedLog();
    const pruned = () => lines.filter((l) => l.event === 'state.pruned') as { why?: string }[];
    const kept = (await t.chain.store.stateSize())!;
    // what a block writes to trie/ here, to set the growth that starts a prune at 3.5 blocks' worth
    const before = t.chain.trie.writtenBytes;
    await sealTransfer();
    const perBlock = t.chain.trie.writtenBytes - before;
    await t.chain.store.writeStateSize({ ...kept, nodeBytes: Math.round(3.5 * perBlock), codeBytes: 0 });
    const opts = { keep: 3n, interval: 1000n, growth: true, minGrowthBytes: 1, growthSpacing: 0, logger };
    const first = new StatePruner(t.chain, opts);
    try {
      await first.current;
      for (let i = 0; i < 3; i++) {
        await sealTransfer();
        await first.current;
      }
      expect(pruned()).toHaveLength(0); // 3 blocks' worth, short of 3.5
    } finally {
      await first.stop();
    }
    const again = new StatePruner(t.chain, opts);
    try {
      // 2 more blocks: 3 blocks' worth carried across the stop, and the first new one reaches 3.5 (2 alone would not)
      for (let i = 0; i < 2; i++) {
        await sealTransfer();
        await again.current;
      }
      await expect.poll(() => pruned().length, { timeout: 10_000 }).toBe(1);
      expect(pruned()[0]).toMatchObject({ why: 'growth' });
      await again.current;
    } finally {
      await again.stop();
      await t.chain.store.writeStateSize(kept);
      await t.chain.store.takePrunerGrowth(); // what the second one recorded, for the tests after
    }
    await expectStatesWhole((await t.chain.store.stateFrom())!);
  });

  it('the mode is recorded: an archive data dir may be pruned, a pruned one cannot become an archive again', async () => {
    expect(await resolveStateHistory(t.chain, undefined)).toEqual({ keep: 128n }); // a data dir with StateFrom: pruned by default
    expect(await resolveStateHistory(t.chain, 3n)).toEqual({ keep: 3n });
    expect(await resolveStateHistory(t.chain, undefined)).toEqual({ keep: 3n }); // as recorded
    await expect(resolveStateHistory(t.chain, 'all')).rejects.toThrow(
      /^this data dir is pruned \(it keeps the states of its last 3 blocks\): it cannot become an archive node, its older states are gone/,
    );
    const archive = await createTestChain(1);
    try {
      await sealNext(archive);
      expect(await resolveStateHistory(archive.chain, undefined)).toEqual({ archive: true }); // a chain of an earlier version
      expect(await resolveStateHistory(archive.chain, 'all')).toEqual({ archive: true });
      expect(await resolveStateHistory(archive.chain, 64n)).toEqual({ keep: 64n });
    } finally {
      await archive.close();
    }
    const fresh = await createTestChain(1);
    try {
      expect(await resolveStateHistory(fresh.chain, undefined)).toEqual({ keep: 128n }); // a new data dir
    } finally {
      await fresh.close();
    }
  });

  it('a data dir restored at a block (StateFrom, no mode recorded; so is one an older `basalt prune` pruned) cannot become an archive node', async () => {
    const restored = await createTestChain(1);
    try {
      for (let i = 0; i < 2; i++) await sealNext(restored);
      await restored.chain.store.writeStateFrom(2n); // what a restore leaves: its head's state only
      await expect(resolveStateHistory(restored.chain, 'all')).rejects.toThrow(
        /^this data dir is pruned \(it holds the states from block 2 on: restored or pruned there\): it cannot become an archive node, its older states are gone/,
      );
      expect(await restored.chain.store.stateHistory()).toBeUndefined(); // the refusal records nothing
      expect(await resolveStateHistory(restored.chain, undefined)).toEqual({ keep: 128n });
    } finally {
      await restored.close();
    }
    const archive = await createTestChain(1);
    try {
      await sealNext(archive);
      await archive.chain.store.writeStateFrom(0n); // restored at the genesis: every state is here
      expect(await resolveStateHistory(archive.chain, 'all')).toEqual({ archive: true });
      // recorded as an archive (started with `all` before this rule): it stays one
      await archive.chain.store.writeStateFrom(1n);
      expect(await resolveStateHistory(archive.chain, 'all')).toEqual({ archive: true });
    } finally {
      await archive.close();
    }
  });

  it('a node a block writes again during a prune (a slot set back to its old value) is not swept', async () => {
    const c = await createTestChain(1, [addressOf(SENDER)]);
    try {
      let n = 0n;
      const send = (to: Uint8Array | undefined, data: Uint8Array) =>
        sealNext(c, [
          createFeeMarket1559Tx(
            { nonce: n++, ...(to ? { to } : {}), data, gasLimit: 100_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
            { common: c.chain.commonAt(c.chain.head.number + 1n) },
          ).sign(SENDER),
        ]);
      // A contract that stores calldata[32:64] at slot calldata[0:32].
      await send(undefined, hexToBytes('0x6008600c60003960086000f36020356000355500'));
      const store = generateAddress(privateToAddress(SENDER), bigIntToBytes(0n));
      const slot0 = (v: bigint) => concatBytes(new Uint8Array(32), setLengthLeft(bigIntToBytes(v), 32));
      await send(store, slot0(1n)); // its storage trie: one leaf, value 1
      await send(store, slot0(2n)); // value 2: the leaf of value 1 is dead in the head's state
      const pruning = pruneStates(c.chain, { keep: 1n });
      await send(store, slot0(1n)); // while it runs: the leaf of value 1 written again
      const r = await pruning;
      expect(r.deleted).toBeGreaterThan(0);
      const header = c.chain.head.header;
      await checkStateComplete(c.chain.trie, header.stateRoot);
      const state = await c.chain.stateAt(header);
      expect(bytesToBigInt(await state.getStorage(new Address(store), new Uint8Array(32)))).toBe(1n);
      await send(store, slot0(3n)); // and the chain goes on
      await checkStateComplete(c.chain.trie, c.chain.head.header.stateRoot);
    } finally {
      await c.close();
    }
  });

  it('a prune that starts while a block is being committed (its trie nodes written, the head not moved yet) waits for it', async () => {
    const store = t.chain.store;
    const original = store.writeCanonicalBlock.bind(store);
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let reached!: () => void;
    const atCommit = new Promise<void>((r) => {
      reached = r;
    });
    store.writeCanonicalBlock = async (...args) => {
      reached();
      await held;
      return original(...args);
    };
    try {
      const sealing = sealTransfer();
      await atCommit; // the block's trie nodes are on disk, the head is the block before
      const pruning = pruneStates(t.chain, { keep: 1n });
      await new Promise((r) => setTimeout(r, 100));
      release();
      await sealing;
      const r = await pruning;
      expect(r.head).toBe(t.chain.head.number); // its view is after the commit
      await expectStatesWhole(t.chain.head.number);
    } finally {
      store.writeCanonicalBlock = original;
    }
  });

  it('a node stopping while a prune waits for a read under way does not wait for the read', async () => {
    const reading = t.chain.readers.enter();
    const stop = new AbortController();
    const phases: string[] = [];
    let marked = false;
    const pruning = pruneStates(t.chain, {
      keep: 2n,
      signal: stop.signal,
      onProgress: (p) => {
        phases.push(p.phase);
        if (p.phase === 'mark' && p.done === p.total) marked = true;
      },
    });
    await expect.poll(() => marked, { timeout: 10_000 }).toBe(true); // every kept state marked: it waits for the read now
    await new Promise((r) => setTimeout(r, 50));
    stop.abort(new Error('the node is stopping'));
    await expect(pruning).rejects.toThrow(/the node is stopping/);
    expect(phases).not.toContain('sweep');
    reading();
  });

  it('a read of state that never ends (limits turned off) makes a prune give up after its bound, deleting nothing; the next one prunes', async () => {
    for (let i = 0; i < 3; i++) await sealTransfer(); // states to prune below the window
    const from = (await t.chain.store.stateFrom())!;
    const head = t.chain.head.number;
    const reading = t.chain.readers.enter(); // an eth_call looping under --rpc-evm-timeout 0 --rpc-gas-cap 0
    try {
      const phases: PruneProgress['phase'][] = [];
      await expect(pruneStates(t.chain, { keep: 1n, readsWaitMs: 50, onProgress: (p) => phases.push(p.phase) })).rejects.toThrow(
        /^a read of state has run for more than 50ms \(an eth_call or a debug trace without a limit: --rpc-evm-timeout 0\): nothing deleted/,
      );
      expect(phases).not.toContain('sweep');
      expect(await t.chain.store.stateFrom()).toBe(head); // refused from now on...
      // ...but every state the read may be on is still whole, with the balances it had
      for (let n = from; n <= head; n++) {
        const header = (await t.chain.blockByNumber(n))!.header;
        await checkStateComplete(t.chain.trie, header.stateRoot);
        const state = await t.chain.stateAt(header);
        for (let r = 0; r < 5; r++) expect((await state.getAccount(createAddressFromString(recipient(r))))?.balance ?? 0n).toBe(balances.get(`${n}:${r}`));
      }
      // the read does not hold the ones that begin after it, nor the chain
      await t.chain.readers.during(async () => expect(await t.chain.hasStateAt(t.chain.head.header)).toBe(true));
      await sealTransfer();
    } finally {
      reading();
    }
    const r = await pruneStates(t.chain, { keep: 1n, readsWaitMs: 50 });
    expect(r).toMatchObject({ head: head + 1n, keptFrom: head + 1n });
    expect(r.deleted).toBeGreaterThan(0);
    await expectStatesWhole(head + 1n);
  }, 20_000);

  it("an idle chain's pruner moves its window without walking the state; the first block that changes it brings a real prune", async () => {
    const c = await createTestChain(1, [addressOf(SENDER)]);
    const { lines, logger } = capturedLog();
    try {
      let n = 0n;
      const transfer = (value: bigint) =>
        sealNext(c, [
          createFeeMarket1559Tx(
            { nonce: n++, to: recipient(0), value, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 100n },
            { common: c.chain.commonAt(c.chain.head.number + 1n) },
          ).sign(SENDER),
        ]);
      await transfer(1n);
      for (let i = 0; i < 11; i++) await sealNext(c); // blocks 2-12 empty: the state of block 1 throughout
      const root1 = (await c.chain.blockByNumber(1n))!.header.stateRoot;
      expect(c.chain.head.header.stateRoot).toEqual(root1);
      const pruner = new StatePruner(c.chain, { keep: 3n, interval: 4n, logger });
      const events = () => lines.filter((l) => l.event === 'state.pruned' || l.event === 'state.prune-skipped');
      try {
        // 13 states held: block 0's (the genesis state, before the transfer) is below the window and no kept
        // block has it, so a real prune walks and deletes
        await expect.poll(() => events().length, { timeout: 10_000 }).toBe(1);
        await pruner.current;
        expect(events()[0]).toMatchObject({ event: 'state.pruned', head: 12, keptFrom: 10 });
        expect(events()[0]!.deleted).toBeGreaterThan(0);
        // four more empty blocks: the states below the new window (blocks 10-13) are the kept state: no walk
        for (let i = 0; i < 4; i++) await sealNext(c);
        await expect.poll(() => events().length, { timeout: 10_000 }).toBe(2);
        await pruner.current;
        expect(events()[1]).toMatchObject({ event: 'state.prune-skipped', head: 16, keptFrom: 14, checked: 4 });
        expect(await c.chain.store.stateFrom()).toBe(14n);
        for (let b = 14n; b <= 16n; b++) await checkStateComplete(c.chain.trie, (await c.chain.blockByNumber(b))!.header.stateRoot);
        expect(await c.chain.hasStateAt((await c.chain.blockByNumber(13n))!.header)).toBe(false); // refused, as pruned
        // a transfer changes the state: the next prune walks and deletes what only the old state had
        await transfer(2n);
        for (let i = 0; i < 3; i++) await sealNext(c);
        await expect.poll(() => events().length, { timeout: 10_000 }).toBe(3);
        await pruner.current;
        expect(events()[2]).toMatchObject({ event: 'state.pruned', head: 20, keptFrom: 18 });
        expect(events()[2]!.deleted).toBeGreaterThan(0);
        await checkStateComplete(c.chain.trie, c.chain.head.header.stateRoot);
        const state = await c.chain.stateAt(c.chain.head.header);
        expect((await state.getAccount(createAddressFromString(recipient(0))))?.balance).toBe(3n);
      } finally {
        await pruner.stop();
      }
    } finally {
      await c.close();
    }
  });
});
