import { join } from 'node:path';
import { createBlockFromRLP, createBlockHeaderFromBytesArray, type Block, type BlockHeader } from '@ethereumjs/block';
import { bigIntToUnpaddedBytes, bytesToHex, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockWithHeader, headerOpts, headerWithExtraData } from '../../../src/chain/block-util.js';
import { restoreFromEvents, type RestoreOptions } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { decodeIbftExtra, encodeIbftExtra } from '../../../src/consensus/ibft/extra.js';
import { committedSeal, sealBlock } from '../../../src/consensus/ibft/seal.js';
import { nextProposer } from '../../../src/consensus/ibft/validators.js';
import { readSnapshot, type SnapshotEvent } from '../../../src/snapshot/reader.js';
import pino from 'pino';
import { RpcDispatcher } from '../../../src/rpc/jsonrpc/dispatch.js';
import { ethMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { TxPool } from '../../../src/txpool/txpool.js';
import { addressOf, createTestChain, openTestChain, sealNext, testGenesis, testKey, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { collect } from '../../helpers/collect.js';

/**
 * A restore that recovers seals only where the validator set changes and at the head (seals
 * 'set-changes', the CLI's default): what it checks, and what a forger can and cannot get past it.
 * The chain: one validator seals blocks 1-255, votes a second one in at block 256 (the set changes
 * after it: the last block of the restore's first window of 256), and the two seal blocks 257-512 (the
 * head ends a window too, so its seals are checked at drain after a window dispatched whole).
 */
let t: TestChain;
let bytes: Uint8Array;
const HEAD = 512n;
const VOTE_AT = 256n;
const MID = 300n;

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

/** Block `number` (or each of `numbers`) of the snapshot replaced by what `edit` makes of it (same record hash). */
async function* edited(numbers: bigint | bigint[], edit: (b: Block) => Block): AsyncGenerator<SnapshotEvent> {
  const which = new Set([numbers].flat());
  for await (const ev of readSnapshot(once(bytes))) {
    if (ev.kind === 'block' && which.has(ev.number)) {
      const block = (await t.chain.store.canonicalBlock(ev.number))!;
      yield { ...ev, blockRlp: edit(block).serialize() };
    } else yield ev;
  }
}

/** The block with its committed seals replaced by 65 bytes that recover to no key. */
function junkSealed(b: Block): Block {
  const common = t.chain.commonAt(b.header.number);
  const extra = decodeIbftExtra(b.header.extraData);
  return blockWithHeader(b, headerWithExtraData(b.header, encodeIbftExtra({ ...extra, committedSeals: [new Uint8Array(65).fill(0xff)] }), common), common);
}

/** The block with its committed seals replaced by one of a key that is no validator (its hash does not change). */
function strangerSealed(b: Block): Block {
  const common = t.chain.commonAt(b.header.number);
  const extra = decodeIbftExtra(b.header.extraData);
  const header = headerWithExtraData(b.header, encodeIbftExtra({ ...extra, committedSeals: [committedSeal(b.header, testKey(9))] }), common);
  return blockWithHeader(b, header, common);
}

const restore = (events: AsyncIterable<SnapshotEvent>, name: string, opts: Partial<RestoreOptions> = {}) =>
  restoreFromEvents(events, { dataDir: join(tempDir(), name), genesis: t.genesis, ...opts });

beforeAll(async () => {
  t = await createTestChain(1);
  while (t.chain.head.number < VOTE_AT - 1n) await sealNext(t);
  // Block 4: the one validator votes the key 1 in (more than half of one: the set changes after it).
  const head = t.chain.head.header;
  const extra = decodeIbftExtra(head.extraData);
  const candidate = privateToAddress(testKey(1));
  const r = await t.chain.produceBlock(
    {
      coinbase: nextProposer(extra.validators, head.coinbase.bytes),
      timestamp: head.timestamp + 1n,
      extraData: encodeIbftExtra({
        ...extra,
        validators: [...extra.validators, candidate],
        vote: { candidate, authorize: true },
        proposerSeal: new Uint8Array(0),
        committedSeals: [],
      }),
    },
    [],
    async (built) => sealBlock(built.block, testKey(0), [testKey(0)], t.chain.commonAt(built.block.header.number)),
  );
  expect(r?.block.header.number).toBe(VOTE_AT);
  const two = { chain: t.chain, keys: [testKey(0), testKey(1)] };
  while (t.chain.head.number < HEAD) await sealNext(two);
  expect(t.chain.engine.validatorsAfter(t.chain.head.header).length).toBe(2);
  bytes = await collect((await createSnapshot(t.chain, { compression: 'zstd' })).chunks);
});
afterAll(async () => {
  await t?.close();
});

describe("a restore's seals: every block's, or where the set changes and at the head", () => {
  it('recovers every block\'s seals with "every", only the set change\'s and the head\'s with "set-changes"; both restore the same head', async () => {
    const every = await restore(readSnapshot(once(bytes)), 'every');
    expect(every.sealedBlocks).toBe(Number(HEAD));
    const few = await restore(readSnapshot(once(bytes)), 'few', { seals: 'set-changes' });
    expect(few.sealedBlocks).toBe(2); // block 4 and the head
    expect(few.headHash).toBe(every.headHash);
    expect(few.headHash).toBe(bytesToHex(t.chain.head.hash));
  });

  it('refuses a stranger\'s seal on the head and on the set change with "set-changes"; on a block between, only "every" sees it', async () => {
    await expect(restore(edited(HEAD, strangerSealed), 'head', { seals: 'set-changes' })).rejects.toThrow(
      /^block 512 is invalid: committed seal by 0x[0-9a-f]{40}, not a validator \(snapshot is corrupt or forged\); blocks 257-511 were checked without their seals, on this block's word: an altered one among them shows here$/,
    );
    await expect(restore(edited(VOTE_AT, strangerSealed), 'vote', { seals: 'set-changes' })).rejects.toThrow(
      /^block 256 is invalid: committed seal by 0x[0-9a-f]{40}, not a validator \(snapshot is corrupt or forged\); blocks 1-255 were checked without their seals/,
    );
    await expect(restore(edited(MID, strangerSealed), 'mid-every')).rejects.toThrow(/^block 300 is invalid: committed seal by 0x[0-9a-f]{40}, not a validator/);
    // Between checked blocks a seal is vouched for by the next checked block's quorum, not recovered:
    // the restore passes (what the option says; a peer's snapshot is restored with "every").
    const r = await restore(edited(MID, strangerSealed), 'mid', { seals: 'set-changes' });
    expect(r.headHash).toBe(bytesToHex(t.chain.head.hash));
  });

  it('ibft_getSignerMetrics of a restored chain counts only seals by the set that decided each block, passing over ones that do not recover', async () => {
    const strange = (b: Block) => (b.header.number === MID ? strangerSealed(b) : junkSealed(b));
    const r = await restore(edited([MID, MID + 1n], strange), 'metrics', { seals: 'set-changes' });
    const restored = await openTestChain(t.genesis, r.dataDir);
    try {
      const d = new RpcDispatcher({
        methods: ethMethods({ chain: restored.chain, txpool: new TxPool(restored.chain) }, ['ibft']),
        logger: pino({ level: 'silent' }),
      });
      const res = JSON.parse(await d.handleText(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ibft_getSignerMetrics', params: ['0x0', 'latest'] })));
      const seals = Object.fromEntries(
        (res.result as { address: string; committedSealCount: string }[]).map((m) => [m.address.toLowerCase(), Number(m.committedSealCount)]),
      );
      // Blocks 1-256 sealed by key 0 alone, 257-512 by keys 0 and 1; blocks 300 and 301 now carry no seal of theirs.
      expect(seals).toEqual({ [bytesToHex(privateToAddress(testKey(0)))]: 510, [bytesToHex(privateToAddress(testKey(1)))]: 254 });
    } finally {
      await restored.close();
    }
  });

  it('takes the same rule for a snapshot of headers below the head, and above a --trusted-block', async () => {
    const headers = await collect((await createSnapshot(t.chain, { compression: 'zstd', headersOnly: true })).chunks);
    const h = await restore(readSnapshot(once(headers)), 'headers', { seals: 'set-changes' });
    expect([h.sealedBlocks, h.historyGap]).toEqual([2, { from: 1n, to: HEAD - 1n }]);
    const trusted = async (n: bigint) => ({ number: n, hash: t.chain.engine.blockHash((await t.chain.store.canonicalHeader(n))!) });
    const cases: [bigint, RestoreOptions['seals'], number][] = [
      [100n, 'set-changes', 2], // the set change and the head
      [VOTE_AT, 'set-changes', 1], // the head: the set change is at the checkpoint
      [HEAD, 'set-changes', 0], // nothing above the checkpoint
      [500n, 'every', 12],
    ];
    for (const [n, seals, sealed] of cases) {
      const r = await restore(readSnapshot(once(bytes)), `trusted-${n}-${seals}`, { seals, trustedBlock: await trusted(n) });
      expect([n, seals, r.sealedBlocks]).toEqual([n, seals, sealed]);
    }
  });

  it('refuses with "set-changes" a block between that is not the one its successors link to, or that breaks a rule', async () => {
    const common = (n: bigint) => t.chain.commonAt(n);
    // Another timestamp: another block (its record says the new hash), which block 7 does not name as parent.
    const moved = edited(6n, (b) => blockWithHeader(b, withField(b.header, TIMESTAMP, bigIntToUnpaddedBytes(b.header.timestamp + 1n)), common(6n)));
    await expect(restore(rehashed(moved, 6n), 'moved', { seals: 'set-changes' })).rejects.toThrow(
      /^block 7 is invalid: parent hash 0x[0-9a-f]{64} is not the hash of block 6/,
    );
    // A coinbase that is no validator, sealed by that stranger: a rule the check without seals keeps.
    const stranger = edited(2n, (b) => {
      const c = common(2n);
      const h = withField(b.header, COINBASE, privateToAddress(testKey(9)));
      return sealBlock(blockWithHeader(b, h, c), testKey(9), [testKey(9)], c);
    });
    await expect(restore(rehashed(stranger, 2n), 'coinbase', { seals: 'set-changes' })).rejects.toThrow(
      /^block 2 is invalid: coinbase 0x[0-9a-f]{40} is not a validator/,
    );
    // The head proposed by a stranger under a validator's coinbase (its committed seals real): the
    // proposer seal is part of the hash, so the record names the new hash; refused at the head's seals.
    const proposedByStranger = edited(HEAD, (b) => {
      const c = common(HEAD);
      const extra = decodeIbftExtra(b.header.extraData);
      const unsealed = headerWithExtraData(b.header, encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] }), c);
      const resealed = sealBlock(blockWithHeader(b, unsealed, c), testKey(9), [testKey(0), testKey(1)], c);
      return resealed;
    });
    await expect(restore(rehashed(proposedByStranger, HEAD), 'proposer', { seals: 'set-changes' })).rejects.toThrow(
      /^block 512 is invalid: proposer seal is by 0x[0-9a-f]{40}, not a validator \(snapshot is corrupt or forged\); blocks 257-511 were checked/,
    );
  });
});

const COINBASE = 2;
const TIMESTAMP = 11;

/** `header` with one of its RLP fields replaced. */
function withField(header: BlockHeader, index: number, value: Uint8Array): BlockHeader {
  const raw = header.raw();
  raw[index] = value;
  return createBlockHeaderFromBytesArray(raw, headerOpts(t.chain.commonAt(header.number)));
}

/** The events with block `number`'s record hash set to the hash of the block it now holds. */
async function* rehashed(events: AsyncIterable<SnapshotEvent>, number: bigint): AsyncGenerator<SnapshotEvent> {
  for await (const ev of events) {
    if (ev.kind === 'block' && ev.number === number) {
      const block = createBlockFromRLP(ev.blockRlp, headerOpts(t.chain.commonAt(number)));
      yield { ...ev, hash: t.chain.engine.blockHash(block.header) };
    } else yield ev;
  }
}

describe("a restore's seals around the genesis file's emergency set change", () => {
  it("checks the seals of the block before the change (the old set's last) and of the head; a stranger's seal on the first is refused", async () => {
    // One validator (key 0) until block 4; from block 5 the genesis file hands the chain to keys 1 and 2.
    const { genesis } = testGenesis(1);
    genesis.params.engine.ibft.validatorSetChanges = [{ block: 5, validators: [addressOf(testKey(1)), addressOf(testKey(2))] }];
    const c = await openTestChain(genesis);
    try {
      while (c.chain.head.number < 8n) {
        const parent = c.chain.head.header;
        const fields = c.chain.engine.nextHeader(parent);
        const keys = parent.number < 4n ? [testKey(0)] : [testKey(1), testKey(2)];
        const proposer = keys.find((k) => addressOf(k) === bytesToHex(fields.coinbase))!;
        await c.chain.produceBlock({ ...fields, timestamp: parent.timestamp + 1n }, [], async (built) =>
          sealBlock(built.block, proposer, keys, c.chain.commonAt(built.block.header.number)),
        );
      }
      const snap = await collect((await createSnapshot(c.chain, { compression: 'zstd' })).chunks);
      const r = await restoreFromEvents(readSnapshot(once(snap)), { dataDir: join(tempDir(), 'emergency'), genesis, seals: 'set-changes' });
      expect(r.sealedBlocks).toBe(2);
      async function* stranger(): AsyncGenerator<SnapshotEvent> {
        for await (const ev of readSnapshot(once(snap))) {
          if (ev.kind !== 'block' || ev.number !== 4n) yield ev;
          else {
            const b = (await c.chain.store.canonicalBlock(4n))!;
            const common = c.chain.commonAt(4n);
            const extra = decodeIbftExtra(b.header.extraData);
            const h = headerWithExtraData(b.header, encodeIbftExtra({ ...extra, committedSeals: [committedSeal(b.header, testKey(9))] }), common);
            yield { ...ev, blockRlp: blockWithHeader(b, h, common).serialize() };
          }
        }
      }
      await expect(restoreFromEvents(stranger(), { dataDir: join(tempDir(), 'emergency-forged'), genesis, seals: 'set-changes' })).rejects.toThrow(
        /^block 4 is invalid: committed seal by 0x[0-9a-f]{40}, not a validator \(snapshot is corrupt or forged\); blocks 1-3 were checked without their seals/,
      );
    } finally {
      await c.close();
    }
  });
});
