import type { Block, BlockHeader } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import { blockWithHeader, headerWithExtraData } from '../../../chain/block-util.js';
import type { Chain, PreparedBlock } from '../../../chain/chain.js';
import type { BuiltBlock } from '../../../chain/executor.js';
import type { PeerClock } from '../../../chain/peer-clock.js';
import { privateKeyToAddress } from '../../../keys/address.js';
import { silentLogger, type Logger } from '../../../util/log.js';
import { decodeIbftExtra, encodeIbftExtra } from '../extra.js';
import { blockHash } from '../hash.js';
import { proposerSealedExtra } from '../seal.js';
import { verifyIbftProposal } from '../verify.js';
import type { Backend } from './core.js';
import { event } from '../../../util/events.js';

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

  /** The set is fixed at genesis: every block carries its parent's. */
  validators(_height: bigint): Uint8Array[] {
    return decodeIbftExtra(this.chain.head.header.extraData).validators;
  }

  async buildProposal(height: bigint, _round: number): Promise<Block> {
    const parent = this.chain.head.header;
    if (height !== parent.number + 1n) throw new Error(`cannot build block ${height} on head ${parent.number}`);
    const extra = decodeIbftExtra(parent.extraData);
    const timestamp = BigInt(Math.max(Math.floor(this.now() / 1000), Number(parent.timestamp)));
    const unsealed = encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] });
    this.own = undefined;
    const prepared = await this.chain.buildBlock({ coinbase: this.address, timestamp, extraData: unsealed }, this.txs.pending());
    const common = this.chain.commonAt(height);
    const built = prepared.built.block;
    const proposal = blockWithHeader(built, headerWithExtraData(built.header, proposerSealedExtra(built.header, this.key), common), common);
    this.own = { hash: blockHash(proposal.header), prepared };
    return proposal;
  }

  async verifyProposal(block: Block): Promise<boolean> {
    const nowSeconds = BigInt(Math.floor(this.now() / 1000));
    try {
      await this.chain.checkProposal(block, (header, parent) => verifyIbftProposal(header, parent, nowSeconds));
      return true;
    } catch {
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
