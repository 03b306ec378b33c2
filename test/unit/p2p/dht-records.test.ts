import { createHash, randomBytes } from 'node:crypto';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { describe, expect, it } from 'vitest';
import { createHost, type Host } from '../../../src/p2p/host.js';
import { PeerRoutingDatastore } from '../../../src/p2p/peer-routing-datastore.js';
import { until } from './net-fixture.js';

/**
 * The chain's Kademlia DHT is for finding peers only. Its other requests would store what any peer
 * sends, in memory, for 48 hours: ADD_PROVIDER records under any content ID, and PUT_VALUE records
 * (a peer's public key under /pk/, for as many keys as it cares to make). Hand-encoded here, as a
 * hostile peer would send them (kad-dht's Message: type 1, key 2, record 3, providers 9).
 */
const GENESIS = `0x${'ab'.repeat(32)}`;
const PROTOCOL = `/basalt/${GENESIS.slice(2, 18)}/kad/1.0.0`;

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
const field = (no: number, bytes: Uint8Array) => Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
const typed = (type: number) => Buffer.from([0x08, type]);
const framed = (msg: Buffer) => Buffer.concat([varint(msg.length), msg]);

/** A CIDv1 (raw codec, sha2-256) of random content. */
const randomCid = () => Buffer.concat([Buffer.from([0x01, 0x55, 0x12, 0x20]), createHash('sha256').update(randomBytes(16)).digest()]);

function addProvider(attacker: Host): Buffer {
  const peer = Buffer.concat([field(1, attacker.peerId.toMultihash().bytes), field(2, attacker.getMultiaddrs()[0]!.bytes)]);
  return framed(Buffer.concat([typed(2), field(2, randomCid()), field(9, peer)]));
}

/** A valid /pk/ record: a fresh secp256k1 key under the multihash of its protobuf (what kad's `pk` validator checks). */
function putPublicKey(): Buffer {
  const key = privateKeyFromRaw(randomBytes(32)).publicKey;
  const id = key.toMultihash().bytes; // identity multihash of the protobuf key
  const pk = Buffer.from(id.subarray(2));
  const dhtKey = Buffer.concat([Buffer.from('/pk/'), id]);
  const record = Buffer.concat([field(1, dhtKey), field(2, pk), field(5, Buffer.from(new Date().toISOString()))]);
  return framed(Buffer.concat([typed(0), field(2, dhtKey), field(3, record)]));
}

async function storedUnder(host: Host, prefix: string): Promise<number> {
  const ds = (host as unknown as { components: { datastore: { query(q: { prefix: string }): AsyncIterable<unknown> } } }).components.datastore;
  let n = 0;
  for await (const _ of ds.query({ prefix })) n++;
  return n;
}

describe("the chain's DHT stores nothing a peer sends", () => {
  it('a flood of provider and value records over the kad protocol is dropped: nothing kept, and the node still answers peer lookups', async () => {
    const opts = { host: '127.0.0.1', port: 0, maxPeers: 10, isBanned: () => false, dht: { genesisHex: GENESIS } };
    const node = await createHost({ ...opts, key: randomBytes(32) });
    const attacker = await createHost({ ...opts, key: randomBytes(32) });
    try {
      const frames: Buffer[] = [];
      for (let i = 0; i < 500; i++) frames.push(addProvider(attacker), putPublicKey());
      const stream = await attacker.dialProtocol(node.getMultiaddrs()[0]!, PROTOCOL);
      const drained = (async () => {
        for await (const _ of stream.source);
      })().catch(() => undefined); // nothing comes back; the node resets the stream at its end
      await stream.sink(
        (async function* () {
          yield* frames;
        })(),
      );
      await stream.close().catch(() => undefined);
      await drained;
      const ds = (node as unknown as { components: { datastore: unknown } }).components.datastore;
      expect(ds).toBeInstanceOf(PeerRoutingDatastore);
      // Every one of them reached the store, and was refused.
      await until(() => (ds as PeerRoutingDatastore).refused === 1000, 'the 1,000 records handled');
      // The node still answers a peer lookup (FIND_NODE) of the attacker's DHT.
      const dht = (
        attacker.services as unknown as { dht: { getClosestPeers(key: Uint8Array): AsyncIterable<{ name: string; from?: { equals(p: unknown): boolean } }> } }
      ).dht;
      let answered = false;
      for await (const e of dht.getClosestPeers(randomBytes(32))) if (e.name === 'PEER_RESPONSE' && e.from?.equals(node.peerId)) answered = true;
      expect(answered).toBe(true);
      expect(await storedUnder(node, '/dht/provider')).toBe(0);
      expect(await storedUnder(node, '/dht/record')).toBe(0);
    } finally {
      await Promise.all([node.stop(), attacker.stop()]);
    }
  });
});
