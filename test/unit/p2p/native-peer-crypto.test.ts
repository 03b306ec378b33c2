import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { secp256k1 as noble } from '@noble/curves/secp256k1.js';
import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys';
import { createHost } from '../../../src/p2p/host.js';
import { installNativePeerCrypto, nativePeerVerifies } from '../../../src/p2p/native-peer-crypto.js';
import { nativeSignDer, nativeVerifyDer } from '../../../src/util/native-secp256k1.js';
import { until } from './net-fixture.js';

const sha = (m: Uint8Array) => createHash('sha256').update(m).digest();
/** What libp2p's pure-JS secp256k1 keys do (@libp2p/crypto keys/secp256k1/index.js). */
const jsVerify = (pub: Uint8Array, sig: Uint8Array, msg: Uint8Array): boolean => {
  try {
    return noble.verify(sig, sha(msg), pub, { prehash: false, format: 'der' });
  } catch {
    return false;
  }
};
const jsSign = (key: Uint8Array, msg: Uint8Array) => noble.sign(sha(msg), key, { prehash: false, format: 'der' });

/** The high-S twin of a DER signature (same r, n - s), DER again. */
function highS(der: Uint8Array): Uint8Array {
  const sig = noble.Signature.fromBytes(der, 'der');
  return new noble.Signature(sig.r, noble.Point.CURVE().n - sig.s).toBytes('der');
}

describe('libp2p peer signatures through libsecp256k1 (issue #26)', () => {
  it('signs byte for byte as the pure-JS keys do, and verifies exactly what they verify', () => {
    for (let i = 0; i < 50; i++) {
      const key = noble.utils.randomSecretKey();
      const pub = noble.getPublicKey(key, true);
      const msg = randomBytes(1 + ((i * 37) % 500));
      const der = nativeSignDer(key, sha(msg));
      expect(Buffer.from(der).toString('hex')).toBe(Buffer.from(jsSign(key, msg)).toString('hex'));
      const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
        [pub, der, msg],
        [noble.getPublicKey(key, false), der, msg],
        [pub, der, randomBytes(msg.length)],
        [noble.getPublicKey(noble.utils.randomSecretKey(), true), der, msg],
        [pub, highS(der), msg],
        [pub, der.subarray(0, der.length - 1), msg],
        [pub, Uint8Array.from([...der, 0]), msg],
        [pub, Uint8Array.from(der, (b, j) => (j === i % der.length ? b ^ 0x01 : b)), msg],
        [pub, randomBytes(64), msg],
        [pub, new Uint8Array(0), msg],
        [Uint8Array.from(pub, (b, j) => (j === 5 ? b ^ 0xff : b)), der, msg],
      ];
      for (const [p, s, m] of cases) expect(nativeVerifyDer(p, s, sha(m))).toBe(jsVerify(p, s, m));
    }
  });

  it("libp2p's secp256k1 key classes use it once installed, and gossipsub's checks go through it", async () => {
    expect(installNativePeerCrypto()).toBe(true);
    const raw = randomBytes(32);
    const key = privateKeyFromRaw(raw);
    const msg = randomBytes(100);
    const sig = await key.sign(msg);
    expect(Buffer.from(sig).toString('hex')).toBe(Buffer.from(jsSign(raw, msg)).toString('hex'));
    const before = nativePeerVerifies();
    expect(await publicKeyFromRaw(key.publicKey.raw).verify(msg, sig)).toBe(true);
    expect(await key.publicKey.verify(randomBytes(100), sig)).toBe(false);
    expect(nativePeerVerifies()).toBe(before + 2);

    const opts = { host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false };
    const a = await createHost({ ...opts, key: randomBytes(32) });
    const b = await createHost({ ...opts, key: randomBytes(32) });
    try {
      const got: Uint8Array[] = [];
      b.services.pubsub.subscribe('t');
      b.services.pubsub.addEventListener('message', (e) => got.push(e.detail.data));
      a.services.pubsub.subscribe('t');
      await a.dial(b.getMultiaddrs()[0]!);
      await until(() => a.services.pubsub.getSubscribers('t').length > 0, 'b subscribed, as a sees it');
      const seen = nativePeerVerifies();
      await a.services.pubsub.publish('t', Uint8Array.of(1, 2, 3));
      await until(() => got.length === 1, 'the message delivered');
      expect(nativePeerVerifies()).toBeGreaterThan(seen);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
