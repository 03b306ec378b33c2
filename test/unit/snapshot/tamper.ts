import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { compressRecord, decompressRecord } from '../../../src/archive/compression.js';
import { encodeJson, encodeRecord } from '../../../src/archive/format.js';
import { packItems, SnapshotRecord, unpackItems } from '../../../src/snapshot/format.js';

/** Parse a snapshot's records, flip a byte in the last node of the first nodes record, and re-frame it. */
export async function rebuildWithAlteredNode(snapshot: Uint8Array): Promise<Uint8Array> {
  const view = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength);
  const out: Uint8Array[] = [snapshot.subarray(0, 10)];
  let off = 10;
  let altered = false;
  let trailer: Record<string, string> | undefined;
  while (off < snapshot.length) {
    const type = snapshot[off]!;
    const len = view.getUint32(off + 1);
    const payload = snapshot.subarray(off + 5, off + 5 + len);
    if (crc32(snapshot.subarray(off, off + 5 + len)) !== view.getUint32(off + 5 + len)) throw new Error('bad input');
    off += 9 + len;
    if (type === SnapshotRecord.Trailer) {
      trailer = JSON.parse(Buffer.from(payload).toString()) as Record<string, string>;
      break;
    }
    if (type === SnapshotRecord.Nodes && !altered) {
      const rawLength = new DataView(payload.buffer, payload.byteOffset).getUint32(0);
      const items = unpackItems(await decompressRecord(payload.subarray(4), 'zstd', rawLength)).map((i) => Uint8Array.from(i));
      const last = items[items.length - 1]!;
      last[last.length - 1]! ^= 0x01;
      const raw = packItems(items);
      const data = await compressRecord(raw, 'zstd');
      const p = new Uint8Array(4 + data.length);
      new DataView(p.buffer).setUint32(0, raw.length);
      p.set(data, 4);
      out.push(encodeRecord(type, p));
      altered = true;
      continue;
    }
    out.push(encodeRecord(type, payload));
  }
  const body = Buffer.concat(out);
  const digest = `0x${createHash('sha256').update(body).digest('hex')}`;
  return Buffer.concat([body, encodeRecord(SnapshotRecord.Trailer, encodeJson({ ...trailer!, digest }))]);
}
