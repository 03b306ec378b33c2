import { bytesToHex } from '@ethereumjs/util';
import type { Chain } from '../chain/chain.js';
import { quorumRuleOf } from '../consensus/ibft/genesis.js';
import { maxFaulty } from '../consensus/ibft/validators.js';
import { exportChain } from './export.js';
import { archiveStarted, importArchive } from './import.js';
import { createSnapshot } from './snapshot.js';
import type {
  BackupService,
  ByteSink,
  ChainStatus,
  ConsensusStatus,
  ExportProgress,
  ExportRequest,
  ExportStarted,
  ExportSummary,
  ImportProgress,
  ImportSummary,
  Observer,
  SnapshotProgress,
  SnapshotRequest,
  SnapshotStarted,
  SnapshotSummary,
} from './types.js';

/**
 * The backup service against a chain in this process: the running node's (behind its gRPC API) or a
 * data dir opened offline by the CLI. Export and snapshot read one LevelDB snapshot and stream into
 * the sink; the sink's `write` is the back-pressure (a slow or stopped reader holds the producer).
 * Whatever ends the stream early (a failing sink, a cancelled call) releases the LevelDB snapshots.
 */
export class LocalBackupService implements BackupService {
  constructor(
    private readonly chain: Chain,
    private readonly nodeStatus?: () => NonNullable<ChainStatus['node']>,
  ) {}

  async status(): Promise<ChainStatus> {
    const head = this.chain.head;
    return {
      chainId: this.chain.chainId,
      genesisHash: bytesToHex(this.chain.genesisHash),
      head: { number: head.number, hash: bytesToHex(head.hash), stateRoot: bytesToHex(head.header.stateRoot), timestamp: head.header.timestamp },
      consensus: consensusStatus(this.chain),
      ...(this.nodeStatus ? { node: this.nodeStatus() } : {}),
    };
  }

  async export(req: ExportRequest, sink: ByteSink, observer: Observer<ExportStarted, ExportProgress> = {}): Promise<ExportSummary> {
    const exp = await exportChain(this.chain, { ...req, ...(observer.onProgress ? { onProgress: observer.onProgress } : {}) });
    return drain(exp, sink, () => observer.onStart?.(archiveStarted(exp.header)));
  }

  async import(source: AsyncIterable<Uint8Array>, observer: Observer<ExportStarted, ImportProgress> = {}): Promise<ImportSummary> {
    return importArchive(this.chain, source, {
      onHeader: (h) => observer.onStart?.(archiveStarted(h)),
      ...(observer.onProgress ? { onProgress: observer.onProgress } : {}),
    });
  }

  async snapshot(req: SnapshotRequest, sink: ByteSink, observer: Observer<SnapshotStarted, SnapshotProgress> = {}): Promise<SnapshotSummary> {
    const snap = await createSnapshot(this.chain, {
      compression: req.compression,
      headersOnly: req.history === 'headers',
      ...(observer.onProgress ? { onProgress: observer.onProgress } : {}),
    });
    const h = snap.header;
    return drain(snap, sink, () =>
      observer.onStart?.({
        chainId: BigInt(h.chainId),
        genesisHash: h.genesisHash,
        head: BigInt(h.head.number),
        headHash: h.head.hash,
        stateRoot: h.head.stateRoot,
        compression: h.compression,
      }),
    );
  }
}

/** Copy a producer's chunks into the sink; release its LevelDB snapshots however it ends. */
async function drain<S>(p: { chunks: AsyncGenerator<Uint8Array, S>; close(): Promise<void> }, sink: ByteSink, started: () => void): Promise<S> {
  try {
    started();
    for (;;) {
      const r = await p.chunks.next();
      if (r.done) return r.value;
      await sink.write(r.value);
    }
  } finally {
    await p.close();
  }
}

/** The validator set after the head, the quorum the genesis file's rule sets for the next block, and F. */
function consensusStatus(chain: Chain): ConsensusStatus {
  const n = chain.engine.validatorsAfter(chain.head.header).length;
  const next = chain.head.number + 1n;
  const rule = quorumRuleOf(chain.genesisConfig);
  return { validators: n, quorum: rule.at(next, n), faultTolerance: maxFaulty(n), safe: rule.unsafeAt(next, n) === undefined };
}
