// A hostile libp2p peer for e2e tests and bench/hostile.mjs (issue #26): hosts built from the
// project's own p2p modules (dist/, through p2p-peers.mjs) that pass the status handshake with the
// right genesis, so the validators take them for ordinary peers, and then attack. Run with node:
//
//   node test/helpers/hostile-peer.mjs <attack> <chainId> <genesisHash 0x…> <multiaddr>… [options]
//
// Attacks (each peer sends at --rate, to every target it is connected to):
//   garbage            random bytes (--size, default 256) on every gossip topic in turn; 200/s
//   junk-txs           well-formed, signed transactions no pool may take, from fresh keys, in turn:
//                      unfunded sender; unfunded legacy one with a nonce gap; zero fee; gas above the
//                      block gas limit; gas below the intrinsic cost (none can ever execute); 500/s
//   ibft-nonvalidator  IBFT messages of the right format for the heights being decided, signed by a
//                      key outside the validator set: PREPREPAREs padded to --size (default 1024), or
//                      PREPARE / COMMIT / ROUND-CHANGE when --size <= 512; 300/s. Messages over 64 KiB
//                      are each sent again a second later while their height is current (a repeat
//                      within a second is dropped by a hash lookup), which halves what signing costs
//                      the attacker
//   ibft-replay        records the IBFT messages it is sent for --record seconds (default 5), then
//                      replays them (and whatever it keeps recording, the last 2048) in a loop; 300/s
//   trickle-streams    opens block-sync streams whose request arrives a byte a second, block-sync
//                      streams whose answer it never reads, and snapshot streams it stops reading
//                      after the answer's first message; at most --streams (default 2) of each kind
//                      per connection, --rate (default 2) opened a second per connection
//   false-heads        claims heads it never serves: in its handshake and in head announcements
//                      (--rate, default 2 a second), each claim one higher than the last and at least
//                      --ahead (default 2) past the highest head heard of; block requests are left
//                      unanswered (--serve stall, default), answered with no blocks (empty), or not
//                      served at all (none). Default: --peers 3 --rotate-every 25
//   idle               --peers (default 45) peers that connect and do nothing (as idle-peers.mjs)
//
// Options: --rate N, --size BYTES, --peers N (independent hostile peers, default 1), --rotate
// on-ban|never (default on-ban, idle: never: a target that drops an identity and refuses it again is
// dialled from a fresh one), --rotate-every SECONDS (every target moves to a fresh identity that
// often), --record SECONDS, --ahead N, --serve stall|empty|none, --streams N, --from ADDRESS (dial
// from this local address, say 127.0.0.23, so that the targets see the attacker on an address they do
// not share; p2p-peers.mjs dialFrom).
//
// Prints JSON lines on stdout: {"attack":…} first; {"identity": peerId} for every identity it takes;
// {"attacking": true} once the attack is under way (a target ran the handshake; for ibft-replay,
// something recorded; for idle, every connection made once, or 20 s passed); {"sent": n} every second
// it changed (messages, transactions, streams or announcements produced, each published from every
// identity with a handshaken target); {"connected": n, "ready": r, "of": m} when that changes (ready:
// connections on which the target ran the handshake); {"disconnected": target, "peer": id} and
// {"refused": target, "peer": id, "error": …} (dropped, then refused when dialled again: how a ban
// looks from outside). Stop it with SIGTERM or SIGINT.
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createCustomCommon, Hardfork, Mainnet } from '@ethereumjs/common';
import { createFeeMarket1559Tx, createLegacyTx } from '@ethereumjs/tx';
import { bytesToHex } from '@ethereumjs/util';
import * as lp from 'it-length-prefixed';
import { encodeBody, encodeEnvelope } from '../../dist/consensus/ibft/core/messages.js';
import { decodeMessage } from '../../dist/consensus/ibft/core/signing.js';
import { MAX_VOTE_BYTES } from '../../dist/p2p/ibft-gossip-check.js';
import { MAX_IBFT_GOSSIP_BYTES, decodeAnnouncement, encodeAnnouncement } from '../../dist/p2p/messages.js';
import { blocksProtocol } from '../../dist/sync/block-protocol.js';
import { snapshotProtocol } from '../../dist/sync/snapshot-protocol.js';
import { Network, Peer, createIdentity, dialFrom, out, reportConnections, sleep, stopOnSignal } from './p2p-peers.mjs';

const ATTACKS = ['garbage', 'junk-txs', 'ibft-nonvalidator', 'ibft-replay', 'trickle-streams', 'false-heads', 'idle'];
const DEFAULTS = {
  garbage: { rate: 200, size: 256 },
  'junk-txs': { rate: 500 },
  'ibft-nonvalidator': { rate: 300, size: 1024 },
  'ibft-replay': { rate: 300, record: 5 },
  'trickle-streams': { rate: 2, streams: 2 },
  'false-heads': { rate: 2, peers: 3, rotateEvery: 25, ahead: 2, serve: 'stall' },
  idle: { peers: 45, rotate: 'never' },
};

function parseArgs(argv) {
  const positional = [];
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const name = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const value = argv[++i];
    if (value === undefined) throw new Error(`${a} needs a value`);
    opts[name] = /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  const [attack, chainId, genesisHex, ...targets] = positional;
  if (!ATTACKS.includes(attack) || !chainId || !genesisHex || targets.length === 0) {
    throw new Error(
      `usage: hostile-peer.mjs <${ATTACKS.join('|')}> <chainId> <genesisHash> <multiaddr>… [--rate N] [--size BYTES] [--peers N] [--rotate on-ban|never] [--rotate-every S] [--record S] [--ahead N] [--serve stall|empty|none] [--streams N] [--from ADDRESS]`,
    );
  }
  return { attack, chainId, genesisHex, targets, opts: { peers: 1, rotate: 'on-ban', ...DEFAULTS[attack], ...opts } };
}

const { attack, chainId, genesisHex, targets, opts } = parseArgs(process.argv.slice(2));
if (opts.from !== undefined) dialFrom(String(opts.from));
const net = new Network(chainId, genesisHex, targets);
out({ attack, ...opts, targets: targets.length });

/** Learn the chain's head from what the targets (validators) send: head announcements and IBFT messages. */
function watchHead(topic, data, from) {
  try {
    if (topic === net.topics.blocks && from !== undefined && net.target(from) >= 0) net.noteHead(decodeAnnouncement(data).number);
    else if (topic === net.topics.ibft) net.noteHead(decodeMessage(data).body.height - 1n);
  } catch {
    // not ours to judge
  }
}

let sent = 0;
/** Publishes gossipsub refused (reported with {"sent"}, which counts attempts). */
let publishFailures = 0;
/** More to print with {"sent"} (an attack's own figures). */
let status = () => ({});
let attacking = false;
const startAttack = (extra = {}) => {
  if (attacking) return;
  attacking = true;
  out({ t: Date.now(), attacking: true, ...extra });
};

/** Publish `data` on `topic` from every identity of every peer that has a handshaken target. */
function publish(peers, topic, data) {
  let any = false;
  for (const p of peers) {
    for (const ident of p.readyIdentities()) {
      any = true;
      ident.host.services.pubsub.publish(topic, data).catch(() => {
        publishFailures++; // e.g. no subscribed peer yet: reported beside "sent", which counts attempts
      });
    }
  }
  return any;
}

/**
 * Call `produce()` `rate` times a second (in small bursts), while some identity has a handshaken
 * target; the backlog is capped at a second's worth, so a slow producer lowers the rate.
 */
function atRate(peers, rate, produce) {
  const t0 = performance.now();
  let done = 0;
  const burst = Math.max(1, Math.ceil(rate / 10)); // twice the rate per 50 ms tick: late ticks catch up
  setInterval(() => {
    if (!peers.some((p) => p.readyIdentities().length > 0)) return;
    startAttack();
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    if (due - done > rate) done = due - rate;
    for (let n = 0; n < burst && done < due; n++, done++) produce();
  }, 50);
}

/** opts.peers peers; `make(i)` makes an identity of peer i. */
function makePeers(make, count = opts.peers) {
  return Array.from(
    { length: count },
    (_, i) =>
      new Peer(net, () => make(i), {
        rotate: opts.rotate,
        ...(opts.rotateEvery ? { rotateEveryMs: opts.rotateEvery * 1000 } : {}),
        events: (e) => out({ t: Date.now(), ...e }),
      }),
  );
}

const secp = createRequire(import.meta.url)('secp256k1');
/** A 65-byte r ‖ s ‖ v signature (v 0 or 1) over a 32-byte hash, in libsecp256k1. */
function sign65(hash, key) {
  const { signature, recid } = secp.ecdsaSign(hash, key);
  const sig = new Uint8Array(65);
  sig.set(signature);
  sig[64] = recid;
  return sig;
}

/**
 * keccak256: the project's own (the `keccak` package's native binding where it loads: 4 MiB in ~14 ms).
 * An attacker uses native code; a pure-JS hash (80-250 ms for 4 MiB) left a CPU-starved attacker on a
 * loaded CI machine sending its large messages after their heights were decided (ignored as stale).
 */
const { keccak256: keccak } = await import('../../dist/util/keccak.js');

/** Until the other side closes or resets `stream` (at most 90 s: then it is given up). */
async function untilClosed(stream) {
  const until = Date.now() + 90_000;
  while (stream.status === 'open' && stream.readStatus !== 'closed' && Date.now() < until) await sleep(1_000);
  stream.abort(new Error('done'));
}

function randomKey() {
  for (;;) {
    const k = randomBytes(32);
    if (secp.privateKeyVerify(k)) return k;
  }
}

const attacks = {
  garbage() {
    const peers = makePeers(() => createIdentity(net, { onGossip: watchHead }));
    const topics = Object.values(net.topics);
    let i = 0;
    atRate(peers, opts.rate, () => {
      if (publish(peers, topics[i++ % topics.length], randomBytes(opts.size))) sent++;
    });
    return peers;
  },

  'junk-txs'() {
    const peers = makePeers(() => createIdentity(net, { onGossip: watchHead }));
    const common = createCustomCommon({ chainId: Number(chainId) }, Mainnet, { hardfork: Hardfork.Cancun });
    const gwei = 10n ** 9n;
    const to = () => bytesToHex(randomBytes(20));
    const fee1559 = { maxFeePerGas: 100n * gwei, maxPriorityFeePerGas: gwei };
    // Each is signed by a fresh key: no account of the chain, so none can ever pay.
    const kinds = [
      () => createFeeMarket1559Tx({ chainId: net.chainId, nonce: 0n, to: to(), value: 10n ** 18n, gasLimit: 21_000n, ...fee1559 }, { common }),
      () => createLegacyTx({ nonce: 1_000_000n + BigInt(sent), to: to(), value: 1n, gasLimit: 21_000n, gasPrice: 100n * gwei }, { common }),
      () =>
        createFeeMarket1559Tx(
          { chainId: net.chainId, nonce: 0n, to: to(), value: 0n, gasLimit: 21_000n, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n },
          { common },
        ),
      () => createFeeMarket1559Tx({ chainId: net.chainId, nonce: 0n, to: to(), value: 0n, gasLimit: 10n ** 12n, ...fee1559 }, { common }),
      () => createFeeMarket1559Tx({ chainId: net.chainId, nonce: 0n, to: to(), value: 0n, gasLimit: 20_000n, ...fee1559 }, { common }),
    ];
    atRate(peers, opts.rate, () => {
      const tx = kinds[sent % kinds.length]();
      const sig = sign65(tx.getHashedMessageToSign(), randomKey());
      const raw = tx.addSignature(BigInt(sig[64]), sig.subarray(0, 32), sig.subarray(32, 64), true).serialize();
      if (publish(peers, net.topics.txs, raw)) sent++;
    });
    return peers;
  },

  'ibft-nonvalidator'() {
    const peers = makePeers(() => createIdentity(net, { onGossip: watchHead }));
    const key = randomKey();
    const size = Math.min(opts.size, MAX_IBFT_GOSSIP_BYTES);
    const envelope = (body) => {
      const encoded = encodeBody(body);
      return encodeEnvelope({ body: encoded, signature: sign65(keccak(encoded), key), attachment: new Uint8Array(0) });
    };
    const round = () => randomBytes(4).readUInt32BE() >>> 1;
    // A PREPREPARE's block is opaque bytes until the signature and the sender are checked: padding, unique per message.
    let pad;
    const preprepare = (height) => {
      // Sized once, for the widest height and round a message will carry: never over --size.
      if (pad === undefined) {
        const probe = (len) =>
          encodeEnvelope({
            body: encodeBody({ type: 0, height: 2n ** 40n, round: 2 ** 31 - 1, block: new Uint8Array(len), roundChanges: [] }),
            signature: new Uint8Array(65),
            attachment: new Uint8Array(0),
          }).length;
        let len = Math.max(0, size - 64);
        while (len > 0 && probe(len) > size) len -= probe(len) - size;
        pad = randomBytes(len);
      }
      pad.writeUInt32BE(sent >>> 0, 0);
      pad.writeUInt32BE(process.hrtime()[1], 4);
      return envelope({ type: 0, height, round: round(), block: pad, roundChanges: [] });
    };
    const vote = (height, n) => {
      const kind = n % 3;
      if (kind === 0) return envelope({ type: 1, height, round: round(), hash: randomBytes(32) });
      if (kind === 1) return envelope({ type: 2, height, round: round(), hash: randomBytes(32), seal: randomBytes(65) });
      return envelope({ type: 3, height, round: round() });
    };
    const make = (height) => (size > MAX_VOTE_BYTES ? preprepare(height) : vote(height, sent));
    // For the heights being decided (head + 1 and head + 2). Large ones are sent again after a second,
    // and aimed at head + 2 only: one takes a while to reach a validator (its transfer, and on a loaded
    // machine its turn), and this peer learns the head a little after the validators, so one aimed at
    // head + 1 may arrive for a height already decided, ignored as stale rather than counted as a
    // non-validator's.
    const reuse = size > 64 * 1024;
    let pool = [];
    atRate(peers, opts.rate, () => {
      const head = net.head;
      let msg;
      if (reuse) {
        pool = pool.filter((m) => m.height > head && m.height <= head + 2n);
        const now = Date.now();
        const again = pool.find((m) => now - m.at > 1_100);
        if (again) {
          again.at = now;
          msg = again.bytes;
        }
      }
      if (msg === undefined) {
        const height = reuse ? head + 2n : head + 1n + BigInt(sent % 2);
        msg = make(height);
        if (reuse) pool.push({ height, bytes: msg, at: Date.now() });
      }
      if (publish(peers, net.topics.ibft, msg)) sent++;
    });
    return peers;
  },

  'ibft-replay'() {
    const ring = [];
    const seen = new Set();
    const record = (topic, data, from) => {
      watchHead(topic, data, from);
      if (topic !== net.topics.ibft) return;
      const h = createHash('sha256').update(data).digest('base64');
      if (seen.has(h)) return;
      seen.add(h);
      ring.push(data);
      if (ring.length > 2048) seen.delete(createHash('sha256').update(ring.shift()).digest('base64'));
    };
    const peers = makePeers(() => createIdentity(net, { onGossip: record }));
    let i = 0;
    let replayFrom;
    const timer = setInterval(() => {
      if (replayFrom === undefined && peers.some((p) => p.readyIdentities().length > 0)) replayFrom = Date.now() + opts.record * 1000;
      if (replayFrom === undefined || Date.now() < replayFrom || ring.length === 0) return;
      clearInterval(timer);
      out({ t: Date.now(), recorded: ring.length });
      atRate(peers, opts.rate, () => {
        if (publish(peers, net.topics.ibft, ring[i++ % ring.length])) sent++;
      });
    }, 100);
    return peers;
  },

  'trickle-streams'() {
    const peers = makePeers(() => createIdentity(net, { onGossip: watchHead }));
    const blocks = blocksProtocol(net.genesisHash);
    const snapshot = snapshotProtocol(net.genesisHash);
    /** Open streams by identity, target and kind. */
    const open = new Map();
    const kinds = {
      // A GetBlocks announced as 40 bytes long, then a byte a second: the server waits for the rest.
      async trickle(host, k) {
        const stream = await host.dialProtocol(net.ids[k], blocks, { signal: AbortSignal.timeout(5_000) });
        await stream.sink(
          (async function* () {
            yield Uint8Array.of(40);
            for (let n = 0; n < 40 && stream.status === 'open'; n++) {
              await sleep(1_000);
              yield Uint8Array.of(0x80);
            }
          })(),
        );
        return stream;
      },
      // A whole GetBlocks for 64 blocks from the genesis; the answer is never read.
      async unread(host, k) {
        const stream = await host.dialProtocol(net.ids[k], blocks, { signal: AbortSignal.timeout(5_000) });
        await stream.sink(lp.encode([Uint8Array.of(0xc2, 0x80, 0x40)]));
        await untilClosed(stream);
        return stream;
      },
      // A snapshot request; the answer's first message is read (OK, or a refusal), then nothing more.
      async snapshot(host, k) {
        const stream = await host.dialProtocol(net.ids[k], snapshot, { signal: AbortSignal.timeout(5_000) });
        await stream.sink(lp.encode([Uint8Array.of(1)]));
        const first = await lp.decode(stream.source)[Symbol.asyncIterator]().next();
        if (first.done || first.value.subarray()[0] !== 0) {
          stream.abort(new Error('refused'));
          await sleep(1_000);
          return stream;
        }
        await untilClosed(stream);
        return stream;
      },
    };
    const names = Object.keys(kinds);
    status = () => {
      const byKind = Object.fromEntries(names.map((n) => [n, 0]));
      for (const [key, n] of open) byKind[key.slice(key.lastIndexOf('/') + 1)] += n;
      return { open: byKind };
    };
    let turn = 0;
    atRate(peers, opts.rate, () => {
      const kind = names[turn++ % names.length];
      for (const p of peers) {
        for (const ident of p.readyIdentities()) {
          for (const k of ident.ready) {
            const key = `${ident.id}/${k}/${kind}`;
            const n = open.get(key) ?? 0;
            if (n >= opts.streams) continue;
            open.set(key, n + 1);
            sent++;
            kinds[kind](ident.host, k)
              .catch(() => undefined)
              .finally(() => {
                const left = (open.get(key) ?? 1) - 1;
                if (left > 0) open.set(key, left);
                else open.delete(key);
              });
          }
        }
      }
    });
    return peers;
  },

  'false-heads'() {
    // Each peer's next claim: one higher than its last, at least --ahead past the highest head heard of.
    const claims = Array.from({ length: opts.peers }, () => 0n);
    const next = (i) => {
      const floor = net.head + BigInt(opts.ahead);
      claims[i] = claims[i] + 1n > floor ? claims[i] + 1n : floor;
      return claims[i];
    };
    const setup = async (host) => {
      if (opts.serve === 'none') return;
      await host.handle(
        blocksProtocol(net.genesisHash),
        ({ stream }) => {
          if (opts.serve === 'empty')
            void lp
              .decode(stream.source)
              [Symbol.asyncIterator]()
              .next()
              .then(() => stream.sink([]))
              .catch(() => undefined);
          // stall: read nothing, answer nothing; the asker gives up when it will
        },
        { maxInboundStreams: 64 },
      );
    };
    const peers = makePeers((i) => createIdentity(net, { onGossip: watchHead, setup, status: () => net.status(next(i), randomBytes(32)) }));
    let turn = 0;
    atRate(peers, opts.rate * opts.peers, () => {
      const i = turn++ % peers.length;
      if (publish([peers[i]], net.topics.blocks, encodeAnnouncement({ number: next(i), hash: randomBytes(32) }))) sent++;
    });
    return peers;
  },

  idle() {
    const peers = makePeers(() => createIdentity(net));
    const started = Date.now();
    const timer = setInterval(() => {
      const everyone = peers.every((p) => p.assigned.every((ident, k) => ident.everConnected.has(k)));
      if (everyone || Date.now() - started > 20_000) {
        clearInterval(timer);
        startAttack({ everyone });
      }
    }, 250);
    return peers;
  },
};

const peers = attacks[attack]();
for (const p of peers) await p.start();
const stopReport = reportConnections(peers, net);
let lastSent = -1;
const sentTimer = setInterval(() => {
  if (sent !== lastSent) out({ t: Date.now(), sent, publishFailures, head: Number(net.head), ...status() });
  lastSent = sent;
}, 1_000);
stopOnSignal(peers, () => {
  stopReport();
  clearInterval(sentTimer);
});
