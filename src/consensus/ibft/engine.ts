import type { BlockHeader } from '@ethereumjs/block';
import type { ConsensusEngine } from '../engine.js';
import { decodeIbftExtra } from './extra.js';
import { verifyIbftHeader } from './verify.js';

/** IBFT's rules as the chain sees them (PoA: the validator set is fixed at genesis). */
export class IbftEngine implements ConsensusEngine {
  readonly name = 'ibft';

  verifyHeader(header: BlockHeader, parent: BlockHeader, opts: { nowSeconds?: bigint } = {}): void {
    verifyIbftHeader(header, parent, opts.nowSeconds);
  }

  validatorsAfter(parent: BlockHeader): Uint8Array[] {
    return decodeIbftExtra(parent.extraData).validators;
  }
}
