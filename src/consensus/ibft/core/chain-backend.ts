import type { Block, BlockHeader } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { blockWithHeader, headerWithExtraData } from '../../../chain/block-util.js';
import type { Chain, PreparedBlock } from '../../../chain/chain.js';
import type { BuiltBlock } from '../../../chain/executor.js';
import type { PeerClock } from '../../../chain/peer-clock.js';
import { privateKeyToAddress } from '../../../keys/address.js';
import { silentLogger, type Logger } from '../../../util/log.js';
import { headerExtra, encodeIbftExtra } from '../extra.js';
import { blockHash } from '../hash.js';
import { proposerSealedExtra } from '../seal.js';
import { verifyIbftProposal } from '../verify.js';
import { IbftEngine } from '../engine.js';
import type { VoteProposals } from '../proposals.js';
import { applyBlockVote } from '../votes.js';
import type { Backend } from './core.js';
import { event } from '../../../util/events.js';
import { BlockVerificationError } from '../../../chain/errors.js';
import { PROPOSAL_TOO_SLOW } from '../../../chain/executor.js';

/**
 * A proposal's check may take this many times the build time its proposer had (defaultBlockBuildMs),
 * or its round's whole timeout where that is longer: an honest proposer's transactions ran within
 * (twice, for a block's first) that time on its machine (Executor.build), and the same work here may be
 * slower, its wall time stretched by the node's other work (each state read lets JSON-RPC in); rounds
 * double, so a check a loaded validator could not finish in one round fits a later one. Past it the
 * validator does not sign (Chain.checkProposal): a byzantine proposer's slow block costs its round.
 */
export const PROPOSAL_CHECK_BUILD_TIMES = 3;

/** Where proposals take their transactions from, and who hears what became of them (the transaction pool). */
export interface ProposalTxs {
  /** Executable transactions in the order they should be tried. */
  pending(): Iterable<TypedTransaction>;
  /** A block this validator proposed was committed; `rejected`: what its builder could not include, and why. */
  onBlockSealed?(block: Block, rejected: BuiltBlock['rejected']): void;
}

export interface ChainBackendOptions {
  chain: Chain;
  key: Uint8Array;
  /** Block timestamps are taken from it; with a PeerClock, proposals from others are its samples. */
  clock?: (() => number) | PeerClock;
  txs?: ProposalTxs;
  logger?: Logger;
  /** The operator's proposed validator votes, one put in each block this validator proposes. */
  proposals?: VoteProposals;
  /** Whether a candidate to add runs and has synced (a vote to add it waits until then); default: always. */
  candidateReady?: (candidate: Uint8Array) => boolean;
  /**
   * Time a proposal's transactions may take to execute when it is built, by the size of the set
   * deciding it (default: no limit): every other validator executes it again before it signs, within
   * the round's timeout; a set of one has nobody to wait for.
   */
  maxBuildMs?: (validators: number) => number;
}

/**
 * The consensus Backend over a Chain: proposals are built and executed by the chain without being
 * committed; a committed block this validator proposed is committed from what was built (not executed
 * again), any other goes through Chain.importBlock. With a PeerClock, `now` is its time, and proposals
 * from others are its samples.
 */
export class ChainBackend implements Backend {
  private readonly address: Uint8Array;
  private readonly chain: Chain;
  private readonly key: Uint8Array;
  private readonly txs: ProposalTxs;
  private readonly log: Logger;
  private readonly proposals?: VoteProposals;
  private readonly candidateReady?: (candidate: Uint8Array) => boolean;
  private readonly maxBuildMs?: (validators: number) => number;
  /** The chain's engine, which follows the votes pending after the head. */
  private readonly engine: IbftEngine;
  /** The latest proposal this validator built, until a block is committed at its height. */
  private own?: { hash: Uint8Array; prepared: PreparedBlock };
  readonly now: () => number;
  readonly peersTime?: () => number | undefined;
  readonly observeProposal?: (header: BlockHeader, agoMs: number) => void;

  constructor(opts: ChainBackendOptions) {
    this.chain = opts.chain;
    this.key = opts.key;
    this.txs = opts.txs ?? { pending: () => [] };
    this.log = opts.logger ?? silentLogger();
    this.address = privateKeyToAddress(opts.key);
    if (opts.proposals) this.proposals = opts.proposals;
    if (opts.candidateReady) this.candidateReady = opts.candidateReady;
    if (opts.maxBuildMs !== undefined) this.maxBuildMs = opts.maxBuildMs;
    const engine = opts.chain.engine;
    if (!(engine instanceof IbftEngine)) throw new Error(`the IBFT core needs the IBFT engine, not ${engine.name}`);
    this.engine = engine;
    const clock = opts.clock ?? Date.now;
    if (typeof clock === 'function') {
      this.now = clock;
    } else {
      this.now = () => clock.now();
      this.peersTime = () => clock.peersTime();
      this.observeProposal = (header: BlockHeader, agoMs: number) => {
        const parent = this.chain.head.header;
        if (header.number === parent.number + 1n) clock.observe(header.number, header.timestamp, parent.timestamp, agoMs);
      };
    }
  }

  head() {
    const h = this.chain.head.header;
    return { number: h.number, proposer: h.number === 0n ? undefined : h.coinbase.bytes, timestampMs: Number(h.timestamp) * 1000 };
  }

  /**
   * The set that decides `height`, where known: the head's next (the head carries the set after its
   * vote), or the one after where the genesis file changes the set (the set after a block still to be
   * decided is otherwise not known). Undefined for any other height.
   */
  validators(height: bigint): Uint8Array[] | undefined {
    const head = this.chain.head.header;
    if (height === head.number + 1n) return this.engine.validatorsAfter(head);
    if (height === head.number + 2n) return this.engine.setChangeAt(height);
    return undefined;
  }

  /** Candidates a vote in the head's next block could add: validators, maybe, of `height` (the one after). */
  joining(height: bigint): Uint8Array[] {
    const head = this.chain.head.header;
    return height === head.number + 2n ? this.engine.joiningAfterNext(head) : [];
  }

  async buildProposal(height: bigint, _round: number): Promise<Block> {
    const parent = this.chain.head.header;
    if (height !== parent.number + 1n) throw new Error(`cannot build block ${height} on head ${parent.number}`);
    const extra = headerExtra(parent);
    const timestamp = BigInt(Math.max(Math.floor(this.now() / 1000), Number(parent.timestamp)));
    // One of the operator's proposed votes, if the votes after the head are known and the rules allow
    // one; none where the genesis file's emergency set starts (it carries that set).
    const change = this.engine.setChangeAt(height);
    const snap = change ? undefined : this.engine.votes.after(parent);
    const vote = snap && this.proposals?.pick(snap, this.address, height, this.engine.epochSize, this.candidateReady, this.engine.quorum);
    const validators =
      change ?? (snap && vote ? applyBlockVote(snap, { number: height, proposer: this.address, vote }, this.engine.epochSize).validators : extra.validators);
    const unsealed = encodeIbftExtra({ ...extra, validators, vote, proposerSeal: new Uint8Array(0), committedSeals: [] });
    this.own = undefined;
    const limit = this.maxBuildMs?.(this.engine.validatorsAfter(parent).length);
    const prepared = await this.chain.buildBlock({ coinbase: this.address, timestamp, extraData: unsealed }, this.txs.pending(), limit);
    const common = this.chain.commonAt(height);
    const built = prepared.built.block;
    const proposal = blockWithHeader(built, headerWithExtraData(built.header, proposerSealedExtra(built.header, this.key), common), common);
    this.own = { hash: blockHash(proposal.header), prepared };
    return proposal;
  }

  async verifyProposal(block: Block, opts?: { roundTimeoutMs: number }): Promise<boolean> {
    const nowSeconds = BigInt(Math.floor(this.now() / 1000));
    // Without the votes pending at the head (a data dir that does not hold them) a vote's tally cannot
    // be checked: such a validator signs no proposal that carries one (the others decide it).
    try {
      if (this.engine.votes.after(this.chain.head.header) === undefined && headerExtra(block.header).vote) {
        this.log.warn(
          { number: Number(block.header.number) },
          'not signing a proposal that carries a validator vote: the votes pending at the head are not known here',
        );
        return false;
      }
      const build = this.maxBuildMs?.(this.engine.validatorsAfter(this.chain.head.header).length);
      await this.chain.checkProposal(
        block,
        (header, parent) => verifyIbftProposal(header, parent, nowSeconds, this.engine.voteContext(parent)),
        build === undefined ? undefined : Math.max(build * PROPOSAL_CHECK_BUILD_TIMES, opts?.roundTimeoutMs ?? 0),
      );
      return true;
    } catch (err) {
      // A proposal too slow to check is worth a line (a byzantine proposer's, or a machine too slow
      // for the chain's load); the other refusals are the rounds' ordinary business.
      if (err instanceof BlockVerificationError && err.reason.startsWith(PROPOSAL_TOO_SLOW)) {
        this.log.warn(event('ibft.proposal-too-slow', { number: Number(block.header.number), reason: err.reason }), 'not signing a proposal too slow to check');
      }
      return false;
    }
  }

  async onCommit(block: Block): Promise<void> {
    const own = this.own;
    this.own = undefined;
    if (own === undefined || !equalsBytes(own.hash, blockHash(block.header))) {
      await this.chain.importBlock(block);
      return;
    }
    if ((await this.chain.commitBuilt(block, own.prepared)) === 'known') return;
    this.txs.onBlockSealed?.(block, own.prepared.built.rejected);
    this.log.info(
      event('block.sealed', {
        number: Number(block.header.number),
        hash: bytesToHex(own.hash),
        txs: block.transactions.length,
        gasUsed: Number(block.header.gasUsed),
      }),
      'sealed block',
    );
  }
}
