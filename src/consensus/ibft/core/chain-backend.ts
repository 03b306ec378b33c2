import type { Block, BlockHeader } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { blockWithHeader, headerWithExtraData } from '../../../chain/block-util.js';
import type { Chain } from '../../../chain/chain.js';
import type { PeerClock } from '../../../chain/peer-clock.js';
import { privateKeyToAddress } from '../../../keys/address.js';
import { decodeIbftExtra, encodeIbftExtra } from '../extra.js';
import { proposerSealedExtra } from '../seal.js';
import { verifyIbftProposal } from '../verify.js';
import type { Backend } from './core.js';

/**
 * The consensus Backend over a Chain: proposals are built and executed by the chain's executor
 * without being committed; a committed block goes through Chain.importBlock like any other. With a
 * PeerClock, `now` is its time, and proposals from others are its samples.
 */
export class ChainBackend implements Backend {
  private readonly address: Uint8Array;
  readonly now: () => number;

  constructor(
    private readonly chain: Chain,
    private readonly key: Uint8Array,
    clock: (() => number) | PeerClock = Date.now,
    private readonly txs: () => Iterable<TypedTransaction> = () => [],
  ) {
    this.address = privateKeyToAddress(key);
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

  readonly peersTime?: () => number | undefined;
  readonly observeProposal?: (header: BlockHeader, agoMs: number) => void;

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
    let proposal: Block | undefined;
    await this.chain.produceBlock({ coinbase: this.address, timestamp, extraData: unsealed }, this.txs(), async (built) => {
      const header = headerWithExtraData(built.block.header, proposerSealedExtra(built.block.header, this.key), this.chain.commonAt(built.block.header.number));
      proposal = blockWithHeader(built.block, header, this.chain.commonAt(built.block.header.number));
      return undefined; // not committed here: consensus decides
    });
    if (proposal === undefined) throw new Error('proposal was not built');
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
    await this.chain.importBlock(block);
  }
}
