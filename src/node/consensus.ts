import type { Chain } from '../chain/chain.js';
import type { PeerClock } from '../chain/peer-clock.js';
import { IbftCore } from '../consensus/ibft/core/core.js';
import { ChainBackend, type ProposalTxs } from '../consensus/ibft/core/chain-backend.js';
import { migrateLegacySigned } from '../consensus/ibft/core/legacy-signed.js';
import { FileSignedStore, markNothingSigned } from '../consensus/ibft/core/sign-journal.js';
import { event } from '../util/events.js';
import { UserError } from '../util/errors.js';
import type { QuorumRule } from '../consensus/ibft/validators.js';
import type { VoteProposals } from '../consensus/ibft/proposals.js';
import { MAX_IBFT_GOSSIP_BYTES } from '../p2p/messages.js';
import type { Logger } from '../util/log.js';
import type { Network } from './network.js';

/** The round 0 timeout when --ibft-base-timeout is not given: max(2 s, 2 x the block time). */
export function defaultIbftBaseTimeoutMs(blockTimeMs: number): number {
  return Math.max(2_000, 2 * blockTimeMs);
}

/**
 * The time a proposal's transactions may take to execute when it is built: with other validators,
 * half the block time, at least 500 ms. Every other validator executes the proposal again before it
 * signs, and the round timeout (at least twice the block time) must hold both with room for the
 * messages: a proposal as long as the pool allows would outlast it under load. A set of one has
 * nobody to wait for: three quarters of the block time (Besu's default for its PoA block
 * transaction selection), at least 500 ms.
 */
export function defaultBlockBuildMs(blockTimeMs: number, validators: number): number {
  return Math.max(500, validators > 1 ? blockTimeMs / 2 : (blockTimeMs * 3) / 4);
}

export interface ValidatorOptions {
  chain: Chain;
  /**
   * The other validators, over libp2p gossip (the ibft topic); undefined without networking (a dev
   * node, --no-libp2p). A set of one sends nothing even with it.
   */
  network?: Network;
  /** The transaction pool. */
  txs: ProposalTxs;
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
  /** The operator's proposed validator votes. */
  proposals?: VoteProposals;
  /**
   * --seal-without-journal BLOCK: the operator's word that the original validator is stopped and that its
   * key signed nothing above BLOCK, this data dir's head (refused otherwise); without a sign journal, one
   * saying "signed nothing" is written before the core starts (none is written over a journal that is there).
   */
  sealWithoutJournal?: bigint;
}

/**
 * This node as a validator: the IBFT core (the one block producer, for a set of one validator or
 * many), its proposals built and committed blocks imported through the chain (ChainBackend), what it
 * signs journaled in consensus/. With other validators its messages go over libp2p gossip; alone, its
 * own messages make the quorum of one and nothing is sent. Paused (the core stopped, messages no longer
 * fed to it) while the node cannot write or is behind its peers; resumed, it starts at the height
 * after its head.
 */
export class Validator {
  readonly core: IbftCore;
  private started = false;
  private stopped = false;
  private pausedFor?: string;

  private constructor(private readonly opts: ValidatorOptions) {
    const { chain, network } = opts;
    this.core = new IbftCore({
      key: opts.key,
      backend: new ChainBackend({
        chain,
        key: opts.key,
        txs: opts.txs,
        logger: opts.logger,
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(opts.proposals ? { proposals: opts.proposals } : {}),
        ...(network ? { candidateReady: (a: Uint8Array) => network.runningValidator(a) } : {}),
        maxBuildMs: (validators) => defaultBlockBuildMs(opts.blockTimeMs, validators),
      }),
      // A set of one has nobody to send to (its own messages make its quorum): nothing goes out.
      transport: { broadcast: network ? (msg) => (this.networked ? network.publishConsensus(msg) : undefined) : () => undefined },
      store: new FileSignedStore(opts.consensusDir),
      commonAt: (height) => chain.commonAt(height),
      blockTimeMs: opts.blockTimeMs,
      quorum: opts.quorum,
      baseTimeoutMs: opts.baseTimeoutMs,
      maxMessageBytes: MAX_IBFT_GOSSIP_BYTES,
      logger: opts.logger,
      ...(network ? { recall: (req: Uint8Array) => network.recall(req, (answer) => this.core.onRecallAnswer(answer)) } : {}),
    });
  }

  /**
   * The validator of a data dir. What an earlier version recorded in `consensus/signed.json` is first
   * folded into the sign journal (once), so an upgraded validator keeps the heights it must not sign again.
   */
  static async create(opts: ValidatorOptions): Promise<Validator> {
    const folded = await migrateLegacySigned(opts.consensusDir, new FileSignedStore(opts.consensusDir));
    if (folded) {
      opts.logger.info(
        { number: Number(folded.number), committed: folded.committed },
        'consensus/signed.json (an earlier version) folded into the sign journal, consensus/ibft-sign-journal, and removed',
      );
    }
    // The operator's word stands for the journal a restored data dir lacks: written as a key made here
    // has it, so the core recalls as at a normal restart, and a validator alone seals (no hold).
    const vouched = opts.sealWithoutJournal;
    const head = opts.chain.head.number;
    // The head named, not a bare yes: a flag left in a service's command line names a head that a later
    // restore of the data dir does not have, and is refused there instead of speaking again.
    if (vouched !== undefined && vouched !== head && new FileSignedStore(opts.consensusDir).load() === undefined)
      throw new UserError(
        `--seal-without-journal ${vouched}: this data dir's head is block ${head}; name the head whose blocks above you know this key never signed (basalt db check shows it), once the original is stopped`,
      );
    if (vouched !== undefined && markNothingSigned(opts.consensusDir)) {
      opts.logger.warn(
        event('validator.seal-without-journal', { head: Number(head) }),
        `--seal-without-journal: this data dir had no sign journal; on the operator's word that its key signed nothing above block ${head}, one saying it signed nothing is written`,
      );
    }
    return new Validator(opts);
  }

  /** Whether its messages go to other validators (false: without networking, or a set of one at the head). */
  get networked(): boolean {
    const { network, chain } = this.opts;
    return network !== undefined && chain.engine.validatorsAfter(chain.head.header).length > 1;
  }

  /** Taking part in consensus now: started, not paused, not stopped, not refusing to sign (a rolled-back chain). */
  get sealing(): boolean {
    return this.started && !this.stopped && this.pausedFor === undefined && this.core.refused === undefined;
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
      this.opts.network?.setConsensusSink(undefined);
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
    this.opts.network?.setConsensusSink(undefined);
    this.opts.network?.setRecallServer(undefined);
    await this.core.stop();
  }

  private run(): void {
    this.core.start();
    this.opts.network?.setConsensusSink((msg) => this.core.onMessage(msg));
    this.opts.network?.setRecallServer((req) => this.core.answerRecall(req));
  }

  private readonly onHead = (): void => {
    this.core.headChanged();
  };
}
