import type { BlockHeader } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { errorMessage } from '../../util/errors.js';
import { rlpDecodeViews } from '../../util/rlp-spans.js';

/**
 * IBFT's `extraData` layout, as in Polygon SDK: 32 bytes of vanity, then
 * RLP([validators: address[], proposerSeal: bytes, committedSeals: bytes[]]), and in a block that
 * carries its proposer's validator vote (issue #23, votes.ts) a fourth item [candidate: address,
 * authorize: 0x01 to add, empty to drop]. A block without a vote is encoded as before, so every
 * earlier block keeps its bytes and hash.
 */
export const IBFT_VANITY_LENGTH = 32;
/**
 * The most validators a set may have, and so the most committed seals a block may carry (one per
 * validator of the set that decides it, which is at most one more than the set it carries: a vote adds
 * or drops one; a block whose vote would grow a full set is refused, votes.ts). A certificate of the
 * IBFT core holds as many messages (messages.ts MAX_LIST), and a genesis set change as many validators.
 */
export const MAX_IBFT_VALIDATORS = 1024;
/**
 * The largest extraData of a block with MAX_IBFT_VALIDATORS validators and committed seals: the vanity,
 * three list prefixes, 21 bytes an address, 67 a seal, and a vote. Longer extraData is refused before
 * it is decoded: nothing else caps it (a 16 MB block's could hold 250,000 seals to recover).
 */
export const MAX_IBFT_EXTRA_BYTES = IBFT_VANITY_LENGTH + 3 * 9 + MAX_IBFT_VALIDATORS * (21 + 67) + 67 + 23;
/** Polygon SDK's IBFT mixHash: "ctical byzantine fault tolerance". */
export const IBFT_MIX_HASH = Uint8Array.from(Buffer.from('63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365', 'hex'));

export interface IbftExtra {
  vanity: Uint8Array;
  validators: Uint8Array[];
  /** 65-byte signature of the proposer over the seal hash; empty before sealing. */
  proposerSeal: Uint8Array;
  /** 65-byte signatures of validators over the committed-seal message. */
  committedSeals: Uint8Array[];
  /** The proposer's validator vote, if the block carries one (covered by both seals). */
  vote?: { candidate: Uint8Array; authorize: boolean } | undefined;
}

export class IbftExtraError extends Error {}

export function encodeIbftExtra(extra: IbftExtra): Uint8Array {
  if (extra.vanity.length > IBFT_VANITY_LENGTH) throw new IbftExtraError('vanity longer than 32 bytes');
  const vanity = new Uint8Array(IBFT_VANITY_LENGTH);
  vanity.set(extra.vanity);
  const fields: unknown[] = [extra.validators, extra.proposerSeal, extra.committedSeals];
  if (extra.vote) {
    if (extra.vote.candidate.length !== 20) throw new IbftExtraError(`vote candidate of ${extra.vote.candidate.length} bytes (want 20)`);
    fields.push([extra.vote.candidate, extra.vote.authorize ? Uint8Array.of(1) : new Uint8Array(0)]);
  }
  const body = RLP.encode(fields as Parameters<typeof RLP.encode>[0]);
  const out = new Uint8Array(IBFT_VANITY_LENGTH + body.length);
  out.set(vanity);
  out.set(body, IBFT_VANITY_LENGTH);
  return out;
}

const extraOfHeader = new WeakMap<BlockHeader, Readonly<IbftExtra>>();

/**
 * `header`'s extraData decoded, once per header object: checking a header reads it for the block hash,
 * the seals and the votes (three decodes a header in a restore, the most of its cost after the seals).
 * Headers are not changed once built (the block hash cache in hash.ts relies on it too); the result
 * is shared, so it is frozen, lists included.
 */
export function headerExtra(header: BlockHeader): Readonly<IbftExtra> {
  let extra = extraOfHeader.get(header);
  if (extra === undefined) {
    const e = decodeIbftExtra(header.extraData);
    Object.freeze(e.validators);
    Object.freeze(e.committedSeals);
    if (e.vote) Object.freeze(e.vote);
    extra = Object.freeze(e);
    extraOfHeader.set(header, extra);
  }
  return extra;
}

export function decodeIbftExtra(extraData: Uint8Array): IbftExtra {
  if (extraData.length < IBFT_VANITY_LENGTH) {
    throw new IbftExtraError(`extraData is ${extraData.length} bytes, shorter than the 32-byte IBFT vanity`);
  }
  if (extraData.length > MAX_IBFT_EXTRA_BYTES) {
    throw new IbftExtraError(`extraData is ${extraData.length} bytes, more than the ${MAX_IBFT_EXTRA_BYTES} of ${MAX_IBFT_VALIDATORS} validators' seals`);
  }
  let decoded: unknown;
  try {
    // Views of extraData, not copies (headers are not changed once built: headerExtra); one level of
    // lists below the deepest IBFT has, so that the shape checks below give the reason
    decoded = rlpDecodeViews(extraData.subarray(IBFT_VANITY_LENGTH), 3);
  } catch (err) {
    throw new IbftExtraError(`extraData is not valid IBFT RLP: ${errorMessage(err)}`);
  }
  if (!Array.isArray(decoded) || (decoded.length !== 3 && decoded.length !== 4)) {
    throw new IbftExtraError('extraData RLP must be a list of [validators, seal, committedSeals] and an optional vote');
  }
  const [validators, seal, committed, vote] = decoded as unknown[];
  if (!isBytesList(validators) || !(seal instanceof Uint8Array) || !isBytesList(committed)) {
    throw new IbftExtraError('extraData fields have the wrong shape');
  }
  if (validators.length > MAX_IBFT_VALIDATORS) throw new IbftExtraError(`${validators.length} validators, more than ${MAX_IBFT_VALIDATORS}`);
  if (committed.length > MAX_IBFT_VALIDATORS) throw new IbftExtraError(`${committed.length} committed seals, more than ${MAX_IBFT_VALIDATORS}`);
  for (const v of validators) {
    if (v.length !== 20) throw new IbftExtraError(`validator entry of ${v.length} bytes (want 20)`);
  }
  const out: IbftExtra = {
    vanity: extraData.slice(0, IBFT_VANITY_LENGTH),
    validators,
    proposerSeal: seal,
    committedSeals: committed,
  };
  if (vote !== undefined) {
    if (!isBytesList(vote) || vote.length !== 2) throw new IbftExtraError('the vote in extraData must be [candidate, authorize]');
    const [candidate, authorize] = vote as [Uint8Array, Uint8Array];
    if (candidate.length !== 20) throw new IbftExtraError(`vote candidate of ${candidate.length} bytes (want 20)`);
    // One encoding each way, so that a block's bytes (and hash) say one thing.
    if (authorize.length > 1 || (authorize.length === 1 && authorize[0] !== 1))
      throw new IbftExtraError('the vote in extraData is neither 0x01 (add) nor empty (drop)');
    out.vote = { candidate, authorize: authorize.length === 1 };
  }
  return out;
}

function isBytesList(x: unknown): x is Uint8Array[] {
  return Array.isArray(x) && x.every((e) => e instanceof Uint8Array);
}
