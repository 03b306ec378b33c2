import { RLP } from '@ethereumjs/rlp';
import { checkRlp } from '../../../util/rlp-bounds.js';
import { errorMessage } from '../../../util/errors.js';

/**
 * IBFT consensus messages and their wire codec. Every message is an envelope
 *   RLP([body, signature, attachment])
 * where `body` is the RLP of [type, height, round, ...fields] kept as bytes (so the signature covers
 * exactly what was sent), `signature` is the sender's 65-byte secp256k1 signature over keccak256(body)
 * (signing.ts), and `attachment` is unsigned data checked against a signed hash: the prepared block of
 * a ROUND-CHANGE (its hash is in the signed prepared certificate), else empty.
 *
 *   PREPREPARE   [0, height, round, block RLP, round-change certificate: ROUND-CHANGE envelopes]
 *   PREPARE      [1, height, round, proposal hash]
 *   COMMIT       [2, height, round, proposal hash, committed seal]
 *   ROUND-CHANGE [3, height, round, prepared certificate: [] | [round, hash, PREPARE envelopes]]
 *
 * Decoding is bounded: the whole envelope by `maxBytes`, lists by MAX_LIST, numbers by their width;
 * anything else is a MessageError and the message is dropped.
 */
export const MessageType = { Preprepare: 0, Prepare: 1, Commit: 2, RoundChange: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Default bound on one message: a 30M-gas block of zero-byte calldata is ~7.5 MB, plus certificates. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Most entries in a certificate list (it holds at most one message per validator). */
export const MAX_LIST = 1024;
/** Rounds are 32-bit; heights 63-bit. */
const MAX_ROUND = 2 ** 32 - 1;
const MAX_HEIGHT = 2n ** 63n - 1n;

export class MessageError extends Error {}

/** A prepared certificate: 2F+1 PREPAREs (signed envelopes) for `hash` at `round`. */
export interface PreparedCert {
  round: number;
  hash: Uint8Array;
  prepares: Uint8Array[];
}

export type Body =
  | { type: 0; height: bigint; round: number; block: Uint8Array; roundChanges: Uint8Array[] }
  | { type: 1; height: bigint; round: number; hash: Uint8Array }
  | { type: 2; height: bigint; round: number; hash: Uint8Array; seal: Uint8Array }
  | { type: 3; height: bigint; round: number; prepared?: PreparedCert };

export interface Envelope {
  body: Uint8Array;
  signature: Uint8Array;
  attachment: Uint8Array;
}

export function encodeBody(b: Body): Uint8Array {
  const head = [b.type, b.height, b.round];
  switch (b.type) {
    case 0:
      return RLP.encode([...head, b.block, b.roundChanges]);
    case 1:
      return RLP.encode([...head, b.hash]);
    case 2:
      return RLP.encode([...head, b.hash, b.seal]);
    case 3:
      return RLP.encode([...head, b.prepared ? [b.prepared.round, b.prepared.hash, b.prepared.prepares] : []]);
  }
}

export function encodeEnvelope(e: Envelope): Uint8Array {
  return RLP.encode([e.body, e.signature, e.attachment]);
}

export function decodeEnvelope(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES): Envelope {
  if (bytes.length > maxBytes) throw new MessageError(`message of ${bytes.length} bytes exceeds ${maxBytes}`);
  const list = decodeRlp(bytes);
  if (!Array.isArray(list) || list.length !== 3 || !list.every((x) => x instanceof Uint8Array)) {
    throw new MessageError('envelope must be [body, signature, attachment]');
  }
  const [body, signature, attachment] = list as Uint8Array[];
  if (signature!.length !== 65) throw new MessageError(`signature of ${signature!.length} bytes (want 65)`);
  return { body: body!, signature: signature!, attachment: attachment! };
}

export function decodeBody(bytes: Uint8Array): Body {
  const list = decodeRlp(bytes);
  if (!Array.isArray(list) || list.length < 4) throw new MessageError('body must be a list [type, height, round, ...]');
  const type = uint(list[0], 1, 'type');
  const height = bigUint(list[1], 'height');
  const round = uint(list[2], 4, 'round');
  if (round > MAX_ROUND) throw new MessageError('round out of range');
  const rest = list.slice(3);
  switch (type) {
    case 0: {
      if (rest.length !== 2) throw new MessageError('PREPREPARE must have [block, roundChanges]');
      return { type, height, round, block: bytes_(rest[0], 'block'), roundChanges: bytesList(rest[1], 'roundChanges') };
    }
    case 1:
      if (rest.length !== 1) throw new MessageError('PREPARE must have [hash]');
      return { type, height, round, hash: hash32(rest[0]) };
    case 2:
      if (rest.length !== 2) throw new MessageError('COMMIT must have [hash, seal]');
      return { type, height, round, hash: hash32(rest[0]), seal: fixed(rest[1], 65, 'committed seal') };
    case 3: {
      if (rest.length !== 1 || !Array.isArray(rest[0])) throw new MessageError('ROUND-CHANGE must have [preparedCertificate]');
      const pc = rest[0] as unknown[];
      if (pc.length === 0) return { type, height, round };
      if (pc.length !== 3) throw new MessageError('prepared certificate must be [round, hash, prepares]');
      const prepared = { round: uint(pc[0], 4, 'prepared round'), hash: hash32(pc[1]), prepares: bytesList(pc[2], 'prepares') };
      return { type, height, round, prepared };
    }
    default:
      throw new MessageError(`unknown message type ${type}`);
  }
}

/** The deepest a message's lists go (a ROUND-CHANGE's certificate: body, certificate, PREPAREs). */
const MAX_DEPTH = 3;
const MAX_ITEMS = MAX_LIST + 16;

function decodeRlp(bytes: Uint8Array): unknown {
  let decoded: unknown;
  try {
    checkRlp(bytes, { maxDepth: MAX_DEPTH, budget: { items: MAX_ITEMS } });
    // Over a Buffer, RLP.decode slices by view; over a plain Uint8Array every list and string it
    // meets is copied (a 4 MiB proposal was copied four times on its way to a signature check, ~11 ms
    // and 16 MiB of garbage a message: what a stranger's large messages cost a validator, issue #26).
    decoded = RLP.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new MessageError(`not valid RLP: ${errorMessage(err)}`);
  }
  return plain(decoded);
}

/** Strings at most this long are copied out of the message; longer ones (a block) stay views of it. */
const COPY_BELOW = 4096;

/**
 * The decoded items as plain Uint8Arrays, as RLP.decode gives them: small ones copied (a hash kept for a
 * round does not pin the frame it came in), large ones as views of the message (no copy).
 */
function plain(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(plain);
  const b = x as Uint8Array;
  return b.length < COPY_BELOW ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function bytes_(x: unknown, what: string): Uint8Array {
  if (!(x instanceof Uint8Array)) throw new MessageError(`${what} must be bytes`);
  return x;
}

function fixed(x: unknown, len: number, what: string): Uint8Array {
  const b = bytes_(x, what);
  if (b.length !== len) throw new MessageError(`${what} of ${b.length} bytes (want ${len})`);
  return b;
}

function hash32(x: unknown): Uint8Array {
  return fixed(x, 32, 'hash');
}

function bytesList(x: unknown, what: string): Uint8Array[] {
  if (!Array.isArray(x) || !x.every((e) => e instanceof Uint8Array)) throw new MessageError(`${what} must be a list of bytes`);
  if (x.length > MAX_LIST) throw new MessageError(`${what} has ${x.length} entries (at most ${MAX_LIST})`);
  return x as Uint8Array[];
}

/** A canonical unsigned integer of at most `width` bytes (no leading zeros). */
function uint(x: unknown, width: number, what: string): number {
  const b = bytes_(x, what);
  if (b.length > width) throw new MessageError(`${what} is too large`);
  if (b.length > 0 && b[0] === 0) throw new MessageError(`${what} has leading zeros`);
  let n = 0;
  for (const byte of b) n = n * 256 + byte;
  return n;
}

function bigUint(x: unknown, what: string): bigint {
  const b = bytes_(x, what);
  if (b.length > 8) throw new MessageError(`${what} is too large`);
  if (b.length > 0 && b[0] === 0) throw new MessageError(`${what} has leading zeros`);
  let n = 0n;
  for (const byte of b) n = (n << 8n) | BigInt(byte);
  if (n > MAX_HEIGHT) throw new MessageError(`${what} out of range`);
  return n;
}
