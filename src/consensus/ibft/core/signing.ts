import { keccak256 } from '../../../util/keccak.js';
import { recoverAddress, signHash } from '../../../util/secp256k1.js';
import { decodeBody, decodeEnvelope, encodeBody, encodeEnvelope, MessageError, type Body, type Envelope } from './messages.js';
import { errorMessage } from '../../../util/errors.js';

/** A message whose signature checked out: its sender and decoded body. */
export interface Signed<B extends Body = Body> {
  sender: Uint8Array;
  body: B;
  /** The envelope without its attachment, as certificates carry it. */
  bare: Uint8Array;
  attachment: Uint8Array;
  /** The sender's signature (identifies the message: one per signed body). */
  signature: Uint8Array;
}

/** Sign `body` with a validator key: an envelope ready to broadcast. */
export function signMessage(body: Body, key: Uint8Array, attachment: Uint8Array = new Uint8Array(0)): Uint8Array {
  const encoded = encodeBody(body);
  return encodeEnvelope({ body: encoded, signature: signHash(keccak256(encoded), key), attachment });
}

/**
 * Sign `body` as `signMessage` does, and give it opened too: this validator handles its own messages
 * as it handles others', without recovering the signature it just made or decoding what it just encoded.
 */
export function signOwn(body: Body, key: Uint8Array, address: Uint8Array, attachment: Uint8Array = new Uint8Array(0)): { bytes: Uint8Array; signed: Signed } {
  const encoded = encodeBody(body);
  const signature = signHash(keccak256(encoded), key);
  const bytes = encodeEnvelope({ body: encoded, signature, attachment });
  const bare = attachment.length === 0 ? bytes : encodeEnvelope({ body: encoded, signature, attachment: new Uint8Array(0) });
  return { bytes, signed: { sender: address, body, bare, attachment, signature } };
}

/**
 * Decode an envelope and recover its sender (secp256k1 over keccak256 of the body RLP). Throws
 * MessageError for anything malformed, oversized or badly signed. Whether the sender may send it is
 * the caller's question.
 */
export function openMessage(bytes: Uint8Array, maxBytes?: number): Signed {
  return recoverSender(decodeMessage(bytes, maxBytes));
}

/** A message decoded (bounded) but whose signature is not checked yet: what cheap checks look at first. */
export interface Unopened {
  bytes: Uint8Array;
  envelope: Envelope;
  body: Body;
}

/** Decode an envelope and its body without recovering the signer. Throws MessageError. */
export function decodeMessage(bytes: Uint8Array, maxBytes?: number): Unopened {
  const envelope = decodeEnvelope(bytes, maxBytes);
  return { bytes, envelope, body: decodeBody(envelope.body) };
}

/** Recover the signer of a decoded message (the costly step). Throws MessageError for a bad signature. */
export function recoverSender(m: Unopened): Signed {
  const env = m.envelope;
  let sender: Uint8Array;
  try {
    sender = recoverAddress(keccak256(env.body), env.signature);
  } catch (err) {
    throw new MessageError(`bad signature: ${errorMessage(err)}`);
  }
  const bare = env.attachment.length === 0 ? m.bytes : encodeEnvelope({ ...env, attachment: new Uint8Array(0) });
  return { sender, body: m.body, bare, attachment: env.attachment, signature: env.signature };
}
