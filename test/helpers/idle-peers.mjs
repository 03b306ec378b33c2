// Idle libp2p peers for e2e tests: each is a host built from the project's own p2p modules (dist/),
// passes the status handshake with the chain's genesis, subscribes to the gossip topics, and then
// publishes nothing and validates nothing (so it relays nothing either). Run with node:
//   node test/helpers/idle-peers.mjs <count> <chainId> <genesisHash 0x…> <multiaddr>…
// Every peer keeps dialling every multiaddr it is not connected to. Prints a JSON line
// {"connected": N, "of": M} whenever the number of connections changes. Stop it with a signal.
import { randomBytes } from 'node:crypto';
import { hexToBytes } from '@ethereumjs/util';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { createHost } from '../../dist/p2p/host.js';
import { gossipTopics } from '../../dist/p2p/gossip.js';
import { serveStatus } from '../../dist/p2p/handshake.js';

const [count, chainId, genesisHex, ...targets] = process.argv.slice(2);
const genesisHash = hexToBytes(genesisHex);
const status = () => ({ chainId: BigInt(chainId), genesisHash, headNumber: 0n, headHash: genesisHash });
const addrs = targets.map((t) => multiaddr(t));
const ids = addrs.map((a) => peerIdFromString(a.getPeerId()));
const topics = Object.values(gossipTopics(genesisHash));

const hosts = [];
for (let i = 0; i < Number(count); i++) {
  const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 50, isBanned: () => false });
  // Answer the validators' handshake with our (genesis) status; what they send is not checked.
  await serveStatus(host, status, () => undefined, () => undefined);
  for (const t of topics) host.services.pubsub.subscribe(t);
  hosts.push(host);
}

let last = -1;
const report = () => {
  const n = hosts.reduce((sum, h) => sum + ids.filter((id) => h.getConnections(id).length > 0).length, 0);
  if (n !== last) process.stdout.write(`${JSON.stringify({ connected: n, of: hosts.length * addrs.length })}\n`);
  last = n;
};
// At most four new dials a second to each target: under libp2p's limit of 5 inbound connections a
// second from one address. A dial takes up to seconds on a loaded machine: they overlap.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dialling = new Set();
addrs.forEach((addr, k) => {
  void (async () => {
    for (;;) {
      for (const [i, h] of hosts.entries()) {
        const key = `${i}/${k}`;
        if (dialling.has(key) || h.getConnections(ids[k]).length > 0) continue;
        dialling.add(key);
        h.dial(addr, { signal: AbortSignal.timeout(10_000) })
          .catch(() => undefined)
          .finally(() => dialling.delete(key));
        await sleep(250);
      }
      await sleep(250);
    }
  })();
});
setInterval(report, 500);
const stop = async () => {
  await Promise.all(hosts.map((h) => h.stop().catch(() => undefined)));
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
