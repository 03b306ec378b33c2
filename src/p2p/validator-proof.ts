import { bytesToHex, concatBytes, equalsBytes } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { privateKeyToAddress } from '../keys/address.js';
import { recoverAddress, signHash } from '../util/secp256k1.js';
import { MessageError, VALIDATOR_PROOF_BYTES } from './messages.js';
import { errorMessage } from '../util/errors.js';

/**
 * A node's proof that its libp2p peer ID belongs to the holder of a validator key: the validator's
 * address and its signature over keccak256(DOMAIN ‖ genesis hash ‖ peer ID bytes). The libp2p key
 * (keystore/libp2p.key) and the validator key (consensus/validator.key) are unrelated, so without it
 * a peer's validator address is only a claim. The domain keeps the hash from ever being an IBFT seal
 * or any other signed Basalt message; the genesis hash binds it to one chain; the peer ID to one
 * connection identity (noise authenticates the peer ID, so a copied proof is useless to anyone else).
 */
const DOMAIN = new TextEncoder().encode('basalt validator peer proof v1');
/** A proof is address ‖ r ‖ s ‖ v: VALIDATOR_PROOF_BYTES (messages.ts bounds the status with it). */
const ADDRESS_BYTES = 20;

function proofHash(genesisHash: Uint8Array, peerId: Uint8Array): Uint8Array {
  // Fixed-length fields first, the variable-length peer ID last: the concatenation is unambiguous.
  return keccak256(concatBytes(DOMAIN, genesisHash, peerId));
}

/** This node's proof, sent with its status. `peerId` is its own peer ID's bytes (the multihash). */
export function signValidatorProof(validatorKey: Uint8Array, genesisHash: Uint8Array, peerId: Uint8Array): Uint8Array {
  return concatBytes(privateKeyToAddress(validatorKey), signHash(proofHash(genesisHash, peerId), validatorKey));
}

/**
 * The validator address a peer proved, or a MessageError for a proof that is malformed or does not
 * verify: one signed for another peer ID or another chain is forged (or replayed), and the peer is
 * banned for it. Whether the address is in the validator set is the caller's question.
 */
export function verifyValidatorProof(proof: Uint8Array, genesisHash: Uint8Array, peerId: Uint8Array): Uint8Array {
  if (proof.length !== VALIDATOR_PROOF_BYTES) throw new MessageError(`validator proof: ${proof.length} bytes, expected ${VALIDATOR_PROOF_BYTES}`);
  const claimed = proof.subarray(0, ADDRESS_BYTES);
  let signer: Uint8Array;
  try {
    signer = recoverAddress(proofHash(genesisHash, peerId), proof.subarray(ADDRESS_BYTES));
  } catch (err) {
    throw new MessageError(`validator proof: bad signature (${errorMessage(err)})`);
  }
  if (!equalsBytes(signer, claimed)) throw new MessageError(`validator proof for ${bytesToHex(claimed)} does not verify for this peer and chain`);
  return claimed;
}

/** Proofs verified, remembered per peer: a peer that reconnects (or handshakes twice) costs one recovery. */
const MAX_VERIFIED = 1024;

/**
 * verifyValidatorProof with a small cache: the same peer ID sending the same proof again is answered
 * from memory. A forged proof is not cached (the peer is banned anyway).
 */
export class ValidatorProofs {
  private readonly verified = new Map<string, { proof: string; address: Uint8Array }>();

  constructor(private readonly genesisHash: Uint8Array) {}

  verify(peer: string, peerIdBytes: Uint8Array, proof: Uint8Array): Uint8Array {
    const key = bytesToHex(proof);
    const hit = this.verified.get(peer);
    if (hit !== undefined && hit.proof === key) return hit.address;
    const address = verifyValidatorProof(proof, this.genesisHash, peerIdBytes);
    this.verified.delete(peer);
    this.verified.set(peer, { proof: key, address });
    if (this.verified.size > MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value!);
    return address;
  }
}
