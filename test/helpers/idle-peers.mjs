// Idle libp2p peers for e2e tests: each is a host built from the project's own p2p modules (dist/),
// passes the status handshake with the chain's genesis, subscribes to the gossip topics, and then
// publishes nothing and validates nothing (so it relays nothing either). Run with node:
//   node test/helpers/idle-peers.mjs <count> <chainId> <genesisHash 0x…> <multiaddr>…
// Every peer keeps dialling every multiaddr it is not connected to (p2p-peers.mjs). Prints a JSON line
// {"connected": N, "ready": R, "of": M} whenever the number of connections changes. Stop it with a signal.
// (hostile-peer.mjs `idle` runs the same peers.)
import { Network, Peer, createIdentity, reportConnections, stopOnSignal } from './p2p-peers.mjs';

const [count, chainId, genesisHex, ...targets] = process.argv.slice(2);
const net = new Network(chainId, genesisHex, targets);
const peers = [];
for (let i = 0; i < Number(count); i++) {
  const peer = new Peer(net, () => createIdentity(net));
  await peer.start();
  peers.push(peer);
}
stopOnSignal(peers, reportConnections(peers, net));
