import type { BlockHeader } from '@ethereumjs/block';
import { RLP } from '@ethereumjs/rlp';
import { keccak256 } from '../../util/keccak.js';
import { decodeIbftExtra, encodeIbftExtra, type IbftExtra } from './extra.js';

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
  raw[EXTRA_DATA_INDEX] = encodeIbftExtra(filter(decodeIbftExtra(header.extraData)));
  return keccak256(RLP.encode(raw));
}
