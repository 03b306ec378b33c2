import { collect } from '../../helpers/collect.js';
import { readSnapshot } from '../../../src/snapshot/reader.js';
import { SnapshotWriter } from '../../../src/snapshot/writer.js';

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * Read `snapshot` with the real reader and write it again with the real writer, each state record's
 * items through `items` (what to write instead; `first`: the first record of its kind), and after the
 * record whatever `after` adds: a well-formed file (checksums, digest, counts all valid) holding what
 * the hooks changed.
 */
async function rebuild(
  snapshot: Uint8Array,
  hooks: {
    items?: (kind: 'nodes' | 'code', items: Uint8Array[], first: boolean) => Uint8Array[];
    after?: (kind: 'nodes' | 'code', first: boolean) => { kind: 'nodes' | 'code'; items: Uint8Array[] }[];
    /** A block's RLP to write instead (under the record's number and hash). */
    block?: (number: bigint, blockRlp: Uint8Array) => Uint8Array;
  },
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let writer: SnapshotWriter | undefined;
  const seen = new Set<string>();
  for await (const ev of readSnapshot(once(snapshot))) {
    if (ev.kind === 'header') {
      writer = new SnapshotWriter(ev.header);
      parts.push(await collect(writer.start()));
    } else if (ev.kind === 'block') {
      parts.push(await writer!.block(ev.number, ev.hash, hooks.block?.(ev.number, ev.blockRlp) ?? ev.blockRlp, ev.receiptsRlp));
    } else if (ev.kind === 'nodes' || ev.kind === 'code') {
      const first = !seen.has(ev.kind);
      seen.add(ev.kind);
      parts.push(await writer!.items(ev.kind, hooks.items?.(ev.kind, ev.items, first) ?? ev.items));
      for (const extra of hooks.after?.(ev.kind, first) ?? []) parts.push(await writer!.items(extra.kind, extra.items));
    } else {
      parts.push(writer!.finish().bytes);
    }
  }
  return Buffer.concat(parts);
}

/**
 * Flip a bit in the last node of the first nodes record: a well-formed file whose state holds one node
 * that does not hash to what references it.
 */
export function rebuildWithAlteredNode(snapshot: Uint8Array): Promise<Uint8Array> {
  return rebuild(snapshot, {
    items: (kind, items, first) => {
      if (kind !== 'nodes' || !first) return items;
      const copy = items.map((i) => Uint8Array.from(i));
      const last = copy[copy.length - 1]!;
      last[last.length - 1]! ^= 0x01;
      return copy;
    },
  });
}

/** One more nodes record, after the first, holding a node nothing references. */
export function rebuildWithJunkNode(snapshot: Uint8Array): Promise<Uint8Array> {
  return rebuild(snapshot, { after: (kind, first) => (kind === 'nodes' && first ? [{ kind: 'nodes', items: [new Uint8Array(64).fill(0xab)] }] : []) });
}

/** `n` empty state records (nodes and code in turn) after the first nodes record. */
export function rebuildWithEmptyRecords(snapshot: Uint8Array, n: number): Promise<Uint8Array> {
  return rebuild(snapshot, {
    after: (kind, first) =>
      kind === 'nodes' && first ? Array.from({ length: n }, (_, i) => ({ kind: i % 2 === 0 ? ('nodes' as const) : ('code' as const), items: [] })) : [],
  });
}

/** Block `number`'s RLP replaced by what `edit` makes of it, under the same record hash. */
export function rebuildWithBlock(snapshot: Uint8Array, number: bigint, edit: (blockRlp: Uint8Array) => Uint8Array): Promise<Uint8Array> {
  return rebuild(snapshot, { block: (n, rlp) => (n === number ? edit(rlp) : rlp) });
}
