import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex } from '@ethereumjs/util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryBackfill } from '../../../src/backup/repository/backfill.js';
import { restoreSnapshot } from '../../../src/backup/restore.js';
import { createSnapshot } from '../../../src/backup/snapshot.js';
import { checkDataDir } from '../../../src/node/db-check.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';
import { HistoryUnavailableError } from '../../../src/storage/history.js';
import { openTestChain, sealNext, type TestChain } from '../../helpers/chain-fixture.js';
import { tempDir } from '../../helpers/cli.js';
import { collect } from '../../helpers/collect.js';
import { chainWithBlocks, chunked } from '../archive/archive-fixture.js';
import { nodesStoppedAfterEach, until } from '../p2p/net-fixture.js';

const logger = pino({ level: 'silent' });
let source: TestChain;

async function snapshotOf(t: TestChain['chain'], headersOnly: boolean): Promise<{ bytes: Uint8Array; bound: number }> {
  const snap = await createSnapshot(t, { compression: 'zstd', headersOnly });
  const bound = await snap.sizeBound();
  return { bytes: await collect(snap.chunks), bound };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Every block of `chain` 1..to, as stored (hash, block, receipts). */
async function storedBlocks(chain: TestChain['chain'], to: bigint): Promise<string[]> {
  const out: string[] = [];
  for await (const b of chain.store.storedBlocks(1n, to)) out.push(`${bytesToHex(b.hash)}:${bytesToHex(b.blockRlp)}:${bytesToHex(b.receiptsRlp)}`);
  return out;
}

beforeAll(async () => {
  source = await chainWithBlocks(12);
});
afterAll(async () => {
  await source?.close();
});

describe('a snapshot without history (format version 3: headers below the head)', () => {
  const { cleanup, node } = nodesStoppedAfterEach();

  it('holds the headers below the head and the head whole, within its announced bound, smaller than the whole history', async () => {
    const full = await snapshotOf(source.chain, false);
    const v3 = await snapshotOf(source.chain, true);
    expect(v3.bytes.length).toBeLessThanOrEqual(v3.bound);
    expect(v3.bytes.length).toBeLessThan(full.bytes.length);
    const kinds: string[] = [];
    for await (const ev of readSnapshot(once(v3.bytes))) {
      if (ev.kind === 'header') expect(ev.header.version).toBe(3);
      if (ev.kind === 'block' || ev.kind === 'blockHeader') kinds.push(`${ev.kind}:${ev.number}`);
    }
    const head = Number(source.chain.head.number);
    expect(kinds).toEqual([...Array.from({ length: head - 1 }, (_, i) => `blockHeader:${i + 1}`), `block:${head}`]);
  });

  it('restores at the head with the history as a gap to back-fill from peers; the peers fill it, byte for byte the original', async () => {
    const { bytes } = await snapshotOf(source.chain, true);
    const dataDir = join(tempDir(), 'restored');
    const s = await restoreSnapshot(chunked(bytes, 4096), { dataDir, genesis: source.genesis });
    const head = source.chain.head.number;
    expect(s.head).toBe(head);
    expect(s.historyGap).toEqual({ from: 1n, to: head - 1n });
    expect(readdirSync(dataDir).sort()).toEqual(['blockchain', 'genesis.json', 'trie']);
    expect((await checkDataDir(dataDir, { full: true })).problems).toEqual([]);
    const restored = await openTestChain(source.genesis, dataDir);
    cleanup.push(() => restored.close());
    const c = restored.chain;
    expect(bytesToHex(c.head.hash)).toBe(bytesToHex(source.chain.head.hash));
    expect(await c.store.historySource()).toBeUndefined();
    await expect(c.blockByNumber(3n)).rejects.toBeInstanceOf(HistoryUnavailableError);
    // A node back-filling its history can serve a snapshot without history, not a whole one.
    await expect(createSnapshot(c, { compression: 'zstd' })).rejects.toThrow(/history is still being back-filled/);
    const again = await snapshotOf(c, true);
    expect(bytesToHex(again.bytes)).toBe(bytesToHex(bytes));
    // No repository: the history comes from the peers.
    const holder = await node(source.chain);
    const me = await node(c, { bootnodes: [holder.addr], blockSync: false });
    await until(() => me.net.peerCount() === 1, 'connected');
    const b = (await HistoryBackfill.start(c, { logger, stagingDir: dataDir, peers: me.net.historyFeed() }))!;
    expect(b.status().source).toBe('peers');
    await b.finished();
    expect(await storedBlocks(c, head)).toEqual(await storedBlocks(source.chain, head));
    // and the restored chain extends
    await sealNext({ chain: c, keys: source.keys });
    expect(c.head.number).toBe(head + 1n);
  });

  it('refuses a header that is not the one its record names, and a block whole below the head, in one line', async () => {
    const { bytes } = await snapshotOf(source.chain, true);
    const rebuild = async (edit: (ev: { number: bigint; hash: Uint8Array; headerRlp: Uint8Array }, w: SnapshotWriter) => Promise<Uint8Array>) => {
      const genesis: Uint8Array[] = [];
      for await (const ev of readSnapshot(once(bytes))) if (ev.kind === 'genesis') genesis.push(ev.piece);
      const genesisBytes = Buffer.concat(genesis);
      const parts: Uint8Array[] = [];
      let writer: SnapshotWriter | undefined;
      for await (const ev of readSnapshot(once(bytes))) {
        if (ev.kind === 'header') {
          const { genesisBytes: _size, ...header } = ev.header;
          writer = new SnapshotWriter({ ...header, genesis: { size: genesisBytes.length, open: () => once(genesisBytes) } }, true);
          parts.push(await collect(writer.start()));
        } else if (ev.kind === 'genesis') {
          // written by start()
        } else if (ev.kind === 'blockHeader') {
          parts.push(await edit(ev, writer!));
        } else if (ev.kind === 'block') {
          parts.push(await writer!.block(ev.number, ev.hash, ev.blockRlp, ev.receiptsRlp));
        } else if (ev.kind === 'nodes' || ev.kind === 'code') {
          parts.push(await writer!.items(ev.kind, ev.items));
        } else {
          parts.push(writer!.finish().bytes);
        }
      }
      return Buffer.concat(parts);
    };
    const forgedHash = await rebuild(async (ev, w) => {
      const hash = ev.number === 4n ? Uint8Array.from(ev.hash, (x, i) => (i === 0 ? x ^ 1 : x)) : ev.hash;
      return w.blockRecord(await w.prepareHeader(ev.number, hash, ev.headerRlp));
    });
    const parent = tempDir();
    await expect(restoreSnapshot(once(forgedHash), { dataDir: join(parent, 'r'), genesis: source.genesis })).rejects.toThrow(
      /^block 4 hashes to 0x[0-9a-f]{64}, but its snapshot record states 0x[0-9a-f]{64}$/,
    );
    const padded = await rebuild(async (ev, w) => {
      const rlp = new Uint8Array(ev.headerRlp.length + 1);
      rlp.set(ev.headerRlp);
      return w.blockRecord(await w.prepareHeader(ev.number, ev.hash, ev.number === 2n ? rlp : ev.headerRlp));
    });
    await expect(restoreSnapshot(once(padded), { dataDir: join(parent, 'r'), genesis: source.genesis })).rejects.toThrow(
      /^block 2 in the snapshot cannot be decoded: not one RLP list$/,
    );
    // The writer refuses to put a whole block below the head of a version 3 snapshot.
    const snap = await createSnapshot(source.chain, { compression: 'zstd', headersOnly: true });
    await snap.close();
    const w = new SnapshotWriter(snap.header, true);
    const b1 = await source.chain.store.storedBlock(1n);
    await expect(w.block(1n, b1.hash, b1.blockRlp, b1.receiptsRlp)).rejects.toThrow(/block 1 whole in a snapshot of version 3/);
    expect(readdirSync(parent)).toEqual([]);
  });
});
