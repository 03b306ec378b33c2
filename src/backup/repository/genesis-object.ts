import { createHash } from 'node:crypto';
import { compressRecord, decompressRecord, isCompression, type Compression } from '../../container/compression.js';
import { BackupFileError } from '../../container/errors.js';
import { RecordType } from '../../container/framing.js';
import { ContainerReader } from '../../container/reader.js';
import { ContainerWriter } from '../../container/writer.js';
import { GENESIS_PIECE_BYTES, MAX_GENESIS_BYTES } from '../../snapshot/format.js';
import { digestHex, GENESIS, genesisName, parseObjectName, RepositoryRecord } from './format.js';
import type { Repository } from './repository.js';

/** A genesis record's largest payload: rawLength and a compressed piece (with the codecs' worst case). */
const MAX_GENESIS_RECORD_BYTES = 4 + GENESIS_PIECE_BYTES + GENESIS_PIECE_BYTES / 8 + 64 * 1024;

/**
 * Store the chain's genesis file once: a container (`BASALTGN`) of compressed pieces of at most
 * GENESIS_PIECE_BYTES, streamed to a staged file (a genesis of a million accounts is never held
 * whole), named by its digest. JSON compresses well: a 215 MB genesis of a million accounts was 42 % of
 * a first backup's bytes stored as it is. Nothing is put when `stored` already has the name.
 */
export async function storeGenesisObject(
  repo: Repository,
  file: AsyncIterable<Uint8Array>,
  stored: Set<string>,
  compression: Compression,
  signal?: AbortSignal,
): Promise<{ name: string; bytes: number }> {
  const w = new ContainerWriter(GENESIS, MAX_GENESIS_RECORD_BYTES);
  const staged = repo.staging();
  try {
    staged.write(w.start({ format: 'basalt-genesis', version: 1, compression }));
    let size = 0;
    const piece = async (raw: Uint8Array) => {
      const data = await compressRecord(raw, compression);
      const payload = new Uint8Array(4 + data.length);
      new DataView(payload.buffer).setUint32(0, raw.length);
      payload.set(data, 4);
      staged.write(w.record(RepositoryRecord.GenesisPiece, payload));
    };
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    for await (const chunk of file) {
      size += chunk.length;
      if (size > MAX_GENESIS_BYTES) throw new BackupFileError(`the chain's genesis file is above the ${MAX_GENESIS_BYTES}-byte limit of the repository format`);
      let rest = chunk;
      while (rest.length > 0) {
        const take = Math.min(rest.length, GENESIS_PIECE_BYTES - pendingBytes);
        pending.push(rest.subarray(0, take));
        pendingBytes += take;
        rest = rest.subarray(take);
        if (pendingBytes === GENESIS_PIECE_BYTES) {
          await piece(Buffer.concat(pending));
          [pending, pendingBytes] = [[], 0];
        }
      }
    }
    if (pendingBytes > 0) await piece(Buffer.concat(pending));
    const { bytes, digest } = w.finish({ bytes: String(size) });
    staged.write(bytes);
    staged.finish();
    const name = genesisName(digestHex(digest));
    if (stored.has(name)) {
      staged.discard();
      return { name, bytes: 0 };
    }
    const objectBytes = staged.bytes;
    await repo.put(name, staged, signal);
    return { name, bytes: objectBytes };
  } catch (err) {
    staged.discard();
    throw err;
  }
}

/**
 * The genesis file's bytes from its object, checked as they stream: the container's structure, its
 * digest against the name (at the end: a caller acts on the bytes only once they are all read), and
 * at most MAX_GENESIS_BYTES. An object written before the container (the file's bytes as they are,
 * named by their sha256) is read too.
 */
export async function* readGenesisObject(repo: Repository, name: string): AsyncGenerator<Uint8Array> {
  const o = parseObjectName(name);
  if (o?.kind !== 'genesis') throw new BackupFileError(`${name} is not a genesis object`);
  const source = repo.get(name)[Symbol.asyncIterator]();
  const first = await source.next();
  const rest = async function* () {
    if (!first.done) yield first.value;
    for (;;) {
      const n = await source.next();
      if (n.done) return;
      yield n.value;
    }
  };
  const head = first.done ? new Uint8Array(0) : first.value;
  if (Buffer.from(head.subarray(0, 8)).toString('latin1') !== GENESIS.magic) {
    yield* plainGenesis(rest(), name, o.sha256);
    return;
  }
  const r = new ContainerReader(rest(), GENESIS, MAX_GENESIS_RECORD_BYTES);
  try {
    const h = await r.header();
    if (h.format !== 'basalt-genesis' || h.version !== 1 || typeof h.compression !== 'string' || !isCompression(h.compression))
      throw new BackupFileError(`genesis object ${name}: its header is not a version 1 basalt-genesis header with a known compression`);
    const compression = h.compression;
    let size = 0;
    for (;;) {
      const rec = await r.next('a genesis piece or the trailer');
      if (rec.type === RecordType.Trailer) {
        const { fields, digest } = await r.finish(rec);
        if (digestHex(digest) !== o.sha256) throw new BackupFileError(`genesis object ${name} is damaged: its content hashes to ${digestHex(digest)}`);
        if (fields.bytes !== String(size)) throw new BackupFileError(`genesis object ${name}: its trailer does not match its pieces`);
        return;
      }
      if (rec.type !== RepositoryRecord.GenesisPiece || rec.payload.length < 4)
        throw new BackupFileError(`genesis object ${name}: a record of type ${rec.type}`);
      const rawLength = new DataView(rec.payload.buffer, rec.payload.byteOffset).getUint32(0);
      if (rawLength > GENESIS_PIECE_BYTES) throw new BackupFileError(`genesis object ${name}: a piece of ${rawLength} bytes`);
      size += rawLength;
      if (size > MAX_GENESIS_BYTES) throw new BackupFileError(`genesis object ${name} is above the ${MAX_GENESIS_BYTES}-byte limit`);
      yield await decompressRecord(rec.payload.subarray(4), compression, rawLength);
    }
  } finally {
    await r.close();
  }
}

/** A genesis object of the first format: the file's bytes, their sha256 its name. */
async function* plainGenesis(source: AsyncIterable<Uint8Array>, name: string, sha256: string): AsyncGenerator<Uint8Array> {
  const sha = createHash('sha256');
  let size = 0;
  for await (const piece of source) {
    size += piece.length;
    if (size > MAX_GENESIS_BYTES) throw new BackupFileError(`genesis object ${name} is above the ${MAX_GENESIS_BYTES}-byte limit`);
    sha.update(piece);
    yield piece;
  }
  const digest = sha.digest('hex');
  if (digest !== sha256) throw new BackupFileError(`genesis object ${name} is damaged: its content hashes to ${digest}`);
}
