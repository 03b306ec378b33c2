import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGenesisObject, storeGenesisObject } from '../../../src/backup/repository/genesis-object.js';
import { Repository } from '../../../src/backup/repository/repository.js';
import { LocalDirTarget } from '../../../src/backup/targets/local-dir.js';
import { ContainerWriter } from '../../../src/container/writer.js';
import { digestHex, GENESIS, genesisName, RepositoryRecord } from '../../../src/backup/repository/format.js';
import { GENESIS_PIECE_BYTES } from '../../../src/snapshot/format.js';

const dir = mkdtempSync(join(tmpdir(), 'basalt-genesis-object-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const repo = new Repository(new LocalDirTarget(join(dir, 'repo')), join(dir, 'staging'));

/** JSON-like bytes of `n` accounts, as a migrated chain's genesis alloc. */
const alloc = (n: number) =>
  Buffer.from(
    `{"alloc":{${Array.from({ length: n }, (_, i) => `"0x${i.toString(16).padStart(40, '0')}":{"balance":"0x${(10n ** 18n + BigInt(i)).toString(16)}"}`).join(',')}}}`,
  );
async function* chunks(b: Uint8Array, size: number) {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
const readAll = async (name: string) => {
  const parts: Uint8Array[] = [];
  for await (const p of readGenesisObject(repo, name)) parts.push(p);
  return Buffer.concat(parts);
};

describe('a genesis object', () => {
  it('reads back byte for byte at every piece boundary, compressed, stored once', async () => {
    const big = alloc(40_000); // ~3 MiB: several pieces
    for (const size of [1, GENESIS_PIECE_BYTES - 1, GENESIS_PIECE_BYTES, GENESIS_PIECE_BYTES + 1, 2 * GENESIS_PIECE_BYTES, big.length]) {
      const file = big.subarray(0, size);
      // fed in odd chunks that straddle the pieces
      const s = await storeGenesisObject(repo, chunks(file, 65_537), new Set(), 'zstd');
      expect((await readAll(s.name)).equals(file), `size ${size}`).toBe(true);
      if (size >= GENESIS_PIECE_BYTES) expect(s.bytes).toBeLessThan(size / 3); // JSON compresses
      const again = await storeGenesisObject(repo, chunks(file, 1 << 20), new Set([s.name]), 'zstd');
      expect(again).toEqual({ name: s.name, bytes: 0 }); // the same name, whatever the chunks: not stored twice
    }
    expect(readdirSync(join(dir, 'repo')).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('of the first format (the file as it is, named by its sha256) reads back; either kind damaged is refused once read', async () => {
    const file = alloc(100);
    const plain = await repo.putBytes((sha) => `genesis-${sha}`, file);
    expect((await readAll(plain)).equals(file)).toBe(true);
    const packed = (await storeGenesisObject(repo, chunks(file, 4096), new Set(), 'zstd')).name;
    for (const name of [plain, packed]) {
      const bytes = readFileSync(join(dir, 'repo', name));
      bytes[bytes.length - 40]! ^= 0x01;
      writeFileSync(join(dir, 'repo', name), bytes);
      await expect(readAll(name)).rejects.toThrow(/damaged|checksum|corrupt|decompress/i);
    }
  });

  it('well formed but hostile (its digest is its name) is refused with one reason: a wrong header, a piece over the limit, another record, a trailer that lies', async () => {
    /** A genesis container with `header`, raw pieces given as (rawLength, payload), and `bytes` in its trailer, put under its digest. */
    const forged = async (header: object, records: { type: number; rawLength: number; data: Uint8Array }[], bytes: string) => {
      const w = new ContainerWriter(GENESIS, 4 * GENESIS_PIECE_BYTES);
      const parts = [w.start(header)];
      for (const r of records) {
        const payload = new Uint8Array(4 + r.data.length);
        new DataView(payload.buffer).setUint32(0, r.rawLength);
        payload.set(r.data, 4);
        parts.push(w.record(r.type, payload));
      }
      const end = w.finish({ bytes });
      parts.push(end.bytes);
      const name = genesisName(digestHex(end.digest));
      writeFileSync(join(dir, 'repo', name), Buffer.concat(parts));
      return name;
    };
    const ok = { format: 'basalt-genesis', version: 1, compression: 'none' };
    const piece = (n: number) => ({ type: RepositoryRecord.GenesisPiece, rawLength: n, data: new Uint8Array(n).fill(0x20) });
    const cases: [string, RegExp][] = [
      [await forged({ ...ok, compression: 'lzma' }, [piece(10)], '10'), /its header is not a version 1 basalt-genesis header/],
      [await forged({ ...ok, format: 'basalt-pack' }, [piece(10)], '10'), /its header is not a version 1 basalt-genesis header/],
      [await forged(ok, [piece(GENESIS_PIECE_BYTES + 1)], String(GENESIS_PIECE_BYTES + 1)), /a piece of \d+ bytes/],
      [await forged(ok, [{ ...piece(10), type: RepositoryRecord.Nodes }], '10'), /a record of type/],
      [await forged(ok, [piece(10)], '11'), /its trailer does not match its pieces/],
    ];
    for (const [name, reason] of cases) await expect(readAll(name), name).rejects.toThrow(reason);
  });
});
