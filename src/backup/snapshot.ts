import { bytesToHex } from '@ethereumjs/util';
import type { GenesisFile } from '../chain/chain-config.js';
import type { ChainReadView } from '../chain/chain.js';
import { ITEMS_RECORD_BYTES, SNAPSHOT_VERSION, type SnapshotHeader } from '../snapshot/format.js';
import { SnapshotWriter } from '../snapshot/writer.js';
import { UserError } from '../util/errors.js';
import { stateItems } from './state-walk.js';
import type { SnapshotProgress, SnapshotRequest, SnapshotSummary } from './types.js';
import type { ExportSource } from './export.js';

/** What a snapshot reads: what an export reads, and the genesis file the chain was created with. */
export interface SnapshotSource extends ExportSource {
  readonly genesisFile: GenesisFile;
}

export interface ChainSnapshot {
  header: SnapshotHeader;
  /** The snapshot's bytes. Iterate once. */
  chunks: AsyncGenerator<Uint8Array, SnapshotSummary>;
  /** Release the LevelDB snapshots; idempotent. Needed when `chunks` is abandoned before its end. */
  close(): Promise<void>;
}

/**
 * A snapshot of the whole node at its head, read from one consistent view of both databases
 * (Chain.openReadView): the block history with receipts, then the head's world state. The node goes
 * on sealing and serving meanwhile.
 */
export async function createSnapshot(source: SnapshotSource, opts: SnapshotRequest & { onProgress?: (p: SnapshotProgress) => void }): Promise<ChainSnapshot> {
  const view = source.openReadView();
  try {
    const headHash = await view.blocks.headHash();
    const headNumber = headHash && (await view.blocks.blockNumber(headHash));
    const head = headHash && headNumber !== undefined ? await view.blocks.header(headNumber, headHash) : undefined;
    if (!headHash || headNumber === undefined || !head) throw new UserError('the chain has no head block', { code: 'FAILED_PRECONDITION' });
    // A snapshot holds blocks 1..head; the genesis alone is what the genesis file already gives.
    if (headNumber < 1n) throw new UserError('the chain has only its genesis block: nothing to snapshot yet', { code: 'FAILED_PRECONDITION' });
    const header: SnapshotHeader = {
      format: 'basalt-snapshot',
      version: SNAPSHOT_VERSION,
      chainId: source.chainId.toString(),
      genesisHash: bytesToHex(source.genesisHash),
      genesis: source.genesisFile,
      head: { number: headNumber.toString(), hash: bytesToHex(headHash), stateRoot: bytesToHex(head.stateRoot) },
      compression: opts.compression,
    };
    return { header, chunks: generate(view, header, headNumber, head.stateRoot, opts.onProgress), close: view.close };
  } catch (err) {
    await view.close();
    throw err;
  }
}

async function* generate(
  view: ChainReadView,
  header: SnapshotHeader,
  headNumber: bigint,
  stateRoot: Uint8Array,
  onProgress: ((p: SnapshotProgress) => void) | undefined,
): AsyncGenerator<Uint8Array, SnapshotSummary> {
  const began = Date.now();
  const writer = new SnapshotWriter(header);
  let nodes = 0;
  let codes = 0;
  const progress = (phase: SnapshotProgress['phase'], blocksDone: bigint) =>
    onProgress?.({ phase, blocksDone, blocksTotal: headNumber, nodes, codes, bytes: writer.bytesWritten });
  try {
    yield writer.start();
    for (let n = 1n; n <= headNumber; n++) {
      const b = await view.blocks.storedBlock(n);
      yield await writer.block(n, b.hash, b.blockRlp, b.receiptsRlp);
      progress('blocks', n);
    }
    // World state at the head: only the nodes reachable from its state root; code after the nodes.
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const codeItems: Uint8Array[] = [];
    for await (const item of stateItems(view.state, stateRoot)) {
      if (item.kind === 'code') {
        codeItems.push(item.data);
        codes++;
        continue;
      }
      batch.push(item.data);
      batchBytes += item.data.length + 4;
      nodes++;
      if (batchBytes >= ITEMS_RECORD_BYTES) {
        yield await writer.items('nodes', batch);
        batch = [];
        batchBytes = 0;
        progress('state', headNumber);
      }
    }
    if (batch.length > 0) yield await writer.items('nodes', batch);
    for (let i = 0; i < codeItems.length; ) {
      const group: Uint8Array[] = [];
      let size = 0;
      while (i < codeItems.length && (group.length === 0 || size + codeItems[i]!.length < ITEMS_RECORD_BYTES)) {
        size += codeItems[i]!.length + 4;
        group.push(codeItems[i++]!);
      }
      yield await writer.items('code', group);
    }
    progress('state', headNumber);
    const fin = writer.finish();
    yield fin.bytes;
    return {
      head: headNumber,
      headHash: header.head.hash,
      stateRoot: header.head.stateRoot,
      blocks: headNumber,
      nodes: fin.nodes,
      codes: fin.codes,
      bytes: writer.bytesWritten,
      digest: fin.digest,
      durationMs: Date.now() - began,
    };
  } finally {
    await view.close();
  }
}
