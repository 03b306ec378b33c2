import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bytesToHex } from '@ethereumjs/util';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import type { Chain } from '../../../src/chain/chain.js';
import { STATUS_PROTOCOL_V1, serveStatus } from '../../../src/p2p/handshake.js';
import { createHost } from '../../../src/p2p/host.js';
import { MessageError, VALIDATOR_PROOF_BYTES, decodeStatus, encodeStatus, type ChainStatus } from '../../../src/p2p/messages.js';
import { request, serve } from '../../../src/p2p/streams.js';
import { ValidatorProofs, signValidatorProof, verifyValidatorProof } from '../../../src/p2p/validator-proof.js';
import * as secp from '../../../src/util/secp256k1.js';
import { addressOf, createTestChain, testKey } from '../../helpers/chain-fixture.js';
import { startNode, until, type TestNode } from './net-fixture.js';

vi.mock('../../../src/util/secp256k1.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../../../src/util/secp256k1.js')>();
  return { ...m, recoverAddress: vi.fn(m.recoverAddress) };
});

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined);
  cleanup.length = 0;
  vi.mocked(secp.recoverAddress).mockClear();
});

const peerIdBytes = (libp2pKey: Uint8Array) => peerIdFromPrivateKey(privateKeyFromRaw(libp2pKey) as never).toMultihash().bytes;
const genesis = new Uint8Array(32).fill(0xaa);
const validatorKey = testKey(0);
const libp2pKey = randomBytes(32);

describe('validator proof (validator key over genesis and peer ID)', () => {
  it('verifies for the peer ID and genesis it was made for, and names the validator', () => {
    const proof = signValidatorProof(validatorKey, genesis, peerIdBytes(libp2pKey));
    expect(proof.length).toBe(VALIDATOR_PROOF_BYTES);
    expect(bytesToHex(verifyValidatorProof(proof, genesis, peerIdBytes(libp2pKey)))).toBe(addressOf(validatorKey).toLowerCase());
  });

  it("is forged for any other peer ID or genesis (someone replaying a validator's proof)", () => {
    const proof = signValidatorProof(validatorKey, genesis, peerIdBytes(libp2pKey));
    expect(() => verifyValidatorProof(proof, genesis, peerIdBytes(randomBytes(32)))).toThrow(MessageError);
    expect(() => verifyValidatorProof(proof, new Uint8Array(32).fill(0xbb), peerIdBytes(libp2pKey))).toThrow(MessageError);
    // A validator's address with someone else's signature does not pass either.
    const other = signValidatorProof(testKey(5), genesis, peerIdBytes(libp2pKey));
    const claimed = new Uint8Array(other);
    claimed.set(proof.subarray(0, 20));
    expect(() => verifyValidatorProof(claimed, genesis, peerIdBytes(libp2pKey))).toThrow(/does not verify/);
  });

  it('garbage is a MessageError: wrong lengths refused before any curve arithmetic, bad signatures after', () => {
    const id = peerIdBytes(libp2pKey);
    for (const n of [0, 1, 84, 86, 200]) expect(() => verifyValidatorProof(randomBytes(n), genesis, id)).toThrow(MessageError);
    expect(secp.recoverAddress).not.toHaveBeenCalled();
    const bad = new Uint8Array(VALIDATOR_PROOF_BYTES);
    bad[VALIDATOR_PROOF_BYTES - 1] = 7; // recovery id 7
    expect(() => verifyValidatorProof(bad, genesis, id)).toThrow(MessageError);
    for (let i = 0; i < 20; i++) expect(() => verifyValidatorProof(randomBytes(VALIDATOR_PROOF_BYTES), genesis, id)).toThrow(MessageError);
  });

  it('is checked cheaply: one recovery per peer and proof however often it handshakes, a millisecond or so each', () => {
    const proofs = new ValidatorProofs(genesis);
    const id = peerIdBytes(libp2pKey);
    const proof = signValidatorProof(validatorKey, genesis, id);
    for (let i = 0; i < 1000; i++) proofs.verify('peer-a', id, proof);
    expect(secp.recoverAddress).toHaveBeenCalledTimes(1);
    // A new proof from the same peer (its validator key changed) is checked again; a forged one is never cached.
    proofs.verify('peer-a', id, signValidatorProof(testKey(1), genesis, id));
    expect(secp.recoverAddress).toHaveBeenCalledTimes(2);
    const forged = signValidatorProof(validatorKey, genesis, peerIdBytes(randomBytes(32)));
    expect(() => proofs.verify('peer-b', id, forged)).toThrow(MessageError);
    expect(() => proofs.verify('peer-b', id, forged)).toThrow(MessageError);
    expect(secp.recoverAddress).toHaveBeenCalledTimes(4);
    // Uncached: a fresh peer each time. Generous bound (noble's pure-JS recovery on a loaded machine).
    const many = Array.from({ length: 50 }, (_, i) => ({ peer: `p${i}`, id: peerIdBytes(randomBytes(32)) }));
    const signed = many.map((m) => signValidatorProof(validatorKey, genesis, m.id));
    const t0 = performance.now();
    many.forEach((m, i) => proofs.verify(m.peer, m.id, signed[i]!));
    expect((performance.now() - t0) / many.length).toBeLessThan(20);
  });
});

describe('status messages with a validator proof', () => {
  const status: ChainStatus = { chainId: 100n, genesisHash: genesis, headNumber: 7n, headHash: new Uint8Array(32).fill(1) };
  const proof = signValidatorProof(validatorKey, genesis, peerIdBytes(libp2pKey));

  it('v2 carries the proof or not; v1 (earlier versions) never does and refuses a fifth field', () => {
    expect(decodeStatus(encodeStatus({ ...status, validatorProof: proof })).validatorProof).toEqual(proof);
    expect(decodeStatus(encodeStatus(status)).validatorProof).toBeUndefined();
    const v1 = encodeStatus({ ...status, validatorProof: proof }, 1);
    expect(v1).toEqual(encodeStatus(status, 1));
    expect(decodeStatus(v1, 1)).toEqual(status);
    expect(() => decodeStatus(encodeStatus({ ...status, validatorProof: proof }), 1)).toThrow(MessageError);
  });

  it('the proof field is bounded: any other length is refused', () => {
    for (const n of [0, 84, 86, 150]) expect(() => decodeStatus(encodeStatus({ ...status, validatorProof: randomBytes(n) }))).toThrow(MessageError);
  });
});

describe('validators recognised at the handshake', () => {
  async function node(chain: Chain, opts: Parameters<typeof startNode>[1] = {}): Promise<TestNode> {
    const n = await startNode(chain, opts);
    cleanup.push(() => n.net.stop());
    return n;
  }

  it('a peer holding a validator key of the set is a validator, one with another key is not, one without a proof is an ordinary peer', async () => {
    const t = await createTestChain(4);
    cleanup.push(() => t.close());
    const a = await node(t.chain, { validatorKey: t.keys[0] });
    const v = await node(t.chain, { validatorKey: t.keys[1], bootnodes: [a.addr] });
    const stranger = await node(t.chain, { validatorKey: testKey(9), bootnodes: [a.addr] });
    const plain = await node(t.chain, { bootnodes: [a.addr] });
    await until(() => [v, stranger, plain].every((n) => a.net.peerManager.isReady(n.net.host.peerId)), 'all three ready at a');
    expect(a.net.peerManager.isValidator(v.net.host.peerId)).toBe(true);
    expect(v.net.peerManager.isValidator(a.net.host.peerId)).toBe(true);
    expect(a.net.peerManager.isValidator(stranger.net.host.peerId)).toBe(false);
    expect(a.net.peerManager.isValidator(plain.net.host.peerId)).toBe(false);
    expect(a.net.peerManager.banned(stranger.net.host.peerId)).toBeUndefined();
    // The validator is tagged for libp2p's pruning; the others are not.
    expect((await a.net.host.peerStore.get(v.net.host.peerId)).tags.get('basalt-validator')?.value).toBe(100);
    expect((await a.net.host.peerStore.get(plain.net.host.peerId)).tags.has('basalt-validator')).toBe(false);
  });

  it("a peer sending a validator's proof made for another peer ID is banned (forged)", async () => {
    const t = await createTestChain(4);
    cleanup.push(() => t.close());
    const a = await node(t.chain, { validatorKey: t.keys[0] });
    const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
    cleanup.push(() => Promise.resolve(host.stop()));
    // Validator 1's genuine proof, copied from another connection.
    const copied = signValidatorProof(t.keys[1]!, t.chain.genesisHash, peerIdBytes(randomBytes(32)));
    const status = (): ChainStatus => ({
      chainId: t.chain.chainId,
      genesisHash: t.chain.genesisHash,
      headNumber: 0n,
      headHash: t.chain.genesisHash,
      validatorProof: copied,
    });
    await serveStatus(
      host,
      status,
      () => undefined,
      () => undefined,
    );
    await host.dial(a.net.host.getMultiaddrs()[0]!);
    await until(() => a.net.peerManager.banned(host.peerId) !== undefined, 'the forger banned');
    expect(a.net.peerManager.banned(host.peerId)?.reason).toMatch(/validator proof/);
    expect(a.net.peerManager.isValidator(host.peerId)).toBe(false);
  });

  it('a peer of an earlier version (status v1 only, no proof) still passes the handshake both ways', async () => {
    const t = await createTestChain(1);
    cleanup.push(() => t.close());
    const a = await node(t.chain, { validatorKey: t.keys[0] });
    const old = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false });
    cleanup.push(() => Promise.resolve(old.stop()));
    const ours: ChainStatus = { chainId: t.chain.chainId, genesisHash: t.chain.genesisHash, headNumber: 0n, headHash: t.chain.genesisHash };
    let theirs: ChainStatus | undefined;
    // What versions before status v2 ran: /basalt/status/1 only, exactly four fields.
    await serve(
      old,
      STATUS_PROTOCOL_V1,
      async (req) => {
        theirs = decodeStatus(req, 1);
        return [encodeStatus(ours, 1)];
      },
      { maxRequestBytes: 256, timeoutMs: 5_000, maxConcurrent: 2, onBadPeer: () => undefined },
    );
    await old.dial(a.net.host.getMultiaddrs()[0]!);
    await until(() => a.net.peerManager.isReady(old.peerId), 'the old peer ready');
    const [reply] = await request(old, a.net.host.peerId, STATUS_PROTOCOL_V1, encodeStatus(ours, 1), {
      timeoutMs: 5_000,
      maxMessageBytes: 256,
      maxMessages: 1,
      maxTotalBytes: 256,
    });
    expect(bytesToHex(decodeStatus(reply!, 1).genesisHash)).toBe(bytesToHex(t.chain.genesisHash));
    await until(() => theirs !== undefined, 'our request over v1');
    expect(a.net.peerManager.banned(old.peerId)).toBeUndefined();
    expect(a.net.peerManager.isValidator(old.peerId)).toBe(false);
  });
});
