import type { BlockHeader } from '@ethereumjs/block';
import type { ConsensusEngine, NextHeaderFields, RecoverSigner } from '../../chain/engine.js';
import { IBFT_MIX_HASH, decodeIbftExtra, encodeIbftExtra } from './extra.js';
import { blockHash } from './hash.js';
import { QuorumRule, nextProposer } from './validators.js';
import { BlockVerificationError } from '../../chain/errors.js';
import { ibftSealSignatures, verifyCommittedSeals, verifyIbftHeader } from './verify.js';
import { errorMessage } from '../../util/errors.js';

/**
 * IBFT's rules as the chain sees them (PoA: the validator set is fixed at genesis). `quorum` is the
 * chain's quorum rule by height (genesis.ts's quorumRuleOf(genesis)); without a genesis file (an
 * archive checked on its own) the legacy rule, which accepts every block a valid chain holds.
 */
export class IbftEngine implements ConsensusEngine {
  readonly name = 'ibft';

  constructor(readonly quorum: QuorumRule = QuorumRule.LEGACY) {}

  blockHash(header: BlockHeader): Uint8Array {
    return blockHash(header);
  }

  /** The round-0 proposer (round robin after the parent's), the IBFT digest, number as difficulty, the parent's set unsealed. */
  nextHeader(parent: BlockHeader): NextHeaderFields {
    const extra = decodeIbftExtra(parent.extraData);
    return {
      coinbase: nextProposer(extra.validators, parent.number === 0n ? undefined : parent.coinbase.bytes),
      mixHash: IBFT_MIX_HASH,
      difficulty: parent.number + 1n,
      extraData: encodeIbftExtra({ ...extra, proposerSeal: new Uint8Array(0), committedSeals: [] }),
    };
  }

  verifyHeader(header: BlockHeader, parent: BlockHeader, opts: { nowSeconds?: bigint; recover?: RecoverSigner } = {}): void {
    verifyIbftHeader(header, parent, opts.nowSeconds, this.quorum, opts.recover);
  }

  sealSignatures(header: BlockHeader): { hash: Uint8Array; signature: Uint8Array }[] {
    return ibftSealSignatures(header);
  }

  verifySeals(header: BlockHeader, validators: Uint8Array[]): void {
    let extra;
    try {
      extra = decodeIbftExtra(header.extraData);
    } catch (err) {
      throw new BlockVerificationError(header.number, errorMessage(err));
    }
    verifyCommittedSeals(header, extra, validators, this.quorum);
  }

  validatorsAfter(parent: BlockHeader): Uint8Array[] {
    return decodeIbftExtra(parent.extraData).validators;
  }

  quorumAt(height: bigint, validators: number): number {
    return this.quorum.at(height, validators);
  }
}
