import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { recoverAddress, signHash } from '../../../util/secp256k1.js';
import { decodeBody, decodeEnvelope, encodeBody, encodeEnvelope, MessageError, type Body } from './messages.js';

/** A message whose signature checked out: its sender and decoded body. */
export interface Signed<B extends Body = Body> {
  sender: Uint8Array;
  body: B;
  /** The envelope without its attachment, as certificates carry it. */
  bare: Uint8Array;
  attachment: Uint8Array;
}

/** Sign `body` with a validator key: an envelope ready to broadcast. */
export function signMessage(body: Body, key: Uint8Array, attachment: Uint8Array = new Uint8Array(0)): Uint8Array {
  const encoded = encodeBody(body);
  return encodeEnvelope({ body: encoded, signature: signHash(keccak256(encoded), key), attachment });
}

/**
 * Decode an envelope and recover its sender (secp256k1 over keccak256 of the body RLP). Throws
 * MessageError for anything malformed, oversized or badly signed. Whether the sender may send it is
 * the caller's question.
 */
export function openMessage(bytes: Uint8Array, maxBytes?: number): Signed {
  const env = decodeEnvelope(bytes, maxBytes);
  const body = decodeBody(env.body);
  let sender: Uint8Array;
  try {
    sender = recoverAddress(keccak256(env.body), env.signature);
  } catch (err) {
    throw new MessageError(`bad signature: ${(err as Error).message}`);
  }
  const bare = env.attachment.length === 0 ? bytes : encodeEnvelope({ ...env, attachment: new Uint8Array(0) });
  return { sender, body, bare, attachment: env.attachment };
}
