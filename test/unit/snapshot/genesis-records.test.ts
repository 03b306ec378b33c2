import { collect } from '../../helpers/collect.js';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '@ethereumjs/util';
import { BackupFileError } from '../../../src/container/errors.js';
import { encodeJson, encodePreamble, encodeRecord, MAX_HEADER_BYTES, RecordType } from '../../../src/container/framing.js';
import { ContainerReader } from '../../../src/container/reader.js';
import { ContainerWriter } from '../../../src/container/writer.js';
import {
  GENESIS_PIECE_BYTES,
  MAX_GENESIS_BYTES,
  MAX_SNAPSHOT_RECORD_BYTES,
  SNAPSHOT,
  SnapshotRecord,
  type SnapshotHeader,
} from '../../../src/snapshot/format.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';
import { testGenesis } from '../../helpers/chain-fixture.js';
import { Genesis } from '../../../src/chain/genesis-source.js';
import { createHash } from 'node:crypto';
import { chunked } from '../archive/archive-fixture.js';

const HASH = `0x${'ab'.repeat(32)}`;

/** A snapshot header of head 0 (no blocks, no state: the format alone) with `genesis`. */
function header(genesis: object, compression: SnapshotHeader['compression'] = 'zstd'): SnapshotHeader {
  return { format: 'basalt-snapshot', version: 1, chainId: '100', genesisHash: HASH, genesis, head: { number: '0', hash: HASH, stateRoot: HASH }, compression };
}

/** The test genesis with `accounts` funded accounts, built directly (no keys, no state). */
function bigGenesis(accounts: number): object {
  const { genesis } = testGenesis(1);
  const alloc: Record<string, { balance: string }> = {};
  for (let i = 0; i < accounts; i++) alloc[`0x${i.toString(16).padStart(40, '0')}`] = { balance: '0xd3c21bcecceda1000000' };
  return { ...genesis, genesis: { ...genesis.genesis, alloc } };
}

async function written(h: SnapshotHeader): Promise<Uint8Array> {
  const w = new SnapshotWriter(h);
  return concatBytes(await collect(w.start()), w.finish().bytes);
}

/** Every record of a container: type and payload. */
function records(file: Uint8Array): { type: number; payload: Uint8Array }[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out = [];
  for (let off = 10; off < file.length; ) {
    const length = view.getUint32(off + 1);
    out.push({ type: file[off]!, payload: file.subarray(off + 5, off + 5 + length) });
    off += 9 + length;
  }
  return out;
}

/** The genesis bytes a version 2 snapshot's 'genesis' events carry, in order. */
function genesisOf(events: Awaited<ReturnType<typeof read>>): Uint8Array {
  return Buffer.concat(events.flatMap((e) => (e.kind === 'genesis' ? [e.piece] : [])));
}

async function read(bytes: Uint8Array) {
  const events = [];
  for await (const ev of readSnapshot(chunked(bytes, 64 * 1024))) events.push(ev);
  return events;
}

describe('a genesis too large for the snapshot header', () => {
  it('of 300,000 accounts is written as version 2, in genesis records of at most 1 MiB, and read back whole', async () => {
    const genesis = bigGenesis(300_000);
    const json = encodeJson(genesis);
    expect(json.length).toBeGreaterThan(20 * 1024 * 1024);
    const file = await written(header(genesis));
    expect(new DataView(file.buffer, file.byteOffset).getUint16(8)).toBe(2);
    const recs = records(file);
    expect(recs[0]!.type).toBe(RecordType.Header);
    expect(recs[0]!.payload.length).toBeLessThanOrEqual(MAX_HEADER_BYTES);
    expect(JSON.parse(Buffer.from(recs[0]!.payload).toString())).toEqual({
      format: 'basalt-snapshot',
      version: 2,
      chainId: '100',
      genesisHash: HASH,
      genesisBytes: String(json.length),
      head: { number: '0', hash: HASH, stateRoot: HASH },
      compression: 'zstd',
    });
    const pieces = recs.filter((r) => r.type === SnapshotRecord.Genesis);
    expect(pieces.length).toBe(Math.ceil(json.length / GENESIS_PIECE_BYTES));
    for (const p of pieces) expect(new DataView(p.payload.buffer, p.payload.byteOffset).getUint32(0)).toBeLessThanOrEqual(GENESIS_PIECE_BYTES);
    // compressed: the file is smaller than the genesis JSON
    expect(file.length).toBeLessThan(json.length);

    const events = await read(file);
    expect(events.map((e) => e.kind).filter((k) => k !== 'genesis')).toEqual(['header', 'trailer']);
    const h = ((e) => (e.kind === 'header' ? e.header : undefined))(events[0]!);
    expect(h?.version).toBe(2);
    expect(h?.genesisBytes).toBe(json.length);
    expect(Buffer.compare(genesisOf(events), json)).toBe(0);
  }, 60_000);

  it('round-trips uncompressed and gzip too, with a genesis just over the header limit', async () => {
    const genesis = bigGenesis(1_000);
    expect(encodeJson(genesis).length).toBeGreaterThan(MAX_HEADER_BYTES);
    for (const c of ['none', 'gzip'] as const) {
      const events = await read(await written(header(genesis, c)));
      expect(JSON.parse(Buffer.from(genesisOf(events)).toString())).toEqual(genesis);
    }
  });

  it('a genesis that fits is written as version 1, in the header, as every earlier Basalt wrote it', async () => {
    const h = header(bigGenesis(10));
    const w = new SnapshotWriter(h);
    expect(w.version).toBe(1);
    expect(Buffer.compare(await collect(w.start()), concatBytes(encodePreamble(SNAPSHOT), encodeRecord(RecordType.Header, encodeJson(h))))).toBe(0);
  });

  it('a Basalt that reads only version 1 refuses a version 2 snapshot with "upgrade Basalt"', async () => {
    const file = await written(header(bigGenesis(1_000)));
    const older = new ContainerReader(chunked(file), { ...SNAPSHOT, versions: [1] }, MAX_SNAPSHOT_RECORD_BYTES);
    await expect(older.header()).rejects.toThrow(/^snapshot format version 2 is not supported \(this Basalt reads version 1\): upgrade Basalt$/);
    // and this one names what it reads
    const v4 = Uint8Array.from(file);
    v4[9] = 4;
    await expect(read(v4)).rejects.toThrow(/version 4 is not supported \(this Basalt reads versions 1, 2 and 3\)/);
    // A Basalt that reads versions 1 and 2 refuses a version 3 snapshot (no history) the same way.
    const v3 = Uint8Array.from(file);
    v3[9] = 3;
    const before = new ContainerReader(chunked(v3), { ...SNAPSHOT, versions: [1, 2] }, MAX_SNAPSHOT_RECORD_BYTES);
    await expect(before.header()).rejects.toThrow(/^snapshot format version 3 is not supported \(this Basalt reads versions 1 and 2\): upgrade Basalt$/);
  });
});

/** A version 2 snapshot of head 0 forged record by record (valid checksums and digest). */
function forged(genesisBytes: string, pieces: Uint8Array[], version = 2): Uint8Array {
  const w = new ContainerWriter(SNAPSHOT, MAX_SNAPSHOT_RECORD_BYTES);
  const { genesis: _, ...rest } = header({}, 'none');
  const h = version === 2 ? { ...rest, version: 2, genesisBytes } : { ...header({ name: 'x' }, 'none') };
  const parts = [w.start(h, version)];
  for (const raw of pieces) {
    const payload = new Uint8Array(4 + raw.length);
    new DataView(payload.buffer).setUint32(0, raw.length);
    payload.set(raw, 4);
    parts.push(w.record(SnapshotRecord.Genesis, payload));
  }
  parts.push(w.finish({ blockCount: '0', nodeCount: '0', codeCount: '0', lastBlockHash: '' }).bytes);
  return concatBytes(...parts);
}

describe('the reader of genesis records', () => {
  const json = encodeJson({ name: 'forged' });

  it('reads a forged but well-formed one (the forger below is right)', async () => {
    const events = await read(forged(String(json.length), [json.subarray(0, 5), json.subarray(5)]));
    expect(JSON.parse(Buffer.from(genesisOf(events)).toString())).toEqual({ name: 'forged' });
  });

  it(`refuses a stated genesis above ${MAX_GENESIS_BYTES} bytes, before reading any of it`, async () => {
    await expect(read(forged(String(MAX_GENESIS_BYTES + 1), [json]))).rejects.toThrow(BackupFileError);
    await expect(read(forged(String(MAX_GENESIS_BYTES + 1), [json]))).rejects.toThrow(/states a genesis of 268435457 bytes, outside 1\.\.268435456/);
    await expect(read(forged('0', []))).rejects.toThrow(/outside 1\.\./);
  });

  it('refuses a piece above 1 MiB, pieces that hold less or more than stated, and a genesis record in version 1', async () => {
    const big = new Uint8Array(GENESIS_PIECE_BYTES + 1).fill(0x20);
    await expect(read(forged(String(big.length), [big]))).rejects.toThrow(/genesis record states 1048577 bytes, outside 1\.\.1048576/);
    await expect(read(forged(String(json.length + 1), [json]))).rejects.toThrow(/genesis is incomplete: \d+ of its \d+ bytes before record type 255/);
    await expect(read(forged(String(json.length - 1), [json]))).rejects.toThrow(/genesis records hold more than the \d+ bytes its header states/);
    await expect(read(forged(String(json.length), [json.subarray(0, 3), json.subarray(3), json]))).rejects.toThrow(/genesis record after its whole genesis/);
    await expect(read(forged('', [json], 1))).rejects.toThrow(/snapshot of version 1 has a genesis record/);
    // What the bytes say is the restore's to check (Genesis.read, as for any genesis file): the reader passes them on.
    const notJson = encodeJson(['not', 'an', 'object']).subarray(0, json.length);
    expect(Buffer.compare(genesisOf(await read(forged(String(json.length), [notJson]))), notJson)).toBe(0);
  });
});

describe('a genesis of 1,000,000 accounts', () => {
  it('streams from the writer through the reader into Genesis.read, byte for byte, never held whole', { timeout: 120_000 }, async () => {
    const { genesis } = testGenesis(1);
    genesis.genesis.alloc = '@' as never;
    const [head, tail] = JSON.stringify(genesis).split('"@"') as [string, string];
    const ACCOUNTS = 1_000_000;
    /** The file, made piece by piece as it is read (about 80 MB of JSON). */
    async function* file(): AsyncGenerator<Uint8Array> {
      yield Buffer.from(`${head}{`);
      for (let i = 0; i < ACCOUNTS; i += 10_000) {
        let s = '';
        for (let k = i; k < i + 10_000; k++) s += `${k ? ',' : ''}"0x${k.toString(16).padStart(40, '0')}":{"balance":"0x${(k + 1).toString(16)}"}`;
        yield Buffer.from(s);
      }
      yield Buffer.from(`}${tail}`);
    }
    let size = 0;
    const digest = createHash('sha256');
    for await (const p of file()) {
      size += p.length;
      digest.update(p);
    }
    expect(size).toBeGreaterThan(MAX_HEADER_BYTES);
    const w = new SnapshotWriter({ ...header({}), genesis: { size, open: file } });
    expect(w.version).toBe(2);
    async function* snapshot(): AsyncGenerator<Uint8Array> {
      yield* w.start();
      yield w.finish().bytes;
    }
    const read = createHash('sha256');
    let pieces = 0;
    let largest = 0;
    for await (const ev of readSnapshot(snapshot())) {
      if (ev.kind !== 'genesis') continue;
      pieces++;
      largest = Math.max(largest, ev.piece.length);
      read.update(ev.piece);
    }
    expect(read.digest('hex')).toBe(digest.digest('hex'));
    expect(pieces).toBe(Math.ceil(size / GENESIS_PIECE_BYTES));
    expect(largest).toBe(GENESIS_PIECE_BYTES);
    // And what a restore does with those bytes: read them as a genesis file (a stream, checked whole).
    const g = await Genesis.read({ name: 'the snapshot', open: file });
    expect(g.accounts).toBe(ACCOUNTS);
    expect(g.size).toBe(size);
  });
});
