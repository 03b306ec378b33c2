import { createHash } from 'node:crypto';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex } from '@ethereumjs/util';
import type { Chain } from '../chain/chain.js';
import { blockRlpFromStored } from '../archive/block-codec.js';
import { compressRecord, type Compression } from '../archive/compression.js';
import { encodeBlockPayload, encodeJson, encodeRecord } from '../archive/format.js';
import { CLIENT_VERSION } from '../node/version.js';
import { UserError } from '../util/errors.js';
import { ITEMS_RECORD_BYTES, packItems, preamble, SNAPSHOT_VERSION, SnapshotRecord, type SnapshotHeader } from './format.js';
import { stateItems } from './state-walk.js';

export interface SnapshotProgress {
  phase: 'blocks' | 'state';
  blocksDone: bigint;
  blocksTotal: bigint;
  nodes: number;
  codes: number;
  bytes: number;
}

export interface SnapshotSummary {
  head: bigint;
  headHash: string;
  stateRoot: string;
  blocks: bigint;
  nodes: number;
  codes: number;
  bytes: number;
  digest: string;
  durationMs: number;
}

/**
 * A snapshot of the whole node at its head, read from LevelDB snapshots of `blockchain/` and `trie/`
 * taken one after the other in the same tick: the trie is captured after the block store, and a
 * block's trie nodes are written before the batch that makes it the head, so the state of the
 * captured head is always complete. The node goes on sealing and serving meanwhile.
 */
export async function createSnapshot(
  chain: Chain,
  opts: { compression: Compression; onProgress?: (p: SnapshotProgress) => void },
): Promise<{ header: SnapshotHeader; chunks: AsyncGenerator<Uint8Array, SnapshotSummary>; close(): Promise<void> }> {
  const blocks = chain.store.openSnapshot();
  const trie = chain.trie.openSnapshot();
  try {
    const headHash = await blocks.store.headHash();
    const headNumber = headHash && (await blocks.store.blockNumber(headHash));
    const head = headHash && headNumber !== undefined ? await blocks.store.header(headNumber, headHash) : undefined;
    if (!headHash || headNumber === undefined || !head) throw new UserError('the chain has no head block');
    const header: SnapshotHeader = {
      format: 'basalt-snapshot',
      version: SNAPSHOT_VERSION,
      chainId: chain.chainId.toString(),
      genesisHash: bytesToHex(chain.genesisHash),
      genesis: chain.genesisFile,
      head: { number: headNumber.toString(), hash: bytesToHex(headHash), stateRoot: bytesToHex(head.stateRoot) },
      compression: opts.compression,
      createdAt: new Date().toISOString(),
      clientVersion: CLIENT_VERSION,
    };
    let closed: Promise<void> | undefined;
    // Idempotent: the generator closes on its way out, and callers that abandon it early close too.
    const close = () => (closed ??= Promise.allSettled([blocks.close(), trie.close()]).then(() => undefined));
    return { header, chunks: generate(header, blocks.store, trie.store, headNumber, head.stateRoot, opts, close), close };
  } catch (err) {
    await Promise.allSettled([blocks.close(), trie.close()]);
    throw err;
  }
}

async function* generate(
  header: SnapshotHeader,
  store: Chain['store'],
  trie: Chain['trie'],
  headNumber: bigint,
  stateRoot: Uint8Array,
  opts: { compression: Compression; onProgress?: (p: SnapshotProgress) => void },
  close: () => Promise<void>,
): AsyncGenerator<Uint8Array, SnapshotSummary> {
  const began = Date.now();
  const digest = createHash('sha256');
  let bytes = 0;
  let lastHash = '';
  const emit = (b: Uint8Array) => {
    digest.update(b);
    bytes += b.length;
    return b;
  };
  const progress = (phase: SnapshotProgress['phase'], blocksDone: bigint, nodes: number, codes: number) =>
    opts.onProgress?.({ phase, blocksDone, blocksTotal: headNumber, nodes, codes, bytes });
  try {
    yield emit(concat(preamble(), encodeRecord(SnapshotRecord.Header, encodeJson(header))));
    for (let n = 1n; n <= headNumber; n++) {
      const hash = await store.canonicalHash(n);
      const [h, b, r] = hash ? await Promise.all([store.headerRLP(n, hash), store.bodyRLP(n, hash), store.receiptsRLP(n, hash)]) : [];
      if (!hash || !h || !b || !r) throw new Error(`block ${n} is missing from the database`);
      const raw = RLP.encode([blockRlpFromStored(h, b), r]);
      const data = await compressRecord(raw, opts.compression);
      lastHash = bytesToHex(hash);
      yield emit(encodeRecord(SnapshotRecord.Block, encodeBlockPayload({ number: n, hash, rawLength: raw.length, data })));
      progress('blocks', n, 0, 0);
    }
    // World state at the head: only the nodes reachable from its state root.
    let nodeBatch: Uint8Array[] = [];
    let nodeBatchBytes = 0;
    const codes: Uint8Array[] = [];
    let nodeCount = 0;
    let codeCount = 0;
    for await (const item of stateItems(trie, stateRoot)) {
      if (item.kind === 'code') {
        codes.push(item.data);
        codeCount++;
        continue;
      }
      nodeBatch.push(item.data);
      nodeBatchBytes += item.data.length + 4;
      nodeCount++;
      if (nodeBatchBytes >= ITEMS_RECORD_BYTES) {
        yield emit(await itemsRecord(SnapshotRecord.Nodes, nodeBatch, opts.compression));
        nodeBatch = [];
        nodeBatchBytes = 0;
        progress('state', headNumber, nodeCount, codeCount);
      }
    }
    if (nodeBatch.length > 0) yield emit(await itemsRecord(SnapshotRecord.Nodes, nodeBatch, opts.compression));
    for (let i = 0; i < codes.length; ) {
      const batch: Uint8Array[] = [];
      let size = 0;
      while (i < codes.length && (batch.length === 0 || size + codes[i]!.length < ITEMS_RECORD_BYTES)) {
        size += codes[i]!.length + 4;
        batch.push(codes[i++]!);
      }
      yield emit(await itemsRecord(SnapshotRecord.Code, batch, opts.compression));
    }
    progress('state', headNumber, nodeCount, codeCount);
    const d = `0x${digest.digest('hex')}`;
    const trailer = encodeRecord(
      SnapshotRecord.Trailer,
      encodeJson({ blockCount: headNumber.toString(), nodeCount: String(nodeCount), codeCount: String(codeCount), lastBlockHash: lastHash, digest: d }),
    );
    bytes += trailer.length;
    yield trailer;
    return {
      head: headNumber,
      headHash: header.head.hash,
      stateRoot: header.head.stateRoot,
      blocks: headNumber,
      nodes: nodeCount,
      codes: codeCount,
      bytes,
      digest: d,
      durationMs: Date.now() - began,
    };
  } finally {
    await close();
  }
}

async function itemsRecord(type: number, items: Uint8Array[], compression: Compression): Promise<Uint8Array> {
  const raw = packItems(items);
  const data = await compressRecord(raw, compression);
  const payload = new Uint8Array(4 + data.length);
  new DataView(payload.buffer).setUint32(0, raw.length);
  payload.set(data, 4);
  return encodeRecord(type, payload);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
