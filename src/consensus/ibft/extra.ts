import { RLP } from '@ethereumjs/rlp';
import { errorMessage } from '../../util/errors.js';

/**
 * IBFT's `extraData` layout, as in Polygon SDK: 32 bytes of vanity, then
 * RLP([validators: address[], proposerSeal: bytes, committedSeals: bytes[]]).
 */
export const IBFT_VANITY_LENGTH = 32;
/** Polygon SDK's IBFT mixHash: "ctical byzantine fault tolerance". */
export const IBFT_MIX_HASH = Uint8Array.from(Buffer.from('63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365', 'hex'));

export interface IbftExtra {
  vanity: Uint8Array;
  validators: Uint8Array[];
  /** 65-byte signature of the proposer over the seal hash; empty before sealing. */
  proposerSeal: Uint8Array;
  /** 65-byte signatures of validators over the committed-seal message. */
  committedSeals: Uint8Array[];
}

export class IbftExtraError extends Error {}

export function encodeIbftExtra(extra: IbftExtra): Uint8Array {
  if (extra.vanity.length > IBFT_VANITY_LENGTH) throw new IbftExtraError('vanity longer than 32 bytes');
  const vanity = new Uint8Array(IBFT_VANITY_LENGTH);
  vanity.set(extra.vanity);
  const body = RLP.encode([extra.validators, extra.proposerSeal, extra.committedSeals]);
  const out = new Uint8Array(IBFT_VANITY_LENGTH + body.length);
  out.set(vanity);
  out.set(body, IBFT_VANITY_LENGTH);
  return out;
}

export function decodeIbftExtra(extraData: Uint8Array): IbftExtra {
  if (extraData.length < IBFT_VANITY_LENGTH) {
    throw new IbftExtraError(`extraData is ${extraData.length} bytes, shorter than the 32-byte IBFT vanity`);
  }
  let decoded: unknown;
  try {
    decoded = RLP.decode(extraData.subarray(IBFT_VANITY_LENGTH));
  } catch (err) {
    throw new IbftExtraError(`extraData is not valid IBFT RLP: ${errorMessage(err)}`);
  }
  if (!Array.isArray(decoded) || decoded.length !== 3) {
    throw new IbftExtraError('extraData RLP must be a list of [validators, seal, committedSeals]');
  }
  const [validators, seal, committed] = decoded as unknown[];
  if (!isBytesList(validators) || !(seal instanceof Uint8Array) || !isBytesList(committed)) {
    throw new IbftExtraError('extraData fields have the wrong shape');
  }
  for (const v of validators) {
    if (v.length !== 20) throw new IbftExtraError(`validator entry of ${v.length} bytes (want 20)`);
  }
  return {
    vanity: extraData.slice(0, IBFT_VANITY_LENGTH),
    validators,
    proposerSeal: seal,
    committedSeals: committed,
  };
}

function isBytesList(x: unknown): x is Uint8Array[] {
  return Array.isArray(x) && x.every((e) => e instanceof Uint8Array);
}
