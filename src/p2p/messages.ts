import { RLP } from '@ethereumjs/rlp';
import { bigIntToUnpaddedBytes, bytesToBigInt } from '@ethereumjs/util';
import { checkRlp, RlpBoundsError } from '../util/rlp-bounds.js';
import { errorMessage } from '../util/errors.js';

/**
 * The wire messages of Basalt's own protocols, RLP-encoded, each with its bounds. A message that does
 * not decode, breaks a bound or has the wrong shape is a MessageError: the peer that sent it is banned.
 */
export class MessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessageError';
  }
}

/** Largest status message (chain ID, two hashes, a number: ~100 bytes; with a validator proof ~190). */
export const MAX_STATUS_BYTES = 256;
/** Largest GetBlocks request. */
export const MAX_REQUEST_BYTES = 64;
/** Most blocks one GetBlocks may ask for. */
export const MAX_BLOCKS_PER_REQUEST = 64;
/** Largest single block accepted from a peer (a 30M-gas block of zero calldata is ~7.5 MB). */
export const MAX_BLOCK_BYTES = 16 * 1024 * 1024;
/** A server stops adding blocks to a response past this many bytes (it always sends at least one). */
export const SOFT_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Largest gossip message (a transaction, a batch of them, an announcement). */
export const MAX_GOSSIP_BYTES = 256 * 1024;

/** Most transactions in one gossiped batch (`encodeTxBatch`). */
export const MAX_TXS_PER_BATCH = 128;

/**
 * Transactions gossiped together: an RLP list of each one's bytes (a typed envelope or a legacy
 * RLP list, as a string). Refuses what its reader would: more than MAX_TXS_PER_BATCH or
 * MAX_GOSSIP_BYTES.
 */
export function encodeTxBatch(raws: readonly Uint8Array[]): Uint8Array {
  if (raws.length === 0 || raws.length > MAX_TXS_PER_BATCH) throw new MessageError(`a batch of ${raws.length} transactions (1 to ${MAX_TXS_PER_BATCH})`);
  const out = RLP.encode(raws as Uint8Array[]);
  if (out.length > MAX_GOSSIP_BYTES) throw new MessageError(`a batch of ${out.length} bytes, more than ${MAX_GOSSIP_BYTES}`);
  return out;
}

/** The transactions' bytes in a batch (views into `bytes`); a MessageError for anything but 1 to MAX_TXS_PER_BATCH strings. */
export function decodeTxBatch(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length > MAX_GOSSIP_BYTES) throw new MessageError(`a batch of ${bytes.length} bytes, more than ${MAX_GOSSIP_BYTES}`);
  const raws: Uint8Array[] = [];
  try {
    // Headers only, before anything is decoded: one list of strings, no deeper.
    checkRlp(bytes, {
      maxDepth: 1,
      budget: { items: MAX_TXS_PER_BATCH + 1 },
      onString: (start, end, path) => {
        if (path.length !== 1) throw new RlpBoundsError('not a list');
        raws.push(bytes.subarray(start, end));
      },
    });
  } catch (err) {
    if (err instanceof RlpBoundsError) throw new MessageError(`malformed transaction batch: ${err.message}`);
    throw err;
  }
  if (raws.length === 0 || bytes[0]! < 0xc0) throw new MessageError('malformed transaction batch: not a list of transactions');
  return raws;
}

/**
 * IBFT messages carry a block (and a round change's certificate several): their own, larger bound.
 * The consensus core is given the same one.
 */
export const MAX_IBFT_GOSSIP_BYTES = 4 * 1024 * 1024;

export interface ChainStatus {
  chainId: bigint;
  genesisHash: Uint8Array;
  headNumber: bigint;
  headHash: Uint8Array;
  /**
   * Status v2 only, optional: the sender's validator address and its signature over its peer ID
   * (validator-proof.ts). Exactly VALIDATOR_PROOF_BYTES when present; a peer that sends none is
   * served like any other.
   */
  validatorProof?: Uint8Array;
}

/** Bytes of a validator proof (20-byte address ‖ 65-byte signature); validator-proof.ts checks the rest. */
export const VALIDATOR_PROOF_BYTES = 85;

export interface GetBlocks {
  from: bigint;
  count: number;
}

export interface HeadAnnouncement {
  number: bigint;
  hash: Uint8Array;
}

const u = (n: bigint) => bigIntToUnpaddedBytes(n);

function decodeList(bytes: Uint8Array, max: number, what: string, length: number, maxLength = length): Uint8Array[] {
  if (bytes.length > max) throw new MessageError(`${what}: ${bytes.length} bytes, more than ${max}`);
  let decoded: unknown;
  try {
    decoded = RLP.decode(bytes);
  } catch (err) {
    throw new MessageError(`${what}: not RLP (${errorMessage(err)})`);
  }
  if (!Array.isArray(decoded) || decoded.length < length || decoded.length > maxLength || decoded.some((x) => !(x instanceof Uint8Array))) {
    throw new MessageError(`${what}: expected a list of ${length === maxLength ? length : `${length}-${maxLength}`} byte strings`);
  }
  return decoded as Uint8Array[];
}

function quantity(b: Uint8Array, what: string, maxBytes = 8): bigint {
  if (b.length > maxBytes || (b.length > 0 && b[0] === 0)) throw new MessageError(`${what}: not a canonical quantity of at most ${maxBytes} bytes`);
  return bytesToBigInt(b);
}

function hash32(b: Uint8Array, what: string): Uint8Array {
  if (b.length !== 32) throw new MessageError(`${what}: expected 32 bytes, got ${b.length}`);
  return b;
}

/**
 * Status v1 is [chain ID, genesis, head number, head hash]; v2 may add the validator proof as a fifth
 * item. v1 stays for peers of earlier versions, whose decoder refuses (and bans) any other length.
 */
export type StatusVersion = 1 | 2;

export function encodeStatus(s: ChainStatus, version: StatusVersion = 2): Uint8Array {
  const fields = [u(s.chainId), s.genesisHash, u(s.headNumber), s.headHash];
  if (version === 2 && s.validatorProof !== undefined) fields.push(s.validatorProof);
  return RLP.encode(fields);
}

export function decodeStatus(bytes: Uint8Array, version: StatusVersion = 2): ChainStatus {
  const [c, g, n, h, proof] = decodeList(bytes, MAX_STATUS_BYTES, 'status', 4, version === 2 ? 5 : 4) as [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array?,
  ];
  if (proof !== undefined && proof.length !== VALIDATOR_PROOF_BYTES)
    throw new MessageError(`status validator proof: expected ${VALIDATOR_PROOF_BYTES} bytes, got ${proof.length}`);
  return {
    chainId: quantity(c, 'status chain ID', 32),
    genesisHash: hash32(g, 'status genesis hash'),
    headNumber: quantity(n, 'status head number'),
    headHash: hash32(h, 'status head hash'),
    ...(proof !== undefined ? { validatorProof: proof } : {}),
  };
}

export function encodeGetBlocks(r: GetBlocks): Uint8Array {
  return RLP.encode([u(r.from), u(BigInt(r.count))]);
}

export function decodeGetBlocks(bytes: Uint8Array): GetBlocks {
  const [f, c] = decodeList(bytes, MAX_REQUEST_BYTES, 'GetBlocks', 2) as [Uint8Array, Uint8Array];
  const count = quantity(c, 'GetBlocks count');
  if (count < 1n || count > BigInt(MAX_BLOCKS_PER_REQUEST)) throw new MessageError(`GetBlocks: count ${count} is not 1-${MAX_BLOCKS_PER_REQUEST}`);
  return { from: quantity(f, 'GetBlocks from'), count: Number(count) };
}

export function encodeAnnouncement(a: HeadAnnouncement): Uint8Array {
  return RLP.encode([u(a.number), a.hash]);
}

export function decodeAnnouncement(bytes: Uint8Array): HeadAnnouncement {
  const [n, h] = decodeList(bytes, MAX_STATUS_BYTES, 'head announcement', 2) as [Uint8Array, Uint8Array];
  return { number: quantity(n, 'announced number'), hash: hash32(h, 'announced hash') };
}
