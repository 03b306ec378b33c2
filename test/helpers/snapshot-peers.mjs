// Hostile snapshot servers for e2e tests: each is a libp2p host built from the project's own p2p
// modules (dist/) that passes the status handshake claiming a head 64 blocks past the snapshot file's
// (the most a snapshot may lag its server's claim; a node in snapshot sync asks it before an honest
// peer that has not sealed that far) and serves snapshot protocol version 2 badly, with the bytes of a
// real snapshot file of the chain (a valid start, so only the pace or the length can give it away):
//   trickle   announces the file's size, sends its first 512 bytes, then 512 more every 20 s
//   overlong  announces half the file's size, then sends all of it
// Run with node:
//   node test/helpers/snapshot-peers.mjs <chainId> <genesisHash 0x…> <snapshot file> <mode>…
// Prints one JSON line {"mode", "address", "head"} per host once all listen, then {"mode", "connected": peer ID}
// for every connection a peer opens or accepts, and serves until a signal.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hexToBytes } from '@ethereumjs/util';
import * as lp from 'it-length-prefixed';
import { createHost } from '../../dist/p2p/host.js';
import { serveStatus } from '../../dist/p2p/handshake.js';
import { snapshotProtocol } from '../../dist/sync/snapshot-protocol.js';

const [chainId, genesisHex, file, ...modes] = process.argv.slice(2);
const genesisHash = hexToBytes(genesisHex);
const bytes = new Uint8Array(readFileSync(file));
// The file's header record (after the 10-byte preamble: type, u32 length, JSON) names its head.
const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(11);
const fileHead = BigInt(JSON.parse(new TextDecoder().decode(bytes.subarray(15, 15 + headerLength))).head.number);
const claimed = fileHead + 64n;
const status = () => ({ chainId: BigInt(chainId), genesisHash, headNumber: claimed, headHash: new Uint8Array(32).fill(7) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function answer(size) {
  const out = new Uint8Array(9);
  new DataView(out.buffer).setBigUint64(1, BigInt(size));
  return out;
}

const serving = {
  async *trickle() {
    yield answer(bytes.length);
    for (let i = 0; i < bytes.length; i += 512) {
      if (i > 0) await sleep(20_000);
      yield bytes.subarray(i, i + 512);
    }
  },
  async *overlong() {
    yield answer(Math.floor(bytes.length / 2));
    for (let i = 0; i < bytes.length; i += 65_536) yield bytes.subarray(i, i + 65_536);
  },
};

const hosts = [];
for (const mode of modes) {
  if (!serving[mode]) throw new Error(`unknown mode ${mode}`);
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 50, isBanned: () => false });
  await serveStatus(
    host,
    status,
    () => undefined,
    () => undefined,
  );
  host.addEventListener('peer:connect', (e) => process.stdout.write(`${JSON.stringify({ mode, connected: e.detail.toString() })}\n`));
  await host.handle(snapshotProtocol(genesisHash, 2), ({ stream }) => {
    void stream.sink(lp.encode(serving[mode]())).catch(() => undefined);
  });
  hosts.push({ host, mode });
}
for (const { host, mode } of hosts) process.stdout.write(`${JSON.stringify({ mode, address: host.getMultiaddrs()[0].toString(), head: Number(claimed) })}\n`);

const stop = async () => {
  await Promise.all(hosts.map(({ host }) => host.stop().catch(() => undefined)));
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
