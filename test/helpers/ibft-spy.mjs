// A libp2p peer that records the IBFT messages it is sent, for e2e tests: a host built from the
// project's own p2p modules (dist/), passing the status handshake with the chain's genesis and
// subscribed to the gossip topics like idle-peers.mjs. Run with node:
//   node test/helpers/ibft-spy.mjs <chainId> <genesisHash 0x…> <multiaddr>…
// It keeps dialling every multiaddr it is not connected to (a restarted node is found again at its
// address). For every IBFT gossip message it prints one JSON line
//   {"t":ms,"id":"0x<keccak of the envelope>","sender":"0x…","type":0-3,"height":n,"round":n,"value":"0x…"|null}
// value: the block hash (IBFT hash, committed seals left out) of a PREPREPARE, the hash of a PREPARE
// or COMMIT, the prepared hash of a ROUND-CHANGE (null without one). Messages of a validator found
// inside certificates (a ROUND-CHANGE's PREPAREs, a PREPREPARE's ROUND-CHANGEs) are printed too, with
// "embedded":true. It reports every message 'ignore' (it relays nothing). Prints {"connected":N,"of":M}
// whenever the number of connected targets changes. Stop it with a signal.
import { randomBytes } from 'node:crypto';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, hexToBytes } from '@ethereumjs/util';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { keccak256 } from 'ethereum-cryptography/keccak.js';
import { openMessage } from '../../dist/consensus/ibft/core/signing.js';
import { decodeIbftExtra, encodeIbftExtra } from '../../dist/consensus/ibft/extra.js';
import { createHost } from '../../dist/p2p/host.js';
import { gossipTopics } from '../../dist/p2p/gossip.js';
import { serveStatus } from '../../dist/p2p/handshake.js';

const [chainId, genesisHex, ...targets] = process.argv.slice(2);
const genesisHash = hexToBytes(genesisHex);
const status = () => ({ chainId: BigInt(chainId), genesisHash, headNumber: 0n, headHash: genesisHash });
const addrs = targets.map((t) => multiaddr(t));
const ids = addrs.map((a) => peerIdFromString(a.getPeerId()));
const topics = gossipTopics(genesisHash);

/** The IBFT hash of a block given as RLP (consensus/ibft/hash.ts blockHash, without a Common). */
function blockHashOfRlp(blockRlp) {
  const raw = RLP.decode(blockRlp)[0];
  raw[12] = encodeIbftExtra({ ...decodeIbftExtra(raw[12]), committedSeals: [] });
  return bytesToHex(keccak256(RLP.encode(raw)));
}

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function record(bytes, embedded) {
  let m;
  try {
    m = openMessage(bytes);
  } catch (err) {
    out({ undecodable: err.message, embedded });
    return;
  }
  const b = m.body;
  let value = null;
  if (b.type === 0) {
    try {
      value = blockHashOfRlp(b.block);
    } catch {
      value = 'undecodable block';
    }
  } else if (b.type === 1 || b.type === 2) value = bytesToHex(b.hash);
  else if (b.prepared) value = bytesToHex(b.prepared.hash);
  out({
    t: Date.now(),
    id: bytesToHex(keccak256(bytes)),
    sender: bytesToHex(m.sender),
    type: b.type,
    height: Number(b.height),
    round: b.round,
    value,
    ...(embedded ? { embedded } : {}),
  });
  if (b.type === 3 && b.prepared) for (const p of b.prepared.prepares) record(p, true);
  if (b.type === 0) for (const rc of b.roundChanges) record(rc, true);
}

const host = await createHost({ key: randomBytes(32), host: '127.0.0.1', port: 0, maxPeers: 50, isBanned: () => false });
await serveStatus(
  host,
  status,
  () => undefined,
  () => undefined,
);
const pubsub = host.services.pubsub;
for (const t of Object.values(topics)) pubsub.subscribe(t);
pubsub.addEventListener('gossipsub:message', (e) => {
  const { propagationSource, msgId, msg } = e.detail;
  if (msg.topic === topics.ibft) record(msg.data, false);
  pubsub.reportMessageValidationResult?.(msgId, propagationSource.toString(), 'ignore');
});

let last = -1;
const report = () => {
  const n = ids.filter((id) => host.getConnections(id).length > 0).length;
  if (n !== last) out({ connected: n, of: addrs.length });
  last = n;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dialling = new Set();
void (async () => {
  for (;;) {
    for (const [k, addr] of addrs.entries()) {
      if (dialling.has(k) || host.getConnections(ids[k]).length > 0) continue;
      dialling.add(k);
      host
        .dial(addr, { signal: AbortSignal.timeout(5_000) })
        .catch(() => undefined)
        .finally(() => dialling.delete(k));
    }
    report();
    await sleep(250);
  }
})();
const stop = async () => {
  await host.stop().catch(() => undefined);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
