import type { PeerId } from '@libp2p/interface';
import { bytesToHex, equalsBytes } from '@ethereumjs/util';
import type { Host } from './host.js';
import { MAX_STATUS_BYTES, decodeStatus, encodeStatus, type ChainStatus, type StatusVersion } from './messages.js';
import { requestNegotiated, serve } from './streams.js';

/**
 * The handshake: each side sends its chain ID, genesis hash and head (and, in v2, the proof that it
 * holds a validator key); the other answers with its own. v1 is served and spoken for peers of
 * earlier versions, which know no other.
 */
export const STATUS_PROTOCOL = '/basalt/status/2';
export const STATUS_PROTOCOL_V1 = '/basalt/status/1';
const VERSIONS: [string, StatusVersion][] = [
  [STATUS_PROTOCOL, 2],
  [STATUS_PROTOCOL_V1, 1],
];
export const HANDSHAKE_TIMEOUT_MS = 5_000;
/** How long after answering a handshake the requester's status is acted on if the stream never says it was written. */
const STATUS_FALLBACK_MS = 500;

/** Why a peer with status `theirs` cannot be ours, or undefined when it runs our chain. */
export function incompatibility(ours: ChainStatus, theirs: ChainStatus): string | undefined {
  if (theirs.chainId !== ours.chainId || !equalsBytes(theirs.genesisHash, ours.genesisHash)) {
    return `another chain (chain ID ${theirs.chainId}, genesis ${bytesToHex(theirs.genesisHash)}; ours is chain ID ${ours.chainId}, genesis ${bytesToHex(ours.genesisHash)})`;
  }
  return undefined;
}

/**
 * Answer handshakes: the requester's status goes to `onStatus` (which refuses a peer of another
 * chain), and ours goes back either way, so that the other side can say why it was refused.
 */
export async function serveStatus(
  host: Host,
  ours: () => ChainStatus,
  onStatus: (peer: PeerId, theirs: ChainStatus) => void,
  onBadPeer: (peer: PeerId, reason: string) => void,
): Promise<void> {
  for (const [protocol, version] of VERSIONS) {
    await serve(
      host,
      protocol,
      async (req, peer) => {
        const theirs = decodeStatus(req, version);
        // Once the answer is written (a refused peer still learns why), or, if the peer hangs up as soon
        // as it has read it (a peer of another chain does), a moment later: exactly once either way.
        let done = false;
        const once = () => {
          if (done) return;
          done = true;
          clearTimeout(fallback);
          onStatus(peer, theirs);
        };
        const fallback = setTimeout(once, STATUS_FALLBACK_MS);
        return (function* () {
          yield encodeStatus(ours(), version);
          once();
        })();
      },
      { maxRequestBytes: MAX_STATUS_BYTES, timeoutMs: HANDSHAKE_TIMEOUT_MS, maxConcurrent: 2, onBadPeer },
    );
  }
}

/** Send our status, read theirs. Throws MessageError, RequestTimeoutError or a connection error. */
export async function requestStatus(host: Host, peer: PeerId, ours: ChainStatus): Promise<ChainStatus> {
  const versionOf = (protocol: string): StatusVersion => VERSIONS.find(([p]) => p === protocol)?.[1] ?? 1;
  const { protocol, response } = await requestNegotiated(
    host,
    peer,
    VERSIONS.map(([p]) => p),
    (p) => encodeStatus(ours, versionOf(p)),
    { timeoutMs: HANDSHAKE_TIMEOUT_MS, maxMessageBytes: MAX_STATUS_BYTES, maxMessages: 1, maxTotalBytes: MAX_STATUS_BYTES },
  );
  const [reply] = response;
  if (reply === undefined) throw new Error('handshake: the peer closed the stream without its status');
  return decodeStatus(reply, versionOf(protocol));
}
