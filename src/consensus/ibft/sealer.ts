import type { Block } from '@ethereumjs/block';
import type { TypedTransaction } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import type { Chain } from '../../chain/chain.js';
import type { BuiltBlock } from '../../chain/executor.js';
import { privateKeyToAddress } from '../../keys/address.js';
import type { Logger } from '../../util/log.js';
import { decodeIbftExtra, encodeIbftExtra } from './extra.js';
import { blockHash } from './hash.js';
import { sealBlock } from './seal.js';
import type { SignedRecord } from './signed-record.js';
import { QuorumRule, nextProposer, validatorIndex } from './validators.js';

/** Where the sealer takes transactions from (the transaction pool). */
export interface TxSource {
  /** Executable transactions in the order they should be tried. */
  pending(): Iterable<TypedTransaction>;
  /** Called after a block was committed, with the transactions it rejected. */
  onBlockSealed?(block: Block, rejected: BuiltBlock['rejected']): void;
}

export interface SealerOptions {
  chain: Chain;
  /**
   * The validator keys this process holds. A real node holds one; tests and dev networks may hold
   * several, so that one process can collect a quorum of committed seals for a multi-validator set.
   */
  keys: Uint8Array[];
  blockTimeMs: number;
  txs: TxSource;
  logger: Logger;
  /** The chain's quorum rule (default: the optimal quorum throughout). */
  quorum?: QuorumRule;
  /**
   * The highest block this validator signed (consensus/signed.json). The sealer refuses heights at or
   * below it (a rolled-back data dir) and records each block before committing it.
   */
  signed?: SignedRecord;
}

/**
 * IBFT block production for the validators this process holds: at every block time, the round-0
 * proposer (round robin after the previous block's proposer) builds a block, seals it, and the held
 * validators add committed seals. Without enough local validators for a quorum it waits; a node of a
 * network of validators runs the networked IBFT core (consensus/ibft/core/) instead.
 */
export class IbftSealer {
  private stopped = true;
  /** Why sealing is paused (the node cannot write), or undefined. */
  private pausedFor?: string;
  private wake?: () => void;
  private loop?: Promise<void>;
  private readonly addresses: Uint8Array[];
  private warned = false;

  constructor(private readonly opts: SealerOptions) {
    this.addresses = opts.keys.map((k) => privateKeyToAddress(k));
  }

  /** Sealing now: started, not paused (the node cannot write), not stopped after refusing a rolled-back chain. */
  get sealing(): boolean {
    return !this.stopped && this.pausedFor === undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /**
   * Hold sealing without stopping the loop (the node cannot write now); `resume` goes on. A block in
   * progress is abandoned before it is committed.
   */
  pause(reason: string): void {
    this.pausedFor = reason;
  }

  /** Held by `pause` (not stopped). */
  get paused(): boolean {
    return this.pausedFor !== undefined;
  }

  resume(): void {
    this.pausedFor = undefined;
    this.wake?.();
  }

  /** Stop sealing; resolves once a block in progress has been committed or abandoned. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { chain, logger } = this.opts;
    while (!this.stopped) {
      const parentMs = Number(chain.head.header.timestamp) * 1000;
      const due = Math.max(parentMs + this.opts.blockTimeMs, this.lastSealMs + this.opts.blockTimeMs);
      await this.sleep(due - Date.now());
      if (this.stopped) break;
      if (this.pausedFor !== undefined) {
        await this.sleep(this.opts.blockTimeMs);
        continue;
      }
      try {
        await this.sealOne();
      } catch (err) {
        if (this.stopped) break;
        logger.error({ err: (err as Error).message }, 'sealing failed');
        await this.sleep(this.opts.blockTimeMs);
      }
    }
  }

  private lastSealMs = 0;

  private async sealOne(): Promise<void> {
    const { chain, logger } = this.opts;
    const parent = chain.head.header;
    const refusal = this.opts.signed?.refusal(parent.number + 1n);
    if (refusal !== undefined) {
      // Sealing again would sign a second block at a height already signed (equivocation): stop for good.
      logger.error(
        { head: Number(parent.number), signed: Number(this.opts.signed!.highest!.number) },
        `refusing to seal: ${refusal}; sealing stopped (the node keeps serving). Restore this data dir from a snapshot taken at or after block ${this.opts.signed!.highest!.number} (\`basalt restore\`)`,
      );
      this.stopped = true;
      return;
    }
    const extra = decodeIbftExtra(parent.extraData);
    const validators = extra.validators;
    const held = this.opts.keys.filter((_, i) => validatorIndex(validators, this.addresses[i]!) >= 0);
    const quorum = (this.opts.quorum ?? QuorumRule.OPTIMAL).at(parent.number + 1n, validators.length);
    const proposer = nextProposer(validators, parent.number === 0n ? undefined : parent.coinbase.bytes);
    const proposerKey = this.opts.keys[this.addresses.findIndex((a) => bytesToHex(a) === bytesToHex(proposer))];
    if (held.length < quorum || proposerKey === undefined) {
      if (!this.warned) {
        logger.warn(
          { validators: validators.length, quorum, held: held.length },
          held.length === 0
            ? 'this node holds no key of the validator set: not sealing'
            : 'this node alone cannot reach the IBFT quorum or is not the proposer: waiting (several validators seal together in IBFT rounds only with networking on)',
        );
        this.warned = true;
      }
      this.lastSealMs = Date.now();
      return;
    }
    this.lastSealMs = Date.now();
    const timestamp = BigInt(Math.max(Math.floor(Date.now() / 1000), Number(parent.timestamp)));
    const unsealedExtra = encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] });
    const result = await chain.produceBlock({ coinbase: proposer, timestamp, extraData: unsealedExtra }, this.opts.txs.pending(), async (built) => {
      if (this.stopped || this.pausedFor !== undefined) return undefined; // abandon: shutting down, or cannot write
      const sealed = sealBlock(built.block, proposerKey, held.slice(0, quorum), chain.commonAt(built.block.header.number));
      this.opts.signed?.signing(sealed.header.number, blockHash(sealed.header)); // durable before the commit
      return sealed;
    });
    if (result === undefined) return;
    const { block, built } = result;
    this.opts.signed?.committed(block.header.number, blockHash(block.header));
    this.opts.txs.onBlockSealed?.(block, built.rejected);
    logger.info(
      { number: Number(block.header.number), hash: bytesToHex(blockHash(block.header)), txs: block.transactions.length, gasUsed: Number(block.header.gasUsed) },
      'sealed block',
    );
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
