import type { Chain } from '../chain/chain.js';
import type { PeerClock } from '../chain/peer-clock.js';
import { IbftCore } from '../consensus/ibft/core/core.js';
import { ChainBackend } from '../consensus/ibft/core/chain-backend.js';
import { FileSignedStore } from '../consensus/ibft/core/sign-journal.js';
import type { QuorumRule } from '../consensus/ibft/validators.js';
import { MAX_IBFT_GOSSIP_BYTES } from '../p2p/messages.js';
import type { TxPool } from '../txpool/txpool.js';
import type { Logger } from '../util/log.js';
import type { Network } from './network.js';

/** The round 0 timeout when --ibft-base-timeout is not given: max(2 s, 2 x the block time). */
export function defaultIbftBaseTimeoutMs(blockTimeMs: number): number {
  return Math.max(2_000, 2 * blockTimeMs);
}

export interface NetworkedValidatorOptions {
  chain: Chain;
  network: Network;
  txpool: TxPool;
  key: Uint8Array;
  /** The data dir's consensus/ folder: the sign journal lives there. */
  consensusDir: string;
  blockTimeMs: number;
  baseTimeoutMs: number;
  logger: Logger;
  /** The chain's quorum rule (the genesis file's `params.engine.ibft.quorumSwitchBlock`). */
  quorum: QuorumRule;
  /** The node's clock against its peers': timestamps are taken from it, proposals are its samples. */
  clock?: PeerClock;
}

/**
 * A validator of a multi-validator set: the IBFT core over libp2p gossip (the ibft topic), its
 * proposals built and committed blocks imported through the chain (ChainBackend), what it signs
 * journaled in consensus/. Paused (the core stopped, messages no longer fed to it) while the node
 * cannot write or is behind its peers; resumed, it starts at the height after its head.
 */
export class NetworkedValidator {
  readonly core: IbftCore;
  private started = false;
  private stopped = false;
  private pausedFor?: string;

  constructor(private readonly opts: NetworkedValidatorOptions) {
    const { chain, network, txpool } = opts;
    this.core = new IbftCore({
      key: opts.key,
      backend: new ChainBackend(chain, opts.key, opts.clock ?? Date.now, () => txpool.pending()),
      transport: { broadcast: (msg) => network.publishConsensus(msg) },
      store: new FileSignedStore(opts.consensusDir),
      commonAt: (height) => chain.commonAt(height),
      blockTimeMs: opts.blockTimeMs,
      quorum: opts.quorum,
      baseTimeoutMs: opts.baseTimeoutMs,
      maxMessageBytes: MAX_IBFT_GOSSIP_BYTES,
      logger: opts.logger,
      recall: (req) => network.recall(req, (answer) => this.core.onRecallAnswer(answer)),
    });
  }

  /** Taking part in consensus now: started, not paused, not stopped. */
  get sealing(): boolean {
    return this.started && !this.stopped && this.pausedFor === undefined;
  }

  get paused(): boolean {
    return this.pausedFor !== undefined;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.opts.chain.on('head', this.onHead);
    if (this.pausedFor === undefined) this.run();
  }

  pause(reason: string): void {
    if (this.pausedFor === undefined && this.started && !this.stopped) {
      this.opts.network.setConsensusSink(undefined);
      void this.core.stop();
    }
    this.pausedFor = reason;
  }

  resume(): void {
    if (this.pausedFor === undefined) return;
    this.pausedFor = undefined;
    if (this.started && !this.stopped) this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.opts.chain.off('head', this.onHead);
    this.opts.network.setConsensusSink(undefined);
    this.opts.network.setRecallServer(undefined);
    await this.core.stop();
  }

  private run(): void {
    this.core.start();
    this.opts.network.setConsensusSink((msg) => this.core.onMessage(msg));
    this.opts.network.setRecallServer((req) => this.core.answerRecall(req));
  }

  private readonly onHead = (): void => {
    this.core.headChanged();
  };
}
