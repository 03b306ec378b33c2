import { RLP } from '@ethereumjs/rlp';
import { keccak256 } from '../../../util/keccak.js';
import { recoverAddress, signHash } from '../../../util/secp256k1.js';
import { MessageError } from './messages.js';
import { checkRlp } from '../../../util/rlp-bounds.js';
import { errorMessage } from '../../../util/errors.js';

/**
 * Recall: a validator asks the others which consensus messages signed by its key they hold for a
 * height. A validator whose history may be incomplete (restored from a snapshot, an old copy of its
 * data dir, `secrets restore` into a new one: its sign journal is missing or older than what its key
 * signed) learns what the key already signed before it signs anything there, so that it never signs a
 * second value where its lost self signed one.
 *
 *   request  RLP([height, nonce, signature])
 *   answer   RLP([height, requester address, nonce, [envelope, ...], signature])
 *
 * A request is signed by the asking validator over keccak256(RLP([RECALL_REQUEST_DOMAIN, height,
 * nonce])), so only validators can make others answer. An answer is signed by the answering validator
 * over keccak256(RLP([RECALL_DOMAIN, height, requester, nonce, keccak256(RLP(envelopes))])): the
 * requester counts who answered (a quorum of the set, itself included, is what it waits for) and a peer
 * cannot answer in a validator's name or replay an old answer (the nonce is fresh per watch). The
 * envelopes are IBFT messages as the core holds them (signed by the requester, checked by it again).
 * Both travel by gossip (p2p/ibft-recall.ts), so they reach validators this node has no link to.
 */
export const RECALL_DOMAIN = new TextEncoder().encode('basalt/ibft-recall/1');
export const RECALL_REQUEST_DOMAIN = new TextEncoder().encode('basalt/ibft-recall-request/1');
export const RECALL_NONCE_BYTES = 32;
/** Largest request: height, address, nonce and RLP framing. */
export const MAX_RECALL_REQUEST_BYTES = 128;
/** Most messages in an answer: the requester's newest, a few a round. */
export const MAX_RECALL_MESSAGES = 32;

export interface RecallRequest {
  height: bigint;
  /** The asking validator (recovered from the request's signature). */
  requester: Uint8Array;
  nonce: Uint8Array;
}

export interface RecallAnswer extends RecallRequest {
  messages: Uint8Array[];
  /** The validator that signed the answer. */
  signer: Uint8Array;
}

function requestDigest(height: bigint, nonce: Uint8Array): Uint8Array {
  return keccak256(RLP.encode([RECALL_REQUEST_DOMAIN, height, nonce]));
}

/** A request for `height`, signed with the asking validator's key. */
export function signRecallRequest(height: bigint, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  return RLP.encode([height, nonce, signHash(requestDigest(height, nonce), key)]);
}

/** A recall request decoded and its fields checked, its signature not recovered yet. */
export interface SignedRecallRequest {
  height: bigint;
  nonce: Uint8Array;
  signature: Uint8Array;
}

/**
 * Decode a request and check its fields, nothing hashed or recovered (a relay checks the height
 * before it pays for that: recallRequester). Throws MessageError.
 */
export function decodeRecallRequest(bytes: Uint8Array): SignedRecallRequest {
  if (bytes.length > MAX_RECALL_REQUEST_BYTES) throw new MessageError(`recall request of ${bytes.length} bytes (at most ${MAX_RECALL_REQUEST_BYTES})`);
  const list = decode(bytes, 1, 8);
  if (!Array.isArray(list) || list.length !== 3 || !list.every((x) => x instanceof Uint8Array))
    throw new MessageError('recall request must be [height, nonce, signature]');
  const [h, nonce, signature] = list as Uint8Array[];
  if (nonce!.length !== RECALL_NONCE_BYTES) throw new MessageError(`recall request: nonce is not ${RECALL_NONCE_BYTES} bytes`);
  if (signature!.length !== 65) throw new MessageError('recall request: signature is not 65 bytes');
  return { height: uintBytes(h!, 'height'), nonce: nonce!, signature: signature! };
}

/** The request with the validator that asks, recovered from its signature. Throws MessageError. */
export function recallRequester(r: SignedRecallRequest): RecallRequest {
  let requester: Uint8Array;
  try {
    requester = recoverAddress(requestDigest(r.height, r.nonce), r.signature);
  } catch (err) {
    throw new MessageError(`recall request: bad signature: ${errorMessage(err)}`);
  }
  return { height: r.height, requester, nonce: r.nonce };
}

/** Decode a request and recover the validator that asks. Throws MessageError. */
export function openRecallRequest(bytes: Uint8Array): RecallRequest {
  return recallRequester(decodeRecallRequest(bytes));
}

function answerDigest(r: RecallRequest, messages: Uint8Array[]): Uint8Array {
  return keccak256(RLP.encode([RECALL_DOMAIN, r.height, r.requester, r.nonce, keccak256(RLP.encode(messages))]));
}

/** An answer to `r` carrying `messages`, signed with the answering validator's key. */
export function signRecallAnswer(r: RecallRequest, messages: Uint8Array[], key: Uint8Array): Uint8Array {
  return RLP.encode([r.height, r.requester, r.nonce, messages, signHash(answerDigest(r, messages), key)]);
}

/** A recall answer decoded and its fields checked, not hashed and its signer not recovered yet. */
export interface SignedRecallAnswer extends RecallRequest {
  messages: Uint8Array[];
  signature: Uint8Array;
}

/**
 * Decode an answer and check its fields, nothing hashed or recovered (a relay checks the height before
 * it pays for that: recallAnswerSigner). Bounds: `maxBytes` in all, MAX_RECALL_MESSAGES messages.
 * Throws MessageError.
 */
export function decodeRecallAnswer(bytes: Uint8Array, maxBytes: number): SignedRecallAnswer {
  if (bytes.length > maxBytes) throw new MessageError(`recall answer of ${bytes.length} bytes (at most ${maxBytes})`);
  const list = decode(bytes, 2, MAX_RECALL_MESSAGES + 8);
  if (!Array.isArray(list) || list.length !== 5) throw new MessageError('recall answer must be [height, requester, nonce, messages, signature]');
  const [h, requester, nonce, messages, signature] = list as unknown[];
  if (!(requester instanceof Uint8Array) || requester.length !== 20 || !(nonce instanceof Uint8Array) || nonce.length !== RECALL_NONCE_BYTES) {
    throw new MessageError('recall answer: bad requester or nonce');
  }
  if (!Array.isArray(messages) || messages.length > MAX_RECALL_MESSAGES || !messages.every((m) => m instanceof Uint8Array)) {
    throw new MessageError(`recall answer: messages must be a list of at most ${MAX_RECALL_MESSAGES} byte strings`);
  }
  if (!(signature instanceof Uint8Array) || signature.length !== 65) throw new MessageError('recall answer: signature is not 65 bytes');
  if (!(h instanceof Uint8Array)) throw new MessageError('recall answer: bad height');
  return { height: uintBytes(h, 'height'), requester, nonce, messages: messages as Uint8Array[], signature };
}

/**
 * The answer with the validator that signed it, recovered over its digest (the messages hashed).
 * Whether the signer is a validator, and the request one of ours, is the caller's question. Throws MessageError.
 */
export function recallAnswerSigner(a: SignedRecallAnswer): RecallAnswer {
  const r = { height: a.height, requester: a.requester, nonce: a.nonce };
  let signer: Uint8Array;
  try {
    signer = recoverAddress(answerDigest(r, a.messages), a.signature);
  } catch (err) {
    throw new MessageError(`recall answer: bad signature: ${errorMessage(err)}`);
  }
  return { ...r, messages: a.messages, signer };
}

/** Decode an answer and recover its signer (decodeRecallAnswer, recallAnswerSigner). Throws MessageError. */
export function openRecallAnswer(bytes: Uint8Array, maxBytes: number): RecallAnswer {
  return recallAnswerSigner(decodeRecallAnswer(bytes, maxBytes));
}

function decode(bytes: Uint8Array, maxDepth: number, items: number): unknown {
  try {
    checkRlp(bytes, { maxDepth, budget: { items } });
    return RLP.decode(bytes);
  } catch (err) {
    throw new MessageError(`not valid RLP: ${errorMessage(err)}`);
  }
}

function uintBytes(b: Uint8Array, what: string): bigint {
  if (b.length > 8 || (b.length > 0 && b[0] === 0)) throw new MessageError(`${what} is not a canonical 64-bit number`);
  let n = 0n;
  for (const byte of b) n = (n << 8n) | BigInt(byte);
  return n;
}
