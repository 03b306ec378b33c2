import type { BlockHeader } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { keccak256 } from '../../util/keccak.js';
import { type RlpSpan, rlpListItems, rlpPrefix, rlpSpanAt } from '../../util/rlp-spans.js';
import { IBFT_VANITY_LENGTH, IbftExtraError, headerExtra, encodeIbftExtra, type IbftExtra } from './extra.js';

/** Index of extraData in the RLP list of header fields. */
const EXTRA_DATA_INDEX = 12;
/** proto.MessageReq_Commit in Polygon SDK: appended to the block hash in the committed-seal message. */
const COMMIT_MSG_TYPE = 2;

const hashCache = new WeakMap<BlockHeader, Uint8Array>();

/**
 * A Basalt block's hash: keccak256 of the header RLP with the committed seals left out of extraData
 * (Polygon SDK's istanbulHeaderHash). The committed seals sign this hash, so they cannot be part of it;
 * it also means every node agrees on a block's hash whatever set of committed seals it collected.
 */
export function blockHash(header: BlockHeader): Uint8Array {
  let h = hashCache.get(header);
  if (h === undefined) {
    h = hashWithExtra(header, (e) => ({ ...e, committedSeals: [] }));
    hashCache.set(header, h);
  }
  return h;
}

/**
 * blockHash of `header`, computed from `headerRlp`, the bytes it was decoded from (a header read from a
 * backup), and kept as its hash: the committed seals are cut out of extraData by byte copies, with
 * nothing decoded or encoded again. Being of these very bytes, the hash binds what a store writes;
 * bytes that are not the canonical encoding of their header hash to something else than the block's
 * hash, and are refused by the caller's check against it. `spans`: where the caller found the list and
 * its items in `headerRlp`, if it did.
 */
export function blockHashFromRlp(header: BlockHeader, headerRlp: Uint8Array, spans?: { outer: RlpSpan; items: RlpSpan[] }): Uint8Array {
  const outer = spans?.outer ?? rlpSpanAt(headerRlp, 0);
  if (!outer.list || outer.end !== headerRlp.length) throw new IbftExtraError('header RLP is not one list');
  const extraItem = (spans?.items ?? rlpListItems(headerRlp, outer))[EXTRA_DATA_INDEX];
  if (extraItem === undefined || extraItem.list) throw new IbftExtraError('header RLP has no extraData');
  const extra = headerRlp.subarray(extraItem.payloadAt, extraItem.end);
  if (extra.length < IBFT_VANITY_LENGTH) throw new IbftExtraError(`extraData is ${extra.length} bytes, shorter than the 32-byte IBFT vanity`);
  const body = rlpSpanAt(extra, IBFT_VANITY_LENGTH);
  const items = body.list && body.end === extra.length ? rlpListItems(extra, body) : [];
  if (items.length !== 3 && items.length !== 4)
    throw new IbftExtraError('extraData RLP must be a list of [validators, seal, committedSeals] and an optional vote');
  // [validators, proposer seal, no committed seals, the vote if any]
  const kept = [extra.subarray(items[0]!.at, items[1]!.end), Uint8Array.of(0xc0), items[3] ? extra.subarray(items[3].at, items[3].end) : new Uint8Array(0)];
  const bodyLength = kept.reduce((n, k) => n + k.length, 0);
  const bodyPrefix = rlpPrefix(bodyLength, true);
  const extraLength = IBFT_VANITY_LENGTH + bodyPrefix.length + bodyLength;
  const extraPrefix = rlpPrefix(extraLength, false);
  const before = headerRlp.subarray(outer.payloadAt, extraItem.at);
  const after = headerRlp.subarray(extraItem.end, outer.end);
  const payloadLength = before.length + extraPrefix.length + extraLength + after.length;
  const prefix = rlpPrefix(payloadLength, true);
  const out = new Uint8Array(prefix.length + payloadLength);
  let at = 0;
  for (const part of [prefix, before, extraPrefix, extra.subarray(0, IBFT_VANITY_LENGTH), bodyPrefix, ...kept, after]) {
    out.set(part, at);
    at += part.length;
  }
  const hash = keccak256(out);
  hashCache.set(header, hash);
  return hash;
}

/** What the proposer signs: the header hash with both the proposer seal and committed seals left out. */
export function proposerSealHash(header: BlockHeader): Uint8Array {
  return hashWithExtra(header, (e) => ({ ...e, proposerSeal: new Uint8Array(0), committedSeals: [] }));
}

/** What each committing validator signs: keccak256(blockHash ‖ commit message type). */
export function committedSealHash(hash: Uint8Array): Uint8Array {
  const msg = new Uint8Array(hash.length + 1);
  msg.set(hash);
  msg[hash.length] = COMMIT_MSG_TYPE;
  return keccak256(msg);
}

function hashWithExtra(header: BlockHeader, filter: (e: IbftExtra) => IbftExtra): Uint8Array {
  const raw = header.raw();
  raw[EXTRA_DATA_INDEX] = encodeIbftExtra(filter(headerExtra(header)));
  return keccak256(RLP.encode(raw));
}
