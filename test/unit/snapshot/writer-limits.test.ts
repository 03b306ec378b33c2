import { collect } from '../../helpers/collect.js';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '@ethereumjs/util';
import { ARCHIVE, MAX_BLOCK_BYTES, MAX_RECORD_BYTES } from '../../../src/archive/format.js';
import { ArchiveWriter } from '../../../src/archive/writer.js';
import { createSnapshot, type SnapshotSource } from '../../../src/backup/snapshot.js';
import type { ChainReadView } from '../../../src/chain/chain.js';
import { encodePreamble, encodeRecord, MAX_HEADER_BYTES, RecordType } from '../../../src/container/framing.js';
import { ContainerWriter } from '../../../src/container/writer.js';
import {
  MAX_BLOCK_WITH_RECEIPTS_BYTES,
  MAX_GENESIS_BYTES,
  MAX_ITEMS_RAW_BYTES,
  MAX_SNAPSHOT_RECORD_BYTES,
  SNAPSHOT,
  type SnapshotHeader,
} from '../../../src/snapshot/format.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';
import { UserError } from '../../../src/util/errors.js';
import { chunked } from '../archive/archive-fixture.js';

/**
 * Every size limit the readers apply, the writers check first (from the same constants): what a
 * writer would produce and its reader refuse fails before the writer returns a byte of it.
 */
const HASH = `0x${'cd'.repeat(32)}`;
const header = (genesis: object = { name: 'test' }): SnapshotHeader => ({
  format: 'basalt-snapshot',
  version: 1,
  chainId: '100',
  genesisHash: HASH,
  genesis,
  head: { number: '1', hash: HASH, stateRoot: HASH },
  compression: 'none',
});
const drain = async (gen: AsyncIterable<unknown>) => {
  for await (const ev of gen) void ev;
};

describe('writers refuse what their readers refuse', () => {
  it(`a header over ${MAX_HEADER_BYTES} bytes (the reader's limit too)`, () => {
    const big = { pad: 'x'.repeat(MAX_HEADER_BYTES) };
    expect(() => new ContainerWriter(SNAPSHOT, MAX_SNAPSHOT_RECORD_BYTES).start(big)).toThrow(UserError);
    expect(() => new ContainerWriter(ARCHIVE, MAX_RECORD_BYTES).start(big)).toThrow(
      /cannot write the archive: its header would be 65546 bytes, above the 65536-byte limit of its readers/,
    );
    // exactly at the limit it writes
    expect(new ContainerWriter(SNAPSHOT, MAX_SNAPSHOT_RECORD_BYTES).start({ pad: 'x'.repeat(MAX_HEADER_BYTES - 10) }).length).toBe(10 + 9 + MAX_HEADER_BYTES);
  });

  it('the reader refuses such a header', async () => {
    const file = concatBytes(
      encodePreamble(SNAPSHOT),
      encodeRecord(RecordType.Header, new TextEncoder().encode(JSON.stringify({ pad: 'x'.repeat(MAX_HEADER_BYTES) }))),
    );
    await expect(drain(readSnapshot(chunked(file, 65_536)))).rejects.toThrow(/snapshot header is too large/);
  });

  it(`a record over the format's limit (snapshot ${MAX_SNAPSHOT_RECORD_BYTES} bytes, archive ${MAX_RECORD_BYTES}), and a trailer too`, () => {
    const w = new ContainerWriter(SNAPSHOT, MAX_SNAPSHOT_RECORD_BYTES);
    w.start({});
    expect(() => w.record(0x10, new Uint8Array(MAX_SNAPSHOT_RECORD_BYTES + 1))).toThrow(
      /cannot write the snapshot: a record would be 68157485 bytes, above the 68157484-byte limit/,
    );
    const a = new ContainerWriter(ARCHIVE, MAX_RECORD_BYTES);
    a.start({});
    expect(() => a.record(0x02, new Uint8Array(MAX_RECORD_BYTES + 1))).toThrow(/above the 34603052-byte limit/);
    const small = new ContainerWriter(SNAPSHOT, 100);
    small.start({});
    expect(() => small.finish({ pad: 'x'.repeat(100) })).toThrow(/a record would be \d+ bytes, above the 100-byte limit/);
  });

  it(`a snapshot block with its receipts over ${MAX_BLOCK_WITH_RECEIPTS_BYTES} bytes`, async () => {
    const w = new SnapshotWriter(header());
    await collect(w.start());
    await expect(w.block(1n, new Uint8Array(32), new Uint8Array(MAX_BLOCK_WITH_RECEIPTS_BYTES - 4), new Uint8Array(8))).rejects.toThrow(
      /cannot write the snapshot: block 1 with its receipts is \d+ bytes, above the 67108864-byte limit of the snapshot format/,
    );
  });

  it(`a state record over ${MAX_ITEMS_RAW_BYTES} bytes: a contract code of 4 MiB, which no record could hold`, async () => {
    const w = new SnapshotWriter({ ...header(), head: { number: '0', hash: HASH, stateRoot: HASH } });
    await collect(w.start());
    await expect(w.items('code', [new Uint8Array(MAX_ITEMS_RAW_BYTES)])).rejects.toThrow(
      /cannot write the snapshot: a contract code of 4194304 bytes is above the 4194304-byte limit/,
    );
    await expect(w.items('nodes', [new Uint8Array(MAX_ITEMS_RAW_BYTES / 2), new Uint8Array(MAX_ITEMS_RAW_BYTES / 2)])).rejects.toThrow(
      /a nodes record of 4194312 bytes/,
    );
    // the largest state record it may write, the reader takes
    const ok = new SnapshotWriter({ ...header(), head: { number: '0', hash: HASH, stateRoot: HASH } });
    const file = concatBytes(await collect(ok.start()), await ok.items('code', [new Uint8Array(MAX_ITEMS_RAW_BYTES - 4)]), ok.finish().bytes);
    const kinds: string[] = [];
    for await (const ev of readSnapshot(chunked(file, 1 << 20))) kinds.push(ev.kind);
    expect(kinds).toEqual(['header', 'code', 'trailer']);
  });

  it(`a genesis over ${MAX_GENESIS_BYTES} bytes of JSON, in the writer's constructor`, () => {
    expect(() => new SnapshotWriter(header({ name: 'x'.repeat(MAX_GENESIS_BYTES) }))).toThrow(
      /^cannot write the snapshot: the chain's genesis file is 268435467 bytes of JSON, above the 268435456-byte limit of the snapshot format$/,
    );
  });

  it('createSnapshot refuses such a genesis before it produces a byte, and releases its view', async () => {
    let closed = false;
    const view = {
      blocks: {
        headHash: async () => new Uint8Array(32),
        blockNumber: async () => 1n,
        header: async () => ({ stateRoot: new Uint8Array(32) }),
        historyGap: async () => undefined,
      },
      state: {},
      close: async () => void (closed = true),
    } as unknown as ChainReadView;
    const source = {
      chainId: 100n,
      genesisHash: new Uint8Array(32),
      genesisFile: async () => ({
        size: MAX_GENESIS_BYTES + 1,
        open: () => {
          throw new Error('read');
        },
      }),
      openReadView: () => view,
    } as unknown as SnapshotSource;
    await expect(createSnapshot(source, { compression: 'zstd' })).rejects.toThrow(/above the 268435456-byte limit of the snapshot format/);
    expect(closed).toBe(true);
  });

  it(`an archive block over ${MAX_BLOCK_BYTES} bytes of RLP`, async () => {
    const w = new ArchiveWriter({
      format: 'basalt-archive',
      version: 1,
      chainId: '100',
      genesisHash: HASH,
      startBlock: '1',
      endBlock: '1',
      compression: 'none',
    });
    w.start();
    expect(() => w.block({ number: 1n, hash: new Uint8Array(32), rawLength: MAX_BLOCK_BYTES + 1, data: new Uint8Array(1) })).toThrow(
      /cannot write the archive: block 1 is 33554433 bytes of RLP, above the 33554432-byte limit of the archive format/,
    );
  });
});
