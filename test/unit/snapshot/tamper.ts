import { collect } from '../../helpers/collect.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * Read a snapshot with the real reader, flip a bit in the last node of the first nodes record, and
 * write it again with the real writer: a well-formed file (checksums, digest, counts all valid) whose
 * state holds one node that does not hash to what references it.
 */
export async function rebuildWithAlteredNode(snapshot: Uint8Array): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let writer: SnapshotWriter | undefined;
  let altered = false;
  for await (const ev of readSnapshot(once(snapshot))) {
    if (ev.kind === 'header') {
      writer = new SnapshotWriter(ev.header);
      parts.push(await collect(writer.start()));
    } else if (ev.kind === 'block') {
      parts.push(await writer!.block(ev.number, ev.hash, ev.blockRlp, ev.receiptsRlp));
    } else if (ev.kind === 'nodes' || ev.kind === 'code') {
      const items = ev.items.map((i) => Uint8Array.from(i));
      if (ev.kind === 'nodes' && !altered) {
        const last = items[items.length - 1]!;
        last[last.length - 1]! ^= 0x01;
        altered = true;
      }
      parts.push(await writer!.items(ev.kind, items));
    } else {
      parts.push(writer!.finish().bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Rebuild `snapshot` (real reader and writer) with one more nodes record holding a node nothing references. */
export async function rebuildWithJunkNode(snapshot: Uint8Array): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let writer: SnapshotWriter | undefined;
  let added = false;
  for await (const ev of readSnapshot(once(snapshot))) {
    if (ev.kind === 'header') {
      writer = new SnapshotWriter(ev.header);
      parts.push(await collect(writer.start()));
    } else if (ev.kind === 'block') {
      parts.push(await writer!.block(ev.number, ev.hash, ev.blockRlp, ev.receiptsRlp));
    } else if (ev.kind === 'nodes' || ev.kind === 'code') {
      parts.push(await writer!.items(ev.kind, ev.items));
      if (ev.kind === 'nodes' && !added) {
        parts.push(await writer!.items('nodes', [new Uint8Array(64).fill(0xab)]));
        added = true;
      }
    } else {
      parts.push(writer!.finish().bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Rebuild `snapshot` (real reader and writer) with `n` empty state records after its first nodes record. */
export async function rebuildWithEmptyRecords(snapshot: Uint8Array, n: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let writer: SnapshotWriter | undefined;
  let added = false;
  for await (const ev of readSnapshot(once(snapshot))) {
    if (ev.kind === 'header') {
      writer = new SnapshotWriter(ev.header);
      parts.push(await collect(writer.start()));
    } else if (ev.kind === 'block') {
      parts.push(await writer!.block(ev.number, ev.hash, ev.blockRlp, ev.receiptsRlp));
    } else if (ev.kind === 'nodes' || ev.kind === 'code') {
      parts.push(await writer!.items(ev.kind, ev.items));
      if (ev.kind === 'nodes' && !added) {
        for (let i = 0; i < n; i++) parts.push(await writer!.items(i % 2 === 0 ? 'nodes' : 'code', []));
        added = true;
      }
    } else {
      parts.push(writer!.finish().bytes);
    }
  }
  return Buffer.concat(parts);
}
