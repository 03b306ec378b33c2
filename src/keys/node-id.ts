import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Bitcoin-alphabet base58 (what libp2p peer IDs print as). */
export function base58btc(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = BASE58[Number(n % 58n)]! + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = `1${out}`;
  }
  return out;
}

/**
 * The libp2p peer ID of a secp256k1 key, as Polygon SDK prints it ("16Uiu2HA..."): the identity
 * multihash (0x00, length 0x25) of the protobuf PublicKey { Type: Secp256k1 (2), Data: 33-byte
 * compressed key }.
 */
export function libp2pPeerId(privateKey: Uint8Array): string {
  const pub = secp256k1.getPublicKey(privateKey, true);
  const proto = new Uint8Array([0x08, 0x02, 0x12, pub.length, ...pub]);
  return base58btc(new Uint8Array([0x00, proto.length, ...proto]));
}
