import { EventEmitter } from 'node:events';
import { createFeeMarket1559Tx } from '@ethereumjs/tx';
import { bytesToHex, generateAddress, hexToBytes, privateToAddress } from '@ethereumjs/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestChain } from '../../helpers/chain-fixture.js';
import { addressOf, createTestChain, sealNext, testKey } from '../../helpers/chain-fixture.js';
import { SET_TOPIC, STORAGE_INITCODE, word } from '../../helpers/contracts.js';
import { assemble, deployer } from '../../helpers/evm-asm.js';
import { ethMethods, type RpcMethods } from '../../../src/rpc/jsonrpc/methods.js';
import { MAX_LOG_DATA_BYTES, MAX_LOG_RESULTS, findLogs, parseLogQuery } from '../../../src/rpc/jsonrpc/methods/eth-logs.js';
import { filterMethods } from '../../../src/rpc/jsonrpc/methods/eth-filters.js';
import {
  FILTER_TTL_MS,
  FilterStore,
  LogQueryBudget,
  MAX_FILTERS,
  MAX_FILTERS_PER_ADDRESS,
  MAX_LOG_QUERY_ENTRIES,
  MAX_PENDING_HASHES,
} from '../../../src/rpc/jsonrpc/filters.js';
import { MAX_PENDING_HEADS, SubscriptionHub, type SubscriptionSink } from '../../../src/rpc/jsonrpc/subscriptions.js';
import type { Chain } from '../../../src/chain/chain.js';
import { logQueryEntries } from '../../../src/chain/logs.js';
import { silentLogger } from '../../../src/util/log.js';
import { until } from '../../helpers/until.js';
import { RpcError, RpcErrorCode } from '../../../src/rpc/jsonrpc/errors.js';
import { TxPool } from '../../../src/txpool/txpool.js';

const KEY = testKey(40);
const OTHER_TOPIC = word(1n);
type Log = { address: string; topics: string[]; data: string; blockNumber: string; logIndex: string; transactionHash: string; transactionIndex: string };

let t: TestChain;
let m: RpcMethods;
let contract: string;
let nonce = 0n;

const call = async <T>(method: string, ...params: unknown[]): Promise<T> => (await m[method]!(params)) as T;
const rpcError = async (method: string, ...params: unknown[]): Promise<RpcError> => {
  try {
    await m[method]!(params);
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error(`${method} succeeded`);
};
const tx = (data: Uint8Array | string, to?: string) =>
  createFeeMarket1559Tx(
    {
      nonce: nonce++,
      ...(to ? { to: to as `0x${string}` } : {}),
      data: typeof data === 'string' ? hexToBytes(data as `0x${string}`) : data,
      gasLimit: 200_000n,
      maxFeePerGas: 10n ** 11n,
      maxPriorityFeePerGas: 1n,
      chainId: 100n,
    },
    { common: t.chain.commonAt(0n) },
  ).sign(KEY);
async function writeBlock(...values: bigint[]): Promise<number> {
  const b = await sealNext(
    t,
    values.map((v) => tx(word(v), contract)),
  );
  return Number(b.header.number);
}

beforeAll(async () => {
  t = await createTestChain(1, [addressOf(KEY)]);
  m = ethMethods({ chain: t.chain, txpool: new TxPool(t.chain) });
  contract = bytesToHex(generateAddress(privateToAddress(KEY), new Uint8Array(0)));
  await sealNext(t, [tx(STORAGE_INITCODE)]); // block 1
  await writeBlock(5n); // 2
  await sealNext(t, []); // 3: empty
  await writeBlock(6n, 7n); // 4
});
afterAll(async () => {
  await t?.close();
});

describe('eth_getLogs', () => {
  it('finds logs by address and topic over a range, with their positions', async () => {
    const logs = await call<Log[]>('eth_getLogs', { address: contract, topics: [bytesToHex(SET_TOPIC)], fromBlock: '0x0', toBlock: 'latest' });
    expect(logs.map((l) => [Number(l.blockNumber), BigInt(l.data)])).toEqual([
      [2, 5n],
      [4, 6n],
      [4, 7n],
    ]);
    expect(logs.map((l) => l.logIndex)).toEqual(['0x0', '0x0', '0x1']);
    expect(logs.map((l) => l.transactionIndex)).toEqual(['0x0', '0x0', '0x1']);
    const block4 = await t.chain.blockByNumber(4n);
    expect(logs[2]!.transactionHash).toBe(bytesToHex(block4!.transactions[1]!.hash()));
  });

  it('applies topic alternatives, wildcards, address lists and block hashes', async () => {
    const all = { fromBlock: '0x0' };
    expect(await call<Log[]>('eth_getLogs', { ...all, topics: [OTHER_TOPIC] })).toEqual([]);
    expect(await call<Log[]>('eth_getLogs', { ...all, topics: [[OTHER_TOPIC, bytesToHex(SET_TOPIC)]] })).toHaveLength(3);
    expect(await call<Log[]>('eth_getLogs', { ...all, topics: [null] })).toHaveLength(3);
    expect(await call<Log[]>('eth_getLogs', { ...all, topics: [null, OTHER_TOPIC] })).toEqual([]); // LOG1 has no second topic
    expect(await call<Log[]>('eth_getLogs', { ...all, address: [addressOf(KEY), contract] })).toHaveLength(3);
    expect(await call<Log[]>('eth_getLogs', { ...all, address: addressOf(KEY) })).toEqual([]);
    expect(await call<Log[]>('eth_getLogs', { fromBlock: '0x3', toBlock: '0x3' })).toEqual([]);
    expect((await call<Log[]>('eth_getLogs', { fromBlock: '0x2', toBlock: '0x2' })).map((l) => BigInt(l.data))).toEqual([5n]);
    const hash = bytesToHex((await t.chain.store.canonicalHash(4n))!);
    expect((await call<Log[]>('eth_getLogs', { blockHash: hash })).map((l) => BigInt(l.data))).toEqual([6n, 7n]);
  });

  it('refuses bad ranges and answers an empty future range', async () => {
    expect((await rpcError('eth_getLogs', { fromBlock: '0x0', toBlock: '0x30000' })).message).toMatch(/block range too large: 196609 blocks \(limit 10000\)/);
    expect((await rpcError('eth_getLogs', { fromBlock: '0x3', toBlock: '0x2' })).code).toBe(-32602);
    expect(await call<Log[]>('eth_getLogs', { fromBlock: '0x99' })).toEqual([]);
    expect((await rpcError('eth_getLogs', { topics: [1, 2, 3, 4, 5] })).code).toBe(-32602);
    expect((await rpcError('eth_getLogs', { address: '0x1234' })).code).toBe(-32602);
    expect((await rpcError('eth_getLogs', { blockHash: `0x${'11'.repeat(32)}` })).message).toBe('unknown block');
  });
});

/**
 * What `root` keeps alive, as far as its own properties reach: the classes of the objects, and the bytes
 * of the buffers behind its byte arrays (a view keeps its whole buffer).
 */
function retained(root: unknown): { classes: Set<string>; bytes: number } {
  const seen = new Set<object>();
  const buffers = new Set<ArrayBufferLike>();
  const classes = new Set<string>();
  const todo = [root];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    classes.add((v as object).constructor?.name ?? 'null');
    if (ArrayBuffer.isView(v)) {
      buffers.add(v.buffer);
      continue;
    }
    if (v instanceof Map || v instanceof Set) for (const x of v) todo.push(x);
    for (const k of Reflect.ownKeys(v)) todo.push((v as Record<string | symbol, unknown>)[k]);
  }
  return { classes, bytes: [...buffers].reduce((n, b) => n + b.byteLength, 0) };
}

describe('eth_getLogs memory (hostile clients)', () => {
  it('holds for each log found only what its answer reports, not its block nor the rest of its receipts', async () => {
    // A block of 12 transactions and logs: each log found keeps its own bytes, not the decoded block or its receipts.
    const many = await writeBlock(...Array.from({ length: 12 }, (_, i) => 100n + BigInt(i)));
    const all = await findLogs(t.chain, 0n, BigInt(many), parseLogQuery({ address: contract }));
    expect(all.logs.length).toBeGreaterThanOrEqual(15);
    const held = retained(all.logs);
    expect([...held.classes].sort()).toEqual(['Array', 'Object', 'Uint8Array']);
    // Each log: its address, topic and 32 bytes of data, its transaction's hash; each block: its hash.
    const own = all.logs.reduce((n, l) => n + 20 + 32 * l.log[1].length + l.log[2].length + 32, 0);
    expect(held.bytes).toBeLessThanOrEqual(own + 32 * all.logs.length);
  });
});

describe('log queries and fee history: bounded lists (hostile clients)', () => {
  it('refuses more than 1,000 addresses or topic alternatives (eth_getLogs, eth_newFilter, logs subscriptions share the parse), and more than 100 reward percentiles', async () => {
    const addresses = (n: number) => Array.from({ length: n }, (_, i) => `0x${i.toString(16).padStart(40, '0')}`);
    const topics = (n: number) => Array.from({ length: n }, (_, i) => `0x${i.toString(16).padStart(64, '0')}`);
    expect(await call<Log[]>('eth_getLogs', { fromBlock: '0x0', toBlock: 'latest', address: addresses(1000) })).toEqual([]);
    expect((await rpcError('eth_getLogs', { fromBlock: '0x0', toBlock: 'latest', address: addresses(1001) })).message).toMatch(/at most 1000 addresses/);
    expect((await rpcError('eth_newFilter', { topics: [topics(1001)] })).code).toBe(-32602);
    expect(await call<Log[]>('eth_getLogs', { fromBlock: '0x0', toBlock: 'latest', topics: [null, topics(1000)] })).toEqual([]);
    const pcts = (n: number) => Array.from({ length: n }, (_, i) => (i * 100) / n);
    const ok = await call<{ reward: string[][] }>('eth_feeHistory', '0x2', 'latest', pcts(100));
    expect(ok.reward[0]).toHaveLength(100);
    expect((await rpcError('eth_feeHistory', '0x2', 'latest', pcts(101))).message).toMatch(/at most 100/);
    expect((await rpcError('eth_feeHistory', '0x2', 'latest', [50, 10])).code).toBe(-32602);
    expect((await rpcError('eth_feeHistory', 1.5, 'latest', [])).code).toBe(-32602);
  });
});

describe('polling filters', () => {
  it('report new blocks and new matching logs once each', async () => {
    const blocks = await call<string>('eth_newBlockFilter');
    const logs = await call<string>('eth_newFilter', { address: contract });
    const old = await call<string>('eth_newFilter', { fromBlock: '0x0', toBlock: '0x2', topics: [bytesToHex(SET_TOPIC)] });
    expect(await call('eth_getFilterChanges', blocks)).toEqual([]);
    const n = await writeBlock(8n);
    const empty = Number((await sealNext(t, [])).header.number);
    const hashes = await Promise.all([n, empty].map(async (b) => bytesToHex((await t.chain.store.canonicalHash(BigInt(b)))!)));
    expect(await call('eth_getFilterChanges', blocks)).toEqual(hashes);
    expect((await call<Log[]>('eth_getFilterChanges', logs)).map((l) => BigInt(l.data))).toEqual([8n]);
    expect(await call('eth_getFilterChanges', logs)).toEqual([]);
    expect(await call('eth_getFilterChanges', blocks)).toEqual([]);
    // A filter with a fixed range reports that range once, and eth_getFilterLogs always.
    expect((await call<Log[]>('eth_getFilterChanges', old)).map((l) => BigInt(l.data))).toEqual([5n]);
    expect(await call('eth_getFilterChanges', old)).toEqual([]);
    expect((await call<Log[]>('eth_getFilterLogs', old)).map((l) => BigInt(l.data))).toEqual([5n]);
    expect((await rpcError('eth_getFilterLogs', blocks)).message).toMatch(/not a log filter/);
  });

  it('report each transaction the pool accepts once to pending-transaction filters, within a bound', async () => {
    const pool = new TxPool(t.chain);
    const store = new FilterStore();
    const fm = filterMethods({ chain: t.chain, txpool: pool }, store);
    const id = (await fm.eth_newPendingTransactionFilter!([])) as string;
    const blocks = (await fm.eth_newBlockFilter!([])) as string;
    expect(await fm.eth_getFilterChanges!([id])).toEqual([]);
    const a = tx(word(1n), contract);
    const b = tx(word(2n), contract);
    await pool.add(a);
    await pool.add(b);
    await expect(pool.add(a)).rejects.toThrow(/already known/); // refused: not reported
    expect(await fm.eth_getFilterChanges!([id])).toEqual([bytesToHex(a.hash()), bytesToHex(b.hash())]);
    expect(await fm.eth_getFilterChanges!([id])).toEqual([]);
    expect(await fm.eth_getFilterChanges!([blocks])).toEqual([]); // other filters are unaffected
    await expect(fm.eth_getFilterLogs!([id])).rejects.toThrow(/not a log filter/);
    // an unpolled filter keeps only the newest MAX_PENDING_HASHES hashes
    for (let i = 0; i < MAX_PENDING_HASHES + 5; i++) store.notePendingTransaction(`0x${i.toString(16)}`);
    const kept = (await fm.eth_getFilterChanges!([id])) as string[];
    expect(kept.length).toBe(MAX_PENDING_HASHES);
    expect(kept[0]).toBe('0x5');
    expect(kept.at(-1)).toBe(`0x${(MAX_PENDING_HASHES + 4).toString(16)}`);
    nonce -= 2n; // a and b never reach a block; later tests reuse their nonces
    // each filter has its own position, and the hashes are held once for all of them: with the most
    // filters a client may install, a transaction costs one entry, not one per filter
    const late = (await fm.eth_newPendingTransactionFilter!([])) as string;
    store.notePendingTransaction('0xaa');
    expect(await fm.eth_getFilterChanges!([late])).toEqual(['0xaa']);
    store.notePendingTransaction('0xbb');
    expect(await fm.eth_getFilterChanges!([id])).toEqual(['0xaa', '0xbb']);
    expect(await fm.eth_getFilterChanges!([late])).toEqual(['0xbb']);
    const many: string[] = [];
    while (store.size < MAX_FILTERS) many.push((await fm.eth_newPendingTransactionFilter!([])) as string);
    for (let i = 0; i < MAX_PENDING_HASHES + 5; i++) store.notePendingTransaction(`0x${i.toString(16)}`);
    expect(store.pendingHashesHeld).toBe(MAX_PENDING_HASHES);
    const last = (await fm.eth_getFilterChanges!([many.at(-1)!])) as string[];
    expect([last.length, last[0]]).toEqual([MAX_PENDING_HASHES, '0x5']);
    for (const f of [...many, late]) await fm.eth_uninstallFilter!([f]);
    // uninstalled and expired pending filters stop collecting
    expect(store.pendingFilterCount).toBe(1);
    expect(await fm.eth_uninstallFilter!([id])).toBe(true);
    expect(store.pendingFilterCount).toBe(0);
    let now = 0;
    const timed = new FilterStore(() => now);
    const tm = filterMethods({ chain: t.chain, txpool: pool }, timed);
    await tm.eth_newPendingTransactionFilter!([]);
    now = FILTER_TTL_MS + 1;
    await tm.eth_newBlockFilter!([]); // any call sweeps expired filters
    expect(timed.pendingFilterCount).toBe(0);
  });

  it(`count each client address's filters (at most ${MAX_FILTERS_PER_ADDRESS}) until they are uninstalled or expire; installs without an address are not counted`, () => {
    let now = 0;
    const store = new FilterStore(() => now);
    const block = { kind: 'block', next: 1n } as const;
    const first = store.install({ ...block }, '10.0.0.1');
    for (let i = 1; i < MAX_FILTERS_PER_ADDRESS; i++) store.install({ ...block }, '10.0.0.1');
    expect(() => store.install({ ...block }, '10.0.0.1')).toThrow(
      expect.objectContaining({
        code: RpcErrorCode.LimitExceeded,
        message: `too many filters from your address (limit ${MAX_FILTERS_PER_ADDRESS}): uninstall some`,
      }),
    );
    expect(() => store.installPending('10.0.0.1')).toThrow(/too many filters from your address/);
    store.install({ ...block }, '10.0.0.2');
    store.install({ ...block });
    expect(store.uninstall(first)).toBe(true);
    store.install({ ...block }, '10.0.0.1');
    now = FILTER_TTL_MS / 2;
    store.install({ ...block }, '10.0.0.2'); // polled late: outlives the others
    now = FILTER_TTL_MS + 1;
    store.install({ ...block }, '10.0.0.1'); // the rest expired
    expect(store.size).toBe(2);
  });

  it('forget uninstalled, unknown and expired filters', async () => {
    const id = await call<string>('eth_newBlockFilter');
    expect(id).toMatch(/^0x[1-9a-f][0-9a-f]{0,31}$/); // a 128-bit quantity: no leading zero, so 1 time in 16 it is shorter
    expect(await call('eth_uninstallFilter', id)).toBe(true);
    expect(await call('eth_uninstallFilter', id)).toBe(false);
    expect((await rpcError('eth_getFilterChanges', id)).message).toBe('filter not found');
    expect((await rpcError('eth_getFilterChanges', '0x1')).message).toBe('filter not found');

    let now = 0;
    const store = new FilterStore(() => now);
    const fm = filterMethods({ chain: t.chain, txpool: undefined as never }, store);
    const kept = (await fm.eth_newBlockFilter!([])) as string;
    const dropped = (await fm.eth_newBlockFilter!([])) as string;
    now = FILTER_TTL_MS - 1;
    await fm.eth_getFilterChanges!([kept]); // polling keeps a filter alive
    now = FILTER_TTL_MS + 1;
    expect(await fm.eth_getFilterChanges!([kept])).toEqual([]);
    await expect(fm.eth_getFilterChanges!([dropped])).rejects.toThrow(/filter not found/);
    expect(store.size).toBe(1);
  });
});

describe('blocks of many logs (hostile clients)', () => {
  /** Emits calldata word 0 LOG0s, each of calldata word 1 bytes of (zero) memory. */
  const EMITTER = assemble([
    { push: 0n },
    'CALLDATALOAD',
    { label: 'top' },
    'DUP1',
    'ISZERO',
    { ref: 'end' },
    'JUMPI',
    { push: 32n },
    'CALLDATALOAD',
    { push: 0n },
    { data: Uint8Array.of(0xa0) }, // LOG0
    { push: 1n },
    { data: Uint8Array.of(0x90, 0x03) }, // SWAP1 SUB
    { ref: 'top' },
    'JUMP',
    { label: 'end' },
    'STOP',
  ]);
  let emitter: string;
  const emit = async (count: number, size: number) =>
    Number((await sealNext(t, [bigTx(`${word(BigInt(count))}${word(BigInt(size)).slice(2)}`, emitter)])).header.number);
  const bigTx = (data: string, to?: string) =>
    createFeeMarket1559Tx(
      {
        nonce: nonce++,
        ...(to ? { to: to as `0x${string}` } : {}),
        data: hexToBytes(data as `0x${string}`),
        gasLimit: 29_000_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 1n,
        chainId: 100n,
      },
      { common: t.chain.commonAt(0n) },
    ).sign(KEY);

  beforeAll(async () => {
    emitter = bytesToHex(generateAddress(privateToAddress(KEY), new Uint8Array([Number(nonce)])));
    await sealNext(t, [bigTx(bytesToHex(deployer(EMITTER)))]);
  });

  describe('log answers: bounded', () => {
    it('eth_getLogs and eth_getFilterLogs refuse more than 10,000 logs (-32005); a filter reports them over several polls', async () => {
      expect(MAX_LOG_RESULTS).toBe(10_000);
      const filter = await call<string>('eth_newFilter', { address: emitter });
      const heavy = await emit(MAX_LOG_RESULTS + 1, 0);
      const light = await emit(5, 0);
      const at = (n: number) => `0x${n.toString(16)}`;
      const refused = await rpcError('eth_getLogs', { address: emitter, fromBlock: at(heavy - 1), toBlock: at(light) });
      expect(refused.code).toBe(-32005);
      expect(refused.message).toBe(`query returned more than 10000 results. Try with this block range [${at(heavy - 1)}, ${at(heavy - 1)}].`);
      const hash = bytesToHex((await t.chain.store.canonicalHash(BigInt(heavy)))!);
      expect((await rpcError('eth_getLogs', { blockHash: hash })).message).toBe('query returned more than 10000 results.');
      expect((await rpcError('eth_getFilterLogs', filter)).code).toBe(-32005);
      expect(await call<Log[]>('eth_getLogs', { address: emitter, fromBlock: at(light) })).toHaveLength(5);
      // The filter reports every log once: 10,000, then the one left of the heavy block and the light block's.
      const first = await call<Log[]>('eth_getFilterChanges', filter);
      expect(first).toHaveLength(MAX_LOG_RESULTS);
      expect([first[0]!.logIndex, first.at(-1)!.logIndex]).toEqual(['0x0', at(MAX_LOG_RESULTS - 1)]);
      const rest = await call<Log[]>('eth_getFilterChanges', filter);
      expect(rest.map((l) => [Number(l.blockNumber), Number(l.logIndex)])).toEqual([[heavy, MAX_LOG_RESULTS], ...[0, 1, 2, 3, 4].map((i) => [light, i])]);
      expect(await call('eth_getFilterChanges', filter)).toEqual([]);
    });

    it('eth_getLogs refuses more than 8 MiB of log data (-32005); a filter reports it over several polls', async () => {
      const MiB = 1024 * 1024;
      expect(MAX_LOG_DATA_BYTES).toBe(8 * MiB);
      const filter = await call<string>('eth_newFilter', { address: emitter });
      const blocks = [await emit(3, MiB), await emit(3, MiB), await emit(3, MiB)]; // 9 MiB, 27.5M gas a block
      const at = (n: number) => `0x${n.toString(16)}`;
      const refused = await rpcError('eth_getLogs', { address: emitter, fromBlock: at(blocks[0]!), toBlock: at(blocks[2]!) });
      expect([refused.code, refused.message]).toEqual([
        -32005,
        `query returned more than ${8 * MiB} bytes of log data. Try with this block range [${at(blocks[0]!)}, ${at(blocks[1]!)}].`,
      ]);
      const first = await call<Log[]>('eth_getFilterChanges', filter);
      expect(first.map((l) => (l.data.length - 2) / 2)).toEqual(Array(8).fill(MiB));
      expect((await call<Log[]>('eth_getFilterChanges', filter)).map((l) => [Number(l.blockNumber), Number(l.logIndex)])).toEqual([[blocks[2], 2]]);
    });
  });

  describe('logs subscriptions: matching bounded', () => {
    /** A hub and a sink that records each notification's subscription and log position. */
    const subscriptions = () => {
      const hub = new SubscriptionHub(t.chain, new TxPool(t.chain), silentLogger());
      const got: [string, number][] = [];
      const sink: SubscriptionSink = { notify: (id, r) => got.push([id, Number((JSON.parse(r) as Log).logIndex)]) };
      return { hub, got, sink, subscribe: (q: Record<string, unknown>) => hub.subscribe(sink, { kind: 'logs', query: parseLogQuery(q) }) };
    };

    it('a block whose bloom rules out every logs subscription is not read: 128 subscriptions of 1,000 other addresses, a block of 2,000 logs', async () => {
      const { hub, got, sink, subscribe } = subscriptions();
      const heads = hub.subscribe(sink, { kind: 'newHeads' }); // shows the head was published
      const others = Array.from({ length: 1000 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, '0')}`);
      for (let i = 0; i < 128; i++) subscribe({ address: others });
      const store = t.chain.store as unknown as { receipts: (...a: unknown[]) => unknown };
      const receipts = store.receipts;
      let reads = 0;
      store.receipts = (...a) => {
        reads++;
        return receipts.apply(t.chain.store, a);
      };
      try {
        await emit(2000, 0);
        await hub.close(); // waits for the head's notifications
      } finally {
        store.receipts = receipts;
      }
      expect(got.map(([id]) => id)).toEqual([heads]);
      expect(reads).toBe(0);
    });

    it('a block of many matching logs is published in slices, the event loop turning between them; every subscriber gets every log once, in order', async () => {
      const { hub, got, subscribe } = subscriptions();
      const ids = [subscribe({ address: emitter }), subscribe({ address: [emitter, addressOf(KEY)], topics: [] })];
      const seen: number[] = []; // notifications sent when the event loop turned
      let publishing = true;
      const turn = () => {
        seen.push(got.length);
        if (publishing) setImmediate(turn);
      };
      setImmediate(turn);
      await emit(2000, 0);
      await until(() => got.length >= 4000, 'every notification');
      await hub.close();
      publishing = false;
      for (const id of ids) expect(got.filter(([s]) => s === id).map(([, i]) => i)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
      expect(got).toHaveLength(4000);
      expect(seen.some((n) => n > 0 && n < got.length)).toBe(true);
    });
  });
});

describe('logs subscriptions against a busy node (hostile clients)', () => {
  const TOKEN = hexToBytes(`0x${'aa'.repeat(20)}`);
  const TRANSFER = hexToBytes(`0x${'dd'.repeat(32)}`);
  /** A chain whose blocks' blooms hold everything and whose receipts are `logs` (read: counted), as the hub sees it. */
  const fakeChain = (logs: [Uint8Array, Uint8Array[], Uint8Array][], receipts: () => Promise<unknown> = async () => [{ logs }]) => {
    const chain = new EventEmitter() as EventEmitter & { reads: number };
    chain.reads = 0;
    Object.assign(chain, {
      engine: { blockHash: () => new Uint8Array(32) },
      store: {
        receipts: () => {
          chain.reads++;
          return receipts();
        },
      },
    });
    return chain;
  };
  const block = (n: number) => ({ header: { number: BigInt(n), logsBloom: new Uint8Array(256).fill(0xff) }, transactions: [] });
  const pool = { onAdded: () => () => undefined } as unknown as TxPool;

  it("a log is checked only against the subscriptions that could match it: 200 subscriptions of TOKEN's Transfers from Transfer's hash, a block of 2,000 TOKEN Transfers", async () => {
    const from = hexToBytes(`0x${'00'.repeat(12)}${'11'.repeat(20)}`);
    const chain = fakeChain(Array.from({ length: 2000 }, () => [TOKEN, [TRANSFER, from, from], new Uint8Array()]));
    const hub = new SubscriptionHub(chain as unknown as Chain, pool, silentLogger());
    let checks = 0;
    const sink: SubscriptionSink = { notify: () => expect.fail('no log matches') };
    for (let i = 0; i < 200; i++) {
      const query = parseLogQuery({ address: bytesToHex(TOKEN), topics: [bytesToHex(TRANSFER), bytesToHex(TRANSFER)] });
      // Counts each look at the query's topics: matching a log against it reads them.
      const counted = new Proxy(query, { get: (q, k) => (k === 'topics' && checks++, Reflect.get(q, k)) });
      hub.subscribe(sink, { kind: 'logs', query: counted });
    }
    checks = 0;
    chain.emit('head', undefined, block(1));
    await hub.settled();
    await hub.close();
    expect(chain.reads).toBe(1); // the bloom let every subscription through
    expect(checks).toBeLessThan(2000); // a check of each log against each: 400,000
  });

  it(`past ${MAX_PENDING_HEADS} heads waiting, the hub skips to the newest and drops the logs subscribers that missed logs, telling them which blocks`, async () => {
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => (release = r));
    const chain = fakeChain([], async () => {
      await slow; // block 1's logs take longer than the blocks after it
      return [];
    });
    const hub = new SubscriptionHub(chain as unknown as Chain, pool, silentLogger());
    const dropped: string[] = [];
    const sink: SubscriptionSink = { notify: () => undefined, drop: (reason) => dropped.push(reason) };
    hub.subscribe(sink, { kind: 'logs', query: parseLogQuery({ address: bytesToHex(TOKEN) }) });
    for (let n = 1; n <= 20; n++) chain.emit('head', undefined, block(n));
    expect(dropped).toEqual(['missed logs of blocks 2-5 (node busy): eth_getLogs them, subscribe again']);
    expect(hub.size).toBe(0);
    release();
    await hub.close();
    expect(chain.reads).toBe(1); // block 1 only: no logs subscriber left for the others
  });
});

describe('log filter entries: one node-wide bound', () => {
  it('filters and logs subscriptions together hold at most 1,000,000 addresses and topics: more is refused (-32005) until some are removed', async () => {
    expect(MAX_LOG_QUERY_ENTRIES).toBe(1_000_000);
    const budget = new LogQueryBudget();
    const store = new FilterStore(Date.now, budget);
    const fm = filterMethods({ chain: t.chain, txpool: new TxPool(t.chain), logQueryBudget: budget }, store);
    const hub = new SubscriptionHub(t.chain, new TxPool(t.chain), silentLogger(), budget);
    const sink: SubscriptionSink = { notify: () => undefined };
    const hex = (n: number, bytes: number) => `0x${n.toString(16).padStart(2 * bytes, '0')}`;
    const range = (from: number, bytes: number) => Array.from({ length: 1000 }, (_, i) => hex(from + i, bytes));
    // The largest query: 1,000 addresses and 4 x 1,000 topics, 5,000 entries (duplicates count once).
    const largest = { address: range(1, 20), topics: [range(1, 32), range(1001, 32), range(2001, 32), range(3001, 32)] };
    expect(logQueryEntries(parseLogQuery(largest))).toBe(5000);
    expect(logQueryEntries(parseLogQuery({ address: [hex(1, 20), hex(1, 20)], topics: [null, [hex(1, 32), hex(1, 32)]] }))).toBe(2);
    const query = parseLogQuery(largest);
    const filters: string[] = [];
    for (let i = 0; i < 150; i++) filters.push(store.install({ kind: 'logs', query, from: 0n, next: 0n }));
    const subs: string[] = [];
    for (let i = 0; i < 50; i++) subs.push(hub.subscribe(sink, { kind: 'logs', query }));
    expect(budget.held).toBe(MAX_LOG_QUERY_ENTRIES);
    const refused = await (async () => fm.eth_newFilter!([{ address: hex(1, 20) }]))().then(
      () => undefined,
      (e: unknown) => e as RpcError,
    );
    expect(refused?.code).toBe(-32005);
    expect(refused?.message).toMatch(/too many log filter entries.*limit of 1000000/);
    expect(() => hub.subscribe(sink, { kind: 'logs', query: parseLogQuery({ topics: [hex(1, 32)] }) })).toThrow(/too many log filter entries/);
    expect(store.size).toBe(150);
    expect(hub.size).toBe(50);
    // Other filters and subscriptions cost no entries; removing one frees its entries for others.
    await fm.eth_newBlockFilter!([]);
    hub.subscribe(sink, { kind: 'newHeads' });
    expect(await fm.eth_uninstallFilter!([filters[0]])).toBe(true);
    hub.unsubscribe(sink, subs[0]);
    expect(budget.held).toBe(MAX_LOG_QUERY_ENTRIES - 10_000);
    await fm.eth_newFilter!([largest]);
    hub.subscribe(sink, { kind: 'logs', query });
    hub.dropSink(sink); // its connection closed
    expect(budget.held).toBe(150 * 5000);
    await hub.close();
  });
});

describe('eth_getBlockTransactionCountBy*', () => {
  it('counts without decoding, by number, tag and hash', async () => {
    const hash4 = bytesToHex((await t.chain.store.canonicalHash(4n))!);
    expect(await call('eth_getBlockTransactionCountByNumber', '0x4')).toBe('0x2');
    expect(await call('eth_getBlockTransactionCountByNumber', 'earliest')).toBe('0x0');
    expect(await call('eth_getBlockTransactionCountByHash', hash4)).toBe('0x2');
    expect(await call('eth_getBlockTransactionCountByNumber', { blockHash: hash4 })).toBe('0x2');
    expect(await call('eth_getBlockTransactionCountByNumber', '0xffff')).toBeNull();
    expect(await call('eth_getBlockTransactionCountByHash', `0x${'00'.repeat(32)}`)).toBeNull();
    const head = (await t.chain.blockByNumber(t.chain.head.number))!;
    expect(await call('eth_getBlockTransactionCountByNumber', 'latest')).toBe(`0x${head.transactions.length.toString(16)}`);
  });
});
